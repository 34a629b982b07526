"""cleanup: stale locks, dead sessions and orphaned marked processes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from conftest import SHELL, Env, pid_alive, wait_until


def _orphan_setup(tk: Env) -> tuple[int, int]:
    # A run whose runner dies hard, leaving its command (and its lock) behind.
    tk.cli("start", "orphaned", "--", "bash", "-c", "trap '' HUP INT TERM; sleep 300 & wait")
    row = tk.status("orphaned")
    os.kill(row["runner_pid"], signal.SIGKILL)
    return row["runner_pid"], row["pid"]


def test_dry_run_reports_and_changes_nothing(tk: Env) -> None:
    _, pid = _orphan_setup(tk)
    wait_until(lambda: tk.status("orphaned")["state"] == "dead", what="dead")
    out = tk.cli("cleanup", "--dry-run").stdout
    assert "orphan" in out and "stale_lock" in out and "dead_session" in out
    assert "would fix" in out
    assert pid_alive(pid)
    assert (tk.work / "results" / "orphaned" / ".tmuxkit.lock").exists()
    assert "orphaned" in tk.sessions()


def test_cleanup_kills_orphans_removes_stale_lock_and_dead_session(tk: Env) -> None:
    _, pid = _orphan_setup(tk)
    wait_until(lambda: tk.status("orphaned")["state"] == "dead", what="dead")
    out = tk.cli("cleanup").stdout
    assert "orphan" in out and "killed" in out  # the kill ladder also releases the lock
    wait_until(lambda: not pid_alive(pid), what="orphan gone")
    assert tk.marked_pids("orphaned") == []
    assert not (tk.work / "results" / "orphaned" / ".tmuxkit.lock").exists()
    assert "orphaned" not in tk.sessions()
    assert tk.cli("cleanup").stdout.strip() == "nothing to clean up"
    # And the run can start again.
    tk.cli("start", "orphaned", "--", "true")


def test_cleanup_removes_a_stale_lock_when_nothing_is_left(tk: Env) -> None:
    tk.cli("start", "crashed", "--", "sleep", "60")
    row = tk.status("crashed")
    os.kill(row["runner_pid"], signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):  # the runner's death may hang up its terminal first
        os.kill(row["pid"], signal.SIGKILL)
    wait_until(lambda: tk.status("crashed")["state"] == "dead", what="dead")
    out = tk.cli("cleanup").stdout
    assert "stale_lock" in out and "removed" in out
    assert not (tk.work / "results" / "crashed" / ".tmuxkit.lock").exists()


def test_cleanup_leaves_a_healthy_run_alone(tk: Env) -> None:
    tk.cli("start", "healthy", "--", "sleep", "30")
    assert tk.cli("cleanup").stdout.strip() == "nothing to clean up"
    assert tk.status("healthy")["state"] == "running"


def test_a_run_whose_session_was_killed_is_running_headless_and_stop_ends_it(tk: Env) -> None:
    """tmux kill-server (a reboot of tmux, not of the box) or kill-session by hand: the run's
    processes live on. States agree: running (headless); start refuses it; cleanup does not kill
    it; stop ends it."""
    tk.cli("start", "headless", "--", "bash", "-c", "trap '' HUP; echo up; while :; do sleep 0.2; done")
    wait_until(lambda: "up" in tk.log_text("headless"), what="output")
    pid = tk.status("headless")["pid"]
    tk.tmux("kill-session", "-t", "=headless")
    row = tk.status("headless")
    assert (row["state"], row["headless"], row["lock_state"]) == ("running", True, "alive")
    assert "running (headless)" in tk.cli("status").stdout
    assert "already running" in tk.cli("start", "headless", "--", "true", check=3).stderr
    out = tk.cli("cleanup").stdout
    assert "headless" in out and "killed" not in out and pid_alive(pid)
    assert "stopped headless" in tk.cli("stop", "headless", "--grace", "1").stdout
    wait_until(lambda: not pid_alive(pid), what="the headless command to be gone")
    assert tk.marked_pids("headless") == [] and tk.status("headless")["lock_state"] == "free"


def test_cleanup_never_kills_a_users_session_that_took_a_finished_runs_name(tk: Env) -> None:
    tk.cli("start", "mine", "--", "true")
    wait_until(lambda: tk.status("mine")["state"] == "exited", what="exit")
    # Another session keeps the server up: killing its last one would end it, and a new-session
    # racing that exit could land in the dying server (the CI flake this line ends).
    tk.tmux("new-session", "-d", "-s", "keep", "sleep 300")
    tk.tmux("kill-session", "-t", "=mine")
    tk.tmux("new-session", "-d", "-s", "mine", "sleep 300")  # the user's own session, same name
    assert "mine" in tk.sessions()
    out = tk.cli("cleanup").stdout
    assert "dead_session" not in out and "mine" in tk.sessions()


def test_cleanup_racing_a_restart_never_kills_the_new_session(tk: Env, tmp_path: Path) -> None:
    """Issue 9.5a: cleanup (tmuxkit-zombies --fix, in a loop) races `start --again` of an exited
    run, 12 rounds: it may read the old meta and check the old session, but it only ever kills
    the session it checked (by its tmux $id), so every new session survives. The racer's tmux
    takes a moment before each kill-session (a loaded host), which widens the window between
    the check and the kill that a kill by name would lose."""
    shim = tmp_path / "slowkill"
    shim.mkdir()
    real = shutil.which("tmux")
    (shim / "tmux").write_text(f'#!/bin/sh\ncase " $* " in *" kill-session "*) sleep 0.3 ;; esac\nexec {real} "$@"\n')
    (shim / "tmux").chmod(0o755)
    racer_env = dict(tk.env, PATH=f"{shim}{os.pathsep}{tk.env['PATH']}")
    tk.cli("start", "again", "--", "sleep", "60")
    pidfile = tk.run_dir("again") / "pid"
    flag = tk.work / "stop-racing"
    t0 = time.monotonic()
    for i in range(12):
        os.kill(int(pidfile.read_text()), signal.SIGKILL)
        # Its dead pane is kept: a dead_session for cleanup, and one that start replaces.
        wait_until(lambda: tk.tmux("display-message", "-p", "-t", "=again:", "#{pane_dead}").stdout.strip() == "1",
                   what=f"round {i}: the runner to end")
        racer = subprocess.Popen(
            ["bash", "-c", 'while [ ! -e "$1" ]; do bash "$2" --fix again >/dev/null 2>>"$1.err"; done',
             "racer", str(flag), str(SHELL / "tmuxkit-zombies")], env=racer_env)
        try:
            time.sleep(0.1 * (i % 4))  # start at different points of the racer's pass
            r = tk.script("tmuxkit-start", "again", "--again")
            assert r.returncode == 0, f"round {i}: {r.stderr}"
            time.sleep(0.4)  # a kill the racer was about to make lands now
        finally:
            flag.touch()
            racer.wait(timeout=30)
            flag.unlink()
        assert "again" in tk.sessions(), f"round {i}: cleanup killed the new session"
        assert pid_alive(int(pidfile.read_text())), f"round {i}: the new run is gone"
    assert time.monotonic() - t0 < 120  # (each round a few seconds, even on a loaded machine)
    # A start's staging directory may vanish between cleanup's glob and its stat: never a crash.
    assert (tk.work / "stop-racing.err").read_text() == ""
    assert tk.status("again")["state"] == "running"
    tk.cli("stop", "again", "--grace", "1")


def test_cleanup_survives_a_start_staging_dir_that_vanishes_under_it(tk: Env, tmp_path: Path) -> None:
    """A start's .start.* staging dir may go (its start finished) between cleanup's glob and its
    stat: cleanup goes on, instead of dying of `1796182979 - : syntax error`. The vanishing is
    made certain here by a stat that finds no such dir, as it would after the rename."""
    staging = tk.home / "runs" / ".start.gone.abc123"
    staging.mkdir(parents=True)
    shim = tmp_path / "vanishing"
    shim.mkdir()
    real = shutil.which("stat")
    (shim / "stat").write_text(f'#!/bin/sh\ncase "$*" in *.start.*) echo "stat: No such file" >&2; exit 1 ;; esac\n'
                               f'exec {real} "$@"\n')
    (shim / "stat").chmod(0o755)
    env = dict(tk.env, PATH=f"{shim}{os.pathsep}{tk.env['PATH']}")
    r = subprocess.run(["bash", str(SHELL / "tmuxkit-zombies"), "--fix"], capture_output=True, text=True, env=env,
                       cwd=tk.work, timeout=60)
    assert r.returncode == 0 and "syntax error" not in r.stderr, r.stderr


def test_a_stray_folder_in_runs_is_skipped_with_a_note_and_cleanup_exits_0(tk: Env) -> None:
    """Issue 23.11: a user's copy of a run's state ("live.bak") made cleanup exit 2; it is left as
    it is, said, and the rest is cleaned."""
    tk.cli("start", "strayer", "--", "true")
    wait_until(lambda: (tk.run_dir("strayer") / "exit").exists(), what="the run's end")
    shutil.copytree(tk.run_dir("strayer"), tk.home / "runs" / "live.bak")
    r = tk.cli("cleanup", "--older-than", "1s")
    assert "stray" in r.stdout and "live.bak" in r.stdout and "-> skipped" in r.stdout, r.stdout
    assert (tk.home / "runs" / "live.bak" / "meta").exists()
