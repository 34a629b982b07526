"""GPUs and the host queue as the laptop shows them (status rows, the `gpus` verb)."""

from __future__ import annotations

from typing import Any

from tmuxkit.contract import RunStatus, State


def gib(mib: object) -> str:
    return f"{mib / 1024:.1f} GiB" if isinstance(mib, int) and not isinstance(mib, bool) else "?"


def gpu_text(r: RunStatus) -> str:
    """'GPU 0 97% 1.2 GiB' for each GPU of a live run; '?' and why when nvidia-smi could not tell."""
    gpus = r.extra.get("gpus")
    if not isinstance(gpus, list) or not gpus:
        return ""
    parts = []
    for g in gpus:
        if not isinstance(g, dict):
            continue
        util = g.get("util_pct")
        parts.append(f"GPU {g.get('index') if g.get('index') is not None else '?'} "
                     f"{f'{util}%' if isinstance(util, int) else '?'} {gib(g.get('run_mem_mib'))}")
    why = r.extra.get("gpus_error")
    return ", ".join(parts) + (f" ({why})" if isinstance(why, str) and why else "")


def queue_text(r: RunStatus) -> str:
    """What a queued (or blocked) run waits for, for the LAST LINE column."""
    if r.state not in (State.QUEUED, State.BLOCKED):
        return ""
    w = r.extra.get("waiting_for")
    pos = r.extra.get("queue_position")
    head = f"#{pos} in the host's queue: " if isinstance(pos, int) else ""
    return head + (w if isinstance(w, str) else "")


def holder_text(g: dict[str, Any]) -> str:
    return str(g.get("holder") or ("free" if g.get("state") == "free" else "?"))
