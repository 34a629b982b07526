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
    host: str | None = None
    host_opt: str | None = None
    json: bool = False


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    d = sub.add_parser("doctor", help=HELP)
    d.add_argument("host", nargs="?", metavar="HOST", help="a host from the config, or local (default: local)")
    d.add_argument("--host", dest="host_opt", metavar="HOST", help="the host, as every other verb names it (default: the HOST argument, else local)")
    d.add_argument("--json", action="store_true",
                   help='one JSON object: host, ok, reachable, checks [{where, check, ok, value, fix, note}] (default: text)')


def _marks() -> tuple[str, str, str]:
    """The marks for ok, failed and a note."""
    try:
        "✓✗".encode(sys.stdout.encoding or "ascii")
        return "✓", "✗", "!"
    except (UnicodeEncodeError, LookupError):
        return "ok", "NO", "!"


def run(a: Args) -> int:
    from tmuxkit.doctor import diagnose
    from tmuxkit.errors import UsageError

    if a.host and a.host_opt and a.host != a.host_opt:
        raise UsageError(f"doctor: two hosts named ({a.host}, --host {a.host_opt}): name one")
    host = a.host or a.host_opt or "local"
    conf = load_config(a.config)
    report = diagnose(conf, host)
    if a.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        yes, no, note = _marks()
        say(f"tmuxkit doctor: {host}")
        for c in report.checks:
            say(f"  {(note if c.note else yes) if c.ok else no} {c.where:<6} {c.check:<14} {plain(c.value)}")
            if c.fix and (c.note or not c.ok):
                say(f"{'':>26}{'tip' if c.ok else 'fix'}: {plain(c.fix)}")
        failed = [c for c in report.checks if not c.ok]
        say("all good" if not failed else f"{len(failed)} to fix")
    if not report.reachable:
        return int(ExitCode.UNREACHABLE)
    return 0 if report.ok else int(ExitCode.FAIL)
