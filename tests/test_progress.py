"""Progress at a glance (issue 12.1): the log writer reads tqdm bars, epoch/step counters and
metrics from the pane output on the host, keeps a bounded series, and status shows them."""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
from pathlib import Path
from typing import Any

from conftest import FAKES, SHELL, Env, wait_until

TQDM = f"{sys.executable} {FAKES / 'tqdm_trainer.py'}"


def test_status_shows_a_real_tqdm_bar_as_percent_eta_rate_and_loss(tk: Env) -> None:
    tk.add_run("bar", f"{TQDM} --epochs 2 --steps 200 --step-time 0.02")
    tk.cli("start", "bar")

    def prog() -> dict[str, Any]:
        p = tk.status("bar")["progress"]
        return p if isinstance(p, dict) else {}

    wait_until(lambda: prog().get("step", 0) > 20, timeout=20, what="progress from the bar")
    p = prog()
    assert p["total"] == 200 and 0 < p["percent"] <= 100 and p["epochs"] == 2
    assert isinstance(p["eta_s"], int) and p["rate"] > 0 and "loss" in p
    out = tk.cli("status", "bar").stdout
    assert "% " in out and "epoch " in out and "loss " in out
    wait_until(lambda: tk.status("bar")["state"] == "exited", timeout=30, what="the trainer to finish")
    assert len(tk.status("bar")["losses"]) >= 2


def test_key_value_metrics_from_plain_print_lines(tk: Env) -> None:
    tk.cli("start", "kv", "--", "python3", "-c",
           "import time; [(print(f'step {i}/30 loss={1/i:.4f} val_loss: {2/i:.4f} lr=3e-4', flush=True),"
           " time.sleep(0.1)) for i in range(1, 31)]; time.sleep(60)")
    wait_until(lambda: (tk.status("kv")["progress"] or {}).get("step") == 30, timeout=20, what="step 30/30")
    row = tk.status("kv")
    p = row["progress"]
    assert p["percent"] == 100.0 and p["loss"] == round(1 / 30, 4) and p["val_loss"] == round(2 / 30, 4)
    assert p["lr"] == 3e-4
    assert row["losses"] == sorted(row["losses"], reverse=True) and len(row["losses"]) >= 3  # loss went down


def test_a_damaged_series_file_never_breaks_status(tk: Env) -> None:
    tk.cli("start", "dmg", "--", "sleep", "60")
    (tk.work / "results" / "dmg" / "tmuxkit" / "dmg.progress").write_text('{"t":1,"step":}\n')
    row = tk.status("dmg")
    assert row["state"] == "running" and row["progress"] is None


def test_the_series_file_stays_bounded(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("logwriter", SHELL / "tmuxkit-logwriter.py")
    assert spec is not None and spec.loader is not None
    mod: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.PROGRESS_MAX = 4096
    p = mod.Progress(str(tmp_path / "r.log"))
    for i in range(2000):  # one new reading a second
        p.feed(f"step {i}/2000 loss={1 / (i + 1):.5f}".encode())
        p.write(float(i))
    series = (tmp_path / "r.progress").read_text().splitlines()
    assert (tmp_path / "r.progress").stat().st_size <= 4096 + 200
    steps = [json.loads(s)["step"] for s in series]
    assert steps[0] == 0 and steps[-1] >= 1900 and steps == sorted(steps)  # the whole run, in order
    gaps = [b - a for a, b in itertools.pairwise(steps)]
    assert max(gaps) <= 4 * min(gaps)  # evenly spaced, not dense at the end and gone at the start


def test_metrics_named_in_the_config_are_the_ones_read(tk: Env) -> None:
    tk.add_run("mine", "echo 'perplexity=12.5 loss=9 bleu: 0.31'; sleep 60", 'metrics = ["perplexity", "bleu"]')
    tk.cli("start", "mine")
    wait_until(lambda: tk.status("mine")["progress"] is not None, timeout=10, what="progress")
    p = tk.status("mine")["progress"]
    assert p["perplexity"] == 12.5 and p["bleu"] == 0.31 and "loss" not in p
    bad = tk.cli("start", "bad", "--", "true", check=None)
    assert bad.returncode == 0
    tk.add_run("badm", "true", 'metrics = ["a b"]')
    r = tk.cli("start", "badm", check=2)
    assert "metric names" in r.stderr


def _logwriter() -> Any:
    spec = importlib.util.spec_from_file_location("logwriter", SHELL / "tmuxkit-logwriter.py")
    assert spec is not None and spec.loader is not None
    mod: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_a_metric_on_its_own_line_is_kept_when_other_lines_follow(tk: Env) -> None:
    """A val_loss printed every 20 steps between loss lines printed every 20 ms: each one reaches
    the series, not only one that happened to be the newest line at a write."""
    tk.cli("start", "vl", "--", "python3", "-c",
           "import time\nfor i in range(1, 201):\n    print(f'step {i}/200 loss={1/i:.4f}', flush=True)\n"
           "    if i % 20 == 0:\n        print(f'val_loss={2/i:.4f}', flush=True)\n    time.sleep(0.02)\ntime.sleep(60)")
    series = tk.work / "results" / "vl" / "tmuxkit" / "vl.progress"

    def rows() -> list[dict[str, Any]]:
        return [json.loads(s) for s in series.read_text().splitlines()] if series.exists() else []

    wait_until(lambda: any(r.get("step") == 200 and r.get("val_loss") == 0.01 for r in rows()), timeout=30,
               what="step 200 and the last val_loss in the series")
    vals = {r["val_loss"] for r in rows() if "val_loss" in r}
    assert len(vals) >= 3, rows()
    assert tk.status("vl")["progress"]["val_loss"] == 0.01


def test_each_key_keeps_its_last_occurrence_across_batches_and_bursts(tmp_path: Path) -> None:
    mod = _logwriter()
    p = mod.Progress(str(tmp_path / "r.log"))
    p.note(b"Epoch 2/5\nstep 3/60 loss=0.5 val_loss=0.7 acc: 0.5\n", b"")
    for i in range(4, 400):  # many batches, far more than a TAIL, within one TICK
        p.note(f"step {i}/400 loss={1 / i:.4f} train_val_loss=9 accuracy=3\n".encode(), b"")
    p.note(b"".join(f"step {i}/400 loss=0.001 xval_loss=9\n".encode() for i in range(400, 600)), b" 7/9 [00:31<00:08, 2.5it/s]")
    p.write(10.0)
    assert p.now == {"step": 7, "total": 9, "eta_s": 8, "rate": 2.5, "epoch": 2, "epochs": 5, "loss": 0.001,
                     "val_loss": 0.7, "acc": 0.5}
    p.note(b"epoch 3/5 step 61/100 loss=0.1\n" * 200, b"")  # one batch, larger than a TAIL
    p.write(20.0)
    assert p.now["step"] == 61 and p.now["epoch"] == 3 and p.now["loss"] == 0.1 and p.now["val_loss"] == 0.7
    assert len((tmp_path / "r.progress").read_text().splitlines()) == 2


def test_a_fresh_start_of_a_used_name_begins_a_fresh_series_and_a_restart_keeps_it(tk: Env) -> None:
    tk.cli("start", "old", "--", "sh", "-c", "echo 'epoch 9/10 loss=0.5'; sleep 1")
    wait_until(lambda: (tk.status("old")["progress"] or {}).get("epoch") == 9, timeout=20, what="the first run's epoch")
    wait_until(lambda: tk.status("old")["state"] == "exited", timeout=20, what="the first run to end")
    series = tk.work / "results" / "old" / "tmuxkit" / "old.progress"
    first = series.read_text()
    tk.cli("start", "old", "--", "sleep", "60")  # the name again: a new run
    row = tk.status("old")
    assert row["state"] == "running" and row["progress"] is None and row["losses"] == []
    assert not series.exists() and (series.parent / "old.progress.prev").read_text() == first
    tk.cli("stop", "old")
    wait_until(lambda: tk.status("old")["state"] != "running", timeout=30, what="the stop")
    series.write_text(first)  # a series of this run, then the watchdog's kind of start: --again keeps it
    r = tk.script("tmuxkit-start", "old", "--again", "--cmd", "sleep 60")
    assert r.returncode == 0, r.stderr
    assert series.read_text() == first and (tk.status("old")["progress"] or {}).get("epoch") == 9
    tk.cli("stop", "old")
