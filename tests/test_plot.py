"""tmuxkit plot and the sync loop's PROGRESS.png (issue 12.2), from a run that prints loss= lines."""

from __future__ import annotations

import sys

import pytest
from conftest import Env, wait_until

PNG = b"\x89PNG\r\n\x1a\n"
LOSSY = ("import time; [(print(f'epoch 1/1 step {i}/40 loss={2.0 / i:.4f}', flush=True), time.sleep(0.06))"
         " for i in range(1, 41)]")


def _finished(tk: Env, run: str) -> None:
    tk.cli("start", run, "--", "python3", "-c", LOSSY)
    wait_until(lambda: tk.status(run)["state"] == "exited", timeout=20, what="the trainer to finish")
    wait_until(lambda: len(tk.status(run)["losses"]) >= 2, timeout=5, what="a loss series")


def test_plot_writes_a_png(tk: Env) -> None:
    _finished(tk, "lossy")
    r = tk.cli("plot", "lossy", "-o", "loss.png")
    assert "wrote loss.png" in r.stdout
    data = (tk.work / "loss.png").read_bytes()
    assert data[:8] == PNG and len(data) > 5000


def test_plot_into_a_place_it_cannot_write_is_one_line_and_leaves_nothing(tk: Env) -> None:
    """It was a FileNotFoundError / IsADirectoryError traceback, and left a hidden temp PNG behind."""
    _finished(tk, "badout")
    (tk.work / "afile").write_text("")
    (tk.work / "adir").mkdir()
    for out, why in (("nodir/p.png", "No such file or directory"), ("adir", "is a directory"),
                     ("afile/p.png", "Not a directory")):
        r = tk.cli("plot", "badout", "-o", out, check=2)
        assert f"cannot write {out}: {why}" in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert sorted(p.name for p in tk.work.iterdir() if "png" in p.name) == []
    assert list((tk.work / "adir").iterdir()) == []


def test_plot_of_a_run_that_is_not_there_says_so_as_every_verb_does(tk: Env) -> None:
    r = tk.cli("plot", "nosuch", "-o", "x.png", check=4)
    assert "no run named 'nosuch'" in r.stderr, r.stderr


def test_plot_draws_in_a_terminal_and_needs_one_without_o(tk: Env, run_cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    _finished(tk, "term")
    r = tk.cli("plot", "term", check=2)  # (no terminal here)
    assert "give -o FILE.png" in r.stderr
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    code, out, _ = run_cli("plot", "term")
    assert code == 0 and "term: loss" in out


def test_plot_without_a_series_says_so(tk: Env) -> None:
    tk.cli("start", "quiet", "--", "sleep", "30")
    r = tk.cli("plot", "quiet", "-o", "x.png", check=1)
    assert "no 'loss' series yet" in r.stderr and not (tk.work / "x.png").exists()


def test_the_sync_loop_writes_progress_png(tk: Env) -> None:
    _finished(tk, "synced")
    tk.cli("sync", "synced", "--once")
    data = (tk.work / "runs" / "synced" / "PROGRESS.png").read_bytes()
    assert data[:8] == PNG and len(data) > 5000
    assert (tk.work / "runs" / "synced" / "tmuxkit" / "synced.progress").exists()
