"""tmuxkit plot and the sync loop's PROGRESS.png (issue 12.2), from a run that prints loss= lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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


def _synced(tk: Env, run: str, lines: list[str]) -> Path:
    """A synced copy of RUN's series (no such run on this host): what plot reads then."""
    p = tk.work / "runs" / run / "tmuxkit" / f"{run}.progress"
    p.parent.mkdir(parents=True)
    p.write_text("".join(ln + "\n" for ln in lines))
    return p


def _series(n: int, start: int = 0, t0: int = 1_700_000_000) -> list[str]:
    return [json.dumps({"t": t0 + i, "step": start + i, "loss": 2.0 / (1 + start + i)}) for i in range(n)]


def test_plot_o_never_writes_through_a_link_planted_at_a_temp_name(tk: Env) -> None:
    """issue 22.11: the PNG went to a fixed '.NAME.tmp.png' beside the target, through a link planted there."""
    _synced(tk, "linked", _series(50))
    victim = tk.work / "victim.txt"
    victim.write_text("the user's own file\n")
    (tk.work / ".loss.png.tmp.png").symlink_to(victim)
    (tk.work / "loss.png.tmp").symlink_to(victim)
    r = tk.cli("plot", "linked", "-o", "loss.png")
    assert "wrote loss.png" in r.stdout
    assert victim.read_text() == "the user's own file\n"
    assert (tk.work / "loss.png").read_bytes()[:8] == PNG and not (tk.work / "loss.png").is_symlink()
    # A link AT the target is replaced, never written through.
    (tk.work / "loss.png").unlink()
    (tk.work / "loss.png").symlink_to(victim)
    tk.cli("plot", "linked", "-o", "loss.png")
    assert victim.read_text() == "the user's own file\n" and not (tk.work / "loss.png").is_symlink()
    left = sorted(p.name for p in tk.work.iterdir() if p.name.startswith("."))
    assert left == [".loss.png.tmp.png"], left  # the planted link is not ours: left alone; no temp of ours stays


def test_plot_skips_bad_points_without_a_traceback(tk: Env) -> None:
    """issue 23.11: a 400-digit number (OverflowError) or JSON nested too deep (RecursionError) was a traceback."""
    bad = ['{"t":1700000001,"step":1,"loss":' + "9" * 400 + "}",
           '{"t":1700000002,"step":2,"loss":' + "9" * 5000 + "}",
           '{"t":' + "1" * 400 + ',"step":3,"loss":1.0}',
           '{"t":1700000004,"step":' + "7" * 400 + ',"loss":1.0}',
           '{"t":1700000005,"loss":' + "[" * 100_000 + "]" * 100_000 + "}",
           '{"t":1700000006,"step":6,"loss":true}',
           '{"t":1700000007,"step":7,"loss":"x' + "y" * 200_000 + '"}',
           "[" * 200_000 + "]" * 200_000]
    _synced(tk, "bad", bad + _series(20, start=10))
    r = tk.cli("plot", "bad", "-o", "bad.png")
    assert "Traceback" not in r.stderr and "wrote bad.png (20 points)" in r.stdout, (r.stdout, r.stderr)
    assert (tk.work / "bad.png").read_bytes()[:8] == PNG


_RSS = """import resource, sys
from tmuxkit import cli
code = cli.main(sys.argv[1:])
print("maxrss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024), file=sys.stderr)
sys.exit(code)
"""


def _plot_rss(tk: Env, run: str) -> tuple[int, str]:
    """The peak memory of `tmuxkit plot RUN -o RUN.png`, and what it printed."""
    r = subprocess.run([sys.executable, "-c", _RSS, "plot", run, "-o", f"{run}.png"], capture_output=True,
                       text=True, env=tk.env, cwd=tk.work, timeout=300)
    assert r.returncode == 0 and "wrote" in r.stdout, r.stderr
    return int(r.stderr.split("maxrss ")[1].split()[0]), r.stdout


def test_plot_of_a_huge_synced_series_takes_bounded_memory(tk: Env) -> None:
    """issue 23.11: a 9-million-point synced series took 5.5 GB (read whole, a dict a point: about 600 bytes
    a point). 250,000 points (12 MB) must cost no more than a small series does, plus a few MB."""
    _synced(tk, "small", _series(100))
    p = _synced(tk, "huge", [])
    with p.open("w") as f:
        t0 = 1_700_000_000
        for i in range(0, 250_000, 1000):
            f.write("".join(f'{{"t":{t0 + j},"step":{j},"total":250000,"loss":{2.0 / (1 + j):.6f}}}\n'
                            for j in range(i, i + 1000)))
    (small, _), (huge, out) = _plot_rss(tk, "small"), _plot_rss(tk, "huge")
    assert huge - small < 40 * 2**20, f"{(huge - small) / 2**20:.0f} MB more for 250,000 points"
    assert "thinned from 250000" in out, out


def test_plot_overlays_a_resumed_runs_attempts_on_the_trainers_step_axis() -> None:
    """issue 27: after a resume (step back from 160 to 100) the attempts were laid end to end (x up to 320)."""
    from tmuxkit import plot

    first = _series(161)  # steps 0..160, then it hung; resumed from the checkpoint at step 100
    second = _series(101, start=100, t0=1_700_001_000)
    s = plot.read(first + second, "loss")
    curves, label = s.curves()
    assert label == "step" and [(c[0][0], c[0][-1]) for c in curves] == [(0, 160), (100, 200)]
    xs, _, _ = plot.points(first + second, "loss")
    assert max(xs) == 200


def test_plot_makes_per_epoch_steps_cumulative() -> None:
    """A tqdm bar per epoch: the step restarts as the epoch goes forward; that is one attempt, on one axis."""
    from tmuxkit import plot

    rows = [json.dumps({"t": 1_700_000_000 + 100 * e + s, "epoch": e, "epochs": 3, "step": s, "total": 50,
                        "loss": 1.0 / (1 + 50 * e + s)}) for e in (1, 2, 3) for s in range(0, 50, 5)]
    curves, label = plot.read(rows, "loss").curves()
    assert label == "step" and len(curves) == 1
    assert curves[0][0][:11] == [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50] and curves[0][0][-1] == 145


@pytest.mark.parametrize("points", [None, 1])
def test_a_sync_pass_with_nothing_to_plot_does_not_import_matplotlib(tmp_path: Path, points: int | None) -> None:
    """Every sync pass asks for PROGRESS.png; a run with no series (or one point) has nothing to
    draw, and importing matplotlib (and numpy) for nothing took half of each pass (about 1 s of CPU)."""
    series = tmp_path / "r.progress"
    if points:
        series.write_text('{"t":1,"loss":0.5}\n')
    code = ("import sys; from pathlib import Path; from tmuxkit.plot import progress_png; "
            "r = progress_png(Path(sys.argv[1]), 'loss', 't', Path(sys.argv[2])); print(r, 'matplotlib' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, str(series), str(tmp_path / "P.png")], capture_output=True,
                       text=True, timeout=60)
    assert r.stdout.split() == ["False", "False"], r.stdout + r.stderr
    assert not (tmp_path / "P.png").exists()
