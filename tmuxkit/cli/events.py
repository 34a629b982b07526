"""tmuxkit events RUN [-f]: a run's watchdog events (and notifications while following)."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass

from tmuxkit.cli._common import say

HELP = "a run's watchdog events"


@dataclass(frozen=True)
class Args:
    config: str | None
    run: str
    json: bool = False
    follow: bool = False


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ev = sub.add_parser("events", help=HELP)
    ev.add_argument("run")
    ev.add_argument("--json", action="store_true")
    ev.add_argument("-f", action="store_true", dest="follow")


def run(a: Args) -> int:
    from tmuxkit import config as cfg
    from tmuxkit import runs, watch

    conf = cfg.load(a.config)
    spec = conf.runs.get(a.run) or cfg.RunSpec(name=cfg.check_run_name(a.run))
    notify = watch.Notifier(a.run, spec.notify)
    for i, ev in enumerate(watch.events(runs.host_for_run(conf, a.run), a.run, a.follow)):
        say(json.dumps(ev) if a.json else watch.describe(ev))
        notify(ev, i)
    return 0
