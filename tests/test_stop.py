"""stop: the ladder, its timing, and no survivors."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from conftest import FAKES, Env, pid_alive, wait_until

from tmuxkit import runs
from tmuxkit.hosts import LocalHost


def _start(tk: Env, run: str, *cmd: str) -> None:
    tk.cli("start", run, "--", *cmd)
    wait_until(lambda: "ready" in tk.log_text(run), what=f"{run} ready")


def test_stop_sigint_lets_the_job_save_and_exit(tk: Env) -> None:
    _start(tk, "polite", "python3", str(FAKES / "signals.py"), "int")
    t0 = time.monotonic()
    r = tk.cli("stop", "polite", "--grace", "20")
    assert time.monotonic() - t0 < 10
    assert "rung sigint" in r.stdout and "lock released" in r.stdout
    assert "it exited cleanly (0)" in r.stdout, r.stdout
    assert "got SIGINT, saving checkpoint" in tk.log_text("polite")
    row = tk.status("polite")
    assert row["state"] == "stopped" and row["stop_rung"] == "sigint" and row["exit_code"] == 0
    assert row["lock_state"] == "free"


def test_stop_says_how_it_really_ended_a_traceback_is_not_a_save(tk: Env) -> None:
    """Issue 15.4: a program that dies of KeyboardInterrupt's traceback is not said to have saved."""
    handler = ("import signal, time\ndef save(*_):\n    raise RuntimeError('disk full while saving')\n"
               "signal.signal(signal.SIGINT, save)\nprint('ready', flush=True)\ntime.sleep(60)\n")
    (tk.work / "crashy.py").write_text(handler)
    _start(tk, "crashy", "python3", str(tk.work / "crashy.py"))
    r = tk.cli("stop", "crashy", "--grace", "20")
    assert "rung sigint (Ctrl-C): it exited with code 1, an error" in r.stdout, r.stdout
    assert "saved" not in r.stdout
    assert "disk full while saving" in tk.log_text("crashy")
    _start(tk, "plain", "python3", "-c", "import time; print('ready', flush=True); time.sleep(60)")
    r = tk.cli("stop", "plain", "--grace", "20")
    assert "it exited with code 130 (the Ctrl-C code)" in r.stdout and "saved" not in r.stdout, r.stdout


def test_ladder_timing_sigterm_after_grace(tk: Env) -> None:
    _start(tk, "termonly", "python3", str(FAKES / "signals.py"), "term")
    t0 = time.monotonic()
    r = runs.stop(LocalHost(), "termonly", grace=2, term_wait=10)
    elapsed = time.monotonic() - t0
    assert r.rung == "sigterm"
    assert 2.0 <= elapsed < 6.0, elapsed


def test_ladder_timing_sigkill_after_grace_and_term_wait(tk: Env) -> None:
    _start(tk, "deaf", "python3", str(FAKES / "signals.py"), "none")
    t0 = time.monotonic()
    r = runs.stop(LocalHost(), "deaf", grace=1, term_wait=2)
    elapsed = time.monotonic() - t0
    assert r.rung == "sigkill" and r.survivors == "0"
    assert 3.0 <= elapsed < 7.0, elapsed
    assert tk.status("deaf")["state"] == "stopped"
    assert not (tk.work / "results" / "deaf" / ".tmuxkit.lock").exists()


def test_stop_leaves_no_survivors_of_a_stubborn_tree(tk: Env, tmp_path: Path) -> None:
    pids_dir = tmp_path / "pids"
    pids_dir.mkdir()
    _start(tk, "tree", "python3", str(FAKES / "tree.py"), str(pids_dir))
    pids = {p.name: int(p.read_text()) for p in pids_dir.iterdir()}
    assert set(pids) == {"worker0", "worker1", "setsid", "double", "main"}
    assert all(pid_alive(p) for p in pids.values())
    r = runs.stop(LocalHost(), "tree", grace=1, term_wait=1)
    assert r.rung == "sigkill" and r.survivors == "0"
    survivors = [name for name, p in pids.items() if pid_alive(p)]
    assert survivors == []
    assert tk.marked_pids("tree") == []
    assert not (tk.work / "results" / "tree" / ".tmuxkit.lock").exists()


def test_second_stop_says_not_running_and_exits_0(tk: Env) -> None:
    tk.cli("start", "brief", "--", "true")
    wait_until(lambda: tk.status("brief")["state"] == "exited", what="exit")
    r = tk.cli("stop", "brief")
    assert "not running" in r.stdout


def test_stop_unknown_run_exits_4(tk: Env) -> None:
    r = tk.cli("stop", "nosuch", check=4)
    assert "no run named 'nosuch'" in r.stderr


def _daemon(tk: Env, run: str, then: str) -> int:
    pidfile = tk.work / f"{run}.daemon"
    tk.cli("start", run, "--", "python3", str(FAKES / "daemonize.py"), str(pidfile), then)
    wait_until(pidfile.exists, what="the daemon's pid file")
    return int(pidfile.read_text())


def test_stop_ends_a_double_forked_daemon_that_cleared_its_environment(tk: Env) -> None:
    """Issue 9.8: the runner is a child subreaper on Linux, so the daemon stays in the run's tree."""
    pid = _daemon(tk, "daemon", "wait")
    assert pid_alive(pid)
    r = tk.cli("stop", "daemon", "--grace", "5")
    assert "lock released" in r.stdout
    wait_until(lambda: not pid_alive(pid), timeout=5, what="the daemon to be gone")
    assert tk.status("daemon")["lock_state"] == "free"


def test_a_command_that_exits_leaving_a_daemon_behind_takes_it_along(tk: Env) -> None:
    pid = _daemon(tk, "leaver", "exit")
    wait_until(lambda: tk.status("leaver")["state"] == "exited", timeout=20, what="the run to end")
    assert not pid_alive(pid)
    row = tk.status("leaver")
    assert row["exit_code"] == 0 and row["lock_state"] == "free"
    assert "[tmuxkit] ended 1 process(es) the command left running" in tk.log_text("leaver")


# --- A multiprocessing-pool trainer (tests/fakes/pool_trainer.py): workers ignore SIGINT, the
# main process saves on it. -------------------------------------------------------------------
POOL = [sys.executable, str(FAKES / "pool_trainer.py")]


def _pool_pids(piddir: Path) -> list[int]:
    return [int(p.read_text()) for p in piddir.glob("worker.*")]


def test_stop_of_a_pool_trainer_saves_at_ctrl_c_and_leaves_no_worker(tk: Env, tmp_path: Path) -> None:
    piddir = tmp_path / "pool"
    _start(tk, "pool", *POOL, str(piddir), "--workers", "3", "--steps", "100000")
    workers = _pool_pids(piddir)
    main_pid = int((piddir / "main").read_text())
    assert len(workers) == 3 and all(pid_alive(p) for p in [*workers, main_pid])
    r = tk.cli("stop", "pool", "--grace", "20")
    assert "at rung sigint (Ctrl-C): it exited cleanly (0)" in r.stdout and "lock released" in r.stdout, r.stdout
    assert (tk.work / "results" / "pool" / "interrupted.ckpt").read_text().startswith("step ")
    assert "checkpoint saved" in tk.log_text("pool")
    assert [p for p in [*workers, main_pid] if pid_alive(p)] == []
    assert tk.marked_pids("pool") == []
    row = tk.status("pool")
    assert (row["state"], row["stop_rung"], row["lock_state"]) == ("stopped", "sigint", "free")
    assert not (tk.work / "results" / "pool" / ".tmuxkit.lock").exists()


def test_a_pool_trainer_that_exits_leaving_its_workers_has_them_reaped(tk: Env, tmp_path: Path) -> None:
    """The command returns without pool.terminate(): its workers (which ignore SIGINT and block on
    the task queue forever) are ended by the runner's subreaper, and the lock is freed."""
    piddir = tmp_path / "pool"
    tk.cli("start", "leaver", "--", *POOL, str(piddir), "--workers", "2", "--leave-at", "5")
    wait_until(lambda: len(_pool_pids(piddir)) == 2, timeout=20, what="the pool's workers")
    workers = _pool_pids(piddir)
    wait_until(lambda: tk.status("leaver")["state"] == "exited", timeout=30, what="the run to end")
    assert [p for p in workers if pid_alive(p)] == []
    row = tk.status("leaver")
    assert row["exit_code"] == 0 and row["lock_state"] == "free"
    assert "[tmuxkit] ended 2 process(es) the command left running" in tk.log_text("leaver")
    assert tk.marked_pids("leaver") == []


def test_headless_stop_never_signals_a_pid_it_has_not_verified(tk: Env, tmp_path: Path) -> None:
    """Issue 9.7: the pane is gone, and runs/RUN/pid names another process (a reused PID): stop
    must not send it anything, and still ends the run."""
    got = tmp_path / "bystander.signals"
    bystander_py = ("import signal, sys, time\n"
                    "def rec(n, _):\n"
                    f"    open({str(got)!r}, 'a').write(f'{{n}}\\n')\n"
                    "for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):\n"
                    "    signal.signal(s, rec)\n"
                    "print('ready', flush=True)\n"
                    "while True:\n"
                    "    time.sleep(0.1)\n")
    bystander = subprocess.Popen([sys.executable, "-c", bystander_py], stdout=subprocess.PIPE, text=True,
                                 start_new_session=True)
    try:
        assert bystander.stdout is not None and bystander.stdout.readline().strip() == "ready"
        tk.cli("start", "hl", "--", "bash", "-c", "trap '' HUP; echo up; while :; do sleep 0.2; done")
        wait_until(lambda: "up" in tk.log_text("hl"), what="output")
        pid = tk.status("hl")["pid"]
        tk.tmux("kill-session", "-t", "=hl")
        assert tk.status("hl")["headless"] is True
        (tk.run_dir("hl") / "pid").write_text(f"{bystander.pid}\n")
        r = tk.cli("stop", "hl", "--grace", "1")
        assert "stopped hl" in r.stdout, r.stdout
        wait_until(lambda: not pid_alive(pid), what="the run's command to be gone")
        assert tk.marked_pids("hl") == [] and tk.status("hl")["lock_state"] == "free"
        assert bystander.poll() is None and not got.exists(), got.read_text() if got.exists() else ""
    finally:
        bystander.kill()
        bystander.wait()
