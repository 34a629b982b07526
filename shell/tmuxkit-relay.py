"""The run's terminal, kept apart from its tmux pane, so the run outlives its tmux server.
tmuxkit-runner starts the command through this when the host has python3:
    python3 -I tmuxkit-relay.py ENVFILE LOG MAX_BYTES KEEP RUN RUN_ID RESULTS -- COMMAND [ARG]...

Why: a pane's terminal dies with its tmux server (`tmux kill-server`, a crash of tmux), and a
program writing to a dead terminal gets EIO (and, on BSD kernels, SIGHUP): a printing trainer
exits 1 mid-run. So the command's stdout and stderr are a terminal of this process's own (a
pty: isatty() stays true, so tqdm, rich and Keras draw as they would in the pane, with the
pane's size), whose output this copies to the pane. stdin stays the pane, and so does the
controlling terminal: Ctrl-C in the pane (and `stop`'s) reaches the command as before.
When a write to the pane fails (the pane or its server is gone), this stops writing there and
starts a log writer of its own (tmuxkit-logwriter LOG MAX_BYTES KEEP gap: a marker line says
output may be missing): the log goes on, headless. The pane's pipe-pane writer, which wrote the
log until then, got its end of file with the server.

The command gets the run's env from ENVFILE (NAME=VALUE lines; read here, never put on a
command line; a name bash keeps read-only is left out, as the runner does; a BASH_ENV there goes
to TMUXKIT_USER_BASH_ENV, for the command's own bash, as the runner does), then
PYTHONUNBUFFERED=1, TMUXKIT_RUN, TMUXKIT_RUN_ID and TMUXKIT_RESULTS; SIGHUP is ignored for it
(nohup: a BSD kernel signals a dead terminal's process group). INT, TERM and HUP are ignored
here: this ends when the command's output does (every holder of the terminal closed it, or the
command exited and what it left was read), and exits with the command's code (128+N for a
signal, as a shell reports it).
"""

import fcntl
import os
import pty
import re
import select
import signal
import subprocess
import sys
import termios
import time

NAME = re.compile(rb"^[A-Za-z_][A-Za-z0-9_]*$")
READONLY = {b"BASHOPTS", b"BASH_VERSINFO", b"EUID", b"PPID", b"SHELLOPTS", b"UID"}


def child_env(envfile, run, run_id, results):
    env = dict(os.environb)
    env.pop(b"TMUXKIT_RELAY_METRICS", None)  # the log writer's, not the command's
    try:
        with open(envfile, "rb") as f:
            lines = f.read().split(b"\n")
    except OSError:
        lines = []
    for kv in lines:
        name, eq, value = kv.partition(b"=")
        if eq and NAME.match(name) and name not in READONLY:
            env[name] = value
    # The run's BASH_ENV (one --env gave wins over the login's, kept aside as TMUXKIT_USER_BASH_ENV)
    # is for the command's own bash: the bash that writes the pid first must not read it.
    if b"BASH_ENV" in env:
        env[b"TMUXKIT_USER_BASH_ENV"] = env.pop(b"BASH_ENV")
    env[b"PYTHONUNBUFFERED"] = b"1"
    env[b"TMUXKIT_RUN"] = os.fsencode(run)
    env[b"TMUXKIT_RUN_ID"] = os.fsencode(run_id)
    env[b"TMUXKIT_RESULTS"] = os.fsencode(results)
    return env


def copy_size(master):
    try:
        size = fcntl.ioctl(1, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(master, termios.TIOCSWINSZ, size)
    except OSError:
        pass


class Out:
    """Where the output goes: the pane while it lives, then a log writer of this process's own."""

    def __init__(self, here, log, max_bytes, keep, run):
        self.here, self.log, self.max, self.keep, self.run = here, log, max_bytes, keep, run
        self.pane = True
        self.writer = None

    def write(self, data):
        if self.pane:
            try:
                view = memoryview(data)
                while view:
                    n = os.write(1, view)
                    view = view[n:]
                return
            except OSError:
                self.pane = False
                self.start_writer()
        self.to_writer(data)

    def start_writer(self):
        env = dict(os.environ)
        metrics = env.pop("TMUXKIT_RELAY_METRICS", "")
        env.pop("TMUXKIT_METRICS", None)
        if metrics:
            env["TMUXKIT_METRICS"] = metrics
        try:
            self.writer = subprocess.Popen(
                ["bash", os.path.join(self.here, "tmuxkit-logwriter"), self.log, self.max, self.keep, "gap"],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        except OSError:
            self.writer = None
            return
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        self.to_writer(f"[tmuxkit] run {self.run}: its tmux pane is gone at {now}; "
                       "the run goes on headless, logged from here\n".encode())

    def to_writer(self, data):
        if self.writer is None:
            return
        try:
            self.writer.stdin.write(data)
            self.writer.stdin.flush()
        except OSError:
            self.writer = None  # it died: the command still runs, unlogged (status shows no writer)

    def close(self, rc):
        if self.writer is None:
            return
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        self.to_writer(f"[tmuxkit] run {self.run} exited with code {rc} at {now}\n".encode())
        try:
            self.writer.stdin.close()
            self.writer.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            pass


def main(argv):
    if len(argv) < 10 or argv[8] != "--":
        sys.stderr.write("usage: tmuxkit-relay.py ENVFILE LOG MAX KEEP RUN RUN_ID RESULTS -- COMMAND [ARG]...\n")
        return 2
    envfile, log, max_bytes, keep, run, run_id, results = argv[1:8]
    cmd = argv[9:]
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    master, slave = pty.openpty()
    try:  # the pane's modes, less output processing: the pane's own terminal turns \n into \r\n
        attrs = termios.tcgetattr(0)
        attrs[1] &= ~termios.OPOST
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
    except (OSError, termios.error):
        pass
    copy_size(master)
    env = child_env(envfile, run, run_id, results)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(master)
            os.dup2(slave, 1)
            os.dup2(slave, 2)
            if slave > 2:
                os.close(slave)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGWINCH):
                signal.signal(sig, signal.SIG_DFL)
            os.execvpe(cmd[0], cmd, env)
        finally:
            os._exit(127)
    os.close(slave)
    signal.signal(signal.SIGWINCH, lambda *_: copy_size(master))
    out = Out(os.path.dirname(os.path.abspath(argv[0])), log, max_bytes, keep, run)
    status = None
    check = time.monotonic() + 0.5
    while True:
        try:
            ready = select.select([master], [], [], 0.5)[0]
        except InterruptedError:
            continue
        if ready:
            try:
                data = os.read(master, 1 << 16)
            except InterruptedError:
                continue
            except OSError:  # EIO: every holder of the terminal closed it
                data = b""
            if not data:
                break
            out.write(data)
            if time.monotonic() < check:
                continue
        # Every 0.5 s, output or not: an orphan that prints on must not keep this (and the run) alive.
        check = time.monotonic() + 0.5
        if status is None:
            got, st = os.waitpid(pid, os.WNOHANG)
            if got == pid:
                status = st
                # The command is done; what it left may still hold the terminal: read what is
                # there now (for 2 s at most: an orphan may print on) and end (a later write of
                # an orphan's finds the terminal closed).
                until = time.monotonic() + 2
                while time.monotonic() < until and select.select([master], [], [], 0.2)[0]:
                    try:
                        data = os.read(master, 1 << 16)
                    except OSError:
                        data = b""
                    if not data:
                        break
                    out.write(data)
                break
    if status is None:
        while True:
            try:
                status = os.waitpid(pid, 0)[1]
                break
            except InterruptedError:
                continue
    rc = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    os.close(master)
    out.close(rc)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
