"""Plots of a run's progress series (RESULTS/tmuxkit/RUN.progress, JSON lines the host's log writer
keeps): a PNG with matplotlib (headless Agg), or a plot in the terminal with plotext. Both come
with the optional extra: pip install 'tmuxkit[plot]'."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tmuxkit.errors import TmuxkitError, UsageError

EXTRA = "pip install 'tmuxkit[plot]'"


def points(lines: Iterable[str], metric: str) -> tuple[list[float], list[float], str]:
    """(x, y, x label) for METRIC: x is the step when the series has steps, else minutes since the start."""
    rows: list[dict[str, Any]] = []
    for ln in lines:
        try:
            d = json.loads(ln)
        except ValueError:
            continue
        if isinstance(d, dict) and isinstance(d.get(metric), (int, float)) and isinstance(d.get("t"), (int, float)):
            rows.append(d)
    if not rows:
        return [], [], ""
    if all(isinstance(r.get("step"), (int, float)) for r in rows) and len({r["step"] for r in rows}) > 1:
        # Steps restart per epoch with tqdm: make them cumulative when they go back.
        xs, base, last = [], 0.0, None
        for r in rows:
            s = float(r["step"])
            if last is not None and s < last:
                base += last
            xs.append(base + s)
            last = s
        return xs, [float(r[metric]) for r in rows], "step"
    t0 = float(rows[0]["t"])
    return [(float(r["t"]) - t0) / 60 for r in rows], [float(r[metric]) for r in rows], "minutes"


def png(xs: list[float], ys: list[float], xlabel: str, metric: str, title: str, out: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise TmuxkitError(f"plotting to a file needs matplotlib: {EXTRA}") from None
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    ax.plot(xs, ys, linewidth=1.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = out.with_name(f".{out.name}.tmp.png")
    try:
        if out.is_dir():
            raise IsADirectoryError(21, "is a directory")
        fig.savefig(tmp, format="png")
        tmp.replace(out)
    except OSError as e:  # a missing folder, a folder as the target, a file as a parent: one line
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # its folder is not one
            pass
        raise UsageError(f"cannot write {out}: {e.strerror or e}") from None
    finally:
        plt.close(fig)


def terminal(xs: list[float], ys: list[float], xlabel: str, metric: str, title: str) -> None:
    try:
        import plotext as plx
    except ImportError:
        raise UsageError(f"plotting in the terminal needs plotext ({EXTRA}); or give -o FILE.png") from None
    plx.clear_figure()
    plx.plot(xs, ys)
    plx.title(title)
    plx.xlabel(xlabel)
    plx.ylabel(metric)
    plx.show()


def progress_png(series: Path, metric: str, title: str, out: Path) -> bool:
    """The sync loop's PROGRESS.png; False (and nothing written) without matplotlib or data."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    try:
        xs, ys, xlabel = points(series.read_text(errors="replace").splitlines(), metric)
    except OSError:
        return False
    if len(xs) < 2:
        return False
    png(xs, ys, xlabel, metric, title, out)
    return True
