"""The built-in demo run works with no config, and Ctrl-C makes it save a checkpoint."""

from __future__ import annotations

import json

from conftest import Env, wait_until


def test_demo_starts_without_config_and_stops_with_a_checkpoint(tk: Env) -> None:
    r = tk.cli("start", "demo")
    assert "started demo on local" in r.stdout
    wait_until(lambda: "loss" in tk.log_text("demo"), what="progress")
    r = tk.cli("stop", "demo", "--grace", "20")
    assert "rung sigint" in r.stdout
    text = tk.log_text("demo")
    assert "interrupted at step" in text and "saved checkpoint" in text
    ckpts = sorted((tk.work / "results" / "demo" / "ckpt").glob("step_*.pt"))
    assert ckpts and json.loads(ckpts[-1].read_text())["step"] >= 1
    assert "\r" not in text and "\x1b" not in text  # redraws and colours folded


def test_demo_trainer_runs_to_the_end_and_resumes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tmuxkit import demo

    res = tmp_path / "r"
    assert demo.main(["--steps", "4", "--delay", "0", "--ckpt-every", "2", "--results", str(res)]) == 0
    assert json.loads((res / "metrics.json").read_text())["steps"] == 4
    assert demo.main(["--steps", "6", "--delay", "0", "--results", str(res),
                      "--resume", str(res / "ckpt" / "step_000004.pt")]) == 0
    assert json.loads((res / "metrics.json").read_text())["steps"] == 6
