"""tmuxkit doctor [HOST] [--json]: check this machine and a host, each check with a ✓ or ✗ and its fix."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass

from tmuxkit.cli._common import load_config, plain, say
from tmuxkit.contract import ExitCode

HELP = "check this machine and a host: tools, ssh, banner, clock, disk, GPU"


@dataclass(frozen=True)
class Args:
    config: str | None
    host: str = "local"
    json: bool = False


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    d = sub.add_parser("doctor", help=HELP)
    d.add_argument("host", nargs="?", default="local", metavar="HOST",
                   help="a host from the config, or local (default: %(default)s)")
    d.add_argument("--json", action="store_true",
                   help='one JSON object: host, ok, reachable, checks [{where, check, ok, value, fix}] (default: text)')


def _marks() -> tuple[str, str]:
    try:
        "✓✗".encode(sys.stdout.encoding or "ascii")
        return "✓", "✗"
    except (UnicodeEncodeError, LookupError):
        return "ok", "NO"


def run(a: Args) -> int:
    from tmuxkit.doctor import diagnose

    conf = load_config(a.config)
    report = diagnose(conf, a.host)
    if a.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        yes, no = _marks()
        say(f"tmuxkit doctor: {a.host}")
        for c in report.checks:
            say(f"  {yes if c.ok else no} {c.where:<6} {c.check:<14} {plain(c.value)}")
            if c.fix and not c.ok:
                say(f"{'':>26}fix: {plain(c.fix)}")
        failed = [c for c in report.checks if not c.ok]
        say("all good" if not failed else f"{len(failed)} to fix")
    if not report.reachable:
        return int(ExitCode.UNREACHABLE)
    return 0 if report.ok else int(ExitCode.FAIL)
