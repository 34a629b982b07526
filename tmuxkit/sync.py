"""Sync: pull a run's results, logs and newest checkpoints to the laptop, and keep doing it.

One code path for every host: rsync pulls from host.rsync_path(...), which is a
plain path on the local host and `alias:path` over the host's own ssh options
(same ControlPath, BatchMode, ServerAlive) on a remote one. Files never show
half-written at their final paths (--partial-dir, --delay-updates); logs, which
only grow, use --append-verify; checkpoints do not. rsync's I/O --timeout plus
an outer deadline mean a dead link never hangs a pass. The host side runs under
nice (and ionice where it exists).

Each pass writes STATUS.json and STATUS.txt into the sync directory: run state,
last log line, last success, last error, bytes pulled, and when it was written.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from tmuxkit.config import Config, RunSpec, expand_home
from tmuxkit.contract import ALIVE_STATES, ENDED_STATES, PARTIAL_DIR, ExitCode, RunStatus, State, parse_status_report
from tmuxkit.errors import HostError, TmuxkitError, UnreachableError, user_message
from tmuxkit.hosts import Host

if TYPE_CHECKING:
    import libtmux

    from tmuxkit.runs import HostStatus

DEFAULT_INCLUDE = ("*.png", "*.json", "*.csv", "*.txt")
IO_TIMEOUT = 30  # rsync --timeout: seconds without I/O before it gives up
CALL_MARGIN = 10  # a host call in a pass (status, checkpoints) gets the I/O timeout plus this


def io_timeout() -> int:
    """rsync's --timeout, and with CALL_MARGIN the bound on every other host call of a pass, so a
    wedged ControlMaster never holds a pass longer (TMUXKIT_SYNC_IO_TIMEOUT overrides it)."""
    try:
        return max(1, int(os.environ.get("TMUXKIT_SYNC_IO_TIMEOUT", IO_TIMEOUT)))
    except ValueError:
        return IO_TIMEOUT
PARTIAL = PARTIAL_DIR
OWN_FILES = ("STATUS.json", "STATUS.txt", "PROGRESS.png")  # what a sync writes into its folder, besides what it pulls
# A run waiting in its host's queue (for GPUs, for its --after run) has nothing to pull and has not
# ended: its sync waits. A blocked one never starts: its sync ends.
WAITING_STATES = frozenset({State.QUEUED, State.BLOCKED})
FIRST_RETRY = 2.0  # seconds; retries double from here, never slower than the sync interval


def sync_dir(config: Config, spec: RunSpec, override: str | None = None) -> Path:
    """--to, else sync_to, else ./runs/RUN beside the config file (or the current directory)."""
    raw = override or spec.sync_to or f"runs/{spec.name}"
    p = Path(expand_home(raw))
    return p if p.is_absolute() else (Path.cwd() if override else config.base_dir) / p


@dataclass
class SyncStatus:
    run: str
    host: str
    state: str | None = None
    exit_code: int | None = None
    last_line: str | None = None
    last_success: float | None = None
    last_error: str | None = None
    bytes_pulled: int = 0
    passes: int = 0
    written_at: float | None = None
    pid: int | None = None  # the loop's process (None for --once)
    every: int | None = None  # the loop's interval
    last_attempt: float | None = None
    next_pass: float | None = None
    started_at: int | None = None  # the run (its start) the last pass synced: a loop of an earlier run is no loop of this one
    final: bool = False  # the loop did the run's final pass and exited
    not_overwritten: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)  # the loop's sync options (--to, --every, ...), to restart it alike  # files here tmuxkit did not bring, left as they are
    extra: dict[str, object] = field(default_factory=dict)

    @classmethod
    def load(cls, d: Path, run: str, host: str) -> SyncStatus:
        try:
            data = json.loads((d / "STATUS.json").read_text())
            if data.get("run") not in (None, run):  # another run's, syncing into the same folder
                return cls(run=run, host=host)
            return cls(run=run, host=host, state=data.get("state"), exit_code=data.get("exit_code"),
                       last_line=data.get("last_line"), last_success=data.get("last_success"),
                       last_error=data.get("last_error"), bytes_pulled=int(data.get("bytes_pulled") or 0),
                       passes=int(data.get("passes") or 0), pid=data.get("pid"), every=data.get("every"),
                       last_attempt=data.get("last_attempt"), next_pass=data.get("next_pass"),
                       started_at=data.get("started_at"), final=bool(data.get("final")), written_at=data.get("written_at"),
                       options=[str(o) for o in data.get("options") or []])
        except (OSError, ValueError):
            return cls(run=run, host=host)

    def save(self, d: Path) -> None:
        self.written_at = time.time()
        d.mkdir(parents=True, exist_ok=True)
        data = {k: v for k, v in self.__dict__.items() if k != "extra"}
        _atomic_write(d / "STATUS.json", json.dumps(data, indent=2) + "\n")
        ago = f"synced {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(self.last_success))}" \
            if self.last_success else "never synced"
        state = self.state or "unknown"
        if self.exit_code is not None and state in (State.EXITED, State.STOPPED):
            state += f" ({self.exit_code})"
        err = f"; last error: {self.last_error}" if self.last_error else ""
        _atomic_write(d / "STATUS.txt", f"{self.run} on {self.host}: {state}; last line: {self.last_line or '-'}; "
                                        f"{ago}{err}; {self.loop_words()}\n")

    def loop_words(self, health: str | None = None) -> str:
        """The loop's line in STATUS.txt: "sync loop pid N, next pass HH:MM:SS" (a time long past
        means a dead or wedged loop), or what status found (HEALTH: dead, wedged)."""
        if not isinstance(self.pid, int):
            return "sync loop done (the run ended: final pass done)" if self.final else "no sync loop (one pass)"
        if health == "dead":
            return f"sync loop not running (pid {self.pid} is gone); restart it: {self.restart_command()}"
        nxt = time.strftime("%H:%M:%S", time.localtime(self.next_pass)) \
            if isinstance(self.next_pass, (int, float)) else "none (the run ended: final pass done)"
        return f"sync loop pid {self.pid}, next pass {nxt}" + (
            f" (WEDGED: overdue; restart it: kill {self.pid}; {self.restart_command()})" if health == "wedged" else "")

    def restart_command(self) -> str:
        """The command that starts this loop again, with the options it ran with."""
        return shlex.join(["tmuxkit", "sync", self.run, *self.options, "--detach"])

    def save_text_health(self, d: Path, health: str | None) -> None:
        """Rewrite STATUS.txt's loop part with what status found, the loop itself being unable to."""
        try:
            text = (d / "STATUS.txt").read_text()
            head = text.rstrip("\n").rsplit("; sync loop ", 1)[0]
            _atomic_write(d / "STATUS.txt", f"{head}; {self.loop_words(health)}\n")
        except OSError:
            pass


    def loop_health(self, now: float | None = None) -> str | None:
        """For a loop (not --once) of a run that is still alive, or queued: "dead" when its process is gone,
        "wedged" when a pass is overdue by far (a pass is bounded by rsync's I/O timeout plus a
        margin), else "ok". None when there is no loop to judge."""
        if not isinstance(self.pid, int) or self.final or (self.state not in ALIVE_STATES
                                                           and self.state not in (State.QUEUED, State.PENDING)):
            return None
        if not _is_sync_loop(self.pid):
            return "dead"
        now = time.time() if now is None else now
        due = self.next_pass if isinstance(self.next_pass, (int, float)) else None
        if due is not None and now > due + 2 * (io_timeout() + CALL_MARGIN) + 60:
            return "wedged"
        return "ok"


def _is_sync_loop(pid: int) -> bool:
    """PID is alive and is a tmuxkit sync (not a reused PID)."""
    try:
        out = subprocess.run(["ps", "-ww", "-o", "stat=,args=", "-p", str(pid)], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return True  # cannot tell: do not cry wolf
    line = out.strip()
    return bool(line) and not line.startswith("Z") and "tmuxkit" in line and " sync " in f"{line} "


def check_own_files(dest: Path) -> None:
    """A sync writes STATUS.json, STATUS.txt and PROGRESS.png into its folder: never over a user's
    own. They are tmuxkit's when STATUS.json is one a sync wrote (of any run: two runs may share a
    folder)."""
    own = False
    try:
        data = json.loads((dest / "STATUS.json").read_text())
        own = isinstance(data, dict) and "passes" in data and "written_at" in data
    except (OSError, ValueError):
        pass
    if own:
        return
    theirs = [n for n in OWN_FILES if os.path.lexists(dest / n)]
    if theirs:
        raise TmuxkitError(f"{dest} has a {theirs[0]} that tmuxkit did not write; sync --to another folder",
                           ExitCode.USAGE)


def _registry(run: str) -> Path:
    """Where this machine notes the folder a run's sync loop syncs into (--to, sync_to or the
    default), so `status` finds its health there: $TMUXKIT_HOME/sync/RUN.json."""
    home = Path(os.environ.get("TMUXKIT_HOME") or Path.home() / ".tmuxkit")
    return home / "sync" / f"{run}.json"


def note_sync_dir(run: str, host: str, dest: Path) -> None:
    """Remember DEST as where RUN (on HOST) syncs; never fails a pass."""
    try:
        reg = _registry(run)
        reg.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if reg.parent.is_symlink():
            return
        _atomic_write(reg, json.dumps({"dir": str(dest.absolute()), "host": host}) + "\n")
    except OSError:
        pass


def sync_dirs(config: Config, spec: RunSpec, host: str) -> list[Path]:
    """The folders RUN's sync may write STATUS.json into: where its loop last said it syncs, then the default."""
    out: list[Path] = []
    try:
        data = json.loads(_registry(spec.name).read_text())
        if isinstance(data, dict) and isinstance(data.get("dir"), str) and data.get("host") in (None, host):
            out.append(Path(data["dir"]))
    except (OSError, ValueError):
        pass
    default = sync_dir(config, spec)
    return out + ([default] if default not in out else [])


def add_health(config: Config, statuses: Iterable[HostStatus]) -> None:
    """Attach each run's local sync health (from its STATUS.json, when a sync has run) to its status row.
    The folder is the one its loop syncs into (--to included), else the default one; a loop recorded
    for an earlier start of the run (a run started again without --sync) is no loop of this one."""
    for s in statuses:
        for r in s.runs:
            spec = config.runs.get(r.run) or RunSpec(name=r.run)
            for d in sync_dirs(config, spec, s.host):
                if (d / "STATUS.json").exists() and SyncStatus.load(d, spec.name, s.host).written_at is not None:
                    break  # (a STATUS.json another run sharing the folder wrote last is not this run's)
            else:
                continue
            st = SyncStatus.load(d, spec.name, s.host)
            earlier = (isinstance(st.started_at, int) and isinstance(r.started_at, int) and st.started_at != r.started_at)
            st.state = r.state  # judge the loop by the run's state now, not at its last pass
            health = st.loop_health()
            if earlier and health != "ok":
                health = None  # that loop synced the run's earlier start, and is gone with it
            if health in ("dead", "wedged"):  # STATUS.txt, the human view, says so too
                st.save_text_health(d, health)
            r.sync = {"dir": str(d), "last_success": st.last_success, "last_error": st.last_error,
                      "bytes_pulled": st.bytes_pulled, "pid": st.pid, "last_attempt": st.last_attempt,
                      "next_pass": st.next_pass, "loop": health, "restart": st.restart_command()}


def _atomic_write(path: Path, text: str) -> None:
    """PATH whole or not at all: a temp file of a fresh name (created exclusively, so a link planted
    there is never written through) renamed over it; a full disk leaves no temp file behind."""
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # as a plain write would leave it (mkstemp makes 0600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _rsync_argv() -> list[str]:
    """Files land whole or not at all: received into temp files, parked in --partial-dir when
    cut off, and all moved into place together at the end (--delay-updates)."""
    argv = ["rsync", "-a", f"--partial-dir={PARTIAL}", "--delay-updates", f"--timeout={io_timeout()}", "--stats"]
    return argv + shlex.split(os.environ.get("TMUXKIT_RSYNC_OPTS", ""))


# The file data this pass really moved: rsync's "Literal data" (new bytes; an unchanged part of a
# grown log is matched, not sent). Not "Total bytes received", which is the wire count of one end
# only: a local copy's client is the sender, and it says a few dozen bytes for a pass that copied KBs.
# openrsync (macOS 15) has no "Literal data": then the size of the files it updated.
_MOVED = (re.compile(r"Literal data:\s*([\d,.]+)"), re.compile(r"Total transferred file size:\s*([\d,.]+)"))


def _rsync(host: Host, argv: list[str], deadline: float, stdin: str | None = None,
           progress: Callable[[int], None] | None = None, on_out: Callable[[str], None] | None = None) -> int:
    """Run one rsync; the bytes of file data it transferred. Raises on failure, naming the host.
    With progress, rsync reports overall percent (--info=progress2) and progress(percent) is called.
    With on_out, its output is handed over once it has ended, failed or not (what it did place)."""
    if progress is not None and _has_progress2():
        argv = [*argv, "--info=progress2", "--no-inc-recursive"]
    else:
        progress = None
    try:
        p = _run_rsync(argv, stdin, max(5.0, deadline - time.time()), progress)
    except subprocess.TimeoutExpired:
        raise UnreachableError(f"{host.name}: rsync passed its deadline", host=host.name, argv=argv) from None
    except FileNotFoundError:
        raise HostError("rsync: command not found on this machine", host="local", code=127) from None
    if on_out is not None:
        on_out(p.stdout)
    if p.returncode not in (0, 24):  # 24: a source file vanished mid-transfer (a rotated log): fine
        why = _cause(p.stderr, p.returncode)
        cls = UnreachableError if p.returncode in (10, 12, 30, 35, 255) else HostError
        raise cls(f"{host.name}: rsync failed ({p.returncode}): {why}", host=host.name, argv=argv, rc=p.returncode,
                  stderr=p.stderr)
    for pattern in _MOVED:
        m = pattern.search(p.stdout)
        if m:
            return int(re.sub(r"[^\d]", "", m.group(1)))
    return 0


def _cause(stderr: str, rc: int) -> str:
    """The real cause of a failed rsync ("ssh: connect to host x port 22: Connection refused"), not
    rsync's own summary ("rsync error: unexplained error (code 255) at io.c(231)")."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    real = [ln for ln in lines if not _consequence(ln)]
    # The transport's own word first: when ssh failed, rsync's complaints follow from it.
    ssh = [ln for ln in real if ln.startswith("ssh:")]
    return (ssh or real or lines)[-1] if lines else f"exit {rc}"


def _consequence(line: str) -> bool:
    """A line rsync prints because its link went away, not why it went."""
    if line.startswith(("rsync error:", "rsync: connection unexpectedly closed")):
        return True
    return line.startswith("rsync:") and any(w in line for w in ("Broken pipe", "safe_write failed", "safe_read failed"))


def _run_rsync(argv: list[str], stdin: str | None, timeout: float,
               progress: Callable[[int], None] | None) -> subprocess.CompletedProcess[str]:
    """Run rsync in a process group of its own. Once rsync has ended (its I/O --timeout gave up on a
    wedged ControlMaster, say), whatever it left in its group (an ssh client stuck on that master) is
    killed, so its pipes close and the pass ends with rsync, not at the pass's deadline; past the
    deadline, the whole group goes."""
    import threading

    p = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    timed_out = threading.Event()
    done = threading.Event()

    def reaper() -> None:
        try:
            p.wait(timeout)
            done.wait(1.0)  # what is left gets a moment to say why on stderr
        except subprocess.TimeoutExpired:
            timed_out.set()
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    watch = threading.Thread(target=reaper, daemon=True)
    watch.start()
    try:
        if progress is None:
            out, err = p.communicate(stdin)
        else:
            if stdin and p.stdin:
                p.stdin.write(stdin)
                p.stdin.close()
            assert p.stdout is not None and p.stderr is not None
            chunks, buf = [], ""
            while chunk := p.stdout.read(256):
                chunks.append(chunk)
                buf = (buf + chunk)[-512:]
                m = _PERCENT.findall(buf)
                if m:
                    progress(int(m[-1]))
            out, err = "".join(chunks), p.stderr.read()
            p.wait()
    except BaseException:  # Ctrl-C here: rsync has a session of its own, so the terminal's SIGINT missed it
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        raise
    finally:
        done.set()
    if timed_out.is_set():
        raise subprocess.TimeoutExpired(argv, timeout)
    return subprocess.CompletedProcess(argv, p.returncode, out, err)


_PERCENT = re.compile(r"\s(\d{1,3})%\s")


@functools.lru_cache(maxsize=1)
def _has_progress2() -> bool:
    """rsync >= 3.1 (GNU rsync) has --info=progress2; openrsync and rsync 2.6 (macOS) do not."""
    try:
        out = subprocess.run(["rsync", "--version"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    m = re.search(r"version (\d+)\.(\d+)", out)
    return m is not None and (int(m.group(1)), int(m.group(2))) >= (3, 1) and "openrsync" not in out


class Brought:
    """What this sync brought into its folder for one run, so it overwrites and deletes only that:
    .tmuxkit-sync.RUN.json beside STATUS.json. files: each file the results pass brought, with its
    size and mtime as left here (a file changed here since is the user's again); units: each
    checkpoint unit brought, with its host mtime and step (its age) and its checkpoint (a kohya
    *-state/ and its weights are one)."""

    def __init__(self, dest: Path, run: str) -> None:
        self.path = dest / f".tmuxkit-sync.{run}.json"
        self.files, self.units = self._read()
        self._base = (dict(self.files), dict(self.units))

    def _read(self) -> tuple[dict[str, list[int]], dict[str, dict[str, object]]]:
        try:
            data = json.loads(self.path.read_text())
            return ({str(k): list(v) for k, v in (data.get("files") or {}).items()},
                    {str(k): dict(v) for k, v in (data.get("units") or {}).items()})
        except (OSError, ValueError, TypeError, AttributeError):
            return {}, {}

    def save(self) -> None:
        """Write what changed since it was read onto what is there now (a --once pass beside the loop)."""
        files, units = self._read()
        for mine, base, disk in ((self.files, self._base[0], files), (self.units, self._base[1], units)):
            for k, v in mine.items():
                if base.get(k) != v:
                    disk[k] = v  # type: ignore[assignment]
            for k in set(base) - set(mine):
                disk.pop(k, None)
        _atomic_write(self.path, json.dumps({"files": files, "units": units}, indent=1, sort_keys=True) + "\n")
        self.files, self.units = files, units
        self._base = (dict(files), dict(units))

    def foreign(self, dest: Path) -> bool:
        """Is anything here that this sync did not bring (or that changed here since)? Only then
        does a pass need a dry run first. tmuxkit's own files and the checkpoints it brought aside."""
        units = set(self.units)
        for d, subdirs, names in os.walk(dest):
            rel_d = os.path.relpath(d, dest)
            rel_d = "" if rel_d == "." else rel_d + "/"
            if any((Path(d) / s).is_symlink() for s in subdirs):
                return True  # a link to a folder (the user's): rsync would replace it with a folder
            subdirs[:] = [s for s in subdirs if not s.startswith(".tmuxkit") and rel_d + s not in units]
            for n in names:
                rel = rel_d + n
                if rel_d == "" and (n.startswith(".tmuxkit") or n in OWN_FILES):
                    continue
                if rel not in units and not self.owns_file(dest, rel):
                    return True
        return False

    def owns_file(self, dest: Path, rel: str) -> bool:
        """REL is a file this sync brought, unchanged here since."""
        rec = self.files.get(rel)
        try:
            st = (dest / rel).lstat()
        except OSError:
            return True  # nothing there: nothing of anybody's to overwrite
        return rec is not None and _stamp(st) == rec

    def note_file(self, dest: Path, rel: str) -> None:
        try:
            st = (dest / rel).lstat()
        except OSError:
            return
        self.files[rel] = _stamp(st)


def _stamp(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns]


def _inside(dest: Path, rel: str) -> bool:
    """REL names a path inside DEST, through no symlinked folder."""
    if not rel or rel.startswith("/") or ".." in Path(rel).parts:
        return False
    parent = (dest / rel).parent
    try:
        return parent.resolve().is_relative_to(dest.resolve()) and (parent == dest or not any(
            (dest / q).is_symlink() for q in _prefixes(Path(rel).parent)))
    except OSError:
        return False


def _prefixes(rel: Path) -> list[Path]:
    parts = rel.parts
    return [Path(*parts[:i]) for i in range(1, len(parts) + 1)]


def _own_dir(dest: Path, name: str) -> Path:
    """A folder of tmuxkit's own in DEST (never a symlink), created 0700."""
    d = dest / name
    if d.is_symlink():
        raise TmuxkitError(f"{d} is a symlink; tmuxkit keeps its temp files there and will not follow it", ExitCode.FAIL)
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    return d


def _tmp_name(run: str) -> str:
    return f".tmuxkit-tmp.{run}.{os.getpid()}"


def clean_temp(dest: Path, run: str, mine_only: bool = False) -> None:
    """Remove rsync's temp files of this run's passes (--temp-dir .tmuxkit-tmp.RUN.PID): this
    process's, and (unless MINE_ONLY) those of its passes that were killed (their process gone)."""
    try:
        entries = list(dest.iterdir())
    except OSError:
        return
    prefix = f".tmuxkit-tmp.{run}."
    for e in entries:
        if not e.name.startswith(prefix) or e.is_symlink() or not e.is_dir():
            continue
        pid = e.name[len(prefix):]
        if not pid.isdigit():
            continue
        if int(pid) == os.getpid() or (not mine_only and not _alive(int(pid))):
            shutil.rmtree(e, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _partial_name(run: str) -> str:
    """rsync's --partial-dir for this run: its own name, so no pass of another run syncing into
    (or under) the same folder ever removes it."""
    return f"{PARTIAL}.{run}"


def _argv_for(dest: Path, run: str) -> list[str]:
    """rsync's options for a pass of RUN into DEST: a partial dir of the run's own, and its temp
    files in a folder of tmuxkit's (a killed rsync leaves them there, never beside the user's files)."""
    tmp = _own_dir(dest, _tmp_name(run))
    return [a if not a.startswith("--partial-dir=") else f"--partial-dir={_partial_name(run)}" for a in _rsync_argv()] \
        + [f"--temp-dir={tmp}"]


def _itemized(out: str, dirs: bool = False) -> list[str]:
    """The files (and symlinks) an rsync (--out-format='%i %n') wrote or would write: '>f... NAME';
    with DIRS, the folders too ('cd... NAME/', without the slash)."""
    names = []
    for ln in re.split(r"[\r\n]", out):
        m = re.match(r"^[>ch.][fL" + ("d" if dirs else "") + r"]\S{8,10} (.+?)/?$", ln)
        if m:
            names.append(m.group(1))
    return names


def _escape(rel: str) -> str:
    """An rsync filter pattern that matches exactly REL from the transfer's root."""
    if any(c in rel for c in "*?["):
        rel = re.sub(r"([\\*?\[])", r"\\\1", rel)
    return "/" + rel


def pull(host: Host, spec: RunSpec, results: str, dest: Path, include: tuple[str, ...], checkpoints: int,
         deadline: float, progress: Callable[[int], None] | None = None,
         say: Callable[[str], None] | None = None) -> tuple[RunStatus | None, int]:
    """One pass, one rsync: the results directory (filtered), with the pane logs in its tmuxkit/
    folder and the run's status, computed on the host just before the transfer. Then the newest
    checkpoints, when asked for. Returns (the run's status row, bytes received).
    A file already here that this sync did not bring (or that changed here since) is never
    overwritten: a dry run finds them first, and the pass leaves them out (and says so)."""
    results = results.rstrip("/")
    if not results:  # never "/" (a queued run's status names none): the pass would walk the whole host
        raise TmuxkitError(f"{spec.name}: no results folder to pull from", ExitCode.FAIL)
    status_file = f"{results}/tmuxkit/{spec.name}.status.json"
    status_argv = host.sync_status_argv(spec.name)
    out = shlex.quote(status_file)
    pre_row: RunStatus | None = None
    if status_argv is None:  # the host's status is not a script's report: asked here, before the transfer
        from tmuxkit import runs

        pre_row = current_row(runs.status_on(host, [spec.name], timeout=io_timeout() + CALL_MARGIN).runs)
        prelude = ""
    else:
        prelude = (f"mkdir -p {shlex.quote(os.path.dirname(status_file))} && "
                   f"{shlex.join(status_argv)} > {out}.tmp && mv -f {out}.tmp {out}")
    # Checkpoint directories travel whole, with the checkpoints (or not at all): never as loose
    # *.json pieces of the results pass.
    unit_dirs = [f"--exclude={d}" for d in ("checkpoint-[0-9]*/", "*-state/", "ckpt/", "checkpoints/", "tmp-checkpoint-*/")]
    filters = ["--include=/tmuxkit/", f"--include=/tmuxkit/{spec.name}.*", "--exclude=/tmuxkit/*", *unit_dirs,
               "--include=*/",
               *(f"--include={g}" for g in include), f"--exclude={PARTIAL}*", "--exclude=/.tmuxkit-*", "--exclude=*", "-m"]
    dest.mkdir(parents=True, exist_ok=True)
    brought = Brought(dest, spec.name)
    clean_temp(dest, spec.name)
    try:
        argv = _argv_for(dest, spec.name)
        src = host.rsync_path(results + "/")
        fmt = ["--out-format=%i %n"]
        skip: list[str] = []
        if brought.foreign(dest):
            # Which files would this pass write over? Those this sync did not bring stay as they are.
            would: list[str] = []
            _rsync(host, [*argv, "--dry-run", *fmt, *host.rsync_options(), *filters, src, str(dest) + "/"],
                   deadline, on_out=lambda o: would.extend(_itemized(o, dirs=True)))
            # A folder here that is a link (the user's, to a folder elsewhere) is left out whole:
            # rsync would replace the link with a folder; what lies under it is never walked into.
            links = [r for r in would if (dest / r).is_symlink()]
            skip = sorted({*links, *(r for r in would if not any(r.startswith(q + "/") for q in links)
                                     and not (dest / r).is_dir() and not brought.owns_file(dest, r))})
        keep_out = [f"--exclude={_escape(r)}" for r in skip]

        def note(o: str) -> None:
            for r in _itemized(o):
                brought.note_file(dest, r)
            brought.save()

        got = _rsync(host, [*argv, *fmt, *host.rsync_options(prelude), *keep_out, *filters, src, str(dest) + "/"],
                     deadline, progress=progress, on_out=note)
        row = pre_row
        if row is None:
            try:
                report = parse_status_report((dest / "tmuxkit" / f"{spec.name}.status.json").read_text())
                row = current_row([RunStatus.parse(r) for r in report.runs])
            except (OSError, ValueError, IndexError):
                pass
        if skip and say is not None:
            shown = ", ".join(skip[:5]) + (f" and {len(skip) - 5} more" if len(skip) > 5 else "")
            say(f"{spec.name}: left {len(skip)} file(s) in {dest} as they are, not brought by this sync: {shown}")
        if checkpoints > 0:
            try:
                ended = pre_row is not None and pre_row.state in ENDED_STATES
                got += _pull_checkpoints(host, spec, results, dest, checkpoints, deadline, brought, say, ended)
            except BaseException:  # what it did place before it failed is noted as brought, all the same
                with contextlib.suppress(OSError):
                    brought.save()
                raise
        brought.save()
        return row, got
    finally:
        clean_temp(dest, spec.name, mine_only=True)


def newest_units(rows: Iterable[str], n: int) -> list[str]:
    """The paths of the newest N complete checkpoints among tmuxkit-checkpoints' lines. Newest is
    the one completed last (its newest file's mtime; the host's order breaks ties, to the fraction
    of a second, then by step), so a stepless final model (ckpt/final.pt, model.safetensors,
    last.ckpt, model_final.pth) written after every stepped one is always kept. A checkpoint is a
    unit, file or directory; units that carry the same step (kohya's *-state/ and its weights file)
    count as one checkpoint."""
    done: list[tuple[int, str, str]] = []
    for ln in rows:
        parts = ln.split("\t", 5)
        if len(parts) < 6 or parts[3] != "yes":
            continue
        try:
            mtime = int(parts[1])
        except ValueError:
            continue
        done.append((mtime, parts[0], parts[5]))
    done.sort(key=lambda r: -r[0])  # stable: ties keep the host's order
    steps: list[str] = []
    out: list[str] = []
    for _, step, path in done:
        key = step if step != "-1" else path
        if key not in steps:
            if len(steps) == n:
                break
            steps.append(key)
        out.append(path)
    return out


def _pull_checkpoints(host: Host, spec: RunSpec, results: str, dest: Path, n: int, deadline: float,
                      brought: Brought, say: Callable[[str], None] | None = None, ended: bool = False) -> int:
    """Pull the newest N complete checkpoints (each a file or a whole directory). A unit arrives
    whole or not at all: it is received into .tmuxkit-staging.RUN/ and renamed into place once
    complete (a cut pass resumes there). A checkpoint here is a backup: one this sync brought is
    removed only when N newer checkpoints of the same run are here, never because the host stopped
    listing it (deleted there, a renamed folder, a failing check). Once the run's processes are gone
    the host lists a checkpoint without waiting for it to settle, so the final pass brings the final
    checkpoint. The run's checkpoint_check, when it has one, judges each."""
    args = host.sync_checkpoint_args(spec, results, ended) + (["--glob", spec.checkpoints] if spec.checkpoints else [])
    timeout = float(io_timeout() + CALL_MARGIN)
    if spec.checkpoint_check:
        # The run's own check judges each candidate as the watchdog's does, so a torn unit is never
        # counted among the N (and an older good one pruned for it). It runs newest first only until
        # enough complete ones are found: 2N units, as a kohya step is two (its *-state/ and its
        # weights). A check (a torch.load) may take a while: up to what is left of the pass.
        args += ["--check", spec.checkpoint_check, "--newest", str(2 * n)]
        timeout = max(timeout, deadline - time.time())
    rows = host.script_ok("tmuxkit-checkpoints", *args, timeout=timeout).out.splitlines()
    paths = newest_units(rows, n)
    info: dict[str, tuple[list[int], str]] = {}
    for ln in rows:
        parts = ln.split("\t", 5)
        if len(parts) == 6 and parts[5].startswith(results + "/"):
            rel_ = parts[5][len(results) + 1:]
            step = int(parts[0]) if parts[0].lstrip("-").isdigit() else -1
            mtime = int(parts[1]) if parts[1].isdigit() else 0
            info[rel_] = ([mtime, step], parts[0] if step != -1 else rel_)
    rel = [p[len(results) + 1:] for p in paths if p.startswith(results + "/")]
    rel = [r for r in rel if r in info and _inside(dest, r)]

    def newer_here(key: list[int], group: str) -> int:
        """How many checkpoints of this run, here and newer than KEY, this sync brought."""
        best: dict[str, list[int]] = {}
        for u, rec in brought.units.items():
            k = rec.get("key")
            if isinstance(k, list) and os.path.lexists(dest / u):
                g = str(rec.get("group"))
                best[g] = max(best.get(g, k), k)
        return sum(1 for g, k in best.items() if g != group and k > key)

    legacy = _legacy_manifest(dest)
    fetch, update, skipped = [], [], []
    for r in rel:
        key, group = info[r]
        final = dest / r
        here = os.path.lexists(final)
        if here and r not in brought.units and r in legacy and not final.is_symlink():
            # An earlier tmuxkit brought it (its one manifest for the folder) and this run lists it: ours.
            brought.units[r] = {"key": key, "group": group}
        if here and r not in brought.units and _loose_pieces(dest, r, brought):
            # Only what this sync's results pass brought of it (a config.json of a globbed unit
            # folder): ours, replaced by the whole unit.
            brought.units[r] = {"key": [], "group": group}
        if here and r in brought.units and not final.is_symlink() and not _unit_ours(dest, r, brought.units[r]):
            del brought.units[r]  # a file added or changed in it here since it was brought: the user's now
        if here and r in brought.units and not final.is_symlink():
            if final.is_file():
                update.append(r)  # a file of ours the trainer rewrites (Lightning's last.ckpt)
                brought.units[r] = {"key": key, "group": group}
            elif brought.units[r].get("key") != key:
                fetch.append(r)  # a directory of ours rewritten on the host (DeepSpeed's last.ckpt/): anew, whole
        elif here:
            skipped.append(r)  # not brought by this sync: never overwritten
        elif newer_here(key, group) < n:
            fetch.append(r)  # (one older than N checkpoints already here would only be pruned again)
    got = 0
    if update:
        try:
            got += _rsync(host, [*_argv_for(dest, spec.name), *host.rsync_options(), "--files-from=-", "-r",
                                 host.rsync_path(results + "/"), str(dest) + "/"], deadline,
                          stdin="\n".join(update) + "\n")
        finally:  # ours just before; what a failed rsync did place is ours too, never "changed by the user"
            for r in update:
                brought.units[r]["files"] = _unit_stamps(dest, r)
    if fetch:
        staging = _own_dir(dest, f".tmuxkit-staging.{spec.name}")
        # --link-dest: the files of a rewritten directory that did not change are linked, not sent again.
        got += _rsync(host, [*_argv_for(dest, spec.name), f"--link-dest={dest.absolute()}", *host.rsync_options(),
                             "--files-from=-", "-r", host.rsync_path(results + "/"), str(staging) + "/"], deadline,
                      stdin="\n".join(fetch) + "\n")
        for r in fetch:  # whole: each unit moves into place in one rename
            final = dest / r
            if not os.path.lexists(staging / r):
                continue
            if os.path.lexists(final):  # the older copy of a rewritten one of ours goes aside, then away
                if r not in brought.units or final.is_symlink():
                    continue
                aside = _own_dir(dest, f".tmuxkit-old.{spec.name}")
                os.rename(final, aside / f"{len(list(aside.iterdir()))}")
                os.rename(staging / r, final)
                shutil.rmtree(aside, ignore_errors=True)
            else:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.rename(staging / r, final)
            brought.units[r] = {"key": info[r][0], "group": info[r][1], "files": _unit_stamps(dest, r)}
            for f in [f for f in brought.files if f.startswith(r + "/")]:
                del brought.files[f]  # loose pieces it replaced: part of the unit now
        shutil.rmtree(staging, ignore_errors=True)  # what is left there is no longer wanted
    if skipped and say is not None:
        say(f"{spec.name}: left checkpoint(s) in {dest} as they are, not brought by this sync: {', '.join(skipped)}")
    _prune(dest, brought, n)
    return got


def _unit_stamps(dest: Path, rel: str) -> dict[str, list[int]]:
    """Size and mtime of each file (and link) of the unit REL here, by its path inside the unit
    ("" for a file unit): what the sync left there, to tell later whether the user changed it."""
    top = dest / rel
    try:
        if top.is_symlink() or not top.is_dir():
            return {"": _stamp(top.lstat())}
    except OSError:
        return {}
    out: dict[str, list[int]] = {}
    for d, subdirs, names in os.walk(top):
        for n in [*names, *(x for x in subdirs if (Path(d) / x).is_symlink())]:
            with contextlib.suppress(OSError):
                out[os.path.relpath(Path(d) / n, top)] = _stamp((Path(d) / n).lstat())
    return out


def _unit_ours(dest: Path, rel: str, rec: dict[str, object]) -> bool:
    """The unit REL here is as this sync left it: no file added, changed or removed since. (A unit
    recorded without its files, by an earlier tmuxkit, is taken as left as it was.)"""
    files = rec.get("files")
    if not isinstance(files, dict):
        return True
    return _unit_stamps(dest, rel) == {str(k): list(v) for k, v in files.items()}


def _loose_pieces(dest: Path, rel: str, brought: Brought) -> bool:
    """REL is a folder here (no link) that holds only files this sync's results pass brought,
    unchanged since: the loose pieces (*.json, *.txt) of a checkpoint folder the results pass does
    not leave out (a glob's units), never the user's own."""
    top = dest / rel
    if top.is_symlink() or not top.is_dir() or not _inside(dest, rel):
        return False
    for d, subdirs, names in os.walk(top):
        for n in [*names, *(s for s in subdirs if (Path(d) / s).is_symlink())]:
            f = os.path.relpath(Path(d) / n, dest)
            if f not in brought.files or not brought.owns_file(dest, f) or (Path(d) / n).is_symlink():
                return False
    return True


def _legacy_manifest(dest: Path) -> set[str]:
    """The units an earlier tmuxkit noted as brought, in one manifest for the whole folder."""
    try:
        return set((dest / ".tmuxkit-checkpoints").read_text().split("\n")) - {""}
    except OSError:
        return set()


def _prune(dest: Path, brought: Brought, n: int) -> None:
    """Remove a checkpoint this sync brought only when N newer checkpoints of the same run are here
    (a unit is here whole or not at all). Forget units that are gone from here (the user's doing)."""
    here = {u: rec for u, rec in brought.units.items() if os.path.lexists(dest / u) and isinstance(rec.get("key"), list)}
    for u in set(brought.units) - set(here):
        del brought.units[u]
    best: dict[str, list[int]] = {}
    for rec in here.values():
        g, k = str(rec.get("group")), rec["key"]
        assert isinstance(k, list)
        best[g] = max(best.get(g, k), k)
    ranked = sorted(best, key=lambda g: best[g], reverse=True)
    keep = set(ranked[:n])
    for u, rec in here.items():
        if str(rec.get("group")) in keep or not _inside(dest, u):
            continue
        target = dest / u
        if not _unit_ours(dest, u, rec):
            pass  # a file added or changed in it here since it was brought: the user's now, never removed
        elif target.is_symlink():
            pass  # a link put there since: not what this sync brought, never removed
        elif target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)
        del brought.units[u]


def _progress_png(dest: Path, run: str) -> None:
    """PROGRESS.png beside STATUS.txt, when the plot extra is installed; never fails a pass."""
    try:
        from tmuxkit.plot import progress_png

        progress_png(dest / "tmuxkit" / f"{run}.progress", "loss", f"{run}: loss", dest / "PROGRESS.png")
    except Exception:  # a plot is a nicety: a pass that pulled everything succeeded
        pass


def remove_partials(dest: Path, run: str) -> int:
    """After a pass that finished, no partial folder of this run (.tmuxkit-partial.RUN) is left
    anywhere here: what it held belonged to transfers that have since completed, or to files no
    longer wanted. Another run's, syncing into a folder inside this one, is never touched."""
    n = 0
    mine = _partial_name(run)
    for d, subdirs, _ in os.walk(dest):
        for s in list(subdirs):
            if s == mine and not (Path(d) / s).is_symlink():
                shutil.rmtree(Path(d) / s, ignore_errors=True)
                n += 1
            if s.startswith(".tmuxkit-"):
                subdirs.remove(s)
    return n


def free_space(dest: Path, run: str) -> None:
    """A pass that failed for want of space: this run's partial and staged files go, they only
    hold the space the next pass needs (it starts those transfers over)."""
    remove_partials(dest, run)
    for name in (f".tmuxkit-staging.{run}", f".tmuxkit-old.{run}"):
        if (dest / name).is_dir() and not (dest / name).is_symlink():
            shutil.rmtree(dest / name, ignore_errors=True)
    clean_temp(dest, run)


def patterns(spec: RunSpec, include: Iterable[str] = ()) -> tuple[str, ...]:
    """What the results pass pulls: the default patterns, plus the run's sync_include, plus --include."""
    return tuple(dict.fromkeys([*DEFAULT_INCLUDE, *spec.sync_include, *include]))


def loop_options(to: str | None, every: int | None, include: Iterable[str], checkpoints: int | None,
                 host: str | None) -> list[str]:
    """The sync options that make a loop what it is, as `tmuxkit sync` takes them (--to absolute)."""
    out: list[str] = []  # --opt=VALUE: a pattern that starts with "-" stays a value
    if host:
        out.append(f"--host={host}")
    if to:
        out.append(f"--to={Path(expand_home(to)).absolute()}")
    if every:
        out.append(f"--every={every}")
    if checkpoints is not None:
        out.append(f"--checkpoints={checkpoints}")
    out += [f"--include={g}" for g in include]
    return out


def current_row(rows: Sequence[RunStatus]) -> RunStatus:
    """The run's row that says where it stands now. A run whose earlier start ended and whose new
    start waits in the host's queue has two rows: the queue's is the current one."""
    return next((r for r in rows if r.state in WAITING_STATES), rows[0])


def run_loop(config: Config, spec: RunSpec, host: Host, *, once: bool = False, every: int | None = None,
             to: str | None = None, include: tuple[str, ...] = (), checkpoints: int | None = None,
             say: Callable[[str], None] = print, host_option: str | None = None) -> int:
    """Sync, then sleep; back off on failure (never slower than the interval); stop after the run ends."""
    from tmuxkit import runs

    options = loop_options(to, every, include, checkpoints, host_option)
    every = every or spec.sync_every
    dest = sync_dir(config, spec, to)
    if dest.exists() and not dest.is_dir():  # sync_to = "/dev/null", a file: one line, not a traceback
        from tmuxkit.errors import UsageError

        raise UsageError(f"{spec.name}: the sync destination {dest} is not a directory "
                         f"({'--to' if to else 'sync_to' if spec.sync_to else 'runs/RUN'})")
    include = patterns(spec, include)
    n_ckpt = spec.sync_checkpoints if checkpoints is None else checkpoints
    check_own_files(dest)
    st = SyncStatus.load(dest, spec.name, host.name)
    # A --once pass beside a live loop leaves the loop's own words (pid, next pass) as they are.
    keep_loop = once and isinstance(st.pid, int) and not st.final and _is_sync_loop(st.pid)
    if not keep_loop:
        st.pid, st.every = (None, None) if once else (os.getpid(), every)
        st.final = False
        st.options = [] if once else options
    failures = 0
    first = st.passes == 0
    results: str | None = None
    said_queue: tuple[str, str] | None = None
    while True:
        began = time.time()
        st.last_attempt = began
        try:
            if results is None:  # the first pass asks where the results are; later passes learn it as they go
                now_row = current_row(runs.status_on(host, [spec.name], timeout=io_timeout() + CALL_MARGIN).runs)
                if now_row.state in WAITING_STATES:
                    # Queued on the host (GPUs busy, --after): nothing to pull yet, no results folder
                    # to ask about. The loop waits for it, and follows it to its real end.
                    failures = 0
                    blocked = now_row.state != State.QUEUED
                    st.state, st.exit_code, st.last_line = now_row.state, None, ""
                    st.last_error = None
                    if not keep_loop:
                        st.next_pass = None if once or blocked else began + every
                        if blocked and not once:  # it will never start: the loop ends here
                            st.pid, st.final = None, True
                    dest.mkdir(parents=True, exist_ok=True)
                    st.save(dest)
                    if not once:
                        note_sync_dir(spec.name, host.name, dest)
                    why = str(now_row.extra.get("waiting_for") or "")
                    if said_queue != (now_row.state, why):
                        said_queue = (now_row.state, why)
                        then = ("" if once else "; it will never start: sync loop done" if blocked and not why
                                else "; sync loop done" if blocked else "; the sync waits for it to start")
                        say(f"{time.strftime('%H:%M:%S')} {spec.name} is {now_row.state} on {host.name}"
                            f"{': ' + why if why else ''}{then}")
                    if once or blocked:
                        return 0
                    _sleep_until(began + every)
                    continue
                if not now_row.results:
                    raise TmuxkitError(f"{spec.name} on {host.name}: its status names no results folder", ExitCode.FAIL)
                results = now_row.results

            where: str = results

            def one_pass(progress: Callable[[int], None] | None = None) -> tuple[RunStatus | None, int]:
                return pull(host, spec, where, dest, include, n_ckpt, began + _deadline(every), progress, say)

            row, got = _with_progress(one_pass) if first and sys.stdout.isatty() else one_pass()
            if row is None:
                row = current_row(runs.status_on(host, [spec.name], timeout=io_timeout() + CALL_MARGIN).runs)
            first = False
            failures = 0
            st.state, st.exit_code, st.last_line = row.state, row.exit_code, row.last_line
            st.started_at = row.started_at
            st.last_success, st.last_error = time.time(), None
            st.bytes_pulled += got
            st.passes += 1
            remove_partials(dest, spec.name)
            if st.state in WAITING_STATES:  # queued again (a new start): ask again, pull nothing, until it runs
                results = None
            # A batch job that waits (pending, requeued: after its time limit, a preemption) has not ended.
            ended = st.state not in ALIVE_STATES and st.state not in WAITING_STATES and st.state != State.PENDING
            if not keep_loop:
                st.next_pass = None if once or ended else began + every
                if ended and not once:  # the loop's final pass: it names no pid, no next pass
                    st.pid, st.final = None, True
            st.save(dest)
            if not once:
                note_sync_dir(spec.name, host.name, dest)
            _progress_png(dest, spec.name)
            event_args, ack_args = host.sync_event_args(spec.name), host.sync_ack_args(spec.name)
            if (st.passes == 1 or ended) and event_args:  # the run's event log hears of the first and the final pass
                host.script(*event_args, "synced", f"bytes={got}", f"passes={st.passes}",
                            timeout=io_timeout() + CALL_MARGIN)
            if ended and ack_args:  # the final pass landed here: the host's on_done may run (shell/lib/done.bash)
                host.script(*ack_args, *(["--started", str(row.started_at)] if row.started_at else []),
                            timeout=io_timeout() + CALL_MARGIN)
            say(f"{time.strftime('%H:%M:%S')} {spec.name}: {st.state}, pulled {got} bytes into {dest}")
            if once:
                return 0
            if ended:
                say(f"{spec.name} is {st.state}: final sync done")
                return 0
            delay = float(every)
        except (TmuxkitError, OSError) as e:
            if (isinstance(e, TmuxkitError) and e.code == ExitCode.NOT_FOUND and st.passes == 0
                    and st.state in WAITING_STATES and not once and not keep_loop):
                # It waited in the host's queue and is gone from it before it started (`tmuxkit stop`
                # took it out): it will never start. The loop's final word, as for a blocked run,
                # not a STATUS.json that names a dead loop still waiting for it.
                st.state, st.last_error, st.last_line = State.STOPPED, None, "taken out of the queue before it started"
                st.pid, st.final, st.next_pass = None, True, None
                st.save(dest)
                say(f"{time.strftime('%H:%M:%S')} {spec.name} left {host.name}'s queue before it started "
                    "(stopped): sync loop done")
                return 0
            if isinstance(e, TmuxkitError) and e.code == ExitCode.NOT_FOUND and st.passes == 0:
                raise  # no such run, and never a pass of it here: nothing of it is written
            failures += 1
            why = user_message(e) if isinstance(e, TmuxkitError) else f"cannot write into {dest}: {e.strerror or e}"
            full = "No space left" in why or (isinstance(e, OSError) and e.errno == errno.ENOSPC)
            if full:
                free_space(dest, spec.name)
                why = f"{dest} is full ({why}); this run's partial files there were removed, the next pass tries again"
            st.last_error = why
            delay = min(float(every), FIRST_RETRY * 2 ** (failures - 1)) * random.uniform(0.8, 1.0)
            if not keep_loop:
                st.next_pass = None if once else time.time() + delay
            try:
                st.save(dest)
            except OSError:
                pass  # a full disk: the message below says it
            if once and isinstance(e, OSError):
                raise TmuxkitError(why, ExitCode.FAIL) from None
            if once or (isinstance(e, TmuxkitError) and e.code in (ExitCode.USAGE, ExitCode.NOT_FOUND)):
                raise  # retrying cannot fix these
            say(f"{time.strftime('%H:%M:%S')} {spec.name}: {why}; retry {failures} in {delay:.0f}s")
        _sleep_until(began + delay if not failures else time.time() + delay)


def _deadline(every: int) -> float:
    return max(600.0, every * 10.0)


def _sleep_until(when: float) -> None:
    """Sleep by the wall clock in short steps, so a laptop that slept catches up at once."""
    while (left := when - time.time()) > 0:
        time.sleep(min(left, 1.0))


T = TypeVar("T")


def _with_progress(fn: Callable[[Callable[[int], None]], T]) -> T:
    """A rich progress bar for the first (large) pull."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("first sync"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                  transient=True) as bar:
        task = bar.add_task("pull", total=100)
        return fn(lambda pct: bar.update(task, completed=pct))


def start_loop_session(config_path: str | None, run: str, cwd: str, options: Iterable[str] = ()) -> str:
    """`tmuxkit sync RUN [OPTIONS]` in a local tmux session RUN+sync. A live loop there with other
    options (another --to, say) is kept and said (exit 2), never taken for the one asked for."""
    import libtmux

    from tmuxkit.contract import helper_session
    from tmuxkit.errors import UsageError
    from tmuxkit.runs import start_helper_session

    name, want = helper_session(run, "sync"), list(options)
    server = libtmux.Server(socket_name=os.environ.get("TMUXKIT_SOCKET") or None)
    live = _live_loop_options(server, name, run)
    if live is not None and live != want:
        sock = os.environ.get("TMUXKIT_SOCKET")
        end = shlex.join(["tmux", *(["-L", sock] if sock else []), "kill-session", "-t", f"={name}"])
        raise UsageError(f"{run}'s sync loop already runs in local tmux session {name}, with "
                         f"{shlex.join(live) or 'no options'}: it is kept as it is; to change its options, end it "
                         f"first ({end})")
    start_helper_session(name, [*(["--config", config_path] if config_path else []), "sync", run, *want], cwd)
    server.cmd("set-option", "-t", f"={name}:", "@tmuxkit_sync_options", json.dumps(want))
    return name


def _live_loop_options(server: libtmux.Server, name: str, run: str) -> list[str] | None:
    """The options of RUN's live sync loop in tmux session NAME ([] for one that did not note them:
    `start --sync`), or None when there is no live loop of tmuxkit's there."""
    s = server.sessions.get(session_name=name, default=None)
    if s is None or server.cmd("show-options", "-v", "-t", f"={name}:", "@tmuxkit_helper").stdout != [f"sync:{run}"]:
        return None
    pane = s.active_window.active_pane
    if pane is None or pane.pane_dead == "1":
        return None
    shown = server.cmd("show-options", "-v", "-t", f"={name}:", "@tmuxkit_sync_options").stdout
    try:
        got = json.loads(shown[0]) if shown else []
    except ValueError:
        return None
    return [str(o) for o in got] if isinstance(got, list) else None
