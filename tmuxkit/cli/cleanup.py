"""tmuxkit cleanup: stale locks, dead sessions, orphans, dead log writers, on every host."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from tmuxkit.cli._common import duration, say

HELP = "fix stale locks, dead sessions, orphans, dead log writers"


@dataclass(frozen=True)
class Args:
    config: str | None
    dry_run: bool = False
    older_than: int | None = None
    host: str | None = None


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser("cleanup", help=HELP)
    c.add_argument("--dry-run", action="store_true", help="say what would be fixed, change nothing (default: fix)")
    c.add_argument("--older-than", type=duration, metavar="DUR",
                   help="also forget finished runs that ended longer ago, e.g. 14d; results and logs stay "
                        "(default: keep every run)")
    c.add_argument("--host", metavar="HOST", help="only this host (default: every host)")


def run(a: Args) -> int:
    import time

    from tmuxkit import config as cfg
    from tmuxkit import runs
    from tmuxkit.errors import UnreachableError, user_message
    from tmuxkit.hosts import connect

    conf = cfg.load(a.config)
    found = 0
    hosts = [conf.host(a.host)] if a.host else conf.all_hosts()
    for i, spec in enumerate(hosts):
        try:
            h = connect(spec)
            rows = runs.cleanup(h, a.dry_run)
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
        if h.cleanup_note():  # a host with nothing of its own to clean says so (a Slurm host)
            say(f"{spec.name}: {h.cleanup_note()}")
        if a.older_than is not None:
            h = connect(spec)
            for r in runs.forget(h, older_than=a.older_than, dry_run=a.dry_run):
                found += 1
                name = r.get("forgot") or r.get("would_forget", "")
                say(f"{h.name}: {'old run':<12} {name}: ended {time.strftime('%Y-%m-%d', time.localtime(int(r.get('ended') or 0)))}"
                    f" -> {'would forget' if a.dry_run else 'forgotten'} (results and logs stay)")
    if not found:
        say("nothing to clean up")
    return 0
