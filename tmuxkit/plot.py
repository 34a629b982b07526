"""Plots of a run's progress series (RESULTS/tmuxkit/RUN.progress, JSON lines the host's log writer
keeps): a PNG with matplotlib (headless Agg), or a plot in the terminal with plotext. Both come
with the optional extra: pip install 'tmuxkit[plot]'.

The series is read as a stream and thinned as it goes (every other point kept, as the log writer
thins its own file), so a synced series of any length costs bounded memory. A bad line (not JSON,
a number too big for a float, JSON nested too deep) is skipped. The x axis is the trainer's own
step when the series has steps: a run resumed from a checkpoint (its step goes back, its epoch does
not go forward) overlays its attempts on that axis instead of laying them end to end."""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tmuxkit.errors import TmuxkitError, UsageError

EXTRA = "pip install 'tmuxkit[plot]'"
MAX_POINTS = 8192  # points kept of a series (it is thinned to between this and twice this)
MAX_EPOCHS = 4096  # distinct epochs remembered (more are not a trainer's: the step alone)
MAX_LINE = 64 * 1024  # a longer line is not one of the log writer's: skipped, never held whole


def _num(v: Any) -> float | None:
    """V as a float, or None: not a number (a bool is not one), or too big for a float."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        return float(v)
    except OverflowError:  # a 400-digit integer
        return None


def _row(line: str) -> dict[str, Any] | None:
    try:
        d = json.loads(line)
    except (ValueError, RecursionError):  # not JSON, an integer past Python's digit limit, nesting too deep
        return None
    return d if isinstance(d, dict) else None


@dataclass
class Series:
    """A metric's points, thinned to at most 2 * MAX_POINTS, each with its attempt (a resume starts
    the next one), its step and epoch as the trainer printed them, and its minutes since the series
    began."""

    metric: str
    cap: int = MAX_POINTS
    steps: list[float | None] = field(default_factory=list)
    epochs: list[float | None] = field(default_factory=list)
    minutes: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)
    seen: int = 0  # points read, before thinning
    stride: int = 1  # every stride-th point read is kept
    distinct: set[float] = field(default_factory=set)  # the first few distinct steps (to tell a step axis)
    per_epoch: bool = False  # steps restart with each epoch (tqdm): the axis makes them cumulative
    lengths: dict[float, float] = field(default_factory=dict)  # epoch -> its steps (its bar's total, or its last step)
    _t0: float | None = None
    _attempt: int = 0
    _last: tuple[float, float | None] | None = None  # the last step read, and its epoch

    def add(self, d: dict[str, Any]) -> None:
        y, t = _num(d.get(self.metric)), _num(d.get("t"))
        if y is None or t is None or not math.isfinite(t):
            return
        step = _num(d.get("step"))
        epoch = None
        if step is not None and not math.isfinite(step):
            step = None
        if step is not None:
            epoch = self._note(step, _num(d.get("epoch")), _num(d.get("total")))
            if len(self.distinct) < 2:
                self.distinct.add(step)
        if self._t0 is None:
            self._t0 = t
        self.seen += 1
        if (self.seen - 1) % self.stride:
            return
        self.steps.append(step)
        self.epochs.append(epoch)
        self.minutes.append((t - self._t0) / 60)
        self.ys.append(y)
        self.attempts.append(self._attempt)
        if len(self.ys) >= 2 * self.cap:
            for col in (self.steps, self.epochs, self.minutes, self.ys, self.attempts):
                del col[1::2]
            self.stride *= 2

    def _note(self, step: float, epoch: float | None, total: float | None) -> float | None:
        """Follows the trainer's step and epoch; returns the epoch (whole; None where it is not one).
        A step that goes back as the epoch goes forward restarts per epoch (tqdm). A step that goes
        back otherwise, or an epoch that goes back, is a resume: the next attempt."""
        if epoch is not None:
            epoch = float(math.floor(epoch)) if math.isfinite(epoch) else None
        if epoch is not None and epoch not in self.lengths and len(self.lengths) >= MAX_EPOCHS:
            epoch = None  # not a trainer's epochs: the step alone
        if epoch is not None:
            n = max(step, total) if total is not None and math.isfinite(total) else step
            self.lengths[epoch] = max(self.lengths.get(epoch, 0.0), n)
        last = self._last
        self._last = (step, epoch)
        if last is None:
            return epoch
        le = last[1]
        if epoch is not None and le is not None and epoch != le:
            if epoch < le:
                self._attempt += 1
            elif step < last[0]:
                self.per_epoch = True
        elif step < last[0]:
            self._attempt += 1
        return epoch

    def xs_by_step(self) -> list[float | None]:
        """Each kept point's x on the trainer's own step axis (None without a step)."""
        if not self.per_epoch:
            return list(self.steps)
        base, at = {}, 0.0
        for e in sorted(self.lengths):
            base[e] = at
            at += self.lengths[e]
        return [None if s is None else s + (base[e] if e is not None else 0.0)
                for s, e in zip(self.steps, self.epochs, strict=True)]

    def by_step(self) -> bool:
        """Whether the trainer's step is the x axis: at least two distinct steps."""
        return len(self.distinct) > 1

    def curves(self) -> tuple[list[tuple[list[float], list[float]]], str]:
        """The attempts as (xs, ys) curves on the step axis (points without a step left out), else one
        curve over minutes; and the axis' label."""
        if not self.by_step():
            return ([(list(self.minutes), list(self.ys))] if self.ys else []), "minutes"
        out: list[tuple[list[float], list[float]]] = []
        cur = -1
        for x, y, a in zip(self.xs_by_step(), self.ys, self.attempts, strict=True):
            if x is None:
                continue
            if a != cur:
                out.append(([], []))
                cur = a
            out[-1][0].append(x)
            out[-1][1].append(y)
        return out, "step"

    def __len__(self) -> int:
        return len(self.ys) if not self.by_step() else sum(1 for x in self.steps if x is not None)


def read(lines: Iterable[str], metric: str, cap: int = MAX_POINTS) -> Series:
    """The METRIC series of progress LINES, read as a stream (LINES may be an open file)."""
    s = Series(metric, cap=cap)
    key = json.dumps(metric)  # a line without it has no point of METRIC: not parsed
    for ln in lines:
        if len(ln) <= MAX_LINE and key in ln:
            d = _row(ln)
            if d is not None:
                s.add(d)
    return s


def file_lines(f: IO[str]) -> Iterator[str]:
    """F's lines, each at most MAX_LINE + 1 characters (the rest of a longer one is skipped unread)."""
    while True:
        ln = f.readline(MAX_LINE + 1)
        if not ln:
            return
        if len(ln) > MAX_LINE and not ln.endswith("\n"):
            while True:  # the rest of a line too long to be the writer's
                more = f.readline(MAX_LINE)
                if not more or more.endswith("\n"):
                    break
            continue
        yield ln


def read_file(path: Path, metric: str, cap: int = MAX_POINTS) -> Series:
    with open(path, encoding="utf-8", errors="replace") as f:
        return read(file_lines(f), metric, cap)


def points(lines: Iterable[str], metric: str) -> tuple[list[float], list[float], str]:
    """(x, y, x label) for METRIC, every attempt one after the other (see Series.curves)."""
    curves, label = read(lines, metric).curves()
    return [x for c in curves for x in c[0]], [y for c in curves for y in c[1]], (label if curves else "")


def _write_png(fig: Any, out: Path) -> None:
    """FIG as a PNG at OUT, atomically: written to a new temp file of a random name beside OUT
    (O_EXCL, O_NOFOLLOW: never through a link planted there), then renamed over OUT (a link at OUT
    is replaced, never followed)."""
    if out.is_dir():
        raise IsADirectoryError(21, "is a directory")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = out.with_name(f".{out.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(17, "no free temp name")
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format="png")
        os.replace(tmp, out)
    except BaseException:
        try:
            os.unlink(tmp)  # ours: made just now with O_EXCL
        except OSError:
            pass
        raise


def png(curves: list[tuple[list[float], list[float]]], xlabel: str, metric: str, title: str, out: Path) -> None:
    """CURVES (one line each, in one color: a resumed run's attempts overlaid) as a PNG at OUT."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise TmuxkitError(f"plotting to a file needs matplotlib: {EXTRA}") from None
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for i, (xs, ys) in enumerate(curves):
        ax.plot(xs, ys, linewidth=1.2, color="C0", alpha=1.0 if i == len(curves) - 1 else 0.45)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    try:
        _write_png(fig, out)
    except OSError as e:  # a missing folder, a folder as the target, a file as a parent: one line
        raise UsageError(f"cannot write {out}: {e.strerror or e}") from None
    finally:
        plt.close(fig)


def terminal(curves: list[tuple[list[float], list[float]]], xlabel: str, metric: str, title: str) -> None:
    try:
        import plotext as plx
    except ImportError:
        raise UsageError(f"plotting in the terminal needs plotext ({EXTRA}); or give -o FILE.png") from None
    plx.clear_figure()
    for xs, ys in curves:
        plx.plot(xs, ys)
    plx.title(title)
    plx.xlabel(xlabel)
    plx.ylabel(metric)
    plx.show()


def progress_png(series: Path, metric: str, title: str, out: Path) -> bool:
    """The sync loop's PROGRESS.png; False (and nothing written) without matplotlib or data.
    The data is looked at first: matplotlib (and numpy) cost about a second to import, on every
    pass of the loop, for a run that has nothing to draw."""
    try:
        s = read_file(series, metric)
    except OSError:
        return False
    if len(s) < 2:
        return False
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    curves, xlabel = s.curves()
    png(curves, xlabel, metric, title, out)
    return True
