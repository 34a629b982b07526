"""start: the lock, the session, the first line, and nothing half-created."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import SHELL, Env, path_with_only, pid_alive, wait_until


def test_start_runs_command_in_session_with_marker_env_and_cwd(tk: Env) -> None:
    r = tk.cli("start", "job", "--env", "ALPHA=a b", "--", "bash", "-c", 'echo "cwd=$PWD alpha=$ALPHA unbuf=$PYTHONUNBUFFERED run=$TMUXKIT_RUN"; sleep 30')
    assert "started job on local" in r.stdout
    assert "tmux -L" in r.stdout and "attach -t job" in r.stdout
    assert tk.sessions() == ["job"]
    line = wait_until(lambda: [ln for ln in tk.log_text("job").splitlines() if ln.startswith("cwd=")], what="output")
    assert line == [f"cwd={tk.work} alpha=a b unbuf=1 run=job"]
    lock = tk.work / "results" / "job" / ".tmuxkit.lock"
    fields = dict(ln.split("=", 1) for ln in lock.read_text().splitlines())
    assert fields["run"] == "job" and fields["session"] == "job"
    assert pid_alive(int(fields["pid"]))
    assert fields["start"]  # the owner's process start time is recorded
    row = tk.status("job")
    assert row["state"] == "running" and row["lock_state"] == "alive"


def test_first_line_is_captured(tk: Env) -> None:
    tk.cli("start", "first", "--", "printf", "FIRST-BYTE\\nsecond\\n")
    wait_until(lambda: "exited with code 0" in tk.log_text("first"), what="run end")
    lines = tk.log_text("first").splitlines()
    # The runner's header, then the command's very first output.
    assert lines[0].startswith("[tmuxkit] run first started")
    assert lines[1] == "FIRST-BYTE"
    assert lines[2] == "second"


def test_exit_code_is_recorded_pane_stays_and_lock_is_released(tk: Env) -> None:
    tk.cli("start", "fails", "--", "bash", "-c", "echo bye; exit 7")
    row = wait_until(lambda: (s := tk.status("fails"))["state"] == "exited" and s, what="exited")
    assert row["exit_code"] == 7
    assert row["lock_state"] == "free"
    assert not (tk.work / "results" / "fails" / ".tmuxkit.lock").exists()
    assert "fails" in tk.sessions()  # the pane stays after the command exits
    assert tk.tmux("display-message", "-p", "-t", "=fails:", "#{pane_dead}").stdout.strip() == "1"


def test_twenty_concurrent_starts_give_one_run(tk: Env) -> None:
    def start(_: int) -> subprocess.CompletedProcess[str]:
        return tk.cli("start", "race", "--", "sleep", "60", check=None)

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(start, range(20)))
    ok = [r for r in results if r.returncode == 0]
    failed = [r for r in results if r.returncode != 0]
    assert len(ok) == 1, [r.stderr for r in results]
    assert tk.sessions() == ["race"]
    for r in failed:
        assert r.returncode == 3, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr  # one clean line, no traceback
        assert r.stderr.startswith("tmuxkit: ")
    assert not list((tk.home / "runs").glob(".start.*"))  # no staging left behind


def test_one_run_per_results_dir_under_two_names(tk: Env) -> None:
    def start(i: int) -> subprocess.CompletedProcess[str]:
        return tk.cli("start", f"name{i}", "--results", "shared", "--", "sleep", "60", check=None)

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(start, range(6)))
    assert sum(r.returncode == 0 for r in results) == 1, [r.stderr for r in results]
    assert len(tk.sessions()) == 1  # the losers' sessions are gone: no session without its lock
    for r in results:
        if r.returncode:
            assert r.returncode == 3 and "locked by PID" in r.stderr, r.stderr


def test_live_lock_is_reported_with_owner(tk: Env) -> None:
    tk.cli("start", "holder", "--results", "res", "--", "sleep", "60")
    r = tk.cli("start", "other", "--results", "res", "--", "sleep", "60", check=3)
    # When, as a person reads it (the lock's identity is clock ticks since boot, "t:2458090").
    assert re.search(r"locked by PID \d+ \(run holder, started \d+s ago\)", r.stderr), r.stderr
    assert "other" not in tk.sessions()


def test_lock_of_live_unrelated_pid_with_other_start_time_is_stale(tk: Env) -> None:
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        res = tk.work / "results" / "reuse"
        res.mkdir(parents=True)
        (res / ".tmuxkit.lock").write_text(
            f"pid={bystander.pid}\nstart=Mon Jan  1 00:00:00 2001\nhost={socket.gethostname()}\nrun=old\nsession=old\nrun_id=old.1.1\ncreated=1\n")
        r = tk.cli("start", "reuse", "--", "sleep", "60")
        assert "reclaimed stale lock" in r.stdout and f"PID {bystander.pid}" in r.stdout
        assert pid_alive(bystander.pid)  # the bystander is untouched
        assert tk.status("reuse")["lock_state"] == "alive"
    finally:
        bystander.kill()
        bystander.wait()


def test_symlinked_lock_is_refused(tk: Env) -> None:
    res = tk.work / "results" / "sym"
    res.mkdir(parents=True)
    target = tk.work / "elsewhere"
    (res / ".tmuxkit.lock").symlink_to(target)
    r = tk.cli("start", "sym", "--", "sleep", "60", check=5)
    assert "symlink" in r.stderr and len(r.stderr.splitlines()) == 1
    assert (res / ".tmuxkit.lock").is_symlink() and not target.exists()
    assert tk.sessions() == []
    assert not (tk.home / "runs" / "sym").exists()


def test_garbage_lock_is_reported_and_kept(tk: Env) -> None:
    res = tk.work / "results" / "junk"
    res.mkdir(parents=True)
    (res / ".tmuxkit.lock").write_bytes(b"\x00\xffnot a lock\n")
    r = tk.cli("start", "junk", "--", "sleep", "60", check=5)
    assert "garbage" in r.stderr
    assert (res / ".tmuxkit.lock").read_bytes() == b"\x00\xffnot a lock\n"
    tk.cli("cleanup")
    assert (res / ".tmuxkit.lock").read_bytes() == b"\x00\xffnot a lock\n"  # never deleted silently
    report = tk.script("check_training_status.sh", "--root", str(tk.work / "results")).stdout
    assert "GARBAGE" in report and "inspect it" in report


@pytest.mark.parametrize("name", ["a.b", "a:b", "x;touch f", "", " ", "a b", "-x", "a/b", "$(touch pwned)", "é", "a" * 65, "`id`"])
def test_hostile_names_leave_nothing_behind(tk: Env, name: str) -> None:
    r = tk.cli("start", name, "--", "touch", "created", check=None)
    assert r.returncode == 2, r.stderr
    assert "invalid run name" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert tk.sessions() == []
    assert sorted(p.name for p in tk.work.iterdir()) == []
    assert not (tk.home / "runs").exists() or list((tk.home / "runs").iterdir()) == []


def test_hostile_names_are_refused_by_the_host_script_too(tk: Env) -> None:
    for name in ["a.b", "x;touch f", "-x", "$(touch pwned)"]:
        r = tk.script("tmuxkit-start", name, "--cmd", "touch created")
        assert r.returncode == 2 and ("invalid run name" in r.stderr or "unknown option: -x" in r.stderr)
    assert list(tk.work.iterdir()) == [] and tk.sessions() == []


def test_tmux_missing_exits_127_naming_it(tk: Env, tmp_path: Path) -> None:
    env = dict(tk.env, PATH=path_with_only(tmp_path / "bin", [
        "bash", "ps", "date", "mkdir", "cat", "awk", "hostname", "dirname", "sed", "rm", "mktemp", "stat", "tr", "sleep",
        "tail", "chmod"]))
    r = subprocess.run([sys.executable, "-m", "tmuxkit", "start", "notmux", "--", "true"], env=env, cwd=tk.work,
                       capture_output=True, text=True)
    assert r.returncode == 127, r.stderr
    assert "tmux: command not found" in r.stderr and "apt-get install tmux" in r.stderr
    assert not (tk.work / "results").exists() or list((tk.work / "results").iterdir()) == []


def test_missing_cwd_is_a_usage_error(tk: Env) -> None:
    r = tk.cli("start", "nocwd", "--cwd", "/nonexistent/dir", "--", "true", check=2)
    assert "cwd does not exist" in r.stderr
    assert tk.sessions() == []


def test_restart_after_exit_reuses_name_and_appends_log(tk: Env) -> None:
    tk.cli("start", "again", "--", "echo", "one")
    wait_until(lambda: tk.status("again")["state"] == "exited", what="first exit")
    tk.cli("start", "again", "--", "echo", "two")
    wait_until(lambda: "exited" in tk.status("again")["state"] and "two" in tk.log_text("again"), what="second exit")
    text = tk.log_text("again")
    assert text.index("one") < text.index("two")  # nothing lost: the log is appended to


@pytest.mark.skipif(not os.environ.get("TMUXKIT_EXPECT_BASH"), reason="only in the bash 3.2 pass of .ci/test")
def test_host_scripts_run_under_the_expected_bash(tk: Env) -> None:
    """In .ci/test's bash 3.2 pass, the runner (and so every host script) really is that bash."""
    tk.cli("start", "whichbash", "--", "bash", "-c", 'echo "BASH=$BASH_VERSION"')
    wait_until(lambda: "exited with code 0" in tk.log_text("whichbash"), what="run end")
    assert f"BASH={os.environ['TMUXKIT_EXPECT_BASH']}" in tk.log_text("whichbash")


def test_a_command_that_dies_at_once_is_not_started(tk: Env) -> None:
    env = dict(tk.env, TMUXKIT_EARLY_WAIT="2")
    script = "print('loading'); import no_such_module_here"
    r = subprocess.run([sys.executable, "-m", "tmuxkit", "start", "early", "--", sys.executable, "-c", script],
                       env=env, cwd=tk.work, capture_output=True, text=True)
    assert r.returncode == 1, r
    assert "exited within 2s with code 1" in r.stderr and "ModuleNotFoundError" in r.stderr
    assert "started early" not in r.stdout
    assert tk.status("early")["lock_state"] == "free"  # a finished run, nothing held
    # A healthy command is still "started" after the wait, and one that finishes cleanly at once too.
    ok = subprocess.run([sys.executable, "-m", "tmuxkit", "start", "fine", "--", "sleep", "30"], env=env, cwd=tk.work,
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "started fine" in ok.stdout


def test_early_exit_wait_is_a_config_key_and_a_flag_passed_to_the_host_with_the_last_lines(tk: Env) -> None:
    """Issue 9.11: the wait is the run's early_exit_wait (or start --early-wait), given to the host
    script as an argument (so it holds over ssh, where this machine's environment does not reach),
    and the error shows the program's last 3 lines. $TMUXKIT_EARLY_WAIT is 0 here (conftest)."""
    script = ("import sys; print('loading config'); print('building model'); "
              "print('Traceback (most recent call last):'); sys.exit('ModuleNotFoundError: no module named x')")
    tk.add_run("cfgwait", f"{sys.executable} -c {shlex.quote(script)}", 'early_exit_wait = "3s"')
    r = tk.cli("start", "cfgwait", check=1)
    lines = r.stderr.strip().splitlines()
    assert "exited within 3s with code 1; its last lines:" in lines[0], r.stderr
    assert lines[1:] == ["  | building model", "  | Traceback (most recent call last):",
                         "  | ModuleNotFoundError: no module named x"], r.stderr
    assert tk.status("cfgwait")["lock_state"] == "free"
    # The flag, for an ad hoc run; and 0 turns the watch off (the config's 3 s then does not apply).
    r = tk.cli("start", "flag", "--early-wait", "2", "--", "bash", "-c", "echo bye; exit 4", check=1)
    assert "exited within 2s with code 4; its last lines:\n  | bye" in r.stderr, r.stderr
    assert "started cfgwait" in tk.cli("start", "cfgwait", "--early-wait", "0").stdout
    assert "expected a duration" in tk.cli("start", "x", "--early-wait", "soon", "--", "true", check=2).stderr
    # The host script takes it as an argument, whatever its environment says.
    env = dict(tk.env, TMUXKIT_EARLY_WAIT="0")
    r = subprocess.run(["bash", str(SHELL / "tmuxkit-start"), "direct", "--cmd", "echo a; echo b; exit 5",
                        "--early-wait", "2"], capture_output=True, text=True, env=env, cwd=tk.work)
    assert r.returncode == 1 and r.stderr.endswith("its last lines:\n  | a\n  | b\n"), r.stderr


def test_status_last_line_is_the_programs_not_tmuxkits(tk: Env) -> None:
    tk.cli("start", "crash", "--", "bash", "-c", "echo 'Traceback: boom'; exit 3")
    wait_until(lambda: tk.status("crash")["state"] == "exited", what="exit")
    assert tk.status("crash")["last_line"] == "Traceback: boom"
    assert "exited with code 3" in tk.log_text("crash")  # tmuxkit's line is still in the log


def test_a_live_hand_made_training_lock_refuses_start_and_a_stale_one_is_cleaned(tk: Env) -> None:
    res = tk.work / "results" / "sop"
    res.mkdir(parents=True)
    owner = subprocess.Popen(["sleep", "60"])
    try:
        (res / "training.lock").write_text(f"{owner.pid}\n")
        r = tk.cli("start", "sop", "--", "sleep", "30", check=3)
        assert f"locked by PID {owner.pid}" in r.stderr and "training.lock" in r.stderr
        assert "sop" not in tk.sessions()
    finally:
        owner.kill()
        owner.wait()
    tk.cli("start", "sop", "--", "true")  # the owner is gone: the lock no longer holds
    wait_until(lambda: tk.status("sop")["state"] == "exited", what="exit")
    out = tk.cli("cleanup", "--dry-run").stdout
    assert "stale_training_lock" in out and (res / "training.lock").exists()
    tk.cli("cleanup")
    assert not (res / "training.lock").exists()


def test_the_runs_env_applies_to_the_command_only(tk: Env) -> None:
    """PATH, IFS, UID or SHELLOPTS in a run's env must not break tmuxkit's own runner."""
    tk.add_run("envleak", "echo ran-with $FOO; exit 5",
               'env = { PATH = "/nonexistent", IFS = "x", SHELLOPTS = "xtrace", UID = "0", FOO = "bar" }')
    tk.cli("start", "envleak")
    row = wait_until(lambda: (s := tk.status("envleak"))["state"] == "exited" and s, what="exit")
    assert row["exit_code"] == 5 and row["lock_state"] == "free"
    wait_until(lambda: "ran-with bar" in tk.log_text("envleak"), what="the command's line")


def test_the_report_hints_cleanup_only_for_a_training_lock_cleanup_removes(tk: Env) -> None:
    """Issue 9.13: the status report finds a training.lock anywhere under its roots, but cleanup
    acts only on those in known runs' results dirs: the report says "(or: tmuxkit cleanup)" there
    only, and cleanup does remove every lock the report points it to."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    tk.cli("start", "ran", "--", "true")
    wait_until(lambda: tk.status("ran")["state"] == "exited", what="exit")
    ours = tk.work / "results" / "ran" / "training.lock"
    stray = tk.work / "results" / "by-hand" / "training.lock"
    stray.parent.mkdir(parents=True)
    for f in (ours, stray):
        f.write_text(f"{gone.pid}\n")
    for args in ((), ("--root", str(tk.work / "results"))):  # the default roots (./results) and one given
        report = tk.script("check_training_status.sh", *args).stdout
        (mine,) = [ln for ln in report.splitlines() if "ran/training.lock" in ln and "rm " in ln]
        (other,) = [ln for ln in report.splitlines() if "by-hand/training.lock" in ln and "rm " in ln]
        assert "tmuxkit cleanup" in mine, report
        assert "tmuxkit cleanup" not in other, report
    tk.cli("cleanup")
    assert not ours.exists() and stray.exists()  # the one cleanup was said to handle, and only it
