"""tmuxkit cleanup: stale locks, dead sessions, orphans, dead log writers, on every host."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from tmuxkit.cli._common import say

HELP = "fix stale locks, dead sessions, orphans, dead log writers"


@dataclass(frozen=True)
class Args:
    config: str | None
    dry_run: bool = False


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser("cleanup", help=HELP)
    c.add_argument("--dry-run", action="store_true", help="say what would be fixed, change nothing (default: fix)")


def run(a: Args) -> int:
    from tmuxkit import config as cfg
    from tmuxkit import runs
    from tmuxkit.hosts import connect

    conf = cfg.load(a.config)
    found = 0
    for spec in conf.all_hosts():
        for r in runs.cleanup(connect(spec), a.dry_run):
            found += 1
            action = "would fix" if a.dry_run and r["action"] == "reported" and r["kind"] not in ("stuck", "headless") else r["action"]
            say(f"{r['host']}: {r['kind']:<12} {r['run']}: {r['detail']} -> {action}")
    if not found:
        say("nothing to clean up")
    return 0
