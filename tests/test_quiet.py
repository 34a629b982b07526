"""Quiet is not stuck (issue 27.5): a silent run that works (CPU time of its tree, its GPU busy, files
written under its results) is `quiet`, not stuck, until quiet_max; a silent sleeper is still stuck."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from conftest import FAKES, Env, wait_until

FAST = "--backoff 1 --grace 3 --settle 2"
# Silent after its first line: computes (burns CPU) for SECS seconds, then prints and exits 0.
BURN = (f"{sys.executable} -c \"import time; print('start', flush=True); t = time.time()\n"
        "while time.time() - t < {secs}: sum(range(10000))\nprint('done', flush=True)\"")


def _watch(tk: Env, run: str) -> None:
    tk.env["TMUXKIT_WATCH_OPTS"] = FAST
    tk.cli("start", run)
    wait_until(lambda: "start" in tk.log_text(run), what="the first line")
    tk.cli("watch", run, "--auto-resume", "--every", "1")


def test_a_silent_trainer_that_computes_is_quiet_not_stuck(tk: Env) -> None:
    """It was stuck after stuck_after, and with auto-resume stopped and restarted while computing."""
    tk.add_run("burner", BURN.format(secs=9), "stuck_after = 2\nquiet_max = 60")
    _watch(tk, "burner")
    row = wait_until(lambda: (r := tk.status("burner")).get("quiet") and r, timeout=15, what="quiet in status")
    assert row["state"] == "running" and row["log_age_s"] > 2, row
    assert "quiet" in tk.cli("status").stdout.splitlines()[1], tk.cli("status").stdout
    wait_until(lambda: "finished" in tk.kinds("burner"), timeout=40, what="the trainer to finish")
    kinds = tk.kinds("burner")
    assert kinds == ["started", "quiet", "finished"], kinds
    quiet = next(e for e in tk.events("burner") if e["event"] == "quiet")
    assert quiet["why"].startswith("cpu ") and quiet["quiet_max"] == 60 and quiet["silent_s"] > 2, quiet
    assert tk.log_text("burner").count("\nstart\n") == 1  # never restarted
    assert tk.status("burner")["quiet"] is False


def test_a_silent_sleeper_is_still_stuck(tk: Env) -> None:
    tk.add_run("sleeper", "echo start; sleep 60", "stuck_after = 2")
    _watch(tk, "sleeper")
    wait_until(lambda: "stuck" in tk.kinds("sleeper"), timeout=20, what="stuck")
    assert "quiet" not in tk.kinds("sleeper")


def test_quiet_becomes_stuck_after_quiet_max(tk: Env) -> None:
    tk.add_run("spinner", BURN.format(secs=60), "stuck_after = 2\nquiet_max = 6")
    tk.cli("start", "spinner")
    wait_until(lambda: "start" in tk.log_text("spinner"), what="the first line")
    tk.cli("watch", "spinner", "--every", "1")  # (no auto-resume: it only records)
    wait_until(lambda: "stuck" in tk.kinds("spinner"), timeout=30, what="stuck after quiet_max")
    ev = {e["event"]: e for e in tk.events("spinner")}
    assert tk.kinds("spinner")[:3] == ["started", "quiet", "stuck"], tk.kinds("spinner")
    assert int(ev["stuck"]["reason"].split()[3].rstrip("s")) >= 6, ev["stuck"]
    assert tk.status("spinner")["state"] == "stuck"


def test_a_silent_run_whose_gpu_is_busy_is_quiet(tk: Env, tmp_path: Path) -> None:
    gpu_bin = tmp_path / "gpubin"
    gpu_bin.mkdir()
    shutil.copy(FAKES / "nvidia-smi", gpu_bin / "nvidia-smi")
    (gpu_bin / "util").write_text("80\n")
    tk.env["PATH"] = f"{gpu_bin}:{tk.env['PATH']}"
    tk.add_run("ongpu", "echo start; exec sleep 60", "stuck_after = 2\nquiet_max = 60")
    tk.cli("start", "ongpu")
    wait_until(lambda: "start" in tk.log_text("ongpu"), what="the first line")
    (gpu_bin / "apps").write_text(f"{tk.status('ongpu')['pid']}, GPU-fake-0\n")
    tk.cli("watch", "ongpu", "--every", "1")
    wait_until(lambda: "quiet" in tk.kinds("ongpu"), timeout=20, what="quiet")
    assert next(e for e in tk.events("ongpu") if e["event"] == "quiet")["why"] == "gpu 80%"
    (gpu_bin / "apps").write_text("")  # the GPU is another process's now: the sleeper is stuck
    wait_until(lambda: "stuck" in tk.kinds("ongpu"), timeout=20, what="stuck once the GPU is not its own")


def test_a_silent_run_that_writes_under_its_results_is_quiet(tk: Env) -> None:
    tk.add_run("writer", "echo start; while :; do echo x >>results/writer/out.bin; sleep 0.5; done",
               "stuck_after = 2\nquiet_max = 60")
    tk.cli("start", "writer")
    wait_until(lambda: "start" in tk.log_text("writer"), what="the first line")
    tk.cli("watch", "writer", "--every", "1")
    wait_until(lambda: "quiet" in tk.kinds("writer"), timeout=20, what="quiet")
    assert tk.kinds("writer")[:2] == ["started", "quiet"], tk.kinds("writer")
