"""The laptop's side of a link: signals to tmuxkit, a login shell's stderr, dead ControlMasters,
resuming `logs -f` by position, and the cost of a call in ssh exchanges (issue 23)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, Env, pid_alive, wait_until


def _descendants(root: int) -> dict[int, str]:
    """ROOT's descendants now: pid -> args."""
    out = subprocess.run(["ps", "-A", "-ww", "-o", "pid=,ppid=,args="], capture_output=True, text=True).stdout
    kids: dict[int, list[int]] = {}
    args: dict[int, str] = {}
    for ln in out.splitlines():
        parts = ln.split(None, 2)
        if len(parts) < 2:
            continue
        pid, ppid = int(parts[0]), int(parts[1])
        kids.setdefault(ppid, []).append(pid)
        args[pid] = parts[2] if len(parts) > 2 else ""
    found: dict[int, str] = {}
    todo = [root]
    while todo:
        for k in kids.get(todo.pop(), []):
            if k not in found:
                found[k] = args[k]
                todo.append(k)
    return found


def _slow_host(tk: Env, sshd: Any, tmp_path: Path, delay: float = 30.0) -> None:
    """Host 'box' behind a proxy that holds every byte DELAY seconds: a call to it hangs."""
    cfg = sshd.client_config(tmp_path / "slow_ssh_config", "slowbox", {"TMUXKIT_HOME": str(tmp_path / "rhome")})
    with cfg.open("a") as f:
        f.write(f"  ProxyCommand {sys.executable} {ROOT / 'bench' / 'delayproxy.py'} {sshd.port} {delay}\n")
    tk.write_config(f'[hosts.box]\nssh = "slowbox"\nssh_config = "{cfg}"\n')


# --- item 8: SIGTERM and SIGHUP clean up as Ctrl-C does ------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
@pytest.mark.parametrize("verb", [["logs", "r1", "--host", "box", "-f"], ["status", "--host", "box"]],
                         ids=["logs-f", "status"])
def test_a_signal_to_tmuxkit_leaves_no_host_call_running(tk: Env, sshd: Any, tmp_path: Path, verb: list[str],
                                                         sig: int) -> None:
    _slow_host(tk, sshd, tmp_path)
    p = subprocess.Popen([sys.executable, "-m", "tmuxkit", *verb], env=tk.env, cwd=tk.work,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    kids: dict[int, str] = {}
    try:
        # The host call is under way: ssh, and the proxy it talks through.
        kids = wait_until(lambda: (lambda d: d if any("delayproxy" in a for a in d.values()) else None)(
            _descendants(p.pid)), timeout=30, what="the host call's ssh")
        os.kill(p.pid, sig)
        rc = p.wait(30)
        assert rc == 128 + sig, (rc, p.stderr.read() if p.stderr else "")
        wait_until(lambda: not [k for k in kids if pid_alive(k)], timeout=5,
                   what=f"no process of the host call left ({kids})")
    finally:
        p.kill()
        p.wait()
        for k in kids:
            try:
                os.kill(k, signal.SIGKILL)
            except ProcessLookupError:
                pass


# --- item 5: only what follows tmuxkit's marker is the host's answer, on stderr too ---------------
NOISE_OUT, NOISE_ERR = "bashrc-says-hello-on-stdout", "bashrc-complains-on-stderr"


@pytest.fixture
def noisy(tk: Env, tmp_path: Path) -> Any:
    """Host 'noisy': an sshd of its own whose user's .bashrc prints on stdout and on stderr."""
    from testkit.sshd import start_sshd

    home = tmp_path / "noisy-user-home"
    home.mkdir()
    (home / ".bashrc").write_text(f'echo "{NOISE_OUT}"\necho "{NOISE_ERR}" >&2\n')
    srv = start_sshd(tmp_path / "noisy-sshd", set_env={"HOME": str(home)})
    cfg = srv.client_config(tmp_path / "noisy_ssh_config", "noisybox", {"TMUXKIT_HOME": str(tmp_path / "nh")})
    tk.write_config(f'[hosts.noisy]\nssh = "noisybox"\nssh_config = "{cfg}"\n')
    try:
        err = subprocess.run(["ssh", "-F", str(cfg), "noisybox", "true"], capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, timeout=20).stderr
        if NOISE_ERR not in err:
            pytest.skip("this host's bash does not read ~/.bashrc for an ssh command (no SSH_SOURCE_BASHRC)")
        yield srv
    finally:
        srv.stop()


def _noisy_host(tk: Env) -> Any:
    from tmuxkit import config as cfg
    from tmuxkit.hosts import connect

    return connect(cfg.load(str(tk.work / "tmuxkit.toml")).host("noisy"))


def test_a_login_shells_stderr_is_not_the_cause_of_a_failure(tk: Env, noisy: Any, tmp_path: Path) -> None:
    h = _noisy_host(tk)
    res = h.run(["sh", "-c", "exit 3"])
    assert res.rc == 3 and NOISE_ERR not in res.err and res.error_line() == "failed with exit code 3", res
    res = h.run(["sh", "-c", "echo the-real-cause >&2; exit 3"])
    assert res.error_line() == "the-real-cause", res
    # rsync through tmuxkit's -e: its error is rsync's own, not the .bashrc line.
    r = subprocess.run(["rsync", "-a", *h.rsync_options(), h.rsync_path(str(tmp_path / "no-such-dir") + "/"),
                        str(tmp_path / "dest")], capture_output=True, text=True, timeout=60, env=tk.env)
    assert r.returncode != 0 and NOISE_ERR not in r.stderr and "no-such-dir" in r.stderr, r.stderr
    # A whole verb over it: the host's own answer, nothing of the banner.
    r = tk.cli("stop", "nosuch", "--host", "noisy", check=None)
    assert r.returncode == 4 and NOISE_ERR not in r.stderr and NOISE_OUT not in r.stderr, r.stderr


def test_doctor_notes_a_banner_it_handles(tk: Env, noisy: Any) -> None:
    data = json.loads(tk.cli("doctor", "--host", "noisy", "--json", check=None).stdout)
    (banner,) = [c for c in data["checks"] if c["check"] == "login banner"]
    assert banner["ok"] is True and banner["note"] is True and NOISE_OUT in banner["value"], banner
    r = tk.cli("doctor", "noisy", check=None)
    line = next(ln for ln in r.stdout.splitlines() if "login banner" in ln)
    assert line.lstrip().startswith("! host"), r.stdout


def test_install_on_a_host_without_tmux_fails_in_one_line(tk: Env, tmp_path: Path) -> None:
    from conftest import path_with_only

    from testkit.sshd import start_sshd

    path = path_with_only(tmp_path / "notmux-bin", [
        "bash", "sh", "env", "cat", "mkdir", "chmod", "tar", "printf", "python3"])
    srv = start_sshd(tmp_path / "notmux", path_env=path)
    try:
        cfg = srv.client_config(tmp_path / "ssh_config", "notmux", {"TMUXKIT_HOME": str(tmp_path / "rh")})
        tk.write_config(f'[hosts.nt]\nssh = "notmux"\nssh_config = "{cfg}"\n')
        r = tk.cli("install", "--host", "nt", check=127)
        assert r.stderr.count("\n") == 1 and "tmux is missing" in r.stderr and "apt-get install tmux" in r.stderr
    finally:
        srv.stop()


# --- item 3: logs -f resumes by position, not by a line's text -------------------------------------
def _follow(tk: Env, *args: str) -> tuple[subprocess.Popen[str], list[str]]:
    """tmuxkit logs -f ARGS in a subprocess; its stdout lines gathered as they come."""
    import threading

    p = subprocess.Popen([sys.executable, "-m", "tmuxkit", "logs", *args], cwd=tk.work, env=tk.env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    got: list[str] = []

    def read() -> None:
        assert p.stdout is not None
        for ln in p.stdout:
            got.append(ln.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    return p, got


def test_logs_f_resumes_by_position_when_the_last_line_repeats(tk: Env, remote: Any) -> None:
    """A blank line after each step, and a log that rotates every few steps: each reconnect goes on
    from the byte after the last line shown (33 of 88 steps were lost when it looked for the last
    line's text, a blank one)."""
    from conftest import kill_ssh_links

    remote.add_run("blanks", "sleep 1; for i in $(seq 1 88); do echo step $i; echo; sleep 0.04; done; sleep 1",
                   "log_max_bytes = 200\nlog_keep = 60\n")
    tk.cli("start", "blanks")
    p, got = _follow(tk, "blanks", "-f", "-n", "1000")
    try:
        kills = 0
        for at in (10, 35, 60):
            wait_until(lambda: sum(ln.startswith("step ") for ln in got) >= at, timeout=60, what=f"step {at}")
            kills += len(kill_ssh_links(tk, clients=True))
        assert p.wait(90) == 0
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
    err = p.stderr.read() if p.stderr else ""
    assert kills > 0 and "reconnecting" in err, err
    steps = [ln for ln in got if ln.startswith("step ")]
    assert steps == [f"step {i}" for i in range(1, 89)], got
    assert not any("lost" in ln or "missing" in ln for ln in got), got
    rotated = list((remote.results("blanks") / "tmuxkit").glob("blanks.log.*"))
    assert len(rotated) >= 2  # the reconnects crossed rotations


def test_logs_from_a_position_rotated_away_says_lines_were_lost(tk: Env) -> None:
    tk.add_run("gone", "for i in $(seq 1 40); do echo row $i; done", "log_max_bytes = 100\nlog_keep = 2\n")
    tk.cli("start", "gone")
    wait_until(lambda: tk.status("gone")["state"] == "exited", what="the run's end")
    log = tk.log("gone")
    # A position in a part that was rotated away: an inode no part of the log has now.
    inodes = {p.stat().st_ino for p in log.parent.glob("gone.log*")}
    ghost = next(i for i in range(10**6, 10**6 + 100) if i not in inodes)
    r = tk.script("tmuxkit-logs", "gone", "-n", "2", "-f", "--heartbeat", "--from", f"{ghost}:5")
    lines = r.stdout.rstrip("\n").split("\n")  # (splitlines would split at 0x1E too)
    assert r.returncode == 0 and "lines were lost" in lines[0], r.stdout + r.stderr
    assert "row 40" in r.stdout and lines[-1].startswith("\x1e"), r.stdout
    # A position still there (the current part, its start): exactly what follows, nothing lost.
    st = log.stat()
    r = tk.script("tmuxkit-logs", "gone", "-f", "--heartbeat", "--from", f"{st.st_ino}:0")
    body = [ln for ln in r.stdout.rstrip("\n").split("\n") if not ln.startswith("\x1e")]
    assert body == log.read_text().splitlines() and "lost" not in r.stdout, r.stdout
    r = tk.script("tmuxkit-logs", "gone", "-f", "--heartbeat", "--from", "12x:0")
    assert r.returncode == 2 and "--from needs INODE:OFFSET" in r.stderr


# --- item 11, the laptop's parts ------------------------------------------------------------------
def _dead_host(tk: Env, extra: str = "") -> None:
    """Host 'dead': nothing listens on its port (connection refused, at once)."""
    from testkit.sshd import free_port

    tk.write_config(f'[hosts.dead]\nssh = "nobody@127.0.0.1"\nport = {free_port()}\n{extra}')


def test_logs_f_against_a_host_that_never_answered_gives_up_in_one_line(tk: Env) -> None:
    _dead_host(tk)
    r = tk.cli("logs", "r1", "--host", "dead", "-f", check=None, timeout=60)
    assert r.returncode == 6, r.stdout + r.stderr
    assert r.stderr.count("\n") == 1 and "connection refused" in r.stderr and "never answered" in r.stderr, r.stderr


def test_cleanup_takes_host(tk: Env) -> None:
    _dead_host(tk)
    r = tk.cli("cleanup", "--dry-run", "--host", "local")  # the dead host is not asked
    assert "dead" not in r.stdout + r.stderr and "nothing to clean up" in r.stdout
    r = tk.cli("cleanup", "--dry-run", "--host", "dead", check=6)
    assert "connection refused" in r.stderr


def test_events_with_a_lone_surrogate_print_without_a_traceback(tk: Env) -> None:
    tk.cli("start", "ev", "--", "sleep", "30")
    with (tk.run_dir("ev") / "events.jsonl").open("a") as f:
        f.write('{"ts":1700000000,"id":"x1","run":"ev","event":"stuck","detail":"bad \\ud800 here"}\n')
    r = tk.cli("events", "ev")
    assert "Traceback" not in r.stderr and "bad \ufffd here" in r.stdout, r.stdout + r.stderr
    r = tk.cli("events", "ev", "--json")
    assert json.loads(r.stdout.splitlines()[-1])["detail"] == "bad \ufffd here"


def test_sync_to_a_path_that_is_not_a_directory_is_one_line(tk: Env) -> None:
    tk.add_run("sn", "sleep 30", 'sync_to = "/dev/null"')
    tk.cli("start", "sn")
    r = tk.cli("sync", "sn", "--once", check=2)
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1 and "not a directory" in r.stderr, r.stderr


def test_logs_and_events_cost_one_ssh_exchange(tk: Env, remote: Any, tmp_path: Path) -> None:
    remote.add_run("one", "echo hello; sleep 30")
    tk.cli("start", "one")
    wait_until(lambda: "hello" in tk.cli("logs", "one").stdout, what="the run's first line")
    calls = tmp_path / "ssh-calls"
    shim = tmp_path / "shim"
    shim.mkdir()
    real = subprocess.run(["sh", "-c", "command -v ssh"], capture_output=True, text=True).stdout.strip()
    (shim / "ssh").write_text(f'#!/bin/sh\necho x >> "{calls}"\nexec {real} "$@"\n')
    (shim / "ssh").chmod(0o755)
    tk.env["PATH"] = f"{shim}{os.pathsep}{tk.env['PATH']}"
    for verb in (["logs", "one", "-n", "5"], ["events", "one"]):
        calls.write_text("")
        tk.cli(*verb)
        assert calls.read_text().count("x") == 1, verb


# --- item 6: a black-holed link under a live ControlMaster ----------------------------------------
@pytest.fixture
def holey(tk: Env, sshd: Any, tmp_path: Path) -> Any:
    """Host 'box' reached through a Blackhole relay (its host key under the sshd's own name)."""
    from testkit.blackhole import Blackhole

    bh = Blackhole(sshd.port)
    cfg = sshd.client_config(tmp_path / "holey_ssh_config", "holeybox", {"TMUXKIT_HOME": str(tmp_path / "rh")})
    text = cfg.read_text().replace(f"Port {sshd.port}", f"Port {bh.port}")
    cfg.write_text(text + f"  HostKeyAlias [127.0.0.1]:{sshd.port}\n")
    tk.write_config(f'[hosts.box]\nssh = "holeybox"\nssh_config = "{cfg}"\n')
    try:
        yield bh
    finally:
        bh.stop()


def test_a_black_holed_master_is_replaced_and_the_command_succeeds(tk: Env, holey: Any) -> None:
    import time

    from conftest import ssh_link_pids

    tk.cli("status", "--host", "box")  # opens the ControlMaster (ControlPersist keeps it)
    masters = ssh_link_pids(tk)
    assert masters and holey.hole() >= 1
    t0 = time.monotonic()
    r = tk.cli("status", "--host", "box", check=None)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stdout + r.stderr
    assert took < 10, f"{took:.1f}s"  # it was 15-20 s, and the command failed
    assert not set(masters) & set(ssh_link_pids(tk))  # the dead master is gone, a new one serves


# --- item 7: a cold status with many ended runs ------------------------------------------------------
def _history(tk: Env, n: int, ended_ago: int) -> None:
    """N ended runs without a kept answer (a cold cache, as after an upgrade): copies of a real ended
    run's state, each ended ENDED_AGO seconds ago."""
    import shutil
    import time

    tk.cli("start", "seed", "--", "true")
    seed = tk.run_dir("seed")
    # Its end written whole: the exit, then (once the log is whole) the cause, then the lock freed.
    wait_until(lambda: (seed / "exit").exists() and (seed / "cause").exists() and not any(seed.glob("*.tmp*"))
               and tk.status("seed")["lock_state"] == "free", what="the seed run's end")
    end = int(time.time()) - ended_ago
    for i in range(n):
        name = f"old{i:04d}"
        d = tk.run_dir(name)
        shutil.copytree(seed, d)
        (d / "status.cache").unlink(missing_ok=True)
        meta = (d / "meta").read_text().replace("run=seed\n", f"run={name}\n")
        (d / "meta").write_text(meta.replace("started_at=", f"started_at={end - 60}\nx_was_started_at="))
        (d / "exit").write_text(f"0 {end}\n")
        for f in ("meta", "runner", "cmd", "env", "pid"):
            if (d / f).exists():
                os.utime(d / f, (end - 60, end - 60))
        os.utime(d / "exit", (end, end))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("ended_ago", [10 * 86400, 3600], ids=["past-show-ended", "within-show-ended"])
def test_a_cold_status_with_many_ended_runs_answers_in_time_with_the_live_ones(tk: Env, ended_ago: int) -> None:
    import time

    tk.cli("start", "live", "--", "sleep", "120")
    _history(tk, 600, ended_ago)
    t0 = time.monotonic()
    r = tk.cli("status", "--json", check=None)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stdout + r.stderr
    rows = {row["run"]: row for row in json.loads(r.stdout)}
    assert rows["live"]["state"] == "running", rows.get("live")
    assert took < 10 + 5, f"{took:.1f}s"  # within the status timeout (and this process's start)
    if ended_ago > 3 * 86400:  # past show_ended: not shown, and never computed (none got a kept answer)
        assert not [n for n in rows if n.startswith("old")]
        assert not list(tk.home.glob("runs/old*/status.cache"))
    else:  # each one computed is kept: later calls fill in the rest
        assert list(tk.home.glob("runs/old*/status.cache"))
