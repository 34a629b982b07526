"""Status at fleet scale (issue 13): cost independent of history, runs you can forget."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from conftest import Env, Remote, wait_until


def _end_long_ago(tk: Env, run: str, days: int = 10) -> None:
    """The run ended DAYS ago, as far as its recorded exit says."""
    exit_file = tk.run_dir(run) / "exit"
    code = exit_file.read_text().split()[0]
    then = int(time.time()) - days * 86400
    exit_file.write_text(f"{code} {then}\n")
    for started in ("meta", "runner"):  # and it started before that
        os.utime(tk.run_dir(run) / started, (then - 60, then - 60))


def _names(tk: Env, *args: str) -> list[str]:
    return sorted(r["run"] for r in json.loads(tk.cli("status", "--json", *args).stdout) if "run" in r)


def test_status_leaves_out_runs_that_ended_long_ago_and_all_shows_them(tk: Env) -> None:
    for run in ("old", "recent"):
        tk.cli("start", run, "--", "echo", "done")
    tk.cli("start", "live", "--", "sleep", "60")
    wait_until(lambda: all(tk.status(r)["state"] == "exited" for r in ("old", "recent")), what="both to end")
    _end_long_ago(tk, "old")
    assert _names(tk) == ["live", "recent"]
    assert _names(tk, "--all") == ["live", "old", "recent"]
    assert _names(tk, "old") == ["old"]  # a named run is always shown
    assert _names(tk, "--ended-within", "30d") == ["live", "old", "recent"]
    (tk.work / "tmuxkit.toml").write_text('[status]\nshow_ended = "30d"\n')
    assert _names(tk) == ["live", "old", "recent"]


def test_an_ended_runs_kept_answer_is_used_and_never_outlives_a_change(tk: Env) -> None:
    """The host keeps an ended run's answer (runs/RUN/status.cache); a new start, a new event or a
    stop makes it answer afresh."""
    tk.cli("start", "again", "--", "bash", "-c", "echo first; exit 3")
    wait_until(lambda: tk.status("again")["state"] == "exited", what="the first run to end")
    wait_until(lambda: "first" in tk.log_text("again"), what="its last line in the log")
    _end_long_ago(tk, "again", days=1)
    row = tk.status("again")
    cache = tk.run_dir("again") / "status.cache"
    assert cache.exists() and row["exit_code"] == 3 and row["last_line"] == "first"
    # The kept answer is what status says (log age still moves with the clock).
    cache.write_text(cache.read_text().replace('"last_line":"first"', '"last_line":"from the cache"'))
    assert tk.status("again")["last_line"] == "from the cache"
    tk.script("tmuxkit-events", "again", "--add", "synced", "bytes=1")
    wait_until(lambda: tk.status("again")["last_event"] == "synced", what="a new event to be seen")
    _end_long_ago(tk, "again", days=10)  # out of the window: left out without its state being read
    assert "again" not in _names(tk)
    tk.cli("start", "again", "--", "sleep", "60")
    assert tk.status("again")["state"] == "running"
    rows = {r["run"]: r for r in json.loads(tk.cli("status", "--json").stdout)}
    assert rows["again"]["state"] == "running"  # the restart is seen without naming the run
    tk.cli("stop", "again", "--grace", "5")
    assert tk.status("again")["state"] == "stopped"


def test_many_live_runs_each_get_their_own_progress_events_and_last_line(tk: Env) -> None:
    """Live runs' events and progress are read by one awk for all of them: each row still gets
    its own, a run that printed nothing gets none (null, not a neighbour's or a shifted field),
    and the ended runs listed among them keep their places."""
    for i in range(4):
        tk.cli("start", f"l{i}", "--", "bash", "-c", f"echo 'epoch {i + 1}/9 loss=0.{i + 1}'; sleep 60")
    tk.cli("start", "quiet", "--", "sleep", "60")
    tk.cli("start", "ended", "--", "echo", "bye")
    tk.script("tmuxkit-events", "l2", "--add", "stuck", "x=1")
    wait_until(lambda: tk.status("ended")["state"] == "exited", what="the short run to end")

    def rows() -> dict[str, dict[str, Any]]:
        return {r["run"]: r for r in json.loads(tk.cli("status", "--json").stdout) if "run" in r}

    wait_until(lambda: all((rows()[f"l{i}"]["progress"] or {}).get("epoch") == i + 1 for i in range(4)),
               what="each run's progress")
    got = rows()
    assert sorted(got) == ["ended", "l0", "l1", "l2", "l3", "quiet"]
    for i in range(4):
        row = got[f"l{i}"]
        assert row["state"] == "running" and row["last_line"] == f"epoch {i + 1}/9 loss=0.{i + 1}"
        assert row["losses"] == [float(f"0.{i + 1}")]
        assert row["last_event"] == ("stuck" if i == 2 else "")
    # As the host says it: nothing, not a neighbour's fields or a shifted one.
    host = {r["run"]: r for r in json.loads(tk.script("check_training_status.sh", "--runs-only", "--json").stdout)["runs"]}
    assert host["quiet"]["progress"] is None and host["quiet"]["losses"] is None
    assert host["quiet"]["restarts"] == 0 and host["quiet"]["last_line"] == "" and host["quiet"]["last_event"] is None
    assert got["ended"]["state"] == "exited" and got["ended"]["last_line"] == "bye"


def test_forget_removes_state_never_results_and_refuses_a_live_run(tk: Env) -> None:
    tk.cli("start", "gone", "--", "bash", "-c", "echo result > results/gone/metrics.json; echo bye")
    tk.cli("start", "busy", "--", "sleep", "60")
    wait_until(lambda: tk.status("gone")["state"] == "exited", what="the run to end")
    r = tk.cli("forget", "gone", "busy", check=3)
    assert "busy is still running" in r.stderr and tk.run_dir("gone").exists()  # all or nothing
    r = tk.cli("forget", "gone")
    assert "forgot gone on local" in r.stdout
    assert not tk.run_dir("gone").exists() and "gone" not in tk.sessions()
    assert (tk.work / "results" / "gone" / "metrics.json").read_text() == "result\n"
    assert "bye" in (tk.work / "results" / "gone" / "tmuxkit" / "gone.log").read_text()
    tk.cli("status", "gone", check=4)
    tk.cli("forget", "gone", check=4)


def test_cleanup_older_than_forgets_only_old_finished_runs(tk: Env) -> None:
    for run in ("ancient", "fresh"):
        tk.cli("start", run, "--", "true")
    tk.cli("start", "running", "--", "sleep", "60")
    wait_until(lambda: all(tk.status(r)["state"] == "exited" for r in ("ancient", "fresh")), what="both to end")
    _end_long_ago(tk, "ancient", days=20)
    r = tk.cli("cleanup", "--older-than", "14d", "--dry-run")
    assert "ancient" in r.stdout and "would forget" in r.stdout and tk.run_dir("ancient").exists()
    r = tk.cli("cleanup", "--older-than", "14d")
    assert "ancient: ended" in r.stdout and "forgotten" in r.stdout
    assert not tk.run_dir("ancient").exists()
    assert tk.run_dir("fresh").exists() and tk.run_dir("running").exists()
    assert (tk.work / "results" / "ancient" / "tmuxkit" / "ancient.log").exists()


def _slow_ps(bindir: Path) -> Path:
    """A ps that takes 30 s to answer (but for the pid/ppid table), standing in for a host too busy
    to answer in time."""
    bindir.mkdir(parents=True, exist_ok=True)
    shim = bindir / "ps"
    shim.write_text(f'#!/bin/sh\ncase "$*" in *pid=,ppid=*) exec {shutil.which("ps")} "$@" ;; esac\n'
                    f'sleep 30\nexec {shutil.which("ps")} "$@"\n')
    shim.chmod(0o755)
    return bindir


def _a_run_to_judge(home: Path) -> None:
    """A run the host must judge, so that its status takes the process table (a host with no run to
    judge answers without ps): one that ended with nothing recorded, never kept in a cache."""
    d = home / "runs" / "ghost"
    d.mkdir(parents=True, exist_ok=True)
    for p in (home, home / "runs", d):
        p.chmod(0o700)
    (d / "meta").write_text("run=ghost\n")


def _left_behind(tk: Env) -> list[str]:
    out = []
    for pid in tk.socket_pids():
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "sleep 30" in cmd or "check_training_status" in cmd or "tmuxkit-deadline" in cmd:
            out.append(f"{pid} {cmd}")
    return out


def test_a_status_that_runs_out_of_time_leaves_nothing_running_here(tk: Env, tmp_path: Path) -> None:
    """Issue 13.3: the time limit ends the host-side work it started, on this machine too."""
    _a_run_to_judge(tk.home)
    tk.env["PATH"] = f"{_slow_ps(tmp_path / 'slow')}{os.pathsep}{tk.env['PATH']}"
    t0 = time.monotonic()
    r = tk.cli("status", "--timeout", "2", check=None)
    assert "no answer within 2s" in r.stdout, r.stdout
    assert time.monotonic() - t0 < 10
    wait_until(lambda: _left_behind(tk) == [], timeout=5, what="nothing left running")


def test_a_status_that_runs_out_of_time_leaves_nothing_running_on_the_host(tk: Env, tmp_path: Path) -> None:
    """The same over ssh: the host's script ends itself and all it started at the deadline."""
    from testkit.sshd import start_sshd

    srv = start_sshd(tmp_path / "slowsshd", path_env=f"{_slow_ps(tmp_path / 'slow')}:/usr/local/bin:/usr/bin:/bin")
    try:
        cfg = srv.client_config(tmp_path / "ssh_config", "slowbox", {"TMUXKIT_HOME": str(tmp_path / "rh")})
        tk.write_config(f'[hosts.slow]\nssh = "slowbox"\nssh_config = "{cfg}"\n')
        tk.cli("install", "slow")
        _a_run_to_judge(tmp_path / "rh")
        t0 = time.monotonic()
        r = tk.cli("status", "--host", "slow", "--timeout", "3", check=None)
        assert time.monotonic() - t0 < 10  # an ssh ControlMaster holding the pipes does not hold the answer
        assert "no answer within 3s" in r.stdout, r.stdout
        wait_until(lambda: _left_behind(tk) == [], timeout=8, what="the host's script and its ps to be gone")
    finally:
        srv.stop()


def test_two_host_entries_for_one_box_are_asked_once(tk: Env, remote: Remote) -> None:
    """Issue 13.5: [hosts.box] and [hosts.box2] reach the same user@host:port: one row per run."""
    with remote.config.open("a") as f:
        f.write(f'\n[hosts.box2]\nssh = "{remote.alias}"\nssh_config = "{remote.ssh_config}"\n')
    remote.add_run("rtwice", "sleep 60")
    tk.cli("start", "rtwice")
    r = tk.cli("status", "--json")
    rows = [row for row in json.loads(r.stdout) if row.get("run") == "rtwice"]
    assert [row["host"] for row in rows] == ["box"], rows
    r = tk.cli("status")
    assert "host box2 is the same box as box" in r.stderr
    assert sum(1 for ln in r.stdout.splitlines() if ln.startswith("rtwice ")) == 1


def test_on_a_terminal_each_hosts_rows_come_as_they_arrive(tk: Env, tmp_path: Path) -> None:
    """Issue 13.3: a slow host does not hold back a fast one's rows."""
    import pty
    import select
    import subprocess
    import sys

    from testkit.sshd import start_sshd

    tk.cli("start", "fastrow", "--", "sleep", "60")
    srv = start_sshd(tmp_path / "slowsshd", path_env=f"{_slow_ps(tmp_path / 'slow')}:/usr/local/bin:/usr/bin:/bin")
    try:
        cfg = srv.client_config(tmp_path / "ssh_config", "slowbox", {"TMUXKIT_HOME": str(tmp_path / "rh")})
        tk.write_config(f'[hosts.slow]\nssh = "slowbox"\nssh_config = "{cfg}"\n')
        tk.cli("install", "slow")
        _a_run_to_judge(tmp_path / "rh")
        leader, follower = pty.openpty()
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "tmuxkit", "status", "--timeout", "6"], env=tk.env,
                                cwd=tk.work, stdout=follower, stderr=follower, stdin=subprocess.DEVNULL)
        os.close(follower)
        seen, first_row_at = b"", None
        while time.monotonic() - t0 < 30:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
                if first_row_at is None and b"fastrow" in seen:
                    first_row_at = time.monotonic() - t0
            elif proc.poll() is not None:
                break
        proc.wait(timeout=30)
        done_at = time.monotonic() - t0
        os.close(leader)
        assert first_row_at is not None, seen
        assert b"no answer" in seen, seen
        assert first_row_at < done_at - 2, (first_row_at, done_at)
    finally:
        srv.stop()
