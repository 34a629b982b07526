"""tmuxkit stop RUN: the ladder, Ctrl-C, then SIGTERM, then SIGKILL, over the run's whole tree."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from tmuxkit.cli._common import positive, say
from tmuxkit.contract import Defaults, Rung

HELP = "stop a run: Ctrl-C, then SIGTERM, then SIGKILL"
RUNG_TEXT: dict[str, str] = {Rung.SIGINT: "Ctrl-C: it saved and exited", Rung.SIGTERM: "SIGTERM after the grace period",
             Rung.SIGKILL: "SIGKILL after SIGTERM was ignored"}

SLURM_RUNG_TEXT: dict[str, str] = {Rung.SIGINT: "Ctrl-C (scancel --signal=INT --full): it saved and exited",
                                   Rung.SIGTERM: "scancel after the grace period, or cancelled while pending"}


@dataclass(frozen=True)
class Args:
    config: str | None
    run: str
    grace: int = Defaults.GRACE


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser("stop", help=HELP)
    sp.add_argument("run")
    sp.add_argument("--grace", type=positive, default=Defaults.GRACE, metavar="SECONDS")


def run(a: Args) -> int:
    from tmuxkit import config as cfg
    from tmuxkit import runs

    conf = cfg.load(a.config)
    h = runs.host_for_run(conf, a.run)
    r = runs.stop(h, a.run, a.grace)
    wd = "; its watchdog was ended too" if r.watchdog == "ended" else ""
    if r.state == "not_running":
        if wd:
            say(f"{a.run} is not running on {h.name} ({r.detail or 'ended'}){wd}, so it will not be restarted")
        else:
            say(f"{a.run} is not running on {h.name} ({r.detail or 'ended'}); nothing to stop")
        return 0
    from tmuxkit.hosts.slurm import SlurmHost

    if isinstance(h, SlurmHost):
        say(f"stopped {a.run} on {h.name} ({r.detail}) at rung {r.rung} ({SLURM_RUNG_TEXT.get(r.rung, '')}){wd}")
        return 0
    say(f"stopped {a.run} on {h.name} at rung {r.rung} ({RUNG_TEXT.get(r.rung, '')}); lock released{wd}")
    return 0
