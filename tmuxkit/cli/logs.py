"""tmuxkit logs RUN [-n N] [-f]: print, and follow, a run's pane log."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from tmuxkit.cli._common import positive

HELP = "print (and follow) a run's log"


@dataclass(frozen=True)
class Args:
    config: str | None
    run: str
    lines: int = 20
    follow: bool = False


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lg = sub.add_parser("logs", help=HELP)
    lg.add_argument("run")
    lg.add_argument("-n", type=positive, default=20, dest="lines")
    lg.add_argument("-f", action="store_true", dest="follow")


def run(a: Args) -> int:
    from tmuxkit import config as cfg
    from tmuxkit import runs

    conf = cfg.load(a.config)
    return runs.logs(runs.host_for_run(conf, a.run), a.run, a.lines, a.follow)
