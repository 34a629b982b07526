"""tmuxkit checkpoints RUN [--json] [--complete]: a run's checkpoints on its host, newest first."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass

from tmuxkit.cli._common import ago, load_config, say, table

HELP = "list a run's checkpoints on its host, newest first: step, size, age, complete (or why not)"


@dataclass(frozen=True)
class Args:
    config: str | None
    run: str
    host: str | None = None
    json: bool = False
    complete: bool = False


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser("checkpoints", help=HELP)
    c.add_argument("run", help="the run whose checkpoints to list")
    c.add_argument("--host", metavar="HOST", help="the run's host (default: where it was started: its config, else this machine's note)")
    c.add_argument("--json", action="store_true", help="one JSON array: path, step, step_from, mtime, size, kind, complete, reason (default: a table)")
    c.add_argument("--complete", action="store_true", help="only the complete ones, those a resume may use (default: all)")


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def run(a: Args) -> int:
    from tmuxkit import checkpoints, runs
    from tmuxkit import config as cfg

    conf = load_config(a.config, [a.run])
    spec = conf.runs.get(a.run) or cfg.RunSpec(name=cfg.check_run_name(a.run))
    h = runs.host_for_run(conf, a.run, a.host)
    units = checkpoints.listing(h, spec, complete_only=a.complete)
    if a.json:
        print(json.dumps(units, indent=2))
        return 0
    if not units:
        say(f"{a.run} has no checkpoints on {h.name}" + (" that are complete" if a.complete else ""))
        return 0
    now = int(time.time())
    table(f"checkpoints of {a.run} on {h.name}", ["STEP", "SIZE", "AGE", "COMPLETE", "PATH"],
          [[("-" if u["step"] is None else f"save #{u['step']}" if u.get("step_from") == "index" else str(u["step"])), _size(int(u["size"])), ago(now - int(u["mtime"])),
            "yes" if u["complete"] else f"no: {u['reason']}", str(u["path"])] for u in units])
    return 0
