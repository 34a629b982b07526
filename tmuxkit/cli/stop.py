"""tmuxkit stop RUN: the ladder, Ctrl-C, then SIGTERM, then SIGKILL, over the run's whole tree."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from tmuxkit.cli._common import load_config, positive, say
from tmuxkit.contract import Defaults

HELP = "stop a run: Ctrl-C, then SIGTERM, then SIGKILL"


def ended_text(code: int | None) -> str:
    """What the exit code says, and no more: a program that died of its traceback saved nothing
    we know of, so nothing here claims it saved."""
    if code is None:
        return "its exit code was not recorded"
    if code == 0:
        return "it exited cleanly (0)"
    if code == 130:
        return "it exited with code 130 (the Ctrl-C code)"  # whether it saved first, only its log can tell
    if code > 128:
        return f"it ended on signal {code - 128} ({code})"
    return f"it exited with code {code}, an error: see its log"



@dataclass(frozen=True)
class Args:
    config: str | None
    run: str
    host: str | None = None
    grace: int = Defaults.GRACE


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser("stop", help=HELP)
    sp.add_argument("run", help="the run to stop")
    sp.add_argument("--host", metavar="HOST", help="the run's host (default: where it was started: its config, else this machine's note)")
    sp.add_argument("--grace", type=positive, default=Defaults.GRACE, metavar="SECONDS", help="how long Ctrl-C gets to save and exit before SIGTERM (default: %(default)s)")


def run(a: Args) -> int:
    from tmuxkit import runs

    conf = load_config(a.config, [a.run])
    h = runs.host_for_run(conf, a.run, a.host)
    r = runs.stop(h, a.run, a.grace)
    wd = "; its watchdog was ended too" if r.watchdog == "ended" else ""
    if r.state == "not_running" and r.detail == "dequeued":
        say(f"{a.run} was waiting in {h.name}'s queue: taken out, it will not start")
        return 0
    if r.state == "not_running":
        if wd:
            say(f"{a.run} is not running on {h.name} ({r.detail or 'ended'}){wd}, so it will not be restarted")
        else:
            say(f"{a.run} is not running on {h.name} ({r.detail or 'ended'}); nothing to stop")
        return 0
    detail = f" ({r.detail})" if r.detail else ""
    ended = h.stop_outcome(r) or ended_text(r.exit_code)
    say(f"stopped {a.run} on {h.name}{detail} at rung {r.rung} ({h.rung_text(r.rung)}): {ended}{h.stop_tail()}{wd}")
    return 0
