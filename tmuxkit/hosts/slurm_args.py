"""A run's cluster resources (tmuxkit.resources) -> sbatch options (issue 28, item 4).

The Slurm host passes sbatch_args(host, run) to sbatch after tmuxkit's own options; tmuxkit
export writes the same options as #SBATCH lines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tmuxkit.resources import time_seconds

if TYPE_CHECKING:
    from tmuxkit.config import Config, HostSpec, RunSpec
    from tmuxkit.hosts.base import Host

_FLAG = {
    "partition": "--partition",
    "time": "--time",
    "mem": "--mem",
    "cpus": "--cpus-per-task",
    "account": "--account",
    "qos": "--qos",
    "constraint": "--constraint",
    "nodes": "--nodes",
    "ntasks_per_node": "--ntasks-per-node",
}


def resources(host: HostSpec | None, run: RunSpec) -> dict[str, Any]:
    """The run's resources over its host's defaults (sbatch_args: the host's, then the run's)."""
    base: Mapping[str, Any] = dict(getattr(host, "resources", {}) or {}) if host is not None else {}
    own: Mapping[str, Any] = getattr(run, "resources", {}) or {}
    out = {**base, **own}
    host_args = tuple(getattr(host, "sbatch_args", ()) or ()) if host is not None else ()
    out["sbatch_args"] = (*host_args, *base.get("sbatch_args", ()), *own.get("sbatch_args", ()))
    if run.gpus:
        out["gpus"] = run.gpus
    return out


def run_resources(host: HostSpec, run: RunSpec) -> dict[str, Any]:
    """The run's resources, over its host's defaults where the host is a Slurm host (a tmux
    host's entry has none to give)."""
    return resources(host if host.is_slurm else None, run)


def options(res: Mapping[str, Any]) -> list[str]:
    """Resources -> sbatch options, in a fixed order; sbatch_args last (sbatch: the last wins)."""
    out = [f"{flag}={res[k]}" for k, flag in _FLAG.items() if res.get(k) is not None]
    if res.get("gpus"):
        out.append(f"--gres=gpu:{res['gpus']}")
    return [*out, *res.get("sbatch_args", ())]


def sbatch_args(host: HostSpec, run: RunSpec) -> list[str]:
    """What the Slurm host passes to sbatch for RUN (after tmuxkit's own options)."""
    return options(resources(host, run))


def ranks(res: Mapping[str, Any]) -> bool:
    """More than one task: the command is launched through srun, once per rank."""
    n = str(res.get("nodes") or "1").split("-")[-1]
    return int(n) > 1 or int(res.get("ntasks_per_node") or 1) > 1


def signal_lead(res: Mapping[str, Any], lead: int) -> int:
    """The warning signal's lead: LEAD seconds, never more than a third of the time limit."""
    t = res.get("time")
    if t is None:
        return lead
    return max(1, min(lead, time_seconds(t) // 3))


def _sbatch_time(args: Sequence[str]) -> str | None:
    """The last --time/-t among sbatch options (sbatch: the last wins), or None."""
    out = None
    for i, a in enumerate(args):
        if a.startswith("--time="):
            out = a.split("=", 1)[1]
        elif a.startswith("-t") and len(a) > 2:
            out = a[2:]
        elif a in ("-t", "--time") and i + 1 < len(args):
            out = args[i + 1]
    return out


def time_limit_lead(res: Mapping[str, Any], default: int) -> int:
    """The run's time_limit_lead (else DEFAULT), never more than a third of its time limit: its
    `time`, else a --time/-t among its sbatch_args (Slurm's formats; a bare number is minutes)."""
    lead = int(res.get("time_limit_lead") or default)
    if res.get("time") is None:
        t = _sbatch_time(tuple(res.get("sbatch_args", ())))
        if t is not None:
            res = {**res, "time": f"{t.strip()}m" if t.strip().isdigit() else t}
    try:
        return signal_lead(res, lead)
    except ValueError:  # a limit tmuxkit does not read (UNLIMITED, INFINITE): nothing to cap by
        return lead


def test_only_rows(host: Host, conf: Config) -> list[dict[str, str]]:
    """doctor's rows for a Slurm host: sbatch --test-only (tmuxkit-sbatch-check on the host) of
    the host's defaults and of each of its runs' resources. Nothing is submitted."""
    from tmuxkit.config import RunSpec

    spec = conf.host(host.name)
    asks = [(f"host {spec.name}", sbatch_args(spec, RunSpec(name="doctor")))]
    asks += [(f"run {r.name}", sbatch_args(spec, r)) for r in conf.runs.values() if r.host == spec.name]
    rows = []
    for label, args in asks:
        res = host.script("tmuxkit-sbatch-check", "--label", label, "--", *args, timeout=60)
        got = [r for r in res.kv_lines() if "check" in r]
        rows += got or [{"check": "sbatch --test-only", "ok": "0",
                         "value": f"{label}: {res.error_line() or f'exit {res.rc}'}", "fix": f"tmuxkit install {host.name}"}]
    return rows
