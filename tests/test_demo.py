"""The built-in demo (issue 29.3): it runs with no config, prints loss= and lr= so status shows
progress, the loss and its sparkline, writes checkpoints, reads 100 % when done, plots, and with
--crash --watch crashes half-way and is resumed from its checkpoint by the watchdog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Env, wait_until

from tmuxkit import demo


def test_demo_starts_without_config_and_stops_with_a_checkpoint(tk: Env) -> None:
    # One second a step: the stop lands mid-run (the default demo lasts a few seconds).
    r = tk.cli("start", "demo", "--env", "TMUXKIT_DEMO_DELAY=1")
    assert "started demo on local" in r.stdout
    wait_until(lambda: "loss=" in tk.log_text("demo"), what="progress")
    r = tk.cli("stop", "demo", "--grace", "20")
    assert "rung sigint" in r.stdout
    text = tk.log_text("demo")
    assert "interrupted at step" in text and "saved checkpoint" in text
    ckpts = sorted((tk.work / "results" / "demo" / "ckpt").glob("step_*.pt"))
    assert ckpts and json.loads(ckpts[-1].read_text())["step"] >= 1
    assert "\r" not in text and "\x1b" not in text  # redraws and colours folded


def _ended(tk: Env) -> dict[str, object] | None:
    row = tk.status("demo")
    return row if row["state"] not in ("running", "stuck") else None


def test_a_finished_demo_shows_loss_lr_sparkline_checkpoints_and_100_percent(tk: Env, tmp_path: Path) -> None:
    tk.cli("start", "demo")
    row = wait_until(lambda: _ended(tk), timeout=60, what="the demo's end")
    assert row["state"] == "exited" and row["exit_code"] == 0, row
    p = row["progress"]
    assert isinstance(p, dict)
    assert p["step"] == p["total"] == demo.STEPS and p["percent"] == 100.0, p
    assert p["loss"] == demo.loss_at(demo.STEPS, demo.STEPS) and p["lr"] > 0, p
    losses = row["losses"]
    assert isinstance(losses, list) and len(losses) >= 5 and losses[0] > losses[-1]  # the sparkline's series
    table = tk.cli("status").stdout
    assert f"100% {demo.STEPS}/{demo.STEPS}" in table and "loss" in table
    listed = tk.cli("checkpoints", "demo").stdout
    assert f"step_{demo.STEPS:06d}.pt" in listed and "step_000005.pt" in listed  # every 5 steps and the last
    pytest.importorskip("matplotlib")
    png = tmp_path / "demo.png"
    tk.cli("plot", "demo", "-o", str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_crash_demo_is_resumed_from_its_checkpoint_by_the_watchdog(tk: Env) -> None:
    tk.env["TMUXKIT_WATCH_OPTS"] = "--backoff 2 --grace 3 --settle 1"  # the product waits 10 s before a resume
    r = tk.cli("start", "demo", "--crash", "--watch")
    assert "watching and resuming demo" in r.stdout
    half = demo.STEPS // 2

    def finished() -> dict[str, object] | None:
        row = tk.status("demo")
        return row if row["state"] == "exited" and row["exit_code"] == 0 else None

    row = wait_until(finished, timeout=60, what="the crashed demo resumed and finished")
    assert row["restarts"] == 1 and isinstance(row["progress"], dict) and row["progress"]["percent"] == 100.0, row
    kinds = [e["event"] for e in tk.events("demo")]
    assert "crashed" in kinds and "resumed" in kinds and "resume_failed" not in kinds, kinds
    (resumed,) = [e for e in tk.events("demo") if e["event"] == "resumed"]
    assert Path(resumed["checkpoint"]).name == f"step_{half - half % 5:06d}.pt"  # the last one before the crash
    text = tk.log_text("demo")
    assert f"RuntimeError: demo crash at step {half + 1}" in text and "resumed from" in text
    assert text.count("RuntimeError") == 1  # a resumed demo does not crash again


def test_crash_is_only_for_the_built_in_demo(tk: Env) -> None:
    r = tk.cli("start", "mine", "--crash", "--", "sleep", "30", check=2)
    assert r.stderr.count("\n") == 1 and "--crash is only for the built-in demo" in r.stderr
    tk.write_config('[runs.demo]\ncommand = "sleep 30"\n')  # a run of the user's own called demo
    r = tk.cli("start", "demo", "--crash", check=2)
    assert "--crash is only for the built-in demo" in r.stderr
    assert tk.sessions() == [] and not (tk.work / "results").exists()


def test_demo_trainer_runs_to_the_end_and_resumes(tmp_path: Path) -> None:
    res = tmp_path / "r"
    assert demo.main(["--steps", "4", "--delay", "0", "--ckpt-every", "2", "--results", str(res)]) == 0
    assert json.loads((res / "metrics.json").read_text())["steps"] == 4
    assert demo.main(["--steps", "6", "--delay", "0", "--results", str(res),
                      "--resume", str(res / "ckpt" / "step_000004.pt")]) == 0
    assert json.loads((res / "metrics.json").read_text())["steps"] == 6
    assert (res / "ckpt" / "step_000006.pt").exists()  # the last step is saved, though not a multiple of 2


def test_demo_crash_dies_half_way_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = tmp_path / "r"
    assert demo.main(["--steps", "10", "--delay", "0", "--results", str(res), "--crash"]) == 1
    out = capsys.readouterr().out
    assert "step 5/10 loss=" in out and "step 6/10 loss=" not in out and "demo crash at step 6" in out
    assert demo.main(["--steps", "10", "--delay", "0", "--results", str(res), "--crash",
                      "--resume", str(res / "ckpt" / "step_000005.pt")]) == 0
    assert json.loads((res / "metrics.json").read_text())["steps"] == 10


def test_demo_length_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TMUXKIT_DEMO_STEPS", "3")
    monkeypatch.setenv("TMUXKIT_DEMO_DELAY", "0")
    assert demo.main(["--results", str(tmp_path / "r")]) == 0
    assert "step 3/3 loss=" in capsys.readouterr().out
    monkeypatch.setenv("TMUXKIT_DEMO_STEPS", "lots")
    monkeypatch.setenv("TMUXKIT_DEMO_DELAY", "0")
    assert demo.main(["--steps", "2", "--results", str(tmp_path / "s")]) == 0
    assert "ignoring TMUXKIT_DEMO_STEPS='lots'" in capsys.readouterr().err
