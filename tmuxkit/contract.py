"""The contract between the Python layer and the host scripts, written once.

Everything both sides must agree on lives here: exit codes, run states, stop
rungs, log writer states, event names, the run-name rule, the on-disk layout,
the defaults, and the options of ``tmuxkit-start``. The bash side,
``shell/lib/contract.bash``, is generated from this module
(``python -m tmuxkit.contract > shell/lib/contract.bash``, run by
``shell/build``); a test fails when the committed file is stale.
"""

from __future__ import annotations

import re
import sys
from enum import Enum, IntEnum


class ExitCode(IntEnum):
    """The one exit-code table, for the CLI and every host script."""

    OK = 0
    FAIL = 1
    USAGE = 2  # bad arguments, bad config, bad run name
    LOCKED = 3  # the results lock is held by a live run, or the run already runs
    NOT_FOUND = 4  # no such run
    BAD_LOCK = 5  # a symlink or garbage at the lock path
    UNREACHABLE = 6  # the host did not answer
    NO_TOOL = 127  # tmux (or another needed tool) is missing


class _Word(str, Enum):
    """A string enum whose str() is its value, so it prints and compares as the word."""

    def __str__(self) -> str:
        return str(self.value)


class State(_Word):
    """A run's state, as the status script reports it."""

    RUNNING = "running"
    STUCK = "stuck"
    EXITED = "exited"
    STOPPED = "stopped"
    DEAD = "dead"
    FAILED = "failed"


ALIVE_STATES = frozenset({State.RUNNING, State.STUCK})
ENDED_STATES = frozenset({State.EXITED, State.STOPPED, State.DEAD, State.FAILED})


class Rung(_Word):
    """The stop ladder's rungs, in order."""

    SIGINT = "sigint"
    SIGTERM = "sigterm"
    SIGKILL = "sigkill"


class Writer(_Word):
    """The pane log writer, as status reports it."""

    ALIVE = "alive"
    DEAD = "dead"
    NONE = "none"  # no pane (the run is not alive)
    REPIPED = "repiped"  # it was dead; status re-attached it


class LockState(_Word):
    """What is at a results lock path."""

    FREE = "free"
    ALIVE = "alive"
    STALE = "stale"
    SYMLINK = "symlink"
    NOTFILE = "notfile"
    GARBAGE = "garbage"


class Event(_Word):
    """Watchdog and sync events, one JSON object a line in events.jsonl."""

    STARTED = "started"
    STUCK = "stuck"
    EVIDENCE_SAVED = "evidence_saved"
    STOP_RUNG = "stop_rung"
    RESUMED = "resumed"
    RESUME_FAILED = "resume_failed"
    FINISHED = "finished"
    CRASHED = "crashed"
    STOPPED = "stopped"
    BUDGET_SPENT = "budget_spent"
    GPU_CHECKS_OFF = "gpu_checks_off"
    SYNCED = "synced"


# Events worth a notification.
NOTIFY_EVENTS = frozenset({Event.STUCK, Event.RESUMED, Event.FINISHED, Event.CRASHED, Event.BUDGET_SPENT})

# --- run names ------------------------------------------------------------------------
RUN_NAME_MAX = 64
RUN_NAME_CHARS = "A-Za-z0-9_-"
RUN_NAME_RE = re.compile(rf"[A-Za-z0-9_][{RUN_NAME_CHARS}]{{0,{RUN_NAME_MAX - 1}}}\Z")
RUN_NAME_RULE = f"use 1-{RUN_NAME_MAX} of A-Z a-z 0-9 _ - (not starting with -)"


def valid_run_name(name: object) -> bool:
    return isinstance(name, str) and RUN_NAME_RE.match(name) is not None


def run_name_error(name: object) -> str:
    """The one message for a bad run name, the same on both sides."""
    return f"invalid run name '{name}': {RUN_NAME_RULE}"


# --- layout ---------------------------------------------------------------------------
LOCK_NAME = ".tmuxkit.lock"  # in the results dir
FOREIGN_LOCK_NAME = "training.lock"  # the hand-made lock of the SOP: a file holding a PID
LOG_DIR = "tmuxkit"  # RESULTS/tmuxkit/RUN.log, rotated as RUN.log.1 ...
LOG_SUFFIX = ".log"
PARTIAL_DIR = ".tmuxkit-partial"  # rsync --partial-dir
EVENTS_FILE = "events.jsonl"  # in $TMUXKIT_HOME/runs/RUN/
RUNS_DIR = "runs"  # $TMUXKIT_HOME/runs/RUN/
HOME_DEFAULT = "~/.tmuxkit"


def log_path(results: str, run: str) -> str:
    return f"{results.rstrip('/')}/{LOG_DIR}/{run}{LOG_SUFFIX}"


# --- defaults -------------------------------------------------------------------------
class Defaults:
    """Defaults both sides use when nothing is configured."""

    STUCK_AFTER = 300  # seconds of no output -> stuck
    LOG_MAX_BYTES = 50_000_000
    LOG_KEEP = 5
    GRACE = 60  # seconds after Ctrl-C before SIGTERM
    TERM_WAIT = 10  # seconds after SIGTERM before SIGKILL
    WATCH_EVERY = 30  # watchdog interval
    MAX_RESTARTS = 3  # the restart budget ...
    RESTART_WINDOW = 3600  # ... within this many seconds
    BACKOFF = 10  # first wait before a restart, doubling
    SETTLE = 5  # a checkpoint unchanged this long is settled
    GPU_IDLE_FOR = 300
    SYNC_EVERY = 60


# --- tmuxkit-start's options ----------------------------------------------------------
class StartOpt(_Word):
    """Options of tmuxkit-start. runs.StartArgs builds its argv from these; the
    watchdog restarts a run by replaying the argv the start stored on the host."""

    CMD = "--cmd"
    CWD = "--cwd"
    RESULTS = "--results"
    ENV = "--env"
    LOG_MAX_BYTES = "--log-max-bytes"
    LOG_KEEP = "--log-keep"
    STUCK_AFTER = "--stuck-after"


# --- the bash side ----------------------------------------------------------------------
def _bash_name(prefix: str, member: Enum) -> str:
    return f"{prefix}_{member.name}"


def render_bash() -> str:
    """shell/lib/contract.bash: the same facts as plain bash 3.2 variables."""
    out = [
        "# shellcheck shell=bash",
        "# Generated from tmuxkit/contract.py by `python -m tmuxkit.contract`; do not edit.",
        "# The facts the host scripts share with the Python layer. Sourcing it only sets variables.",
        "# shellcheck disable=SC2034",
    ]

    def block(title: str, lines: list[str]) -> None:
        out.append("")
        out.append(f"# {title}")
        out.extend(lines)

    block("exit codes", [f"EX_{c.name}={int(c)}" for c in ExitCode])
    block("run states", [f"{_bash_name('ST', s)}={s.value}" for s in State])
    block("stop rungs", [f"{_bash_name('RUNG', r)}={r.value}" for r in Rung])
    block("log writer states", [f"{_bash_name('WR', w)}={w.value}" for w in Writer])
    block("lock states", [f"{_bash_name('LS', s)}={s.value}" for s in LockState])
    block("events", [f"{_bash_name('EV', e)}={e.value}" for e in Event])
    block(
        "run names",
        [
            f"TK_RUN_NAME_MAX={RUN_NAME_MAX}",
            f"TK_RUN_NAME_CHARS='{RUN_NAME_CHARS}'",
            f"TK_RUN_NAME_RULE='{RUN_NAME_RULE}'",
        ],
    )
    block(
        "layout",
        [
            f"TK_LOCK_NAME={LOCK_NAME}",
            f"TK_FOREIGN_LOCK_NAME={FOREIGN_LOCK_NAME}",
            f"TK_LOG_DIR={LOG_DIR}",
            f"TK_LOG_SUFFIX={LOG_SUFFIX}",
            f"TK_PARTIAL_DIR={PARTIAL_DIR}",
            f"TK_EVENTS_FILE={EVENTS_FILE}",
            f"TK_RUNS_DIR={RUNS_DIR}",
        ],
    )
    block(
        "defaults",
        [f"TK_DEF_{k}={v}" for k, v in vars(Defaults).items() if k.isupper()],
    )
    block("tmuxkit-start options", [f"{_bash_name('OPT', o)}={o.value}" for o in StartOpt])
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # pragma: no cover - exercised by shell/build and its test
    sys.stdout.write(render_bash())
