"""Progress at a glance (issue 12.1): the log writer reads tqdm bars, epoch/step counters and
metrics from the pane output on the host, keeps a bounded series, and status shows them."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
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


# --- real trainers, recorded (tests/recordings: record.sh made them; replay.py plays them back) ---

RECORDINGS = Path(__file__).resolve().parent / "recordings"
REPLAY = f"{sys.executable} {RECORDINGS / 'replay.py'}"


def _replayed(tk: Env, name: str, *extra: str) -> tuple[dict[str, Any], str, str]:
    """Replay the recording NAME through a real run (tmux, pipe-pane, the real log writer) to its
    end: (its last progress as status reads it, `status RUN` text, the log)."""
    run = name.replace("_", "-")
    tk.add_run(run, f"{REPLAY} {name} --speed 20 --max-gap 0.03 " + " ".join(extra))
    tk.cli("start", run)
    wait_until(lambda: tk.status(run)["state"] == "exited", timeout=60, what=f"the {name} replay to end")
    series = tk.work / "results" / run / "tmuxkit" / f"{run}.progress"

    def settled() -> bool:  # the writer has written what the pane's end changed (it writes once a TICK)
        return series.exists() and time.time() - series.stat().st_mtime > 2.5

    wait_until(settled, timeout=30, what="the writer's last record")
    return tk.status(run)["progress"] or {}, tk.cli("status", run).stdout, tk.log_text(run)


def test_hf_trainer_5x_loss_eval_loss_lr_grad_norm_epoch_and_runtime_and_the_main_bar_at_the_end(tk: Env) -> None:
    """transformers 5.25's Trainer quotes its numbers ({'loss': '4.549', ...}): each is read, and
    after the last save's `Writing model shards: 100%| 1/1` the run still reads 60/60 (its main bar)."""
    p, text, log = _replayed(tk, "hf5")
    assert (p["step"], p["total"], p["percent"]) == (60, 60, 100.0), p
    assert p["eval_loss"] == 4.558 and p["learning_rate"] == 5e-05 and p["grad_norm"] == 0.7666
    assert p["epoch"] == 0.6 and p["train_runtime"] == 4.528 and isinstance(p["loss"], float)
    assert "100% 60/60" in text and "epoch 0.6" in text and "loss 4.5" in text, text
    assert "{'eval_loss': '4.558'" in log and "Writing model shards: 100%" in log


def test_a_sub_bar_never_replaces_the_main_bar(tmp_path: Path) -> None:
    """HF's evaluation bar (0/10, unlabelled), its `Writing model shards 1/1`, Lightning's
    validation and sanity bars, datasets' Map: none is the run's progress; a new epoch's bar is."""
    mod = _logwriter()
    p = mod.Progress(str(tmp_path / "r.log"))
    p.note(b"Map: 100%|##########| 5000/5000 [00:01<00:00, 4000 examples/s]\n", b"")
    p.note(b" 33%|###   | 20/60 [00:02<00:04, 9.9it/s]\n", b"\r  5%|#  | 1/10 [00:00<00:01, 9.9it/s]")
    p.write(1.0)
    assert (p.now["step"], p.now["total"]) == (20, 60)
    p.note(b"", b"\rWriting model shards: 100%|#| 1/1 [00:00<00:00, 357.39it/s]")
    p.write(2.0)
    assert (p.now["step"], p.now["total"]) == (20, 60)
    q = mod.Progress(str(tmp_path / "l.log"))
    q.note(b"", b"\rSanity Checking DataLoader 0: 100%|#| 2/2 [00:00<00:00, 44.87it/s]")
    q.write(1.0)
    assert "step" not in q.now
    q.note(b"\rEpoch 2:  86%|####  | 86/100 [00:05<00:01, 17.2it/s, v_num=0, train_loss=0.5]\n",
           b"\rValidation DataLoader 0:  50%|#| 10/20 [00:00<00:00, 99.0it/s]")
    q.write(2.0)
    assert q.now["step"] == 86 and q.now["epoch"] == 2 and q.now["per_epoch"] == 1 and q.now["loss"] == 0.5
    q.note(b"", b"\rEpoch 3:  10%|#  | 10/100 [00:01<00:09, 10.0it/s]")
    q.write(3.0)
    assert (q.now["step"], q.now["epoch"]) == (10, 3)
    w = mod.Progress(str(tmp_path / "w.log"))  # a wide pane: 100 bar cells of 3 bytes before the count
    w.note(b"", "\repoch 2/3:  50%|{}{}| 75/150 [00:01<00:01, 75.0it/s, loss=0.5]".format("█" * 50, " " * 50).encode())
    w.write(1.0)
    assert (w.now["step"], w.now["epoch"], w.now["epochs"], w.now["per_epoch"]) == (75, 2, 3, 1), w.now


def test_keras_3_bars_and_epoch_lines(tk: Env) -> None:
    """Keras 3 (JAX) redraws ` 66/90 ━━━━ 0s 769us/step - loss: 1.0651` with backspaces and \\r,
    bold escapes inside: step, total, ETA, loss and val_loss are read; the bar counts one epoch."""
    p, text, log = _replayed(tk, "keras_jax")
    assert (p["step"], p["total"], p["epoch"], p["epochs"], p["per_epoch"]) == (90, 90, 4, 4, 1), p
    assert p["loss"] == 0.9958 and p["val_loss"] == 1.1218
    assert "epoch 4/4 · 100% of epoch 90/90" in text, text
    assert "\x08" not in log and log.count("Epoch ") == 4 and log.count("90/90 ━") == 4


def test_lightning_rich_bars_are_rendered_and_the_log_keeps_each_epochs_last_bar(tk: Env) -> None:
    """Lightning's RichProgressBar draws with cursor moves (ESC[1A, ESC[2K): the log gets what the
    screen showed, each epoch's final bar once, not every refresh; status reads epoch and step."""
    p, text, log = _replayed(tk, "lightning_rich")
    assert (p["step"], p["total"], p["epoch"], p["epochs"], p["per_epoch"]) == (100, 100, 3, 3, 1), p
    assert p["val_loss"] == 0.956 and p["loss"] == 1.081, (p, log[-600:])
    assert "epoch 3/3 · 100% of epoch 100/100" in text, text
    for e in range(4):
        assert f"Epoch {e}/3  " in log and any(
            ln.startswith(f"Epoch {e}/3") and " 100/100 " in ln for ln in log.splitlines()), (e, log)
    assert sum(ln.startswith("Epoch ") for ln in log.splitlines()) <= 8, log  # not one line per refresh
    assert "Validation" not in log


def test_lightning_tqdm_bar_is_a_percent_of_the_epoch(tk: Env) -> None:
    p, text, log = _replayed(tk, "lightning_tqdm")
    assert (p["step"], p["total"], p["epoch"], p["per_epoch"]) == (100, 100, 3, 1) and p["val_loss"] == 0.956, p
    assert "epoch 3 · 100% of epoch 100/100" in text, text
    for e in range(4):
        assert any(ln.startswith(f"Epoch {e}: 100%") for ln in log.splitlines()), (e, log)
    assert "Validation DataLoader 0:  50%" not in log  # the nested bar's redraws are not lines


@pytest.mark.parametrize("name", ["accelerate", "tqdm_loop", "nanogpt", "kohya"])
def test_accelerate_tqdm_nanogpt_and_kohya_loops(tk: Env, name: str) -> None:
    p, text, _ = _replayed(tk, name)
    if name == "accelerate":
        assert (p["step"], p["total"], p["loss"]) == (240, 240, 0.8823), p
    elif name == "tqdm_loop":
        assert (p["step"], p["total"], p["epoch"], p["epochs"]) == (150, 150, 3, 3) and "loss" in p, p
        assert "epoch 3/3 · 100% of epoch 150/150" in text
    elif name == "nanogpt":
        assert p["step"] == 300 and p["loss"] == 0.0226 and "total" not in p, p  # `iter 300: loss 0.0226`
        assert "step 300" in text and "loss 0.0226" in text
    else:  # kohya's `steps` bar with avr_loss, and its `epoch k/N` lines
        assert (p["step"], p["total"], p["epoch"], p["epochs"], p["loss"]) == (600, 600, 3, 3, 0.118), p


def test_hf_4x_bare_numbers_and_a_nan_loss_shows_as_nan(tk: Env) -> None:
    """4.x prints bare numbers; a NaN loss is shown as nan and stays in the series, never the last
    finite value."""
    tk.cli("start", "nan", "--", "python3", "-c",
           "import time\nfor i, l in enumerate(['2.5', '1.25', 'nan']):\n"
           "    print({'loss': float(l), 'grad_norm': 1.5, 'learning_rate': 5e-05, 'epoch': round(0.1 * (i + 1), 2)}, flush=True)\n"
           "    time.sleep(1.2)\ntime.sleep(60)")
    wait_until(lambda: (tk.status("nan")["progress"] or {}).get("loss") == "nan", timeout=20, what="loss nan")
    p = tk.status("nan")["progress"]
    assert p["grad_norm"] == 1.5 and p["learning_rate"] == 5e-05 and p["epoch"] == 0.3
    assert "loss nan" in tk.cli("status", "nan").stdout
    series = (tk.work / "results" / "nan" / "tmuxkit" / "nan.progress").read_text().splitlines()
    assert [json.loads(s).get("loss") for s in series][-2:] == [1.25, "nan"], series
    tk.cli("stop", "nan")


def test_the_finished_demo_reads_100_percent(tk: Env) -> None:
    """The writer's last record is the run's last progress: the finished demo reads 100% 40/40."""
    tk.cli("start", "demo")
    wait_until(lambda: tk.status("demo")["state"] == "exited", timeout=60, what="the demo to finish")
    series = tk.work / "results" / "demo" / "tmuxkit" / "demo.progress"
    wait_until(lambda: time.time() - series.stat().st_mtime > 2.5, timeout=30, what="the writer's last record")
    p = tk.status("demo")["progress"]
    assert (p["step"], p["total"], p["percent"]) == (40, 40, 100.0), p
    assert "100% 40/40" in tk.cli("status", "demo").stdout


def test_the_renderer_gives_the_same_lines_however_reads_split_the_bytes() -> None:
    """Rich's and tqdm's cursor-move displays render to the same log lines in reads of 7 bytes
    (escapes and UTF-8 cut) as in one read."""
    sys.path.insert(0, str(RECORDINGS))
    import replay

    mod = _logwriter()
    for name in ("lightning_rich", "lightning_tqdm", "hf5"):
        data = b"".join(d for _, d in replay.load(name)[1])
        outs = []
        for n in (7, 4096, len(data)):
            s = mod.Screen()
            outs.append(b"".join(s.feed(data[i:i + n]) for i in range(0, len(data), n)) + s.close())
        assert outs[0] == outs[1] == outs[2], name


def test_hf_trainer_4x_bare_numbers(tk: Env) -> None:
    """transformers 4.57 prints bare numbers ({'loss': 4.5485, 'grad_norm': 1.0699169635772705, ...})."""
    p, text, _ = _replayed(tk, "hf4")
    assert (p["step"], p["total"], p["epoch"], p["learning_rate"]) == (60, 60, 0.6, 5e-05), p
    assert p["train_runtime"] == 32.5242 and isinstance(p["eval_loss"], float) and isinstance(p["grad_norm"], float)
    assert "100% 60/60" in text and "epoch 0.6" in text and "loss 4.5" in text, text


def test_a_finished_bar_is_written_at_once_not_a_tick_later(tmp_path: Path) -> None:
    """The run's last progress reaches the series as soon as it is printed, so a run whose writer
    stops with it (the pane closed at the run's end) reads 100%, not the step of the write before."""
    p = _logwriter().Progress(str(tmp_path / "r.log"))
    p.note(b"step 37/40 loss 0.25\n", b"")
    p.write(100.0)
    p.note(b"step 38/40 loss 0.24\nstep 39/40 loss 0.23\nstep 40/40 loss 0.2237\ndone: 40 steps\n", b"")
    p.write(100.3)  # within the TICK after the last write
    last = json.loads((tmp_path / "r.progress").read_text().splitlines()[-1])
    assert (last["step"], last["total"], last["loss"]) == (40, 40, 0.2237), last
    q = _logwriter().Progress(str(tmp_path / "q.log"))
    q.note(b"", b"\r 98%|######### | 59/60 [00:04<00:00, 13.28it/s]")
    q.write(100.0)
    q.note(b"", b"\r 98%|######### | 59/60 [00:04<00:00, 13.28it/s]\r100%|##########| 60/60 [00:04<00:00, 13.28it/s]")
    q.write(100.5)  # a bar's last redraw, unfinished, within the TICK
    assert json.loads((tmp_path / "q.progress").read_text().splitlines()[-1])["step"] == 60


def test_a_crash_after_a_redrawn_display_has_its_last_lines_in_the_log(tk: Env) -> None:
    """Once the pane has moved the cursor up (tqdm's nested bars), its output is rendered and the
    last rows are held for redraws; when the pane goes quiet, the rows above the bars are logged:
    a traceback printed after an evaluation bar is in the log while the pane stays open."""
    tk.cli("start", "tb", "--", "python3", "-c",
           "import sys, time\nsys.stdout.write('\\r 50%|#  | 5/10 [00:01<00:01, 5.0it/s]\\n\\r eval 1/2\\x1b[A')\n"
           "sys.stdout.write('\\r100%|###| 10/10 [00:02<00:00, 5.0it/s]\\n\\n')\n"
           "print('Traceback (most recent call last):')\nprint('ValueError: boom', flush=True)\ntime.sleep(60)")
    wait_until(lambda: "ValueError: boom" in tk.log_text("tb"), timeout=20, what="the traceback's last line")
    assert "Traceback (most recent call last):" in tk.log_text("tb")
    tk.cli("stop", "tb")


# The slower tier: the real frameworks, where tests/recordings/record.sh installed them, run under
# tmuxkit. Opt in with TMUXKIT_REAL_TRAINERS=1 (each takes 10 to 60 s of CPU).
RECORDERS = Path(os.environ.get("TMUXKIT_RECORDERS", str(Path.home() / ".cache" / "tmuxkit-recorders")))
REAL: dict[str, tuple[list[str], dict[str, Any]]] = {  # trainer script (and argument) -> its last progress
    "tqdm_loop": (["tqdm_loop.py"], {"step": 150, "total": 150, "epoch": 3, "epochs": 3, "per_epoch": 1}),
    "kohya": (["kohya_loop.py"], {"step": 600, "total": 600, "epoch": 3, "epochs": 3}),
    "keras_jax": (["keras_fit.py"], {"step": 90, "total": 90, "epoch": 4, "epochs": 4, "per_epoch": 1}),
    "lightning_rich": (["lightning_fit.py", "rich"], {"step": 100, "total": 100, "epoch": 3, "per_epoch": 1}),
    "lightning_tqdm": (["lightning_fit.py", "tqdm"], {"step": 100, "total": 100, "epoch": 3, "per_epoch": 1}),
    "hf5": (["hf_trainer.py"], {"step": 60, "total": 60, "epoch": 0.6}),
}


@pytest.mark.skipif(os.environ.get("TMUXKIT_REAL_TRAINERS") != "1" or not (RECORDERS / "venv" / "bin" / "python").exists(),
                    reason="the real trainers: TMUXKIT_REAL_TRAINERS=1 and tests/recordings/record.sh's venv")
@pytest.mark.parametrize("name", list(REAL))
def test_real_trainers_under_tmuxkit(tk: Env, name: str) -> None:
    argv, want = REAL[name]
    py = RECORDERS / "venv" / "bin" / "python"
    script = " ".join([str(RECORDINGS / "trainers" / argv[0]), *argv[1:]])
    tk.add_run("real", f"env KERAS_BACKEND=jax JAX_PLATFORMS=cpu HF_HUB_OFFLINE=1 {py} {script}")
    tk.cli("start", "real")
    wait_until(lambda: tk.status("real")["state"] == "exited", timeout=300, what=f"the real {name} to end")
    series = tk.work / "results" / "real" / "tmuxkit" / "real.progress"
    wait_until(lambda: time.time() - series.stat().st_mtime > 2.5, timeout=30, what="the writer's last record")
    p = tk.status("real")["progress"] or {}
    assert {k: p.get(k) for k in want} == want and "loss" in p, p
