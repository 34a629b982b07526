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
