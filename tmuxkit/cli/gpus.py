"""tmuxkit gpus [HOST]: the host's GPUs, their use, and which run or foreign process holds each."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass

from tmuxkit.cli._common import ago, load_config, say, table
from tmuxkit.errors import TmuxkitError

HELP = "show a host's GPUs: utilization, memory, and which run or foreign process holds each"


@dataclass(frozen=True)
class Args:
    config: str | None
    host: str | None = None
    json: bool = False


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    g = sub.add_parser("gpus", help=HELP)
    g.add_argument("host", nargs="?", metavar="HOST", help="the host to look at (default: local)")
    g.add_argument("--json", action="store_true", help="the host's answer as JSON (default: a table)")


def run(a: Args) -> int:
    from tmuxkit.gpus import gib, holder_text
    from tmuxkit.hosts import connect

    conf = load_config(a.config, [])
    h = connect(conf.host(a.host or "local"))
    try:
        res = h.script_ok("tmuxkit-gpus")
    finally:
        h.close()
    try:
        data = json.loads(res.out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise TmuxkitError(f"{h.name}: tmuxkit-gpus gave no JSON answer") from None
    if a.json:
        print(json.dumps(data, indent=2))
        return 0
    gpus = data.get("gpus") or []
    if data.get("state") != "ok":
        say(f"{h.name}: no GPU use to show: {data.get('why') or data.get('state')}")
    rows = []
    for g in gpus:
        util = g.get("util_pct")
        mem = f"{gib(g.get('mem_used_mib'))} / {gib(g.get('mem_total_mib'))}" if g.get("mem_total_mib") else "-"
        rows.append([str(g.get("index")), str(g.get("uuid")), f"{util}%" if isinstance(util, int) else "?", mem,
                     holder_text(g), ago(g.get("held_s")) if g.get("held_s") is not None else ""])
    if rows:
        table(f"GPUs on {h.name}", ["GPU", "UUID", "UTIL", "MEMORY", "HELD BY", "FOR"], rows)
    if data.get("pressure") is not None:
        say(f"memory pressure: {({1: 'normal', 2: 'warning', 4: 'critical'}).get(data['pressure'], data['pressure'])}")
    for q in data.get("queue") or []:
        where = f"#{q['queue_position']}" if q.get("queue_position") else q.get("state", "")
        say(f"queued {where}: {q.get('run')}: {q.get('waiting_for', '')}")
    return 0
