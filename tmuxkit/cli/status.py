"""tmuxkit status [RUN...]: every run's state, on every host at once."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tmuxkit.cli._common import ago, err, say, seconds, table
from tmuxkit.contract import ExitCode, RunStatus, State, Writer

if TYPE_CHECKING:
    from tmuxkit.runs import HostStatus

HELP = "state of runs on every host"


@dataclass(frozen=True)
class Args:
    config: str | None
    runs: list[str] = field(default_factory=list)
    json: bool = False
    timeout: float = 10.0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    st = sub.add_parser("status", help=HELP)
    st.add_argument("runs", nargs="*")
    st.add_argument("--json", action="store_true")
    st.add_argument("--timeout", type=seconds, default=10.0, metavar="SECONDS", help="per host (default 10)")


def state_text(r: RunStatus) -> str:
    state = r.state
    if r.headless:
        state += " (headless)"
    if state in (State.EXITED, State.STOPPED) and r.exit_code is not None:
        state += f" ({r.exit_code})"
    if r.stop_rung:
        state += f" [{r.stop_rung}]"
    if r.state == State.FAILED:
        state += " (restart budget spent)"
    if r.last_event:
        state += f" [{r.last_event}, {r.restarts} restarts]"
    if r.writer in (Writer.DEAD, Writer.REPIPED):
        state += " log writer re-attached"
    if r.sync is not None:
        last = r.sync.get("last_success")
        state += f" sync:{ago(int(time.time() - last)) + ' ago' if isinstance(last, (int, float)) else 'never'}"
        if r.sync.get("last_error"):
            state += " (failing)"
        if r.sync.get("loop") in ("dead", "wedged"):
            state += f" SYNC LOOP {str(r.sync['loop']).upper()} (restart: tmuxkit sync {r.run} --detach)"
    return state


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float]) -> str:
    if len(values) < 2:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return "".join(SPARK[min(len(SPARK) - 1, int((v - lo) / span * len(SPARK)))] for v in values)


def progress_text(r: RunStatus, spark: bool) -> str:
    """76% 151/200 ETA 10s, epoch 1/2, loss 0.118 (and a loss sparkline on a terminal)."""
    p = r.progress or {}
    parts = []
    if "percent" in p:
        eta = f" ETA {ago(int(p['eta_s']))}" if isinstance(p.get("eta_s"), (int, float)) and r.alive else ""
        parts.append(f"{p['percent']:.0f}% {int(p['step'])}/{int(p['total'])}{eta}")
    if "epoch" in p and "epochs" in p:
        parts.append(f"epoch {int(p['epoch'])}/{int(p['epochs'])}")
    if "loss" in p:
        parts.append(f"loss {p['loss']:.4g}" + (f" {sparkline(r.losses)}" if spark and r.losses else ""))
    return ", ".join(parts)


def run(a: Args) -> int:
    from tmuxkit import config as cfg
    from tmuxkit import runs, sync
    from tmuxkit.hosts import Host, connect

    conf = cfg.load(a.config)
    asks: list[tuple[Host, Sequence[str]]]
    if a.runs:
        by_host: dict[str, list[str]] = {}
        for n in a.runs:
            by_host.setdefault(runs.host_name_for_run(conf, n), []).append(n)
        asks = [(connect(conf.host(h)), ns) for h, ns in by_host.items()]
    else:
        asks = [(connect(spec), []) for spec in conf.all_hosts()]
    results = runs.status_all(asks, a.timeout)
    sync.add_health(conf, results)
    code = exit_code(results)
    if a.json:
        out = [r.to_json() for s in results for r in s.runs]
        out += [{"host": s.host, "state": "unreachable", "error": s.error} for s in results if s.error]
        print(json.dumps(out, indent=2))
        _name_unreachable(results)
        return code
    import sys

    rows = []
    spark = sys.stdout.isatty()
    for s in results:
        if s.error:
            rows.append(["-", s.host, f"unreachable ({s.error})", "", "", "", "", "", ""])
        for r in s.runs:
            rows.append([r.run, s.host, state_text(r), str(r.pid or "-"), ago(r.uptime_s), ago(r.log_age_s),
                         r.lock_state, progress_text(r, spark), r.last_line[:100]])
    if not rows:
        say("no runs")
        return code
    table("tmuxkit runs", ["RUN", "HOST", "STATE", "PID", "UPTIME", "LOG AGE", "LOCK", "PROGRESS", "LAST LINE"], rows)
    _name_unreachable(results)
    return code


def exit_code(results: Sequence[HostStatus]) -> int:
    """0 when every host answered; PARTIAL (7) when some did and some did not (every answer is
    still printed); UNREACHABLE (6) when none did."""
    failed = sum(1 for s in results if s.error)
    if not failed:
        return ExitCode.OK
    return ExitCode.UNREACHABLE if failed == len(results) else ExitCode.PARTIAL


def _name_unreachable(results: Sequence[HostStatus]) -> None:
    for s in results:
        if s.error:
            err(f"host {s.host} is unreachable; its runs are not shown: {s.error}")
