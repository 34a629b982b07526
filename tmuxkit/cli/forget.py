"""tmuxkit forget RUN...: remove finished runs' state on their hosts, never their results or logs."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from tmuxkit.cli._common import load_config, say

HELP = "forget finished runs: their state goes, their results and logs stay"


@dataclass(frozen=True)
class Args:
    config: str | None
    runs: list[str] = field(default_factory=list)
    host: str | None = None
    dry_run: bool = False


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    f = sub.add_parser("forget", help=HELP)
    f.add_argument("runs", nargs="+", metavar="RUN", help="finished runs to forget (a running one is refused)")
    f.add_argument("--host", metavar="HOST", help="the runs' host (default: where each was started)")
    f.add_argument("--dry-run", action="store_true", help="say what would be forgotten, change nothing (default: forget)")


def run(a: Args) -> int:
    from tmuxkit import runs
    from tmuxkit.config import check_run_name
    from tmuxkit.hosts import connect

    conf = load_config(a.config, a.runs)
    by_host: dict[str, list[str]] = {}
    for name in a.runs:
        check_run_name(name)
        by_host.setdefault(a.host or runs.host_name_for_run(conf, name), []).append(name)
    for host_name, names in by_host.items():
        h = connect(conf.host(host_name))
        try:
            for row in runs.forget(h, names, dry_run=a.dry_run):
                name = row.get("forgot") or row.get("would_forget", "")
                say(f"{'would forget' if a.dry_run else 'forgot'} {name} on {h.name} (its results and logs stay)")
        finally:
            h.close()
    return 0
