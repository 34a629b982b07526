"""tmuxkit install HOST: copy this version's host scripts to HOST."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from tmuxkit.cli._common import say

HELP = "copy the host scripts to HOST's $TMUXKIT_HOME/bin"


@dataclass(frozen=True)
class Args:
    config: str | None
    host: str | None = None
    host_opt: str | None = None


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ins = sub.add_parser("install", help=HELP)
    ins.add_argument("host", nargs="?", metavar="HOST", help="a host from the config, or local")
    ins.add_argument("--host", dest="host_opt", metavar="HOST", help="the host, as every other verb names it (default: the HOST argument, else local)")


def run(a: Args) -> int:
    from tmuxkit import config as cfg
    from tmuxkit.contract import ExitCode
    from tmuxkit.errors import TmuxkitError, UsageError
    from tmuxkit.hosts import connect

    if a.host and a.host_opt and a.host != a.host_opt:
        raise UsageError(f"install: two hosts named ({a.host}, --host {a.host_opt}): name one")
    name = a.host or a.host_opt
    if not name:
        raise UsageError("install: name the host (tmuxkit install HOST, or --host HOST)")
    h = connect(cfg.load(a.config).host(name))
    info = h.install()
    if h.name == cfg.LOCAL:
        say(f"local: the scripts are in {info.where}; nothing to install")
    else:
        say(f"installed tmuxkit's host scripts on {name} in {info.where}")
    if not info.tmux:
        # The scripts are there, but no run can start: one line, and the exit code of a missing tool.
        raise TmuxkitError(f"{name}: tmux is missing there (no run can start): install it "
                           "(apt-get install tmux, dnf install tmux, or on a Mac brew install tmux)",
                           code=ExitCode.NO_TOOL)
    say(f"pane log writer there: {info.log_writer}" + (" (batched writes)" if info.log_writer == "python3" else
                                                        " (no python3 3.6+ on the host)"))
    say(f"run by hand there: {info.where}/check_training_status.sh")
    return 0
