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
    c.add_argument("--dry-run", action="store_true")


def run(a: Args) -> int:
    from tmuxkit import config as cfg
    from tmuxkit import runs
    from tmuxkit.errors import UnreachableError, user_message
    from tmuxkit.hosts import connect

    conf = cfg.load(a.config)
    found = 0
    hosts = conf.all_hosts()
    for i, spec in enumerate(hosts):
        try:
            rows = runs.cleanup(connect(spec), a.dry_run)
        except UnreachableError as e:
            # Stop here: what was found on the hosts before is above; the later ones are not touched.
            later = ", ".join(h.name for h in hosts[i + 1 :])
            e.message = f"{user_message(e)}; cleanup stopped at host {spec.name}" + (
                f", not touching {later}" if later else "")
            e.host = ""
            raise
        for r in rows:
            found += 1
            action = "would fix" if a.dry_run and r["action"] == "reported" and r["kind"] not in ("stuck", "headless") else r["action"]
            say(f"{r['host']}: {r['kind']:<12} {r['run']}: {r['detail']} -> {action}")
    if not found:
        say("nothing to clean up")
    return 0
