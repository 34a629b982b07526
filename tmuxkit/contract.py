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
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any


class ExitCode(IntEnum):
    """The one exit-code table, for the CLI and every host script."""

    OK = 0
    FAIL = 1
    USAGE = 2  # bad arguments, bad config, bad run name, a results folder that cannot be written
    LOCKED = 3  # the results lock is held by a live run, or the run already runs
    NOT_FOUND = 4  # no such run
    BAD_LOCK = 5  # a symlink or garbage at the lock path; a link or someone else's file at the log's
    UNREACHABLE = 6  # the host did not answer
    PARTIAL = 7  # some hosts answered and some did not (status): every answer shown, the silent hosts named
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
    PENDING = "pending"  # a Slurm job waiting in the queue (or requeued)
    QUEUED = "queued"  # waiting in the host's own queue (for GPUs, or for its --after run)
    BLOCKED = "blocked"  # queued, but never to start: the run it waited for failed or was stopped
    TIMEOUT = "timeout"  # a batch job ended by its time limit, with no requeue left (Slurm)


ALIVE_STATES = frozenset({State.RUNNING, State.STUCK})
ENDED_STATES = frozenset({State.EXITED, State.STOPPED, State.DEAD, State.FAILED, State.TIMEOUT})


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
    WRITER_REPIPED = "writer_repiped"
    WATCHDOG_ENDED = "watchdog_ended"  # replaced by a newer one, `watch --off`, or `stop`
    WATCHDOG_DEAD = "watchdog_dead"  # status only: a live run's registered watchdog is gone (killed with -9)
    RESTARTED = "restarted"  # started again from scratch: no resume template or no usable checkpoint
    CHECKPOINT_REJECTED = "checkpoint_rejected"  # a resume from it died before making progress
    CHECKPOINT_SKIPPED = "checkpoint_skipped"  # a name tmuxkit cannot pass on safely (a newline)
    QUIET = "quiet"  # silent past stuck_after, but working (CPU, GPU or writes): not stuck until quiet_max
    HOME_FULL = "home_full"  # $TMUXKIT_HOME had no room: the watchdog waited (said once space was back)
    REQUEUED = "requeued"  # a Slurm job requeued: by its watchdog (stuck) or by Slurm (preemption, node failure)
    QUEUE_REFUSED = "queue_refused"  # a queued run's start was refused at its turn (its results lock, its cwd)
    BLOCKED = "blocked"  # a queued run will never start: its --after run failed or was stopped
    NAN_LOSS = "nan_loss"  # a watched metric (the loss first) became NaN or inf: once per start (on_nan)
    DISK_LOW = "disk_low"  # the results filesystem has less than disk_min_free free: once per crossing
    DISK_OK = "disk_ok"  # ... and has room again (the alert is re-armed)
    WATCHDOG_GAVE_UP = "watchdog_gave_up"  # the watchdog ended on an error of its own while the run had not ended for good
    ON_DONE = "on_done"  # the run's on_done command ran on the host (its exit code and output's tail)
    ON_DONE_SKIPPED = "on_done_skipped"  # on_done was not run for this start (the user stopped it)
    CONTROLLER_DOWN = "controller_down"  # the Slurm watchdog: the controller does not answer; it waits
    CONTROLLER_BACK = "controller_back"  # ... and answers again
    TIME_LIMIT = "time_limit"  # a batch job's time limit is near: its trainer got Ctrl-C to save (Slurm)


# Events worth a notification.
NOTIFY_EVENTS = frozenset({Event.STUCK, Event.RESUMED, Event.RESTARTED, Event.FINISHED, Event.CRASHED,
                           Event.BUDGET_SPENT, Event.REQUEUED, Event.QUEUE_REFUSED, Event.BLOCKED,
                           Event.NAN_LOSS, Event.DISK_LOW, Event.RESUME_FAILED, Event.WATCHDOG_GAVE_UP,
                           Event.ON_DONE, Event.TIME_LIMIT})

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
LIVE_SUFFIX = ".live"  # RESULTS/tmuxkit/RUN.live: the unfinished line (a redrawing bar), kept by the log writer
LAST_LINE_MAX = 300  # bytes of a line that status reads and prints
PARTIAL_DIR = ".tmuxkit-partial"  # rsync --partial-dir
EVENTS_FILE = "events.jsonl"  # in $TMUXKIT_HOME/runs/RUN/
RUNS_DIR = "runs"  # $TMUXKIT_HOME/runs/RUN/
# tmuxkit's helper sessions (the host's watchdog, the laptop's sync loop and event follower) are
# named RUN+KIND: "+" is not a run-name character, so no run can take a helper's name, and a
# helper never mistakes a run for itself. They also carry the tmux option @tmuxkit_helper=KIND:RUN.
HELPER_SEP = "+"


def helper_session(run: str, kind: str) -> str:
    return f"{run}{HELPER_SEP}{kind}"


HOME_DEFAULT = "~/.tmuxkit"


def log_path(results: str, run: str) -> str:
    return f"{results.rstrip('/')}/{LOG_DIR}/{run}{LOG_SUFFIX}"


# --- defaults -------------------------------------------------------------------------
class Defaults:
    """Defaults both sides use when nothing is configured."""

    STUCK_AFTER = 300  # seconds of no output -> stuck
    QUIET_MAX_FACTOR = 4  # quiet_max, unset: this many times stuck_after (silent but working -> stuck after it)
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
    ON_NAN = "notify"  # a NaN/inf metric: "notify", "stop" (the stop ladder) or "ignore"
    DISK_MIN_FREE = "5%"  # disk_low below this much free on the results filesystem ("0": off)
    ON_DONE_WAIT = 3600  # on_done runs this long after the end when no sync acknowledged its final pass
    EARLY_EXIT_WAIT = 2  # start watches this long for a command that dies at once (early_exit_wait)


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
    METRICS = "--metrics"  # the metric names the log writer reads (comma-separated)
    ENV_STDIN = "--env-stdin"  # the run's env as NAME=VALUE lines on stdin: secrets never on a command line
    AGAIN = "--again"  # start RUN again as it was last started (its stored cwd, results, env, sizes)
    EARLY_WAIT = "--early-wait"  # seconds start watches for a command that dies at once; 0: not at all
    GPUS = "--gpus"  # claim this many free GPUs (CUDA_VISIBLE_DEVICES); queued on the host until they are free
    AFTER = "--after"  # queued on the host until this other run exited 0
    MAX_RUNS = "--max-runs"  # the host's max_runs: queued while that many runs live there
    FROM_QUEUE = "--from-queue"  # the host queue's own dispatch of an entry (not for users)
    GPUS_IGNORE_FOREIGN = "--gpus-ignore-foreign"  # the host's gpus_ignore_foreign: only tmuxkit's claims make a GPU busy


# --- typed readers of the scripts' machine-readable output ----------------------------------
class ContractError(ValueError):
    """A host script's answer does not have the agreed shape."""


def kv_line(line: str) -> dict[str, str]:
    """One tab-separated key=value line, as the scripts print them."""
    return dict(f.split("=", 1) for f in line.split("\t") if "=" in f)


def last_kv_line(text: str, script: str) -> dict[str, str]:
    """The last key=value line a script printed (its answer), or a ContractError naming the script."""
    rows = [kv_line(ln) for ln in text.splitlines() if "=" in ln]
    if not rows:
        raise ContractError(f"{script} printed nothing to read")
    return rows[-1]


def _opt_int(v: object) -> int | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        raise ContractError(f"expected a number, got {v!r}")
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and re.fullmatch(r"-?\d+", v):
        return int(v)
    raise ContractError(f"expected a whole number, got {v!r}")


def _opt_str(v: object) -> str:
    return "" if v is None else str(v)


NONFINITE = ("nan", "inf", "-inf")  # how the log writer writes a metric that is not a finite number


def _progress(v: object) -> dict[str, Any] | None:
    """The host sends the log writer's progress line as a string; a damaged one is just absent.
    Adds percent (0-100) when step and total are known. A metric the trainer printed as NaN or
    infinite stays, as the string "nan", "inf" or "-inf" (the writer's spelling; JSON has no NaN)."""
    import json
    import math

    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError:
            return None
    if not isinstance(v, Mapping):
        return None
    out = {str(k): x for k, x in v.items()
           if (isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x))
           or (x in NONFINITE and k not in ("t", "step", "total", "epoch", "epochs", "eta_s", "rate"))}
    step, total = out.get("step"), out.get("total")
    if isinstance(step, (int, float)) and isinstance(total, (int, float)) and total > 0:
        out["percent"] = round(100.0 * step / total, 1)
    return out or None


def _losses(v: object) -> list[float]:
    import math

    out = []
    for x in str(v).split(",") if isinstance(v, (str, int, float)) and not isinstance(v, bool) else []:
        try:
            f = float(x)
        except ValueError:
            continue
        if math.isfinite(f):
            out.append(f)
    return out


@dataclass
class RunStatus:
    """One run as check_training_status.sh --runs-only --json reports it (plus the laptop's host name).
    Keys a newer host adds are kept in `extra`, so an older laptop still reads the rest."""

    run: str
    state: str
    host: str = ""
    session: str = ""
    pid: int | None = None
    runner_pid: int | None = None
    started_at: int | None = None
    ended_at: int | None = None
    uptime_s: int | None = None
    log_path: str = ""
    log_age_s: int | None = None
    last_line: str = ""
    exit_code: int | None = None
    stop_rung: str = ""
    lock_path: str = ""
    lock_state: str = ""
    results: str = ""
    cwd: str = ""
    writer: str = ""
    stuck_after: int | None = None
    socket: str = ""
    last_event: str = ""
    cause: str = ""  # why an ended run ended (shell/lib/cause.bash), for a non-zero end: "" when none
    restarts: int = 0
    headless: bool = False  # alive with no tmux session (tmux was killed; the run was not)
    disk_low_free_kb: int | None = None  # its watchdog found the results filesystem under disk_min_free (KiB free)
    quiet: bool = False  # silent past stuck_after, but its watchdog saw it working (see shell/lib/quiet.bash)
    sync: dict[str, Any] | None = None  # added on the laptop from the sync loop's STATUS.json
    # The log writer's latest reading of the output: step, total, eta_s, rate, epoch, epochs and the
    # metrics (loss, ...); and the last losses, oldest first (for a sparkline).
    progress: dict[str, Any] | None = None
    losses: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    _INTS = ("pid", "runner_pid", "started_at", "ended_at", "uptime_s", "log_age_s", "exit_code", "stuck_after",
             "disk_low_free_kb")
    _STRS = ("host", "session", "log_path", "last_line", "stop_rung", "lock_path", "lock_state", "results", "cwd",
             "writer", "socket", "last_event", "cause")

    @classmethod
    def parse(cls, data: Mapping[str, Any], host: str = "") -> RunStatus:
        if not isinstance(data, Mapping):
            raise ContractError(f"a run's status is not an object: {data!r:.80}")
        run, state = data.get("run"), data.get("state")
        if not isinstance(run, str) or not isinstance(state, str):
            raise ContractError(f"a run's status lacks run or state: {dict(data)!r:.120}")
        known = set(cls._INTS) | set(cls._STRS) | {"run", "state", "restarts", "sync", "headless", "progress",
                                                   "losses", "quiet"}
        kw: dict[str, Any] = {k: _opt_int(data.get(k)) for k in cls._INTS}
        kw.update({k: _opt_str(data.get(k)) for k in cls._STRS})
        if host:
            kw["host"] = host
        sync = data.get("sync")
        return cls(run=run, state=state, restarts=_opt_int(data.get("restarts")) or 0,
                   headless=data.get("headless") is True, quiet=data.get("quiet") is True,
                   sync=dict(sync) if isinstance(sync, Mapping) else None,
                   progress=_progress(data.get("progress")), losses=_losses(data.get("losses")),
                   extra={k: v for k, v in data.items() if k not in known}, **kw)

    @property
    def alive(self) -> bool:
        return self.state in ALIVE_STATES

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"run": self.run, "host": self.host, "state": self.state}
        for k in (*self._INTS, *self._STRS):
            out[k] = getattr(self, k)
        out["restarts"] = self.restarts
        out["headless"] = self.headless
        out["quiet"] = self.quiet
        if self.sync is not None:
            out["sync"] = self.sync
        out["progress"] = self.progress
        out["losses"] = self.losses
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class StatusReport:
    """A `check_training_status.sh --runs-only --json` answer: the runs' raw objects, and the names
    asked for that have no run on that host."""

    runs: list[dict[str, Any]]
    unknown: list[str]


def parse_status_report(text: str) -> StatusReport:
    """The runs of a `check_training_status.sh --json` report, as raw objects."""
    import json

    try:
        data = json.loads(text)
    except ValueError as e:
        raise ContractError(f"status output is not JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("runs", []), list):
        raise ContractError("status output has no list of runs")
    unknown = data.get("unknown", [])
    if not isinstance(unknown, list) or not all(isinstance(u, str) for u in unknown):
        raise ContractError("status output's unknown is not a list of names")
    return StatusReport(runs=data.get("runs", []), unknown=unknown)


@dataclass(frozen=True)
class StartInfo:
    """tmuxkit-start's answer: what it started, where."""

    run: str
    session: str
    log: str
    results: str
    lock: str
    pid: str = ""
    runner_pid: str = ""
    socket: str = ""
    note: str = ""
    state: str = "started"  # or "queued": waiting in the host's queue (position, waiting_for)
    position: int | None = None
    waiting_for: str = ""
    job: str = ""  # a batch job's id (hosts.slurm: the run is that job, not a tmux session)

    @classmethod
    def parse(cls, text: str) -> StartInfo:
        r = last_kv_line(text, "tmuxkit-start")
        if r.get("state") == State.QUEUED.value and "run" in r:
            pos = r.get("position", "")
            return cls(run=r["run"], session=r["run"], log="", results="", lock="", note=r.get("note", ""),
                       state=State.QUEUED.value, position=int(pos) if pos.isdigit() else None,
                       waiting_for=r.get("waiting_for", ""))
        try:
            return cls(run=r["run"], session=r["session"], log=r["log"], results=r["results"], lock=r["lock"],
                       pid=r.get("pid", ""), runner_pid=r.get("runner_pid", ""), socket=r.get("socket", ""),
                       note=r.get("note", ""))
        except KeyError as e:
            raise ContractError(f"tmuxkit-start's answer lacks {e.args[0]}") from None


@dataclass(frozen=True)
class StopResult:
    """tmuxkit-kill's answer: stopped (at which rung), survivors, or not running."""

    state: str  # "stopped", "survivors" or "not_running"
    run: str = ""
    rung: str = ""
    survivors: str = ""
    detail: str = ""
    watchdog: str = ""  # "ended" when the run's watchdog was ended first, else "none"
    exit_code: int | None = None  # the command's exit code as its runner recorded it; None: unknown

    @classmethod
    def parse(cls, text: str) -> StopResult:
        r = last_kv_line(text, "tmuxkit-kill")
        if "state" not in r:
            raise ContractError("tmuxkit-kill's answer lacks state")
        return cls(state=r["state"], run=r.get("run", ""), rung=r.get("rung", ""), survivors=r.get("survivors", ""),
                   detail=r.get("detail", ""), watchdog=r.get("watchdog", ""),
                   exit_code=int(r["exit"]) if r.get("exit", "").lstrip("-").isdigit() else None)


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
            f"TK_LIVE_SUFFIX={LIVE_SUFFIX}",
            f"TK_LAST_LINE_MAX={LAST_LINE_MAX}",
            f"TK_PARTIAL_DIR={PARTIAL_DIR}",
            f"TK_EVENTS_FILE={EVENTS_FILE}",
            f"TK_RUNS_DIR={RUNS_DIR}",
            f"TK_HELPER_SEP='{HELPER_SEP}'",
        ],
    )
    block(
        "defaults",
        [f"TK_DEF_{k}={v}" for k, v in vars(Defaults).items() if k.isupper()],
    )
    block("tmuxkit-start options", [f"{_bash_name('OPT', o)}={o.value}" for o in StartOpt])
    block("events worth a notification", [f"TK_NOTIFY_EVENTS='{' '.join(sorted(e.value for e in NOTIFY_EVENTS))}'"])
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # pragma: no cover - exercised by shell/build and its test
    sys.stdout.write(render_bash())
