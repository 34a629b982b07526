"""tmuxkit plot RUN [--metric loss] [-o FILE.png]: draw a run's progress series."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from tmuxkit.cli._common import load_config, say
from tmuxkit.contract import ExitCode

HELP = "plot a run's loss (or another metric): a PNG with -o, else in the terminal"


@dataclass(frozen=True)
class Args:
    config: str | None
    run: str
    host: str | None = None
    metric: str = "loss"
    output: str | None = None


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("plot", help=HELP)
    p.add_argument("run", help="the run whose metric to plot")
    p.add_argument("--host", metavar="HOST", help="the run's host (default: where it was started: its config, else this machine's note)")
    p.add_argument("--metric", default="loss", help="which metric (default: %(default)s)")
    p.add_argument("-o", dest="output", metavar="FILE.png", help="write a PNG (matplotlib) instead of drawing in the terminal (default: the terminal)")


def run(a: Args) -> int:
    from tmuxkit import config as cfg
    from tmuxkit import plot, runs, sync
    from tmuxkit.errors import TmuxkitError, UsageError

    conf = load_config(a.config, [a.run])
    spec = conf.runs.get(a.run) or cfg.RunSpec(name=cfg.check_run_name(a.run))
    if a.output is None and not sys.stdout.isatty():
        raise UsageError("no terminal to draw on: give -o FILE.png")
    series: plot.Series | None = None
    where = ""
    missing: TmuxkitError | None = None
    try:  # the host's series, else the synced copy
        h = runs.host_for_run(conf, a.run, a.host)
        row = runs.status_on(h, [a.run]).runs[0]
        path = row.log_path[:-4] + ".progress" if row.log_path.endswith(".log") else ""
        res = h.run(["tail", "-n", "20000", path]) if path else None
        if res is not None and res.rc == 0 and res.out:
            series, where = plot.read(res.out.splitlines(), a.metric), h.name
    except TmuxkitError as e:
        missing = e
    if series is None:
        synced = sync.sync_dir(conf, spec) / "tmuxkit" / f"{a.run}.progress"
        if synced.exists():
            try:  # read as a stream: a synced series of any length costs bounded memory
                series, where = plot.read_file(synced, a.metric), "the synced copy"
            except OSError as e:
                raise TmuxkitError(f"cannot read {synced}: {e.strerror or e}") from None
        elif missing is not None and missing.code == ExitCode.NOT_FOUND:
            raise missing  # no such run here, nor a synced copy of one: as every other verb says
    if series is None or len(series) < 2:
        raise TmuxkitError(f"{a.run}: no '{a.metric}' series yet (the run prints no '{a.metric}=' values, or too few)")
    curves, xlabel = series.curves()
    title = f"{a.run}: {a.metric} ({where})"
    if a.output:
        plot.png(curves, xlabel, a.metric, title, Path(a.output))
        n = sum(len(c[0]) for c in curves)
        thinned = f", thinned from {series.seen}" if series.stride > 1 else ""
        say(f"wrote {a.output} ({n} points{thinned})")
    else:
        plot.terminal(curves, xlabel, a.metric, title)
    return 0
