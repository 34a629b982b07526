"""Run a run's command as a child subreaper (Linux), so nothing it starts can escape the run.

tmuxkit-runner starts the command through this when the host has python3:

    python3 tmuxkit-reaper.py COMMAND [ARG]...

On Linux it marks itself PR_SET_CHILD_SUBREAPER: a process the command double-forks away
(a daemon that called setsid and cleared its environment) is re-parented here instead of to
init, so it stays in the run's process tree, where `stop` and `cleanup` find it. When the
command exits, whatever it left behind is ended (SIGTERM, then SIGKILL after TERM_WAIT
seconds), as a container's init does, and this exits with the command's code (128+N for a
signal, as a shell reports it).

Where prctl is not available (macOS, other kernels) it simply becomes the command (exec), and
`stop` relies on the TMUXKIT_RUN_ID marker the command's processes inherit (see README).
Signals: INT, TERM, HUP and QUIT are ignored here; Ctrl-C reaches the command through the
terminal, and the stop ladder signals every process of the run itself.
"""

import ctypes
import ctypes.util
import os
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
TERM_WAIT = 10.0


def become_subreaper():
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def children(me):
    """Live children of ME, from /proc (this only runs on Linux)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == me and fields[0] != b"Z":
            out.append(int(d))
    return out


def reap():
    """Collect every exited child without blocking; returns {pid: exit code}."""
    done = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return done
        if pid == 0:
            return done
        done[pid] = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def main(argv):
    if len(argv) < 2:
        sys.stderr.write("usage: tmuxkit-reaper.py COMMAND [ARG]...\n")
        return 2
    if not become_subreaper():
        os.execvp(argv[1], argv[1:])
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_IGN)
    pid = os.fork()
    if pid == 0:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_DFL)
        try:
            os.execvp(argv[1], argv[1:])
        finally:
            os._exit(127)
    rc = None
    while rc is None:  # the command, and any orphan that ends meanwhile
        try:
            got, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 127
        if got == pid:
            rc = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    me, ended, deadline, sig = os.getpid(), set(), None, signal.SIGTERM
    while True:  # what it left behind; their own children come back here as they die
        reap()
        left = children(me)
        if not left:
            break
        if deadline is None:
            deadline = time.monotonic() + TERM_WAIT
        elif time.monotonic() > deadline:
            sig = signal.SIGKILL
        for p in left:
            if p not in ended or sig == signal.SIGKILL:
                try:
                    os.kill(p, sig)
                except ProcessLookupError:
                    pass
                ended.add(p)
        time.sleep(0.05)
    if ended:
        try:
            sys.stdout.write(f"[tmuxkit] ended {len(ended)} process(es) the command left running\n")
            sys.stdout.flush()
        except OSError:  # the pane may be gone
            pass
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
