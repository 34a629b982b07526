"""Runs: start, status, stop, cleanup, attach and logs, on any host.

Each operation is one call of a shell/ script on the run's host; this module
builds the arguments and reads the answers. The lock, the state of a run, the
kill ladder and zombie detection live in shell/ only.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tmuxkit.config import LOCAL, Config, HostSpec, RunSpec, check_run_name, expand_home
from tmuxkit.contract import (
    HELPER_SEP,
    Defaults,
    ExitCode,
    RunStatus,
    StartInfo,
    StartOpt,
    StopResult,
)
from tmuxkit.errors import HostError, TmuxkitError, UnreachableError, UsageError, user_message
from tmuxkit.hosts import Host, connect

DEMO = "demo"
DEMO_WATCH_EVERY = 3  # seconds: `start demo --watch` checks this often (the demo lasts seconds)
STATUS_TIMEOUT = 10.0


def demo_spec(cwd: str | None = None) -> RunSpec:
    """The built-in demo: a tiny trainer shipped in the package."""
    trainer = Path(__file__).resolve().parent / "demo.py"
    return RunSpec(name=DEMO, command=(sys.executable, str(trainer)), cwd=cwd, results=f"results/{DEMO}", stuck_after=60,
                   resume="--resume {checkpoint}")


def is_builtin_demo(config: Config, name: str) -> bool:
    """NAME is the built-in demo: "demo", and the config has no run of that name."""
    return name == DEMO and name not in config.runs


def _on_this_machine(config: Config, host: str) -> bool:
    """Runs from this machine: local, or a host entry that reaches this machine without ssh."""
    if host == LOCAL:
        return True
    spec = config.hosts.get(host)
    return spec is not None and spec.on_this_machine


def resolve(config: Config, name: str, command: Sequence[str] = (), **overrides: object) -> RunSpec:
    """The run's spec: from the config, the demo, or ad hoc (-- CMD), with flags on top."""
    check_run_name(name)
    if name in config.runs:
        spec = config.runs[name]
        if spec.cwd is None and _on_this_machine(config, spec.host):
            spec = spec.with_overrides(cwd=str(config.base_dir))
    elif command:
        spec = RunSpec(name=name)
    elif name == DEMO:
        spec = demo_spec()
    else:
        where = f" in {config.path}" if config.path else " (no tmuxkit.toml here)"
        raise UsageError(f"run {name!r} is not configured{where}; give its command: tmuxkit start {name} -- CMD ...")
    if command:
        spec = spec.with_overrides(command=tuple(command))
    spec = spec.with_overrides(**overrides)
    _check_sizes(spec)
    return spec


# What one run may pass to its host: the command line crosses as one argument (Linux caps one at
# 128 KiB) and the env as the env(1) line the runner starts the command with.
MAX_COMMAND_BYTES = 100_000
MAX_ENV_BYTES = 100_000


def _check_sizes(spec: RunSpec) -> None:
    n = len(spec.command_line().encode())
    if n > MAX_COMMAND_BYTES:
        raise UsageError(f"run {spec.name!r}: the command is {n} bytes, more than the {MAX_COMMAND_BYTES} a command "
                         "line can carry: put it in a script and run that")
    n = sum(len(k.encode()) + len(v.encode()) + 2 for k, v in spec.env.items())
    if n > MAX_ENV_BYTES:
        raise UsageError(f"run {spec.name!r}: its env is {n} bytes, more than the {MAX_ENV_BYTES} a process "
                         "can be started with: pass large values in a file")


@dataclass
class Started:
    host: str
    info: StartInfo
    spec: RunSpec


@dataclass(frozen=True)
class StartArgs:
    """tmuxkit-start's arguments, built in this one place on the Python side (contract.StartOpt)."""

    run: str
    command: str
    cwd: str | None = None
    results: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    log_max_bytes: int = Defaults.LOG_MAX_BYTES
    log_keep: int = Defaults.LOG_KEEP
    stuck_after: int = Defaults.STUCK_AFTER
    metrics: tuple[str, ...] = ()
    early_wait: int | None = None  # None: the host's own default
    gpus: int = 0
    after: str | None = None
    max_runs: int = 0
    gpus_ignore_foreign: bool = False

    @classmethod
    def for_spec(cls, host: Host, spec: RunSpec) -> StartArgs:
        cwd = spec.cwd
        if cwd is not None and host.name == LOCAL:
            cwd = str(Path(expand_home(cwd)).resolve())
        return cls(run=spec.name, command=spec.command_line(), cwd=cwd, results=spec.results or None,
                   env=tuple(spec.env.items()), log_max_bytes=spec.log_max_bytes, log_keep=spec.log_keep,
                   stuck_after=spec.stuck_after, metrics=spec.metrics, early_wait=early_wait(spec), gpus=spec.gpus,
                   after=spec.after, max_runs=spec.max_runs, gpus_ignore_foreign=bool(spec.gpus_ignore_foreign))

    def argv(self) -> list[str]:
        """The arguments. The env is not among them: it goes on stdin (stdin()), out of sight of ps."""
        out = [self.run, StartOpt.CMD.value, self.command]
        if self.cwd is not None:
            out += [StartOpt.CWD.value, self.cwd]
        if self.results:
            out += [StartOpt.RESULTS.value, self.results]
        if self.env:
            out.append(StartOpt.ENV_STDIN.value)
        out += [StartOpt.LOG_MAX_BYTES.value, str(self.log_max_bytes), StartOpt.LOG_KEEP.value, str(self.log_keep),
                StartOpt.STUCK_AFTER.value, str(self.stuck_after)]
        if self.metrics:
            out += [StartOpt.METRICS.value, ",".join(self.metrics)]
        if self.early_wait is not None:
            out += [StartOpt.EARLY_WAIT.value, str(self.early_wait)]
        if self.gpus:
            out += [StartOpt.GPUS.value, str(self.gpus)]
        if self.after:
            out += [StartOpt.AFTER.value, self.after]
        if self.max_runs:
            out += [StartOpt.MAX_RUNS.value, str(self.max_runs)]
        if self.gpus_ignore_foreign and self.gpus:
            out.append(StartOpt.GPUS_IGNORE_FOREIGN.value)
        return out

    def stdin(self) -> bytes | None:
        return "".join(f"{k}={v}\n" for k, v in self.env).encode() if self.env else None


def early_wait(spec: RunSpec) -> int | None:
    """How long start watches for a command that dies at once: the run's early_exit_wait (or
    start --early-wait), else $TMUXKIT_EARLY_WAIT on this machine (passed to the host, over ssh
    too), else None: the host's default (Defaults.EARLY_EXIT_WAIT)."""
    if spec.early_exit_wait is not None:
        return spec.early_exit_wait
    v = os.environ.get("TMUXKIT_EARLY_WAIT", "")
    return int(v) if v.isdigit() else None


def _where_dir() -> Path:
    home = Path(os.environ.get("TMUXKIT_HOME") or Path.home() / ".tmuxkit")
    return home / "where"


def _own_state_dir(d: Path) -> None:
    """D is a directory of this user's that no one else can write, created 0700 when missing: the
    same rule as the host scripts' tk_home_init. Anything else is refused, as a symlink is."""
    try:
        d.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as e:
        raise UsageError(f"cannot create state directory {d}: {e.strerror}") from None
    st = d.lstat()
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise UsageError(f"refusing state directory {d}: not a directory owned by you (uid {os.geteuid()})")
    if st.st_mode & 0o022:
        raise UsageError(f"refusing state directory {d}: others can write to it (mode {stat.S_IMODE(st.st_mode):04o})")


def remember_host(run: str, host: str) -> None:
    """Note on this machine where RUN was started, so later commands find an ad hoc remote run.
    The home and its where/ must be this user's own (checked before anything is written), and the
    note is written whole, to a temporary file renamed into place: a symlink planted at the note's
    path is replaced, never followed."""
    d = _where_dir()
    try:
        d.parent.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create state directory {d.parent}: {e.strerror}") from None
    _own_state_dir(d.parent)
    _own_state_dir(d)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=f".{run}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(host + "\n")
        os.replace(tmp, d / run)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def forget_host(run: str) -> None:
    try:
        (_where_dir() / run).unlink()
    except OSError:
        pass


def remembered_runs() -> list[str]:
    """The runs this machine started, by name (for completion)."""
    try:
        return sorted(p.name for p in _where_dir().iterdir() if not p.name.startswith("."))  # not a note being written
    except OSError:
        return []


def remembered_host(run: str) -> str | None:
    try:
        fd = os.open(_where_dir() / run, os.O_RDONLY | os.O_NOFOLLOW)  # a note, never a planted link
        with os.fdopen(fd) as f:
            return f.read(4096).strip() or None
    except OSError:
        return None


_REFUSED = frozenset({ExitCode.USAGE, ExitCode.LOCKED, ExitCode.BAD_LOCK, ExitCode.NO_TOOL})


def start(host: Host, spec: RunSpec) -> Started:
    """Start SPEC on HOST. Where it runs is noted on this machine before the exchange, so a start
    cut off mid-way (a dropped link) still leaves a run that `status RUN` finds; a start the host
    refused puts the earlier note back."""
    before = remembered_host(spec.name)
    remember_host(spec.name, host.name)
    try:
        info = host.start_run(spec)
    except TmuxkitError as e:
        # A refusal before anything was made puts the earlier note back; a link cut off mid-way,
        # or a command that died at once (the run exists there, with its log), keeps this one.
        if isinstance(e, UnreachableError) or e.code not in _REFUSED:
            raise
        if before is None:
            forget_host(spec.name)
        else:
            remember_host(spec.name, before)
        raise
    return Started(host=host.name, info=info, spec=spec)


@dataclass
class HostStatus:
    host: str
    runs: list[RunStatus] = field(default_factory=list)
    error: str | None = None
    unknown: list[str] = field(default_factory=list)  # names asked for that have no run there
    answered: bool = False  # with error: the host answered, but could not tell (its Slurm controller is down)


def status_on(host: Host, names: Sequence[str] = (), timeout: float = STATUS_TIMEOUT,
              ended_within: int | None = None, partial: bool = False) -> HostStatus:
    """One host's runs (NAMES, or all but those that ended more than ENDED_WITHIN seconds ago).
    The host keeps an ended run's answer (--cache), so a call costs the same however many runs
    it has had. A named run that is not there raises (exit 4), unless PARTIAL: then the answer
    lists it in .unknown."""
    runs, unknown = host.run_statuses(names, timeout, ended_within)
    if unknown and not partial:
        raise HostError(f"no run named '{unknown[0]}' on {host.name}", host=host.name, code=ExitCode.NOT_FOUND)
    return HostStatus(host=host.name, runs=runs, unknown=unknown)


def status_all(asks: Sequence[tuple[Host, Sequence[str]]], timeout: float = STATUS_TIMEOUT,
               ended_within: int | None = None,
               on_each: Callable[[HostStatus], None] | None = None) -> list[HostStatus]:
    """Ask every (host, its runs; none = all) at once; a host that fails or does not answer
    shows as unreachable. A run that does not exist, or a bad name, is the caller's error.
    ON_EACH, when given, gets each host's answer as it arrives (in this thread)."""

    def one(ask: tuple[Host, Sequence[str]]) -> HostStatus:
        h, names = ask
        try:
            return status_on(h, names, timeout, ended_within, partial=True)
        except HostError as e:
            if e.code in (ExitCode.NOT_FOUND, ExitCode.USAGE):
                raise
            return HostStatus(host=h.name, error=user_message(e), answered=not isinstance(e, UnreachableError))
        except TmuxkitError as e:  # an answer that is not one (garbage): this host's row only
            return HostStatus(host=h.name, error=e.message)

    if len(asks) == 1:
        got = [one(asks[0])]
        if on_each:
            on_each(got[0])
        return got
    with ThreadPoolExecutor(max_workers=min(8, len(asks))) as pool:
        futures = [pool.submit(one, ask) for ask in asks]
        if on_each:
            for f in as_completed(futures):
                on_each(f.result())
        return [f.result() for f in futures]


def same_box(specs: Sequence[HostSpec]) -> tuple[list[HostSpec], dict[str, str]]:
    """Host entries that reach the same box (the same user, hostname and port, as ssh itself
    resolves them with `ssh -G` and the entry's own options) count once: (the hosts to ask, and
    {dropped name: the name kept}). Hosts reached without ssh of their own (this machine, and
    any entry whose box is not one ssh destination) are kept as they are."""
    from concurrent.futures import ThreadPoolExecutor

    from tmuxkit.hosts.ssh import SshHost

    def key(spec: HostSpec) -> tuple[str, ...] | None:
        if not spec.one_ssh_box:
            return None
        try:
            p = subprocess.run(["ssh", *SshHost(spec).ssh_options(), "-G", spec.ssh], capture_output=True, text=True,
                               timeout=10)
        except (OSError, subprocess.SubprocessError, TmuxkitError):
            return None
        g = dict(ln.split(" ", 1) for ln in p.stdout.splitlines() if " " in ln)
        if p.returncode != 0 or "hostname" not in g:
            return None
        # The same user@host:port reached through another jump host is another machine.
        return (g["user"], g["hostname"].lower(), g["port"], g.get("proxyjump", ""), g.get("proxycommand", ""),
                g.get("hostkeyalias", ""))

    ssh_specs = [s for s in specs if s.one_ssh_box]
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = dict(zip([s.name for s in ssh_specs], pool.map(key, ssh_specs), strict=True))
    kept: list[HostSpec] = []
    first: dict[tuple[str, ...], str] = {}
    dropped: dict[str, str] = {}
    for spec in specs:
        k = keys.get(spec.name)
        if k is not None and k in first:
            dropped[spec.name] = first[k]
            continue
        if k is not None:
            first[k] = spec.name
        kept.append(spec)
    return kept, dropped


def dedupe_shared(config: Config, statuses: Sequence[HostStatus], shared: Iterable[str]) -> None:
    """Two host entries that share runs (Host.shares_runs: two Slurm hosts reach one cluster, with
    another partition or other sbatch_args) each list every run started there. Keep each run once,
    under the host it was started on (its config, else this machine's memory), else under the
    first host that listed it. SHARED: those hosts' names."""
    names = set(shared)
    where: dict[str, list[HostStatus]] = {}
    for s in statuses:
        if s.host not in names:
            continue
        for r in s.runs:
            where.setdefault(r.run, []).append(s)
    for name, hosts in where.items():
        if len(hosts) < 2:
            continue
        own = host_name_for_run(config, name)
        keep = next((s for s in hosts if s.host == own), hosts[0])
        for s in hosts:
            if s is not keep:
                s.runs = [r for r in s.runs if r.run != name]


def host_name_for_run(config: Config, name: str) -> str:
    """The run's host: from the config, else where this machine started it, else local."""
    check_run_name(name)
    if name in config.runs:
        return config.runs[name].host
    where = remembered_host(name)
    if where and (where == LOCAL or where in config.hosts):
        return where
    return LOCAL


def host_for_run(config: Config, name: str, host: str | None = None) -> Host:
    """The run's host: HOST when named (--host), else host_name_for_run."""
    check_run_name(name)
    return connect(config.host(host or host_name_for_run(config, name)))


def stop(host: Host, name: str, grace: int = Defaults.GRACE, term_wait: int = Defaults.TERM_WAIT) -> StopResult:
    check_run_name(name)
    return host.stop_run(name, grace, term_wait)


def cleanup(host: Host, dry_run: bool = False) -> list[dict[str, str]]:
    return host.cleanup_runs(dry_run)


def forget(host: Host, names: Sequence[str] = (), *, older_than: int | None = None,
           dry_run: bool = False) -> list[dict[str, str]]:
    """Remove finished runs' state on HOST (Host.forget_runs): NAMES, or every run that ended more
    than OLDER_THAN seconds ago. A running one among NAMES refuses them all (exit 3). This
    machine's note of where each was started goes too."""
    rows = host.forget_runs(names, older_than=older_than, dry_run=dry_run)
    if not dry_run:
        for r in rows:
            if r.get("forgot") and remembered_host(r["forgot"]) == host.name:
                forget_host(r["forgot"])
    return rows


def logs(host: Host, name: str, lines: int = 20, follow: bool = False) -> int:
    check_run_name(name)
    if not follow:
        return host.stream(*host.log_args(name), "-n", str(lines))
    return follow_logs(host, name, lines)


HEARTBEAT = "\x1e"  # tmuxkit-logs --heartbeat: after the first lines, then every 2 s; with a position after it
NEVER_ANSWERED_TRIES = 3  # logs -f against a host that has not answered once: tries before giving up


def follow_logs(host: Host, name: str, lines: int, say: Any = None) -> int:
    """logs -f over a link that may drop: reconnect with backoff and go on by position. The host
    marks where the next byte comes from (inode and offset of the log part) after each stretch of
    lines; a stretch is printed when its mark has come, so after a drop the host is asked --from
    the last mark, across rotations, and nothing is lost or shown twice; when that part was rotated
    away meanwhile, the host says so in a line. (A host whose heartbeat carries no position, Slurm's
    script: the last line printed is looked for among the last 500, and a gap said when it is not
    there.) A host that never answered is tried NEVER_ANSWERED_TRIES times, then one line and its
    exit code. Ends when the run has ended and no watchdog is left to start it again."""
    import time

    out = say or (lambda s: (sys.stdout.write(s + "\n"), sys.stdout.flush()))
    pos: str | None = None  # "INODE:OFFSET" just after the last line printed
    last: str | None = None  # the last line printed (for a host without positions)
    answered, tries = False, 0
    n, delay = lines, 1.0
    while True:
        resume = ["--from", pos] if pos else []
        by_text = last is not None and pos is None  # a reconnect to a host without positions
        pending: list[str] = []
        direct = False  # a host without positions, past its first heartbeat: lines go out at once
        tries += 1
        try:
            for line in host.lines(*host.log_args(name), "-n", str(n), "-f", "--heartbeat", *resume):
                answered = True
                if line.startswith(HEARTBEAT):
                    mark = line[1:]
                    if mark:  # a position: what came before it is whole
                        pos = mark
                    elif by_text and not direct:
                        if last in pending:
                            pending = pending[len(pending) - pending[::-1].index(last):]
                        else:
                            pending = ["[tmuxkit] reconnected; some lines may be missing here", *pending]
                    if not mark:
                        direct = True
                    for ln in pending:
                        out(ln)
                        last = ln
                    pending = []
                    delay = 1.0
                    continue
                if direct:
                    out(line)
                    last = line
                    delay = 1.0
                else:
                    pending.append(line)
            for ln in pending:
                out(ln)
            return 0
        except (UnreachableError, HostError) as e:
            if e.code in (ExitCode.USAGE, ExitCode.NOT_FOUND):
                raise
            if not answered:
                if tries >= NEVER_ANSWERED_TRIES:
                    e.message = f"{user_message(e)}; gave up after {tries} tries (it never answered)"
                    e.host = ""
                    raise
            else:
                sys.stderr.write(f"tmuxkit: {name}: {user_message(e)}; reconnecting in {delay:.0f}s\n")
            time.sleep(delay)
            delay = min(delay * 2, 30.0)
            n = 500 if pos is None else lines


def alive_runs(statuses: Iterable[HostStatus]) -> list[RunStatus]:
    return [r for s in statuses for r in s.runs if r.alive]


RUN_MARKERS = ("TMUXKIT_RUN", "TMUXKIT_RUN_ID", "TMUXKIT_RESULTS")  # what tmuxkit-runner exports to a run


def start_helper_session(name: str, argv: Sequence[str], cwd: str) -> str:
    """Run a tmuxkit loop (sync, event follower) in a local tmux session NAME, so it outlives the
    terminal. A live one is kept; a dead one is replaced. TMUXKIT_* settings go along explicitly,
    since a tmux server that is already running would not pass this process's environment on."""
    import shlex

    import libtmux

    server = libtmux.Server(socket_name=os.environ.get("TMUXKIT_SOCKET") or None)
    # A run's own markers stay with the run: a helper started from inside a run (a run that starts
    # another run with --sync) is no process of that run, so `stop` of it never kills the helper.
    env = [f"{k}={v}" for k, v in os.environ.items() if k.startswith("TMUXKIT_") and k not in RUN_MARKERS]
    cmd = ["env", *(a for k in RUN_MARKERS for a in ("-u", k)), *env, sys.executable, "-m", "tmuxkit", *argv]
    run, _, kind = name.rpartition(HELPER_SEP)
    mark = f"{kind}:{run}"
    existing = server.sessions.get(session_name=name, default=None)
    if existing is not None:
        shown = server.cmd("show-options", "-v", "-t", f"={name}:", "@tmuxkit_helper").stdout
        if shown != [mark]:  # somebody's own session that happens to have this name: never ours to kill
            raise TmuxkitError(f"a tmux session named '{name}' exists and is not tmuxkit's; rename it", ExitCode.FAIL)
        pane = existing.active_window.active_pane
        if pane is not None and pane.pane_dead != "1":
            return name
        existing.kill()
    # tmux expands formats in the start directory ("#" doubled: "#(cmd)" in a folder's name would run
    # cmd), and reads an argument that ends in ";" as the end of a command (a trailing "/").
    server.new_session(session_name=name, window_command=shlex.join(cmd),
                       start_directory=os.path.join(cwd, "").replace("#", "##"), attach=False)
    server.cmd("set-option", "-t", f"={name}:", "@tmuxkit_helper", mark)
    server.cmd("set-option", "-w", "-t", f"={name}:", "remain-on-exit", "on")
    return name


def attach_argv(host: Host, run: RunStatus) -> list[str]:
    """What attaches the terminal to RUN (Host.attach_argv); a run with nothing to attach to is an error."""
    return host.attach_argv(run)
