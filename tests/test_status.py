"""status: the five states, the table, JSON, and unknown runs."""

from __future__ import annotations

import json
import os
import signal

from conftest import Env, pid_alive, wait_until

JSON_KEYS = {"run", "host", "session", "state", "pid", "started_at", "log_path", "log_age_s", "last_line",
             "exit_code", "lock_path", "results"}


def test_running_then_exited_with_json_fields(tk: Env) -> None:
    tk.cli("start", "st", "--", "bash", "-c", "echo hello; sleep 2; exit 3")
    row = wait_until(lambda: (r := tk.status("st"))["last_line"] == "hello" and r, what="hello")
    assert JSON_KEYS <= set(row)
    assert row["state"] == "running" and row["host"] == "local" and row["session"] == "st"
    assert isinstance(row["pid"], int) and isinstance(row["log_age_s"], int)
    row = wait_until(lambda: (r := tk.status("st"))["state"] == "exited" and r, what="exit")
    assert row["exit_code"] == 3


def test_stuck_when_silent_past_stuck_after(tk: Env) -> None:
    (tk.work / "tmuxkit.toml").write_text('[runs.quiet]\ncommand = "echo once; sleep 60"\nstuck_after = 1\n')
    tk.cli("start", "quiet")
    wait_until(lambda: tk.status("quiet")["state"] == "stuck", timeout=10, what="stuck")


def test_dead_when_the_runner_is_killed(tk: Env) -> None:
    tk.cli("start", "victim", "--", "sleep", "60")
    row = tk.status("victim")
    os.kill(row["runner_pid"], signal.SIGKILL)
    # The runner was the pane's session leader: its death hangs up the pane's terminal, and the
    # kernel's SIGHUP usually ends the command at once. Under load that comes before this kill
    # (it was a ProcessLookupError): the command may be gone already; either way it is gone.
    try:
        os.kill(row["pid"], signal.SIGKILL)
    except ProcessLookupError:
        pass
    wait_until(lambda: not pid_alive(row["pid"]), what="the command gone")
    row = wait_until(lambda: (r := tk.status("victim"))["state"] == "dead" and r, what="dead")
    assert row["lock_state"] == "stale" and row["exit_code"] is None


def test_status_without_run_lists_all_and_prints_a_table(tk: Env) -> None:
    tk.cli("start", "one", "--", "sleep", "30")
    tk.cli("start", "two", "--", "true")
    rows = json.loads(tk.cli("status", "--json").stdout)
    assert sorted(r["run"] for r in rows) == ["one", "two"]
    out = tk.cli("status").stdout
    assert out.splitlines()[0].split()[:3] == ["RUN", "HOST", "STATE"]
    assert "\x1b" not in out  # not a terminal: no colour codes


def test_status_of_unknown_run_exits_4(tk: Env) -> None:
    r = tk.cli("status", "ghost", check=4)
    assert "no run named 'ghost'" in r.stderr


def test_status_of_a_known_and_an_unknown_run_is_a_partial_answer(tk: Env) -> None:
    """Issue 15.5: A's row is still printed, B is named as unknown, and the exit code is 4."""
    tk.cli("start", "known", "--", "sleep", "60")
    r = tk.cli("status", "known", "ghost", check=4)
    assert r.stdout.splitlines()[1].split()[:2] == ["known", "local"], r.stdout
    assert r.stderr.strip() == "tmuxkit: no run named 'ghost' on local", r.stderr
    r = tk.cli("status", "known", "ghost", "--json", check=4)
    assert [row["run"] for row in json.loads(r.stdout)] == ["known"]
    assert "no run named 'ghost'" in r.stderr


def test_status_with_no_runs_says_so(tk: Env) -> None:
    assert tk.cli("status").stdout.strip() == "no runs"
    assert json.loads(tk.cli("status", "--json").stdout) == []


def test_a_new_start_that_printed_nothing_yet_has_no_last_line_not_the_previous_runs(tk: Env) -> None:
    """The log goes on across starts of one name: its last line was the previous run's ("tick")."""
    tk.cli("start", "again", "--", "sh", "-c", "echo tick")
    wait_until(lambda: tk.status("again")["state"] == "exited", what="the first run to end")
    assert tk.status("again")["last_line"] == "tick"
    go = tk.work / "go"
    tk.cli("start", "again", "--", "sh", "-c", f"while [ ! -e {go} ]; do sleep 0.05; done; echo tock; sleep 30")
    wait_until(lambda: "started" in tk.log_text("again").rsplit("tick", 1)[-1], what="the second start logged")
    row = tk.status("again")
    assert row["state"] == "running" and not row["last_line"], row
    go.touch()
    wait_until(lambda: tk.status("again")["last_line"] == "tock", what="the new run's own line")
    tk.cli("stop", "again", "--grace", "1")
    assert tk.status("again")["last_line"] == "tock"
