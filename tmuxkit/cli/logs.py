"""tmuxkit logs RUN [-n N] [-f]: print, and follow, a run's pane log."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from tmuxkit.cli._common import load_config, positive
from tmuxkit.contract import ExitCode

HELP = "print (and follow) a run's log"


@dataclass(frozen=True)
class Args:
    config: str | None
    run: str
    host: str | None = None
    lines: int = 20
    follow: bool = False


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lg = sub.add_parser("logs", help=HELP)
    lg.add_argument("run", help="the run whose pane log to print")
    lg.add_argument("--host", metavar="HOST", help="the run's host (default: where it was started: its config, else this machine's note)")
    lg.add_argument("-n", "--lines", type=positive, default=20, dest="lines", metavar="N", help="print the last N lines (default: %(default)s)")
    lg.add_argument("-f", "--follow", action="store_true", dest="follow", help="keep printing new output, across rotations and restarts (default: print and exit)")


def run(a: Args) -> int:
    from tmuxkit import runs

    conf = load_config(a.config, [a.run])
    rc = runs.logs(runs.host_for_run(conf, a.run, a.host), a.run, a.lines, a.follow)
    if rc == ExitCode.NOT_FOUND:  # the host said "no run named ...": a close name, where there is one
        from tmuxkit.cli._common import err, suggest_run

        hint = suggest_run(a.run, a.config)
        if hint:
            err(hint[2:])
    return rc
