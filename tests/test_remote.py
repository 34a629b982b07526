"""Remote hosts over a real loopback sshd: the same lifecycle as local, quoting, failures, disconnects."""

from __future__ import annotations

import json
import os
import pty
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from conftest import Env, Remote, kill_ssh_links, path_with_only, ssh_link_pids, wait_until

from tmuxkit.config import HostSpec
from tmuxkit.hosts.ssh import SshHost


def _remote_log(remote: Remote, run: str) -> str:
    meta = remote.home / "runs" / run / "meta"
    if not meta.exists():
        return ""
    p = Path(next(ln[4:] for ln in meta.read_text().splitlines() if ln.startswith("log=")))
    return p.read_text(errors="replace") if p.exists() else ""


def _status(tk: Env, run: str) -> dict[str, Any]:
    (row,) = json.loads(tk.cli("status", run, "--json").stdout)
    assert isinstance(row, dict)
    return row


def test_lifecycle_start_status_logs_stop_cleanup(tk: Env, remote: Remote) -> None:
    remote.add_run("rlife", "trap 'echo saved; exit 0' INT; echo ready; while :; do sleep 0.1; done")
    r = tk.cli("start", "rlife")
    assert "started rlife on box" in r.stdout
    # Issue 13.7: the hint runs as printed (here with has-session for attach: no terminal in a test).
    hint = re.search(r"\(or: (ssh .*)\)$", r.stdout, re.M)
    assert hint and f"-F {remote.ssh_config}" in hint.group(1) and " -t tkbox tmux -L " in hint.group(1), r.stdout
    check = subprocess.run(["bash", "-c", hint.group(1).replace(" attach -t ", " has-session -t ")],
                           capture_output=True, text=True, env=tk.env, timeout=30)
    assert check.returncode == 0, check.stderr
    wait_until(lambda: "ready" in _remote_log(remote, "rlife"), what="remote output")
    row = _status(tk, "rlife")
    assert row["host"] == "box" and row["state"] == "running" and row["lock_state"] == "alive"
    assert "ready" in tk.cli("logs", "rlife", "-n", "5").stdout
    r = tk.cli("stop", "rlife", "--grace", "10")
    assert "stopped rlife on box at rung sigint" in r.stdout
    assert _status(tk, "rlife")["state"] == "stopped"
    assert "saved" in _remote_log(remote, "rlife")
    r = tk.cli("cleanup")
    assert "dead_session" in r.stdout and "box" in r.stdout
    assert tk.cli("stop", "rlife").stdout.startswith("rlife is not running on box")


def test_a_cwd_of_tilde_in_the_config_is_the_hosts_home(tk: Env, remote: Remote, tmp_path: Path) -> None:
    """README's own example, cwd = "~/src/kssm" "on the host": the host's home, not this machine's
    (and not a folder named "~": the host scripts used to refuse it as not existing). The run only
    changes directory there; what it writes goes to its results, in the test's own temp dir."""
    out = tmp_path / "res"
    with remote.config.open("a") as f:
        f.write(f'\n[runs.rtilde]\nhost = "box"\ncommand = "pwd -P > $TMUXKIT_RESULTS/cwd"\ncwd = "~"\n'
                f'results = "{out}"\n')
    tk.cli("start", "rtilde")
    wait_until(lambda: (out / "cwd").exists() and (out / "cwd").read_text().endswith("\n"), what="the run's cwd")
    import pwd

    assert (out / "cwd").read_text() == os.path.realpath(pwd.getpwuid(os.getuid()).pw_dir) + "\n"


def test_early_exit_wait_reaches_the_host_over_ssh(tk: Env, remote: Remote) -> None:
    """Issue 9.11: the run's early_exit_wait travels as tmuxkit-start's argument, not as this
    machine's environment (which ssh does not carry), and the last lines come back."""
    remote.add_run("rearly", "echo one; echo two; exit 7", 'early_exit_wait = "3s"\n')
    r = tk.cli("start", "rearly", check=1)
    assert "run 'rearly' exited within 3s with code 7; its last lines:\n  | one\n  | two" in r.stderr, r.stderr


def test_start_host_flag_and_ad_hoc_command(tk: Env, remote: Remote) -> None:
    r = tk.cli("start", "radhoc", "--host", "box", "--cwd", "/tmp", "--results", str(remote.results("adhoc")),
               "--", "echo", "hello from", "$HOME")
    assert "on box" in r.stdout
    wait_until(lambda: "hello from $HOME" in _remote_log(remote, "radhoc"), what="argv kept whole")


def test_host_flag_on_every_verb_and_start_notes_the_host_before_the_exchange(tk: Env, remote: Remote) -> None:
    """Issue 13.4: --host names the run's host on status, logs, events, stop; start notes where the
    run lives before it talks to the host (a start cut off mid-way is still found by name)."""
    where = tk.home / "where" / "rhost"
    proc = subprocess.Popen([sys.executable, "-m", "tmuxkit", "start", "rhost", "--host", "box", "--cwd", "/tmp",
                             "--results", str(remote.results("rhost")), "--", "bash", "-c", "echo hi-rhost; sleep 60"],
                            env=tk.env, cwd=tk.work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: where.exists() or proc.poll() is not None, what="the note or the end of start")
        assert proc.poll() is None, "start ended before it noted the host"  # the remote start takes ~2 s
        assert where.read_text().strip() == "box"
    finally:
        _, errs = proc.communicate(timeout=60)
    assert proc.returncode == 0, errs
    wait_until(lambda: "hi-rhost" in _remote_log(remote, "rhost"), what="remote output")
    where.unlink()  # this machine forgot: only --host finds it now
    tk.cli("status", "rhost", check=4)
    assert _status_on(tk, "rhost", "box")["state"] == "running"
    assert "hi-rhost" in tk.cli("logs", "rhost", "--host", "box").stdout
    tk.cli("events", "rhost", "--host", "box")  # found there (no watchdog: no events yet)
    tk.cli("events", "rhost", check=4)
    assert "stopped rhost on box" in tk.cli("stop", "rhost", "--host", "box", "--grace", "5").stdout
    r = tk.cli("status", "rhost", "--host", "nowhere", check=2)
    assert "unknown host 'nowhere'" in r.stderr
    # A start the host refuses leaves no note behind; one whose command dies at once keeps it (the
    # run is there, with its log).
    tk.cli("start", "rbad", "--host", "box", "--cwd", "/nonexistent/dir", "--", "true", check=None)
    assert not (tk.home / "where" / "rbad").exists()
    tk.cli("start", "rdies", "--host", "box", "--early-wait", "2", "--cwd", "/tmp", "--results", str(remote.results("rdies")), "--",
           "bash", "-c", "echo oops-rdies; exit 3", check=1)
    assert (tk.home / "where" / "rdies").read_text().strip() == "box"
    assert "oops-rdies" in tk.cli("logs", "rdies").stdout
    # With tmuxkit.toml broken, a run on a remote host is not looked for here: the error is said.
    remote.config.write_text("[hosts.box\n")
    r = tk.cli("status", "rdies", check=2)
    assert "not valid TOML" in r.stderr and "warning" not in r.stderr


def _status_on(tk: Env, run: str, host: str) -> dict[str, Any]:
    (row,) = json.loads(tk.cli("status", run, "--host", host, "--json").stdout)
    assert isinstance(row, dict)
    return row


def test_attach_runs_tmux_over_ssh_with_a_pty(tk: Env, remote: Remote) -> None:
    remote.add_run("rattach", "while :; do echo ATTACH-MARKER; sleep 0.2; done")
    tk.cli("start", "rattach")
    pid, fd = pty.fork()
    if pid == 0:  # child: the user's terminal
        os.chdir(tk.work)
        os.execvpe("python3", ["python3", "-m", "tmuxkit", "attach", "rattach"], dict(tk.env, TERM="xterm"))
    seen = b""
    deadline = time.monotonic() + 20
    while b"ATTACH-MARKER" not in seen and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
    assert b"ATTACH-MARKER" in seen
    sent = 0.0

    def returned() -> bool:
        # C-b d detaches; tmux may still be reading its terminal's replies when the first one
        # arrives, so send it again each second. Keep draining the pty: a full buffer blocks tmux.
        nonlocal seen, sent
        if time.monotonic() - sent > 1:
            os.write(fd, b"\x02d")
            sent = time.monotonic()
        if select.select([fd], [], [], 0.1)[0]:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                pass
        return os.waitpid(pid, os.WNOHANG)[0] == pid

    wait_until(returned, timeout=10, what="attach to return")
    assert _status(tk, "rattach")["state"] == "running"  # detaching leaves it running


def test_attach_without_run_picks_the_only_one_or_lists(tk: Env, remote: Remote) -> None:
    r = tk.cli("attach", check=4)
    assert "no running run" in r.stderr
    remote.add_run("ra1", "sleep 60")
    remote.add_run("ra2", "sleep 60")
    tk.cli("start", "ra1")
    tk.cli("start", "ra2")
    r = tk.cli("attach", check=2)
    assert "several runs are running" in r.stderr and "ra1 (box)" in r.stderr and "ra2 (box)" in r.stderr


def test_install_puts_scripts_on_the_host_for_use_by_hand(tk: Env, remote: Remote) -> None:
    r = tk.cli("install", "box")
    bindir = remote.home / "bin"
    assert str(bindir) in r.stdout
    assert "pane log writer there: python3" in r.stdout
    assert (bindir / "check_training_status.sh").is_file()
    assert oct((remote.home).stat().st_mode & 0o777) == "0o700"
    out = subprocess.run(["bash", str(bindir / "check_training_status.sh")], capture_output=True, text=True,
                         env=dict(tk.env, TMUXKIT_HOME=str(remote.home)))
    assert out.returncode == 0 and "[4] tmux sessions" in out.stdout


def test_stale_scripts_on_the_host_are_replaced(tk: Env, remote: Remote) -> None:
    tk.cli("install", "box")
    (remote.home / "bin" / ".version").write_text("old\n")
    (remote.home / "bin" / "check_training_status.sh").write_text("exit 99\n")
    assert json.loads(tk.cli("status", "--json").stdout) == []


_ALPHABET = ["a", "Z", "0", " ", "  ", "'", '"', "$", "$HOME", "`id`", "$(id)", ";", "&&", "|", "\n", "*", "?", "~",
             "\\", "\t", "é", "日本", "🙂", "-", "--", "-rf", "#", "!", "{a,b}", "%", "=", "<", ">", "'\"'"]


def test_fuzz_100_argv_lists_arrive_byte_for_byte(tk: Env, remote: Remote) -> None:
    host = SshHost(HostSpec("box", ssh=remote.alias, ssh_config=str(remote.ssh_config)))
    rng = random.Random(20261122)
    echo = ["/bin/sh", "-c", 'printf "%s\\0" "$@"', "sh"]  # each argument back, NUL-terminated
    cases = []
    # 100 lists (was 200: half the time, each of the 34 tokens still drawn about 25 times)
    for _ in range(100):
        argv = ["".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 6))) for _ in range(rng.randint(1, 5))]
        if rng.random() < 0.2:
            argv[0] = "-" + argv[0]
        cases.append(argv)
    host.run(["true"])  # the master connection first; then 8 sessions at a time over it

    def check(argv: list[str]) -> list[str]:
        res = host.run([*echo, *argv], timeout=30)
        assert res.rc == 0, res.err
        return res.out.split("\0")[:-1]

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(check, cases))
    assert got == cases


# --- clear failures -------------------------------------------------------------------------------
def _one_line(r: subprocess.CompletedProcess[str]) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def test_unknown_host_in_config(tk: Env) -> None:
    r = tk.cli("start", "x", "--host", "nowhere", "--", "true", check=2)
    assert "unknown host 'nowhere'" in _one_line(r)


def test_unresolvable_host(tk: Env, tmp_path: Path) -> None:
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Host *\n  UserKnownHostsFile /dev/null\n  GlobalKnownHostsFile /dev/null\n")
    tk.write_config(f'[hosts.bad]\nssh = "no-such-host.invalid"\nssh_config = "{cfg}"\n')
    t0 = time.monotonic()
    r = tk.cli("start", "x", "--host", "bad", "--", "true", check=6)
    assert time.monotonic() - t0 < 10
    assert "unknown host" in _one_line(r)


def test_connection_refused(tk: Env, tmp_path: Path, sshd: Any) -> None:
    from testkit.sshd import free_port

    cfg = sshd.client_config(tmp_path / "ssh_config", "closed")
    cfg.write_text(cfg.read_text().replace(f"Port {sshd.port}", f"Port {free_port()}"))
    tk.write_config(f'[hosts.closed]\nssh = "closed"\nssh_config = "{cfg}"\n')
    t0 = time.monotonic()
    r = tk.cli("start", "x", "--host", "closed", "--", "true", check=6)
    assert time.monotonic() - t0 < 10
    assert "connection refused" in _one_line(r)


def test_password_only_host_fails_fast_without_prompting(tk: Env, tmp_path: Path, sshd: Any) -> None:
    from testkit.sshd import start_sshd

    pw = start_sshd(tmp_path / "pwsshd", password_only=True)
    try:
        cfg = pw.client_config(tmp_path / "ssh_config", "pwonly")
        tk.write_config(f'[hosts.pw]\nssh = "pwonly"\nssh_config = "{cfg}"\n')
        t0 = time.monotonic()
        r = subprocess.run(["python3", "-m", "tmuxkit", "status", "--json"], cwd=tk.work, env=tk.env,
                           capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
        assert time.monotonic() - t0 < 10
        rows = json.loads(r.stdout)
        bad = [x for x in rows if x["host"] == "pw"]
        assert bad[0]["state"] == "unreachable" and "authentication failed" in bad[0]["error"]
        r = tk.cli("start", "x", "--host", "pw", "--", "true", check=6)
        assert "never prompts for a password" in _one_line(r)
    finally:
        pw.stop()


def test_tmux_missing_on_the_host_says_how_to_install(tk: Env, tmp_path: Path) -> None:
    from testkit.sshd import start_sshd

    path = path_with_only(tmp_path / "notmux-bin", [
        "bash", "sh", "env", "cat", "mkdir", "chmod", "tar", "ps", "awk", "sed", "date", "hostname", "dirname", "rm",
        "mv", "ln", "mktemp", "stat", "tr", "sleep", "tail", "wc", "head", "sort", "find", "grep", "python3", "id"])
    srv = start_sshd(tmp_path / "notmux", path_env=path)
    try:
        cfg = srv.client_config(tmp_path / "ssh_config", "notmux", {"TMUXKIT_HOME": str(tmp_path / "rh")})
        tk.write_config(f'[hosts.nt]\nssh = "notmux"\nssh_config = "{cfg}"\n')
        r = tk.cli("start", "x", "--host", "nt", "--cwd", "/tmp", "--", "true", check=127)
        line = _one_line(r)
        assert "tmux: command not found" in line and "apt-get install tmux" in line and "brew install tmux" in line
    finally:
        srv.stop()


def test_status_marks_a_silent_host_unreachable_and_prints_the_rest(tk: Env, remote: Remote, tmp_path: Path) -> None:
    # A TCP port that accepts and never speaks SSH.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    cfg = tmp_path / "silent_config"
    cfg.write_text(f"Host silent\n  HostName 127.0.0.1\n  Port {port}\n  UserKnownHostsFile /dev/null\n"
                   "  GlobalKnownHostsFile /dev/null\n")
    with remote.config.open("a") as f:
        f.write(f'\n[hosts.quiet]\nssh = "silent"\nssh_config = "{cfg}"\n')
    remote.add_run("rvisible", "sleep 60")
    tk.cli("start", "rvisible")
    try:
        t0 = time.monotonic()
        rows = json.loads(tk.cli("status", "--json", "--timeout", "2", check=7).stdout)  # 7: partial
        assert time.monotonic() - t0 < 8
        by_host = {r["host"]: r for r in rows}
        assert by_host["quiet"]["state"] == "unreachable" and "2s" in by_host["quiet"]["error"]
        assert by_host["box"]["run"] == "rvisible"
        out = tk.cli("status", "--timeout", "2", check=7).stdout
        assert "unreachable (" in out and "rvisible" in out
    finally:
        silent.close()


# --- disconnects -----------------------------------------------------------------------------------
def test_killing_the_link_after_start_leaves_the_run_running(tk: Env, remote: Remote) -> None:
    remote.add_run("rsurvive", "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.1; done")
    tk.cli("start", "rsurvive")
    assert kill_ssh_links(tk), "no ssh ControlMaster to kill"  # the laptop's connection goes away
    n = _remote_log(remote, "rsurvive").count("tick")
    wait_until(lambda: _remote_log(remote, "rsurvive").count("tick") > n + 5, what="ticks after the link died")
    assert _status(tk, "rsurvive")["state"] == "running"  # and the next command reconnects


def test_killing_the_link_during_status_leaves_the_run_running(tk: Env, remote: Remote) -> None:
    remote.add_run("rmid", "sleep 60")
    tk.cli("start", "rmid")
    stop = threading.Event()

    def killer() -> None:
        while not stop.is_set():
            kill_ssh_links(tk)
            time.sleep(0.01)

    assert ssh_link_pids(tk), "no ssh ControlMaster to kill"
    t = threading.Thread(target=killer)
    t.start()
    try:
        for _ in range(5):
            tk.cli("status", "--json", check=None)
    finally:
        stop.set()
        t.join()
    assert _status(tk, "rmid")["state"] == "running"


def test_start_that_loses_its_link_halfway_leaves_all_or_nothing(tk: Env, remote: Remote) -> None:
    results = remote.home.parent / "halfway-results"
    for i, delay in enumerate([0.1, 0.3, 0.6, 1.0, None]):
        run = f"rhalf{i}"
        p = subprocess.Popen(["python3", "-m", "tmuxkit", "start", run, "--host", "box", "--cwd", "/tmp",
                              "--results", str(results / run), "--", "sleep", "60"], cwd=tk.work, env=tk.env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        if delay is None:
            # The last one is cut only once its start has done its work (its lock on the host), so one
            # complete run is there however the machine's load stretched the fixed delays.
            wait_until(lambda: (results / run / ".tmuxkit.lock").exists() or p.poll() is not None,
                       timeout=60, what=f"{run}: its lock")
        else:
            time.sleep(delay)  # cut the link at a different point each time
        os.killpg(p.pid, signal.SIGKILL)
        kill_ssh_links(tk)
        p.wait()

    # A host-side start whose link was cut goes on to its end (all of the run, or none): judged once
    # none is left (on a loaded machine one finished after the checks below and left a run running).
    def starts_on_host() -> list[str]:
        ps = subprocess.run(["ps", "-A", "-ww", "-o", "pid=,args="], capture_output=True, text=True).stdout
        return [ln for ln in ps.splitlines() if "tmuxkit-start rhalf" in ln and str(results) in ln]

    wait_until(lambda: not starts_on_host(), timeout=60, what=f"the host-side starts to end ({starts_on_host()})")
    # Each start is now a complete run (session and lock) or nothing (neither).
    complete = 0
    for i in range(5):
        run = f"rhalf{i}"
        lock = results / run / ".tmuxkit.lock"

        def consistent() -> bool:
            s = subprocess.run(["tmux", "-L", tk.socket, "has-session", "-t", f"={run}"],
                               capture_output=True).returncode == 0
            return s == lock.exists()

        wait_until(consistent, timeout=15, what=f"{run}: session and lock agree")
        complete += lock.exists()
    assert complete >= 1  # the later cuts came after the start had done its work


def test_an_ad_hoc_remote_run_is_found_by_later_commands(tk: Env, remote: Remote) -> None:
    tk.cli("start", "rfound", "--host", "box", "--cwd", "/tmp", "--results", str(remote.results("found")),
           "--", "bash", "-c", "echo here; sleep 60")
    assert _status(tk, "rfound")["host"] == "box"
    wait_until(lambda: "here" in tk.cli("logs", "rfound").stdout, what="logs from the right host")
    assert "stopped rfound on box" in tk.cli("stop", "rfound", "--grace", "2").stdout


def test_attach_and_sync_reach_a_run_by_the_host_flag_alone(tk: Env, remote: Remote) -> None:
    """Issue 13.4: with this machine's note of the run's host gone (and no config entry), attach
    --host and sync --host still reach it; without the flag it is not found."""
    import uuid

    tk.cli("start", "rfind", "--host", "box", "--cwd", "/tmp", "--results", str(remote.results("rfind")), "--",
           "bash", "-c", 'echo kept > "$TMUXKIT_RESULTS/found.txt"; while :; do echo FIND-MARKER; sleep 0.3; done')
    wait_until(lambda: "FIND-MARKER" in _remote_log(remote, "rfind"), what="remote output")
    (tk.home / "where" / "rfind").unlink()
    tk.cli("sync", "rfind", "--once", check=4)
    tk.cli("attach", "rfind", check=4)
    tk.cli("sync", "rfind", "--host", "box", "--once")
    assert (tk.work / "runs" / "rfind" / "found.txt").read_text() == "kept\n"
    outer = f"tkt-outer-{uuid.uuid4().hex[:8]}"
    try:
        # attach needs a terminal: the outer tmux pane is one.
        subprocess.run(["tmux", "-L", outer, "new-session", "-d", "-x", "120", "-y", "30",
                        f"cd {tk.work} && {sys.executable} -m tmuxkit attach rfind --host box; sleep 30"],
                       env=tk.env, check=True)

        def screen() -> str:
            return subprocess.run(["tmux", "-L", outer, "capture-pane", "-p"], capture_output=True, text=True).stdout

        wait_until(lambda: "FIND-MARKER" in screen(), timeout=20, what="the remote run in the outer pane")
    finally:
        subprocess.run(["tmux", "-L", outer, "kill-server"], capture_output=True)
    assert "stopped rfind on box" in tk.cli("stop", "rfind", "--host", "box", "--grace", "5").stdout


def test_a_home_whose_ssh_folder_is_45_to_60_bytes_long_still_gets_its_master(tk: Env, remote: Remote,
                                                                           tmp_path: Path) -> None:
    """ssh binds a ControlMaster at PATH.<16 random characters> first: a control folder of 51 bytes
    with %C's 40 made a 109-byte path, past a socket's limit ("too long for Unix domain socket")."""
    from tmuxkit.hosts.ssh import control_dir_path

    short = Path(tempfile.mkdtemp(prefix="tkh", dir="/tmp"))
    try:
        home = short / ("h" * (52 - len(str(short)) - len("/") - len("/x/ssh"))) / "x"
        assert len(str(home / "ssh")) == 52
        env = dict(tk.env, TMUXKIT_HOME=str(home))
        r = subprocess.run([sys.executable, "-m", "tmuxkit", "status", "--host", "box"], env=env, cwd=tk.work,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "too long" not in r.stderr
        assert not str(control_dir_path(home)).startswith(str(home)), "the control folder moved to a short path"
    finally:  # its ssh master ends with the test's processes (tk's teardown)
        shutil.rmtree(control_dir_path(home), ignore_errors=True)
        shutil.rmtree(short, ignore_errors=True)
