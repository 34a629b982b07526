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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from tmuxkit.config import Config, RunSpec, expand_home
from tmuxkit.contract import ALIVE_STATES, PARTIAL_DIR, ExitCode, RunStatus, State, parse_status_report
from tmuxkit.errors import HostError, TmuxkitError, UnreachableError, user_message
from tmuxkit.hosts import Host

if TYPE_CHECKING:
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
MANIFEST = ".tmuxkit-checkpoints"
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
    extra: dict[str, object] = field(default_factory=dict)

    @classmethod
    def load(cls, d: Path, run: str, host: str) -> SyncStatus:
        try:
            data = json.loads((d / "STATUS.json").read_text())
            return cls(run=run, host=host, state=data.get("state"), exit_code=data.get("exit_code"),
                       last_line=data.get("last_line"), last_success=data.get("last_success"),
                       last_error=data.get("last_error"), bytes_pulled=int(data.get("bytes_pulled") or 0),
                       passes=int(data.get("passes") or 0), pid=data.get("pid"), every=data.get("every"),
                       last_attempt=data.get("last_attempt"), next_pass=data.get("next_pass"))
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
            return "no sync loop (one pass)"
        if health == "dead":
            return f"sync loop not running (pid {self.pid} is gone); restart it: tmuxkit sync {self.run} --detach"
        nxt = time.strftime("%H:%M:%S", time.localtime(self.next_pass)) \
            if isinstance(self.next_pass, (int, float)) else "none (the run ended: final pass done)"
        return f"sync loop pid {self.pid}, next pass {nxt}" + (" (WEDGED: overdue)" if health == "wedged" else "")

    def save_text_health(self, d: Path, health: str | None) -> None:
        """Rewrite STATUS.txt's loop part with what status found, the loop itself being unable to."""
        try:
            text = (d / "STATUS.txt").read_text()
            head = text.rstrip("\n").rsplit("; sync loop ", 1)[0]
            _atomic_write(d / "STATUS.txt", f"{head}; {self.loop_words(health)}\n")
        except OSError:
            pass


    def loop_health(self, now: float | None = None) -> str | None:
        """For a loop (not --once) of a run that is still alive: "dead" when its process is gone,
        "wedged" when a pass is overdue by far (a pass is bounded by rsync's I/O timeout plus a
        margin), else "ok". None when there is no loop to judge."""
        if not isinstance(self.pid, int) or self.state not in ALIVE_STATES:
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


def add_health(config: Config, statuses: Iterable[HostStatus]) -> None:
    """Attach each run's local sync health (from its STATUS.json, when a sync has run) to its status row."""
    for s in statuses:
        for r in s.runs:
            spec = config.runs.get(r.run) or RunSpec(name=r.run)
            d = sync_dir(config, spec)
            if (d / "STATUS.json").exists():
                st = SyncStatus.load(d, spec.name, s.host)
                st.state = r.state  # judge the loop by the run's state now, not at its last pass
                health = st.loop_health()
                if health in ("dead", "wedged"):  # STATUS.txt, the human view, says so too
                    st.save_text_health(d, health)
                r.sync = {"dir": str(d), "last_success": st.last_success, "last_error": st.last_error,
                          "bytes_pulled": st.bytes_pulled, "pid": st.pid, "last_attempt": st.last_attempt,
                          "next_pass": st.next_pass, "loop": health}


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


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
           progress: Callable[[int], None] | None = None) -> int:
    """Run one rsync; the bytes of file data it transferred. Raises on failure, naming the host.
    With progress, rsync reports overall percent (--info=progress2) and progress(percent) is called."""
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


def pull(host: Host, spec: RunSpec, results: str, dest: Path, include: tuple[str, ...], checkpoints: int,
         deadline: float, progress: Callable[[int], None] | None = None) -> tuple[RunStatus | None, int]:
    """One pass, one rsync: the results directory (filtered), with the pane logs in its tmuxkit/
    folder and the run's status, computed on the host just before the transfer. Then the newest
    checkpoints, when asked for. Returns (the run's status row, bytes received)."""
    results = results.rstrip("/")
    status_file = f"{results}/tmuxkit/{spec.name}.status.json"
    status_argv = host.script_argv("check_training_status.sh", ["--runs-only", "--json", spec.name])
    out = shlex.quote(status_file)
    prelude = (f"mkdir -p {shlex.quote(os.path.dirname(status_file))} && "
               f"{shlex.join(status_argv)} > {out}.tmp && mv -f {out}.tmp {out}")
    # Checkpoint directories travel whole, with the checkpoints (or not at all): never as loose
    # *.json pieces of the results pass.
    unit_dirs = [f"--exclude={d}" for d in ("checkpoint-[0-9]*/", "*-state/", "ckpt/", "checkpoints/", "tmp-checkpoint-*/")]
    filters = ["--include=/tmuxkit/", f"--include=/tmuxkit/{spec.name}.*", "--exclude=/tmuxkit/*", *unit_dirs,
               "--include=*/",
               *(f"--include={g}" for g in include), f"--exclude={PARTIAL}", "--exclude=*", "-m"]
    dest.mkdir(parents=True, exist_ok=True)
    got = _rsync(host, [*_rsync_argv(), *host.rsync_options(prelude), *filters,
                        host.rsync_path(results + "/"), str(dest) + "/"], deadline, progress=progress)
    row = None
    try:
        row = RunStatus.parse(parse_status_report((dest / "tmuxkit" / f"{spec.name}.status.json").read_text()).runs[0])
    except (OSError, ValueError, IndexError):
        pass
    if checkpoints > 0:
        got += _pull_checkpoints(host, spec, results, dest, checkpoints, deadline)
    return row, got


def newest_units(rows: Iterable[str], n: int) -> list[str]:
    """The paths of the newest N checkpoints among tmuxkit-checkpoints' lines (newest first). A
    checkpoint is a unit, file or directory; units that carry the same step (kohya's *-state/ and
    its weights file) count as one checkpoint."""
    steps: list[str] = []
    out: list[str] = []
    for ln in rows:
        parts = ln.split("\t", 5)
        if len(parts) < 6 or parts[3] != "yes":
            continue
        step, path = parts[0], parts[5]
        key = step if step != "-1" else path
        if key not in steps:
            if len(steps) == n:
                break
            steps.append(key)
        out.append(path)
    return out


def _pull_checkpoints(host: Host, spec: RunSpec, results: str, dest: Path, n: int, deadline: float) -> int:
    """Pull the newest N complete checkpoints (each a file or a whole directory) and keep exactly
    those here: older units this sync brought are removed, directories whole. Once the run's
    processes are gone the host lists a checkpoint without waiting for it to settle, so the final
    pass brings the final checkpoint. The run's checkpoint_check, when it has one, judges each."""
    args = [spec.name] + (["--glob", spec.checkpoints] if spec.checkpoints else [])
    timeout = float(io_timeout() + CALL_MARGIN)
    if spec.checkpoint_check:
        # The run's own check judges each candidate as the watchdog's does, so a torn unit is never
        # counted among the N (and an older good one pruned for it). It runs newest first only until
        # enough complete ones are found: 2N units, as a kohya step is two (its *-state/ and its
        # weights). A check (a torch.load) may take a while: up to what is left of the pass.
        args += ["--check", spec.checkpoint_check, "--newest", str(2 * n)]
        timeout = max(timeout, deadline - time.time())
    paths = newest_units(host.script_ok("tmuxkit-checkpoints", *args, timeout=timeout).out.splitlines(), n)
    rel = [p[len(results) + 1:] for p in paths if p.startswith(results + "/")]
    got = 0
    if rel:
        got = _rsync(host, [*_rsync_argv(), *host.rsync_options(), "--files-from=-", "-r",
                            host.rsync_path(results + "/"), str(dest) + "/"], deadline, stdin="\n".join(rel) + "\n")
    manifest = dest / MANIFEST
    before = set(manifest.read_text().split("\n")) - {""} if manifest.exists() else set()
    root = dest.resolve()
    for old in before - set(rel):
        target = dest / old
        if ".." in Path(old).parts or not target.resolve().is_relative_to(root):
            continue  # never outside the sync directory
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
        elif target.is_file() or target.is_symlink():
            target.unlink()
    _atomic_write(manifest, "\n".join(sorted(rel)) + "\n")
    return got


def _progress_png(dest: Path, run: str) -> None:
    """PROGRESS.png beside STATUS.txt, when the plot extra is installed; never fails a pass."""
    try:
        from tmuxkit.plot import progress_png

        progress_png(dest / "tmuxkit" / f"{run}.progress", "loss", f"{run}: loss", dest / "PROGRESS.png")
    except Exception:  # a plot is a nicety: a pass that pulled everything succeeded
        pass


def remove_partials(dest: Path) -> int:
    """After a pass that finished, no rsync partial folder (.tmuxkit-partial) is left anywhere here:
    what it held belonged to transfers that have since completed, or to files no longer wanted."""
    n = 0
    for d, subdirs, _ in os.walk(dest):
        for s in list(subdirs):
            if s == PARTIAL:
                shutil.rmtree(Path(d) / s, ignore_errors=True)
                subdirs.remove(s)
                n += 1
    return n


def run_loop(config: Config, spec: RunSpec, host: Host, *, once: bool = False, every: int | None = None,
             to: str | None = None, include: tuple[str, ...] = (), checkpoints: int | None = None,
             say: Callable[[str], None] = print) -> int:
    """Sync, then sleep; back off on failure (never slower than the interval); stop after the run ends."""
    from tmuxkit import runs

    every = every or spec.sync_every
    dest = sync_dir(config, spec, to)
    if dest.exists() and not dest.is_dir():  # sync_to = "/dev/null", a file: one line, not a traceback
        from tmuxkit.errors import UsageError

        raise UsageError(f"{spec.name}: the sync destination {dest} is not a directory "
                         f"({'--to' if to else 'sync_to' if spec.sync_to else 'runs/RUN'})")
    include = include or spec.sync_include or DEFAULT_INCLUDE
    n_ckpt = spec.sync_checkpoints if checkpoints is None else checkpoints
    st = SyncStatus.load(dest, spec.name, host.name)
    st.pid, st.every = (None, None) if once else (os.getpid(), every)
    failures = 0
    first = st.passes == 0
    results: str | None = None
    while True:
        began = time.time()
        st.last_attempt = began
        try:
            if results is None:  # the first pass asks where the results are; later passes learn it as they go
                results = runs.status_on(host, [spec.name], timeout=io_timeout() + CALL_MARGIN).runs[0].results

            def one_pass(progress: Callable[[int], None] | None = None) -> tuple[RunStatus | None, int]:
                return pull(host, spec, results, dest, include, n_ckpt, began + _deadline(every), progress)

            row, got = _with_progress(one_pass) if first and sys.stdout.isatty() else one_pass()
            if row is None:
                row = runs.status_on(host, [spec.name], timeout=io_timeout() + CALL_MARGIN).runs[0]
            first = False
            failures = 0
            st.state, st.exit_code, st.last_line = row.state, row.exit_code, row.last_line
            st.last_success, st.last_error = time.time(), None
            st.bytes_pulled += got
            st.passes += 1
            remove_partials(dest)
            st.next_pass = None if once else began + every
            st.save(dest)
            _progress_png(dest, spec.name)
            ended = st.state not in ALIVE_STATES
            if st.passes == 1 or ended:  # the run's event log hears of the first and the final pass
                host.script("tmuxkit-events", spec.name, "--add", "synced", f"bytes={got}", f"passes={st.passes}",
                            timeout=io_timeout() + CALL_MARGIN)
            say(f"{time.strftime('%H:%M:%S')} {spec.name}: {st.state}, pulled {got} bytes into {dest}")
            if once:
                return 0
            if ended:
                say(f"{spec.name} is {st.state}: final sync done")
                return 0
            delay = float(every)
        except TmuxkitError as e:
            if e.code == ExitCode.NOT_FOUND and st.passes == 0:
                raise  # no such run, and never a pass of it here: nothing of it is written
            failures += 1
            st.last_error = user_message(e)
            delay = min(float(every), FIRST_RETRY * 2 ** (failures - 1)) * random.uniform(0.8, 1.0)
            st.next_pass = None if once else time.time() + delay
            st.save(dest)
            if once or e.code in (ExitCode.USAGE, ExitCode.NOT_FOUND):  # retrying cannot fix these
                raise
            say(f"{time.strftime('%H:%M:%S')} {spec.name}: {user_message(e)}; retry {failures} in {delay:.0f}s")
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


def start_loop_session(config_path: str | None, run: str, cwd: str) -> str:
    """`tmuxkit sync RUN` in a local tmux session RUN+sync."""
    from tmuxkit.contract import helper_session
    from tmuxkit.runs import start_helper_session

    return start_helper_session(helper_session(run, "sync"), [*(["--config", config_path] if config_path else []), "sync", run], cwd)
