"""Status at fleet scale (issue 13): cost independent of history, runs you can forget."""

from __future__ import annotations

import json
import time

from conftest import Env, wait_until


def _end_long_ago(tk: Env, run: str, days: int = 10) -> None:
    """The run ended DAYS ago, as far as its recorded exit says."""
    exit_file = tk.run_dir(run) / "exit"
    code = exit_file.read_text().split()[0]
    exit_file.write_text(f"{code} {int(time.time()) - days * 86400}\n")


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
    tk.cli("start", "again", "--", "sleep", "60")
    assert tk.status("again")["state"] == "running"
    tk.cli("stop", "again", "--grace", "5")
    assert tk.status("again")["state"] == "stopped"


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
