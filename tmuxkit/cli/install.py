"""tmuxkit install HOST: copy this version's host scripts to HOST."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from tmuxkit.cli._common import say

HELP = "copy the host scripts to HOST's $TMUXKIT_HOME/bin"


@dataclass(frozen=True)
class Args:
    config: str | None
    host: str


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ins = sub.add_parser("install", help=HELP)
    ins.add_argument("host", help="a host from the config, or local")


def run(a: Args) -> int:
    from tmuxkit import config as cfg
    from tmuxkit.hosts import connect

    h = connect(cfg.load(a.config).host(a.host))
    info = h.install()
    if h.name == cfg.LOCAL:
        say(f"local: the scripts are in {info.where}; nothing to install")
    else:
        say(f"installed tmuxkit's host scripts on {a.host} in {info.where}")
    say(f"pane log writer there: {info.log_writer}" + (" (batched writes)" if info.log_writer == "python3" else
                                                        " (no python3 3.6+ on the host)"))
    say(f"run by hand there: {info.where}/check_training_status.sh")
    return 0
