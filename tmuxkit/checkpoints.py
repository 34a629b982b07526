"""Checkpoints: a run's checkpoint units (files or directories) as its host lists them.

The host script shell/tmuxkit-checkpoints is the one judge of what a checkpoint is and whether it
is complete (layout rules, settling, the run's checkpoint_check, rejected ones); the watchdog and
the sync use the same script, so they never disagree with this listing.
"""

from __future__ import annotations

import json
from typing import Any

from tmuxkit.config import RunSpec
from tmuxkit.errors import TmuxkitError
from tmuxkit.hosts import Host


def listing(host: Host, spec: RunSpec, *, complete_only: bool = False) -> list[dict[str, Any]]:
    """The run's checkpoints, newest first: path, step (or None), mtime, size, kind, complete, reason."""
    args = [spec.name, "--json"] + ([] if complete_only else ["--all"])
    if spec.checkpoints:
        args += ["--glob", spec.checkpoints]
    if spec.checkpoint_check:
        args += ["--check", spec.checkpoint_check]
    out = host.script_ok("tmuxkit-checkpoints", *args, timeout=900).out
    try:
        rows = json.loads(out.strip().splitlines()[-1]) if out.strip() else []
    except ValueError:
        raise TmuxkitError(f"{host.name}: tmuxkit-checkpoints gave no JSON list") from None
    if not isinstance(rows, list):
        raise TmuxkitError(f"{host.name}: tmuxkit-checkpoints gave no JSON list")
    return [r for r in rows if isinstance(r, dict)]


def newest_in_results(host: Host, spec: RunSpec, cwd: str | None, *, timeout: float = 60) -> dict[str, Any] | None:
    """The newest complete checkpoint in the results folder a start is about to use (the run need
    not exist on the host yet), by the same rules as the listing, or None. Nothing writes there
    before the start (its lock keeps a live run's folder), so nothing needs to settle."""
    args = ["--results", spec.results or f"results/{spec.name}", "--settle", "0", "--newest", "1", "--json", spec.name]
    if cwd:
        args += ["--cwd", cwd]
    if spec.checkpoints:
        args += ["--glob", spec.checkpoints]
    if spec.checkpoint_check:
        args += ["--check", spec.checkpoint_check]
    out = host.script_ok("tmuxkit-checkpoints", *args, timeout=timeout).out.strip()
    try:
        rows = json.loads(out.splitlines()[-1]) if out else []
    except ValueError:
        raise TmuxkitError(f"{host.name}: tmuxkit-checkpoints gave no JSON list") from None
    good = [r for r in rows if isinstance(r, dict) and r.get("complete")] if isinstance(rows, list) else []
    return good[0] if good else None


def resume_command(spec: RunSpec, path: str) -> str:
    """The run's command with its resume template appended, {checkpoint} replaced literally by the
    quoted path: what the watchdog runs on a resume (tk_ckpt_subst)."""
    import shlex

    assert spec.resume
    return f"{spec.command_line()} {spec.resume.replace('{checkpoint}', shlex.quote(path))}"


def describe(unit: dict[str, Any]) -> str:
    """"PATH (step S)", the step said as where it came from."""
    step = unit.get("step")
    if step is None:
        return str(unit["path"])
    return f"{unit['path']} ({'save #' if unit.get('step_from') == 'index' else 'step '}{step})"
