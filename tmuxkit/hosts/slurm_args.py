"""A run's cluster resources (tmuxkit.resources) -> sbatch options (issue 28, item 4).

The Slurm host passes sbatch_args(host, run) to sbatch after tmuxkit's own options; tmuxkit
export writes the same options as #SBATCH lines.
"""

from __future__ import annotations

from collections.abc import Mapping
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
