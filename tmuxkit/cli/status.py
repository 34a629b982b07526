"""tmuxkit status [RUN...]: every run's state, on every host at once."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tmuxkit.cli._common import ago, duration, err, load_config, say, seconds, table
from tmuxkit.contract import Event, ExitCode, RunStatus, State, Writer

if TYPE_CHECKING:
    from tmuxkit.runs import HostStatus

HELP = "state of runs on every host"


@dataclass(frozen=True)
class Args:
    config: str | None
    runs: list[str] = field(default_factory=list)
    json: bool = False
    timeout: float = 10.0
    all: bool = False
    ended_within: int | None = None
    host: str | None = None


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    st = sub.add_parser("status", help=HELP)
    st.add_argument("runs", nargs="*", metavar="RUN", help="only these runs (default: every run on every host)")
    st.add_argument("--json", action="store_true", help="a JSON array of runs, see README \"JSON output\" (default: a table)")
    st.add_argument("--timeout", type=seconds, default=10.0, metavar="SECONDS", help="how long to wait for each host (default: %(default)s)")
    st.add_argument("--host", metavar="HOST", help="only this host (default: the runs' hosts, or every host)")
    st.add_argument("--all", action="store_true", help="every run, however long ago it ended (default: see --ended-within)")
    st.add_argument("--ended-within", type=duration, metavar="DUR",
                    help="runs that ended longer ago are left out (default: [status] show_ended, else 3d)")


def job_text(r: RunStatus) -> str:
    """A batch job's state (a run with a job id): pending (reason), running on NODE, its exit;
    the scheduler's own word for an unusual end; its restarts and last event."""
    x = r.extra
    state = r.state
    if r.state == State.PENDING and x.get("reason"):
        from tmuxkit.hosts.slurm_reasons import reason_text

        words = reason_text(str(x["reason"]), str(x.get("job") or ""))
        state += f" ({x['reason']}: {words})" if words != x["reason"] else f" ({x['reason']})"
    elif r.state == State.RUNNING and x.get("node"):
        state += f" on {x['node']}"
    elif r.exit_code is not None:
        state += f" ({r.exit_code})"
    if r.state not in (State.PENDING, State.RUNNING, State.EXITED, State.STOPPED) and x.get("slurm_state"):
        state += f" [{x['slurm_state']}]"
    if r.stop_rung:
        state += f" [{r.stop_rung}]"
    if r.cause:
        state += f": {r.cause}"
    if r.restarts:
        state += f" [{r.restarts} restarts]"
    if r.last_event:
        state += f" [{r.last_event}]"
    return state


def state_text(r: RunStatus) -> str:
    if r.extra.get("job"):
        return job_text(r) + sync_text(r)
    state = r.state
    if r.quiet:  # silent past stuck_after, but working (its watchdog saw CPU, GPU or writes)
        state = f"quiet {ago(r.log_age_s)}" if r.log_age_s is not None else "quiet"
    if r.headless:
        state += " (headless)"
    if state in (State.EXITED, State.STOPPED) and r.exit_code is not None:
        state += f" ({r.exit_code})"
    if r.stop_rung:
        state += f" [{r.stop_rung}]"
    if r.state == State.FAILED:
        state += " (restart budget spent)"
    if r.cause and not r.alive and r.exit_code and r.cause != f"exit {r.exit_code}":
        state += f": {r.cause}"  # why it ended (CUDA out of memory, ...), more than its exit code
    if r.disk_low_free_kb is not None and r.alive:  # its watchdog's disk_low (disk_min_free)
        kb = r.disk_low_free_kb
        state += f" DISK LOW ({kb / 1048576:.1f} GiB free)" if kb >= 1048576 else f" DISK LOW ({kb / 1024:.1f} MiB free)"
    if r.last_event == Event.WATCHDOG_DEAD:
        state += f" [WATCHDOG DEAD: tmuxkit watch {r.run} starts a new one]"
    elif r.last_event:
        state += f" [{r.last_event}, {r.restarts} restarts]"
    if r.writer == Writer.REPIPED:
        state += " log writer re-attached"
    elif r.writer == Writer.DEAD:
        state += " LOG WRITER DEAD (not re-attached: see the host's disk)"
    return state + sync_text(r)


def sync_text(r: RunStatus) -> str:
    """The run's sync health, for its state column ("" when no sync has run)."""
    state = ""
    if r.sync is not None:
        last = r.sync.get("last_success")
        state += f" sync:{ago(int(time.time() - last)) + ' ago' if isinstance(last, (int, float)) else 'never'}"
        if r.sync.get("last_error"):
            state += " (failing)"
        restart = r.sync.get("restart") or f"tmuxkit sync {r.run} --detach"
        if r.sync.get("loop") == "dead":
            state += f" SYNC LOOP DEAD (restart: {restart})"
        elif r.sync.get("loop") == "wedged":  # alive: --detach keeps a live loop, so it goes first
            state += f" SYNC LOOP WEDGED (restart: kill {r.sync.get('pid')}; {restart})"
    return state


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float]) -> str:
    if len(values) < 2:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return "".join(SPARK[min(len(SPARK) - 1, int((v - lo) / span * len(SPARK)))] for v in values)


def _metric(v: object) -> str:
    """4 significant digits, or the writer's nan/inf as the trainer printed them."""
    return f"{v:.4g}" if isinstance(v, (int, float)) else str(v)


def progress_text(r: RunStatus, spark: bool) -> str:
    """76% 151/200 ETA 10s, epoch 1/2, loss 0.118 (and a loss sparkline on a terminal). A bar that
    counts one epoch's steps (Lightning's `Epoch 3: 86%`, Keras's) says so: epoch 3/5 · 86% of
    epoch 86/100. HF's fractional epoch shows as epoch 0.45."""
    p = r.progress or {}
    parts = []
    ep = ""
    epoch, epochs = p.get("epoch"), p.get("epochs")
    if isinstance(epoch, (int, float)):
        ep = f"epoch {epoch:g}" if isinstance(epoch, float) and not epoch.is_integer() else f"epoch {int(epoch)}"
        if isinstance(epochs, (int, float)):
            ep += f"/{int(epochs)}"
    if "percent" in p:
        eta = f" ETA {ago(int(p['eta_s']))}" if isinstance(p.get("eta_s"), (int, float)) and r.alive else ""
        bar = f"{int(p['step'])}/{int(p['total'])}{eta}"
        if p.get("per_epoch"):
            parts.append(f"{ep + ' · ' if ep else ''}{p['percent']:.0f}% of epoch {bar}")
            ep = ""
        else:
            parts.append(f"{p['percent']:.0f}% {bar}")
    elif isinstance(p.get("step"), (int, float)):
        parts.append(f"step {int(p['step'])}")
    if ep:
        parts.append(ep)
    if "loss" in p:
        parts.append(f"loss {_metric(p['loss'])}" + (f" {sparkline(r.losses)}" if spark and r.losses else ""))
    return ", ".join(parts)


def run(a: Args) -> int:
    from tmuxkit import runs, sync
    from tmuxkit.hosts import Host, connect

    conf = load_config(a.config, a.runs)
    asks: list[tuple[Host, Sequence[str]]]
    if a.host:
        asks = [(connect(conf.host(a.host)), a.runs)]
    elif a.runs:
        by_host: dict[str, list[str]] = {}
        for n in a.runs:
            by_host.setdefault(runs.host_name_for_run(conf, n), []).append(n)
        asks = [(connect(conf.host(h)), ns) for h, ns in by_host.items()]
    else:
        specs, same = runs.same_box(conf.all_hosts())
        asks = [(connect(spec), []) for spec in specs]
        if same and not a.json:
            for name, kept in same.items():
                err(f"note: host {name} is the same box as {kept}: its runs are shown once, under {kept}")
    window = None if a.all else (a.ended_within if a.ended_within is not None else conf.show_ended)
    import sys

    # On a terminal, with several hosts, each host's rows are printed as they arrive: a slow host
    # does not hold back the others (hosts that share runs, two Slurm hosts on one cluster, may list
    # one run, so then they are printed at the end).
    shared = [h.name for h, _ in asks if h.shares_runs]
    stream = not a.json and len(asks) > 1 and sys.stdout.isatty() and not shared
    shown: list[str] = []

    def show(s: runs.HostStatus) -> None:
        sync.add_health(conf, [s])
        if _print_rows(f"{s.host}", [s]):
            shown.append(s.host)

    results = runs.status_all(asks, a.timeout, window, on_each=show if stream else None)
    if not a.runs:
        runs.dedupe_shared(conf, results, shared)
    if not stream:
        sync.add_health(conf, results)
    # A partial answer: the runs found are shown, each host that did not answer is named (exit 7,
    # or 6 when none did), and each name that has no run is said (exit 4).
    unknown = [(s.host, n) for s in results for n in s.unknown]
    rc = exit_code(results) or (int(ExitCode.NOT_FOUND) if unknown else 0)
    if a.json:
        out = [r.to_json() for s in results for r in s.runs]
        out += [{"host": s.host, "state": "unreachable", "error": s.error} for s in results if s.error]
        print(json.dumps(out, indent=2))
        _name_unreachable(results)
        _say_unknown(unknown, a.config)
        return rc
    if not (shown if stream else _print_rows("tmuxkit runs", results)) and not unknown:
        say("no runs")
    _name_unreachable(results)
    _say_unknown(unknown, a.config)
    return rc


def _print_rows(title: str, results: Sequence[HostStatus]) -> bool:
    """One table of the hosts' rows; False when there was no row to print."""
    import sys

    rows = []
    spark = sys.stdout.isatty()
    for s in results:
        if s.error:
            rows.append(["-", s.host, s.error if s.answered else f"unreachable ({s.error})", "", "", "", "", "", ""])
        for r in s.runs:
            pid = f"job {r.extra['job']}" if r.extra.get("job") else str(r.pid or "-")
            from tmuxkit.gpus import gpu_text, queue_text

            prog = ", ".join(t for t in (progress_text(r, spark), gpu_text(r)) if t)
            rows.append([r.run, s.host, state_text(r), pid, ago(r.uptime_s), ago(r.log_age_s),
                         r.lock_state, prog, (queue_text(r) or r.last_line)[:100]])
    if rows:
        table(title, ["RUN", "HOST", "STATE", "PID", "UPTIME", "LOG AGE", "LOCK", "PROGRESS", "LAST LINE"], rows)
    return bool(rows)


def _say_unknown(unknown: Sequence[tuple[str, str]], config: str | None = None) -> None:
    from tmuxkit.cli._common import suggest_run

    for host, name in unknown:
        err(f"no run named '{name}' on {host}{suggest_run(name, config)}")


def exit_code(results: Sequence[HostStatus]) -> int:
    """0 when every host answered; PARTIAL (7) when some did and some did not (every answer is
    still printed); UNREACHABLE (6) when none did."""
    failed = sum(1 for s in results if s.error)
    if not failed:
        return int(ExitCode.OK)
    return int(ExitCode.UNREACHABLE if failed == len(results) else ExitCode.PARTIAL)


def _name_unreachable(results: Sequence[HostStatus]) -> None:
    for s in results:
        if s.error:
            if s.answered:  # the host answered but cannot tell (its Slurm controller is down)
                err(f"host {s.host}: its runs are not shown: {s.error}")
            else:
                err(f"host {s.host} is unreachable; its runs are not shown: {s.error}")
