"""A run's cluster resources: the config keys and their checks (issue 28, item 4).

Resources are keys of a run, with defaults from its Slurm host: gpus (the run key every host
knows: --gres=gpu:N), partition, time, mem, cpus, account, qos, constraint, nodes,
ntasks_per_node, and sbatch_args for the rest. The options tmuxkit itself sets (OWNED) are
refused in config, one line naming the key. tmuxkit.hosts.slurm_args turns them into sbatch
options; tmuxkit export reads the same resources. (Outside tmuxkit.hosts, so that tmuxkit.config
imports it without importing the hosts.)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

# The sbatch options tmuxkit sets itself: another value breaks the log, the job's name, the
# results lock (one task per run), requeue and resume, or the wrapper's Ctrl-C before the limit.
OWNED = ("--output", "--error", "--job-name", "--array", "--no-requeue", "--signal", "--open-mode")
_SHORT = {"-o": "--output", "-e": "--error", "-J": "--job-name", "-a": "--array"}

_WORD = re.compile(r"[A-Za-z0-9_.:@+,=/-]+\Z")  # a partition, an account, a qos: one plain word
_CONSTRAINT = re.compile(r"[A-Za-z0-9_.:*&|\[\]()!,-]+\Z")  # Slurm's feature expressions
_MEM = re.compile(r"(\d+)([KMGT]B?)?\Z", re.IGNORECASE)
_NODES = re.compile(r"[1-9]\d{0,5}(-[1-9]\d{0,5})?\Z")
# Slurm's time formats: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
_SLURM_TIME = re.compile(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?\Z")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(m|min|h|d)\Z")


def owned_option(arg: str) -> str | None:
    """The tmuxkit-owned option ARG sets ("--output" for "-o", "--output=x" or "--out=x"), or None.
    sbatch takes any unique prefix of a long option, so a prefix counts too."""
    if arg[:2] in _SHORT and not arg.startswith("--"):
        return _SHORT[arg[:2]]
    name = arg.split("=", 1)[0]
    if not name.startswith("--") or len(name) < 4:
        return None
    for opt in OWNED:
        if opt.startswith(name) or name == opt:
            # a prefix that also starts another sbatch option is not unique; "--o" is too short to tell
            return opt
    return None


def check_sbatch_args(args: Sequence[str]) -> None:
    """ValueError naming the first option tmuxkit owns."""
    for a in args:
        opt = owned_option(a)
        if opt:
            why = {
                "--output": "the log is RESULTS/tmuxkit/RUN.log",
                "--error": "the log is RESULTS/tmuxkit/RUN.log",
                "--open-mode": "the log is appended to across requeues",
                "--job-name": "the job is named after the run",
                "--array": "one task per run and results lock",
                "--no-requeue": "time limits and preemption requeue and resume the run",
                "--signal": "the wrapper's Ctrl-C comes before the time limit",
            }[opt]
            raise ValueError(f"{a!r}: tmuxkit sets {opt} itself ({why}); leave it out")


def _word(v: object) -> str:
    if not isinstance(v, str) or not _WORD.match(v):
        raise ValueError(f"expected one word (letters, digits, _ . : - ,), got {v!r}")
    return v


def _constraint(v: object) -> str:
    if not isinstance(v, str) or not _CONSTRAINT.match(v):
        raise ValueError(f'expected a Slurm feature expression such as "a100|h100", got {v!r}')
    return v


def _mem(v: object) -> str:
    """16G, 500M, 64GB -> Slurm's --mem (a bare number is megabytes, as Slurm reads it)."""
    if isinstance(v, int) and not isinstance(v, bool) and v > 0:
        return str(v)
    if isinstance(v, str):
        m = _MEM.match(v.strip())
        if m and int(m.group(1)) > 0:
            return m.group(1) + (m.group(2) or "")[:1].upper()
    raise ValueError(f'expected a memory size such as "16G" or "500M", got {v!r}')


def _count(v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 100_000:
        raise ValueError(f"expected a whole number from 1 to 100000, got {v!r}")
    return v


def _nodes(v: object) -> str:
    if isinstance(v, int) and not isinstance(v, bool):
        return str(_count(v))
    if isinstance(v, str) and _NODES.match(v):
        return v
    raise ValueError(f'expected a number of nodes (2) or a range ("2-4"), got {v!r}')


def time_seconds(v: object) -> int:
    """A time limit in Slurm's formats ("30", "1:30:00", "2-00:00:00") or tmuxkit's durations
    ("90m", "24h", "2d") -> seconds. A bare number would be minutes to Slurm and seconds to
    tmuxkit: refused, with both spellings offered."""
    if isinstance(v, str):
        s = v.strip()
        m = _DURATION.match(s)
        if m:
            secs = round(float(m.group(1)) * {"m": 60, "min": 60, "h": 3600, "d": 86400}[m.group(2)])
            if secs >= 60:
                return secs
        m = _SLURM_TIME.match(s)
        if m and (":" in s or "-" in s):
            d, a, b, c = (int(x) if x else None for x in m.groups())
            if d is not None:  # D-HH[:MM[:SS]]
                secs = d * 86400 + (a or 0) * 3600 + (b or 0) * 60 + (c or 0)
            elif c is not None:  # HH:MM:SS
                secs = (a or 0) * 3600 + (b or 0) * 60 + c
            else:  # MM:SS
                secs = (a or 0) * 60 + (b or 0)
            if secs >= 60:
                return secs
    raise ValueError(f'expected a time limit such as "90m", "24h", "2d" or Slurm\'s "1:30:00", got {v!r}')


def _time(v: object) -> str:
    return slurm_time(time_seconds(v))


def slurm_time(secs: int) -> str:
    """Seconds -> D-HH:MM:SS, rounded up to the minute (Slurm's granularity)."""
    mins = -(-secs // 60)
    d, rest = divmod(mins, 1440)
    return f"{d}-{rest // 60:02d}:{rest % 60:02d}:00"


def _sbatch_args(v: object) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ValueError('expected a list of sbatch options, like ["--exclusive", "--mail-type=END"]')
    for x in v:
        if not x.startswith("-") or x in ("-", "--") or any(c in x for c in "\n\r\0"):
            raise ValueError(f"expected sbatch options starting with '-' (one option a string), got {x!r}")
    check_sbatch_args(v)
    return tuple(v)


def _lead(v: object) -> int:
    """time_limit_lead: a duration like tmuxkit's others (300, "5m"), at least 1 second."""
    from tmuxkit.config import parse_duration

    return parse_duration(v)


# Resource keys: a run's (these and "gpus"), and its Slurm host's defaults (these).
RESOURCE_KEYS: dict[str, Callable[[object], Any]] = {
    "partition": _word,
    "time": _time,
    "mem": _mem,
    "cpus": _count,
    "account": _word,
    "qos": _word,
    "constraint": _constraint,
    "nodes": _nodes,
    "ntasks_per_node": _count,
    "sbatch_args": _sbatch_args,
    "time_limit_lead": _lead,  # the warning signal's lead before the time limit (no sbatch option of its own)
}



def split_resources(clean: dict[str, Any], keep: Sequence[str] = ()) -> dict[str, Any]:
    """Take the resource keys (but KEEP) out of a checked config table (host or run); return them."""
    return {k: clean.pop(k) for k in list(clean) if k in RESOURCE_KEYS and k not in keep}
