"""Liveness on real trainer shapes: a tqdm bar is activity, identity holds under any TZ,
and the log writer stays linear on a line that never ends."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FAKES, SHELL, Env, pid_alive, wait_until

TQDM = f"{sys.executable} {FAKES / 'tqdm_trainer.py'}"


@pytest.mark.parametrize("writer", ["python3", "awk"])
def test_a_tqdm_epoch_longer_than_stuck_after_is_running_and_shows_the_bar(tk: Env, writer: str) -> None:
    # The epoch redraws its bar with no newline until the test lets it end; stuck_after is 3 s.
    # Activity holds with either log writer: the awk one cannot see an unfinished line, but tmux can.
    tk.env["TMUXKIT_LOG_WRITER"] = writer
    hold = tk.work / "end-the-epoch"
    tk.add_run("bar", f"{TQDM} --epochs 1 --steps 100 --step-time 0.05 --hold {hold}", "stuck_after = 3")
    tk.add_run("silent", "echo one line; sleep 60", "stuck_after = 3")
    tk.cli("start", "bar")
    tk.cli("start", "silent")
    wait_until(lambda: "%|" in (tk.status("bar")["last_line"] or ""), timeout=10, what="the bar in LAST LINE")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 5:  # well past stuck_after, mid-epoch
        row = tk.status("bar")
        assert row["state"] == "running", row
        time.sleep(0.5)
    assert "epoch 1/1" in row["last_line"] and "loss=" in row["last_line"], row["last_line"]
    assert row["log_age_s"] <= 2
    # The control: a process that really prints nothing becomes stuck.
    wait_until(lambda: tk.status("silent")["state"] == "stuck", timeout=10, what="the silent run to be stuck")
    # When the epoch ends the bar's line is complete, and the live line goes away.
    hold.touch()
    wait_until(lambda: tk.status("bar")["state"] == "exited", timeout=20, what="the trainer to finish")
    assert tk.status("bar")["last_line"] == "epoch 1 done"


@pytest.mark.parametrize("tz", ["Asia/Tokyo", "America/Los_Angeles"])
def test_identity_is_the_same_under_another_tz(tk: Env, tz: str) -> None:
    """An ssh exec environment, a tmux server and a cron job can each have their own TZ."""
    tk.cli("start", "tzrun", "--", "sleep", "60")
    pid = tk.status("tzrun")["pid"]
    env = dict(tk.env, TZ=tz, LC_ALL="C")
    rows = subprocess.run([sys.executable, "-m", "tmuxkit", "status", "tzrun", "--json"], env=env, cwd=tk.work,
                          capture_output=True, text=True, check=True).stdout
    assert '"state": "running"' in rows and '"lock_state": "alive"' in rows
    out = subprocess.run([sys.executable, "-m", "tmuxkit", "cleanup"], env=env, cwd=tk.work,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "nothing to clean up"
    assert pid_alive(pid)


def test_writer_keeps_a_never_ending_line_bounded_and_live(tmp_path: Path) -> None:
    """2 MB of \\r redraws with no newline: logged in pieces as it comes (before any newline),
    with the live line showing the latest redraw and the log's mtime moving."""
    log = tmp_path / "tmuxkit" / "r.log"
    log.parent.mkdir()
    w = subprocess.Popen(["python3", str(SHELL / "tmuxkit-logwriter.py"), str(log), "50000000", "5"],
                         stdin=subprocess.PIPE)
    assert w.stdin is not None
    try:
        for i in range(20000):
            w.stdin.write(f"\r  step {i:6d}/20000 {'#' * 80}".encode())
        w.stdin.flush()
        wait_until(lambda: log.exists() and log.stat().st_size > 0, timeout=10, what="pieces of the long line")
        live = tmp_path / "tmuxkit" / "r.live"
        wait_until(lambda: live.exists() and "step  19999/20000" in live.read_text(), timeout=5, what="live line")
        assert len(live.read_bytes()) <= 513
        before = log.stat().st_mtime

        def redraw_moves_mtime() -> bool:  # keep redrawing, no newline, until the log's mtime moves
            assert w.stdin is not None
            w.stdin.write(b"\r  step  20000/20000")
            w.stdin.flush()
            return log.stat().st_mtime > before

        wait_until(redraw_moves_mtime, timeout=5, interval=0.2, what="activity to move the log's mtime")
        w.stdin.write(b" done\n")
    finally:
        w.stdin.close()
        w.wait(timeout=10)
    lines = log.read_text().splitlines()
    assert lines[-1] == "  step  20000/20000 done"
    assert all(len(ln) <= 65536 for ln in lines)
    # Once the line is finished, the live line is the program's last line (what status shows).
    assert (tmp_path / "tmuxkit" / "r.live").read_text() == "  step  20000/20000 done\n"


def test_status_reads_only_a_few_hundred_bytes_of_a_huge_last_line(tk: Env) -> None:
    tk.cli("start", "huge", "--", "python3", "-c", "print('x' * 10_000_000); import time; time.sleep(60)")
    log = tk.work / "results/huge/tmuxkit/huge.log"
    wait_until(lambda: log.exists() and log.stat().st_size > 10_000_000, timeout=20, what="the 10 MB line")
    t = time.monotonic()
    row = tk.status("huge")
    assert time.monotonic() - t < 3
    assert 0 < len(row["last_line"]) <= 300



def test_a_pool_trainer_mid_epoch_is_running_not_stuck(tk: Env, tmp_path: Path) -> None:
    """A multiprocessing.Pool does the work; the main process only redraws its tqdm bar (no
    newline) for longer than stuck_after: the run is running, and LAST LINE shows the bar."""
    pool = f"{sys.executable} {FAKES / 'pool_trainer.py'} {tmp_path / 'pool'}"
    tk.add_run("pool", f"{pool} --workers 2 --steps 150 --step-time 0.05", "stuck_after = 3")
    tk.cli("start", "pool")
    wait_until(lambda: "%|" in (tk.status("pool")["last_line"] or ""), timeout=15, what="the bar in LAST LINE")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 5:  # well past stuck_after, mid-epoch, no newline printed
        row = tk.status("pool")
        assert row["state"] == "running", row
        time.sleep(0.5)
    assert "epoch 1/1" in row["last_line"] and "loss=" in row["last_line"], row["last_line"]
    assert "epoch 1 done" not in tk.log_text("pool")
    wait_until(lambda: tk.status("pool")["state"] == "exited", timeout=30, what="the trainer to finish")
    assert tk.status("pool")["last_line"] == "epoch 1 done"


def test_the_standalone_reports_log_section_caps_a_10_mb_line(tk: Env, tmp_path: Path) -> None:
    """Issue 9.3: check_training_status.sh's [3] Recent log activity reads the end of each log
    with a cap: a log whose last line is 10 MB gives a small --json, fast."""
    root = tmp_path / "results"
    (root / "big").mkdir(parents=True)
    (root / "big" / "train.log").write_bytes(b"epoch 1 done\n" + b"y" * 10_000_000 + b"\n")
    t = time.monotonic()
    r = subprocess.run(["bash", str(SHELL / "check_training_status.sh"), "--root", str(root), "--json"],
                       capture_output=True, text=True, env=tk.env, cwd=tk.work, timeout=60)
    elapsed = time.monotonic() - t
    assert r.returncode == 0, r.stderr
    logs = json.loads(r.stdout)["logs"]
    assert len(json.dumps(logs)) < 5_000, len(r.stdout)
    (entry,) = [lg for lg in logs if lg["path"].endswith("big/train.log")]
    assert entry["last_lines"].endswith("y" * 100) and len(entry["last_lines"]) <= 3 * 301
    assert elapsed < 3, elapsed
    text = subprocess.run(["bash", str(SHELL / "check_training_status.sh"), "--root", str(root)],
                          capture_output=True, text=True, env=tk.env, cwd=tk.work, timeout=60).stdout
    section = text[text.index("[3] Recent log activity"):text.index("[4] tmux sessions")]
    assert "big/train.log" in section and len(section) < 5_000, len(section)
