"""The Host interface: what the rest of tmuxkit uses to reach a machine.

A host runs an argv, runs one of the shell/ scripts with arguments, streams a
command's output to the terminal, hands the terminal over (attach), installs
its scripts, and names paths and options for rsync. LocalHost (hosts.local) is
this machine; SshHost (hosts.ssh) is the same interface over the ssh binary.
The run logic never asks which one it has. A transport neither formats
messages for the user nor runs sync logic.

What a run IS on a host is behind the same interface (the "runs" section of
Host below): start_run, run_statuses, stop_run, log_args, events_args,
attach_argv, watch_run/watch_off, cleanup_runs, forget_runs, doctor_args, and
the flags that say what the host can do. Here they are a tmux session's (the
tmux hosts, local and over ssh); hosts.slurm.SlurmHost implements them as a
batch job's. No module outside tmuxkit/hosts/ imports the Slurm host or asks
which kind of host it has (tests/test_hosts.py checks it).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from tmuxkit.config import LOCAL
from tmuxkit.contract import (
    ContractError,
    Defaults,
    ExitCode,
    Rung,
    RunStatus,
    StartInfo,
    StopResult,
    Writer,
    kv_line,
    parse_status_report,
)
from tmuxkit.errors import HostError, TmuxkitError, UnreachableError, UsageError

# What a kind of host adds to a run's status row beyond RunStatus's own keys, with the value a row of
# a kind without it gets (Host.same_keys): the Slurm host's job, node, pending reason, Slurm's own
# state word, its requeues and its watchdog's state.
KIND_KEYS: dict[str, Any] = {"kind": "", "job": "", "node": "", "reason": "", "slurm_state": "", "requeues": 0,
                             "watchdog": ""}

if TYPE_CHECKING:
    from tmuxkit.config import Config, RunSpec

SCRIPT_TIMEOUT = 60.0


class LinkSilent(UnreachableError):
    """A call through a link that may be dead got no first byte in time (Host.run's first_byte)."""


def shell_dir() -> Path:
    """shell/ inside an installed wheel (tmuxkit/shell) or beside a source checkout."""
    pkg = Path(__file__).resolve().parent.parent
    for d in (pkg / "shell", pkg.parent / "shell"):
        if (d / "check_training_status.sh").is_file():
            return d
    raise TmuxkitError("tmuxkit's shell/ scripts are missing from this install")


def log_writer_for(python3_ok: bool) -> str:
    """Which pane log writer a host runs: python3 (batched writes) when it has python3 >= 3.6, else awk."""
    return "python3" if python3_ok else "awk"


@dataclass(frozen=True)
class InstallInfo:
    where: str  # the directory the host scripts run from
    log_writer: str  # "python3" or "awk"
    tmux: str = "tmux"  # tmux's path there ("" when it has none)


@dataclass
class Result:
    rc: int
    out: str
    err: str

    def kv_lines(self) -> list[dict[str, str]]:
        """Parse the scripts' tab-separated key=value lines."""
        return [kv_line(line) for line in self.out.splitlines() if "=" in line]

    def error_line(self) -> str:
        """The script's own 'tmuxkit: ...' message (with the "  | " lines that follow it, such as
        an early exit's last lines), or the last stderr line."""
        lines = [ln for ln in self.err.splitlines() if ln.strip()]
        for i in range(len(lines) - 1, -1, -1):
            if lines[i].startswith("tmuxkit: "):
                more = []
                for ln in lines[i + 1 :]:
                    if not ln.startswith("  | "):
                        break
                    more.append(ln)
                return "\n".join([lines[i][len("tmuxkit: ") :], *more])
        return lines[-1] if lines else f"failed with exit code {self.rc}"


# The process groups of the host calls under way (each call runs in a session of its own), so
# that SIGTERM or SIGHUP to tmuxkit (tmuxkit.signals) ends them as Ctrl-C does.
_LIVE: set[subprocess.Popen[Any]] = set()


def spawn(full: Sequence[str], **kw: Any) -> subprocess.Popen[Any]:
    """Popen FULL in a process group (session) of its own, registered in _LIVE until reaped."""
    p: subprocess.Popen[Any] = subprocess.Popen(full, start_new_session=True, **kw)
    _LIVE.add(p)
    return p


def kill_live_groups() -> None:
    """SIGKILL every registered host call's process group (from a signal handler: no waiting)."""
    import signal

    for p in list(_LIVE):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _end_group(p: subprocess.Popen[Any]) -> None:
    """SIGKILL the process group P leads (P and all it started), and reap P. Its pipes are closed
    here, not read to their end: an ssh ControlMaster holds a client's stdio until the remote
    command ends (the host's own --deadline sees to that)."""
    import signal

    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    p.kill()
    p.wait()
    _LIVE.discard(p)
    for f in (p.stdin, p.stdout, p.stderr):
        if f is not None:
            f.close()


class Host:
    """What every host offers. Subclasses supply _argv_for, script_argv, install and the transport."""

    name: str = LOCAL

    def _argv_for(self, argv: Sequence[str], *, tty: bool = False) -> list[str]:
        raise NotImplementedError

    def script_argv(self, script: str, args: Sequence[str]) -> list[str]:
        raise NotImplementedError

    # --- running things ------------------------------------------------------
    def run(self, argv: Sequence[str], *, timeout: float | None = SCRIPT_TIMEOUT, input: bytes | None = None) -> Result:
        """Run ARGV on the host. The call runs in a process group of its own: when TIMEOUT ends it
        (or Ctrl-C here), the whole group goes, so nothing it started is left behind on this
        machine; on a remote host the scripts bound themselves (check_training_status.sh --deadline)."""
        return self._run(argv, timeout=timeout, input=input)

    def _run(self, argv: Sequence[str], *, timeout: float | None = SCRIPT_TIMEOUT, input: bytes | None = None,
             first_byte: float | None = None) -> Result:
        """run(); with FIRST_BYTE, the reply must have begun by then (else LinkSilent)."""
        full = self._argv_for(argv)
        try:
            p = spawn(full, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except FileNotFoundError as e:
            raise HostError(f"{e.filename}: command not found", host=self.name, argv=full, code=ExitCode.NO_TOOL) from None
        except OSError as e:  # E2BIG: an argument list too long to start
            raise HostError(f"cannot run {full[0]}: {e.strerror}", host=self.name, argv=full[:1],
                            code=ExitCode.USAGE) from None
        try:
            if first_byte is not None and (timeout is None or first_byte < timeout):
                # A link that may be dead (a ControlMaster over a black-holed TCP): the reply must
                # have begun by FIRST_BYTE, else the call is ended and LinkSilent raised.
                try:
                    out, err = p.communicate(input, timeout=first_byte)
                except subprocess.TimeoutExpired as e:
                    if not self._answered(e.output or b""):
                        _end_group(p)
                        raise LinkSilent(f"{self.name}: no reply began within {first_byte:g}s",
                                         host=self.name, argv=full) from None
                    out, err = p.communicate(None, timeout=None if timeout is None else timeout - first_byte)
            else:
                out, err = p.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            _end_group(p)
            raise UnreachableError(f"{self.name}: no answer within {timeout:g}s", host=self.name, argv=full) from None
        except BaseException:
            _end_group(p)
            raise
        _LIVE.discard(p)
        res = Result(p.returncode, self._unframe(out.decode(errors="replace")),
                     self._unframe_err(err.decode(errors="replace")))
        self._check_transport(res, full)
        return res

    def _unframe(self, out: str) -> str:
        """The command's own stdout, without what the transport's login shell printed around it. Local: all of it."""
        return out

    def _answered(self, partial_out: bytes) -> bool:
        """Whether PARTIAL_OUT shows that the command began on the host (local: it did)."""
        return True

    def _unframe_err(self, err: str) -> str:
        """The command's own stderr, without what the transport's login shell printed before it. Local: all of it."""
        return err

    def _check_transport(self, res: Result, argv: Sequence[str]) -> None:
        """Raise if the transport (not the command) failed. Local: never."""

    def script(self, script: str, *args: str, timeout: float | None = SCRIPT_TIMEOUT,
               input: bytes | None = None) -> Result:
        return self.run(self.script_argv(script, args), timeout=timeout, input=input)

    def script_ok(self, script: str, *args: str, timeout: float | None = SCRIPT_TIMEOUT,
                  input: bytes | None = None) -> Result:
        """Run a host script (stdin: INPUT); a non-zero exit becomes its own one-line error and exit code."""
        res = self.script(script, *args, timeout=timeout, input=input)
        if res.rc != 0:
            raise HostError(res.error_line(), host=self.name, argv=[script, *args], rc=res.rc, stderr=res.err,
                            code=res.rc)
        return res

    def stream(self, script: str, *args: str) -> int:
        """Run a host script with the terminal's stdout/stderr (logs)."""
        full = self._argv_for(self.script_argv(script, args))
        p = spawn(full, stdin=subprocess.DEVNULL)
        try:
            rc = p.wait()
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM/SIGHUP (tmuxkit.signals)
            _end_group(p)
            return 130
        _LIVE.discard(p)
        return rc

    def lines(self, script: str, *args: str) -> Iterator[str]:
        """A host script's stdout, line by line, as it comes (events -f). Its process group is
        ended when the reader stops early (or is interrupted)."""
        full = self._argv_for(self.script_argv(script, args))
        p = spawn(full, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                  text=True, errors="replace")
        try:
            assert p.stdout is not None and p.stderr is not None
            for line in p.stdout:
                yield line.rstrip("\n")
            err = self._unframe_err(p.stderr.read())
            p.wait()
        finally:
            if p.returncode is None:
                _end_group(p)
            else:
                _LIVE.discard(p)
                for f in (p.stdout, p.stderr):
                    if f is not None:
                        f.close()
        if p.returncode:
            res = Result(p.returncode, "", err)
            self._check_transport(res, full)
            raise HostError(res.error_line(), host=self.name, argv=[script, *args], rc=p.returncode, code=p.returncode)

    def exec_interactive(self, argv: Sequence[str]) -> NoReturn:
        """Replace this process with argv on the host, on the user's terminal."""
        full = self._argv_for(argv, tty=True)
        os.execvp(full[0], full)
        raise AssertionError("unreachable")  # pragma: no cover

    def rsync_path(self, path: str) -> str:
        return path

    def rsync_options(self, pre_shell: str = "") -> list[str]:
        """rsync options to reach this host. `pre_shell`, a /bin/sh snippet, runs on the host
        first: over ssh in the same exchange as the transfer; here, right now."""
        if pre_shell:
            subprocess.run(["/bin/sh", "-c", pre_shell], stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=SCRIPT_TIMEOUT, check=False)
        return []

    def tmux_argv(self, *args: str, socket: str | None = None) -> list[str]:
        sock = socket if socket is not None else os.environ.get("TMUXKIT_SOCKET", "")
        return ["tmux", *(["-L", sock] if sock else []), *args]

    def install(self) -> InstallInfo:
        """Put this version's host scripts where script_argv finds them."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the transport holds (nothing by default)."""

    # --- runs on this host: a tmux session each (hosts.slurm: a batch job each) -------------
    # What the host can do; verbs ask these, never which kind of host it is.
    shares_runs = False  # another host entry may list the same runs (two entries for one Slurm cluster)
    sends_notifications = True  # its runner and watchdog send a run's notifications themselves
    resumes_itself = False  # a restarted run resumes by itself (no start --resume, no checkpoint hint)
    runs_on_done = True  # it runs a run's on_done command when the run ended for good (shell/lib/done.bash)
    started_word = "started"  # what start says it did
    attach_follows_log = False  # attach follows the run's log (a batch job has no terminal to attach to)
    kind = "tmux"  # the host's kind, as status --json says it (never asked by a verb)

    @property
    def link(self) -> Host:
        """The transport that reaches the machine (this machine or ssh): itself for a tmux host."""
        return self

    def check_start(self, *, resume: bool, sync: bool) -> None:
        """Refuse (UsageError) a start option this host cannot honour. A tmux host takes them all."""

    def start_run(self, spec: RunSpec) -> StartInfo:
        """Start SPEC (tmuxkit-start): its env on stdin, never on a command line."""
        from tmuxkit.runs import StartArgs

        sa = StartArgs.for_spec(self, spec)
        res = self.script_ok("tmuxkit-start", *sa.argv(), input=sa.stdin())
        try:
            return StartInfo.parse(res.out)
        except ContractError as e:
            raise TmuxkitError(f"{self.name}: {e}") from None

    def run_statuses(self, names: Sequence[str] = (), timeout: float = 10.0,
                     ended_within: int | None = None) -> tuple[list[RunStatus], list[str]]:
        """(the runs NAMES, or all but those that ended more than ENDED_WITHIN seconds ago; the
        names that have no run here). The host keeps an ended run's answer (--cache), so a call
        costs the same however many runs it has had. A dead log writer is re-piped here."""
        import math

        window = ["--ended-within", str(ended_within)] if ended_within is not None and not names else []
        # The host ends its own work when this side stops waiting: nothing is left running there.
        deadline = ["--deadline", str(max(1, math.ceil(timeout)))] if timeout else []
        res = self.script_ok("check_training_status.sh", "--runs-only", "--json", "--cache", *deadline, *window,
                             *names, timeout=timeout)
        try:
            report = parse_status_report(res.out)
            runs = [RunStatus.parse(r, host=self.name) for r in report.runs]
        except ContractError as e:
            raise TmuxkitError(f"{self.name}: {e}") from None
        for r in runs:
            if r.writer == Writer.DEAD:  # the log writer died: re-pipe it (with a gap marker) and say so
                fixed = self.script("tmuxkit-zombies", "--fix", r.run)
                # Only a repair that held (the host checks the new writer is still attached a moment later).
                if any(line.startswith("kind=writer_dead\t") and line.endswith("\taction=repiped")
                       for line in fixed.out.splitlines()):
                    r.writer = Writer.REPIPED.value
        return self.same_keys(runs), list(report.unknown)

    def same_keys(self, runs: list[RunStatus]) -> list[RunStatus]:
        """Every kind's status rows have the same keys (status --json): the keys a kind adds (KIND_KEYS,
        a Slurm job's) are there, empty, on a row of a kind without them."""
        for r in runs:
            for k, v in KIND_KEYS.items():
                r.extra.setdefault(k, v)
            r.extra["kind"] = r.extra["kind"] or self.kind
        return runs

    def stop_run(self, name: str, grace: int = Defaults.GRACE, term_wait: int = Defaults.TERM_WAIT) -> StopResult:
        """The ladder (tmuxkit-kill): Ctrl-C, GRACE, SIGTERM, TERM_WAIT, SIGKILL."""
        res = self.script_ok("tmuxkit-kill", name, "--grace", str(grace), "--term-wait", str(term_wait),
                             timeout=grace + term_wait + 60)
        try:
            return StopResult.parse(res.out)
        except ContractError as e:
            raise TmuxkitError(f"{self.name}: {e}") from None

    def rung_text(self, rung: str) -> str:
        """What a stop rung did, in words."""
        return RUNG_TEXT.get(rung, rung)

    def stop_tail(self) -> str:
        """What else a stop did, for its message."""
        return "; lock released"

    def stop_outcome(self, r: StopResult) -> str | None:
        """What became of the run, when its exit code does not tell (None: the exit code does)."""
        return None

    def start_lines(self, info: StartInfo) -> list[str]:
        """What start prints about what it started (the attach line is the verb's)."""
        return [f"started {info.run} on {self.name}", f"  session  {info.session}",
                f"  pid      {info.pid or info.runner_pid}", f"  log      {info.log}",
                f"  results  {info.results}", f"  lock     {info.lock}"]

    def log_args(self, name: str) -> tuple[str, ...]:
        """The host script (and its leading arguments) that prints a run's log."""
        return ("tmuxkit-logs", name)

    def events_args(self, name: str) -> tuple[str, ...]:
        """The host script (and its leading arguments) that prints a run's events."""
        return ("tmuxkit-events", name)

    def attach_argv(self, run: RunStatus) -> list[str]:
        """tmux attach to the run's session; switch-client only from inside the same tmux server
        (from inside another one, a nested attach with TMUX unset). No session left: an error."""
        socket = run.socket
        target = f"={run.run}"
        if self.run(self.tmux_argv("has-session", "-t", target, socket=socket)).rc != 0:
            ended = f"it has ended ({run.state}" + (f", exit code {run.exit_code})" if run.exit_code is not None else ")")
            if run.alive:
                ended = "it runs headless (its tmux session was killed)"
            raise TmuxkitError(f"run {run.run!r} has no tmux session to attach to: {ended}; "
                               f"see its output with: tmuxkit logs {run.run}", ExitCode.NOT_FOUND)
        inside = os.environ.get("TMUX", "")
        if self.name == LOCAL and inside:
            here = self.run(self.tmux_argv("display-message", "-p", "#{socket_path}", socket=socket)).out.strip()
            if here and inside.split(",", 1)[0] == here:
                return self.tmux_argv("switch-client", "-t", target, socket=socket)
            return ["env", "-u", "TMUX", *self.tmux_argv("attach-session", "-t", target, socket=socket)]
        return self.tmux_argv("attach-session", "-t", target, socket=socket)

    def attach_lines(self, run: RunStatus) -> list[str]:
        """What attach says before it follows the run's log (attach_follows_log)."""
        return []

    def shell_argv(self, run: RunStatus) -> list[str]:
        """attach --shell: a shell beside the run, where it runs. A tmux run's session is its terminal."""
        raise UsageError(f"attach --shell is for a run that is a batch job; {run.run} has a tmux session: "
                         f"tmuxkit attach {run.run}")

    def watch_run(self, spec: RunSpec, *, auto_resume: bool, every: int, stuck_after: int | None,
                  gpu_idle_below: int | None, gpu_idle_for: int | None) -> str:
        """Start the run's watchdog on the host (RUN+watch); returns the line that says so."""
        from tmuxkit import watch

        info = watch.start(self, spec, auto_resume=auto_resume, every=every, stuck_after=stuck_after,
                           gpu_idle_below=gpu_idle_below, gpu_idle_for=gpu_idle_for)
        mode = "watching and resuming" if auto_resume else "watching"
        if info.get("watchdog") == "queued":
            return (f"{mode} {spec.name} on {self.name} once the host's queue starts it: its watchdog starts with it, "
                    f"tmux session {info.get('session')} there; events: tmuxkit events {spec.name} -f")
        return (f"{mode} {spec.name} on {self.name}: tmux session {info.get('session')} there; "
                f"events: tmuxkit events {spec.name} -f")

    def notify_end(self, spec: RunSpec, targets: Sequence[str]) -> None:
        """With no watchdog asked for: the run's end is notified from the host (its runner's end
        hook; a run that ended already is notified now). TARGETS ("KIND URL") go on stdin."""
        self.script_ok("tmuxkit-watch", spec.name, "--notify-stdin", "--notify-end",
                       input="".join(t + "\n" for t in targets).encode())

    def watch_off(self, name: str) -> bool:
        """End the run's watchdog; True when one was running."""
        from tmuxkit import watch

        return watch.off(self, name)

    # --- what the laptop's sync (tmuxkit.sync) asks of the host ---------------------------------
    def sync_status_argv(self, name: str) -> list[str] | None:
        """The host command whose stdout is NAME's status report (JSON), run in the same exchange
        as a sync pass, just before its transfer; None: the sync asks run_statuses before the pass."""
        return self.script_argv("check_training_status.sh", ["--runs-only", "--json", name])

    def sync_event_args(self, name: str) -> tuple[str, ...] | None:
        """The host script (and its leading arguments) that adds an event (synced) to NAME's event
        log, to which the sync appends EVENT and NAME=NUMBER fields; None: the host keeps none."""
        return ("tmuxkit-events", name, "--add")

    def on_done_args(self, name: str) -> tuple[str, ...]:
        """The host script (and its leading arguments) that keeps NAME's on_done (--set, stdin) and
        takes the sync's acknowledgement (--ack)."""
        return ("tmuxkit-done", name)

    def on_done_line(self, spec: RunSpec) -> str:
        """What start says of the run's on_done, once the host has it."""
        return (f"on_done: runs on {self.name} once {spec.name} ended for good (not after tmuxkit stop, not while "
                f"another run there is live or queued), after the sync's final pass landed here, else "
                f"{spec.on_done_wait}s after the end")

    def sync_checkpoint_args(self, spec: RunSpec, results: str, ended: bool) -> list[str]:
        """tmuxkit-checkpoints' leading arguments for the sync's checkpoints of SPEC (RESULTS: its
        results folder there; ENDED: the run had ended before this pass). A tmux host knows its runs."""
        return [spec.name]

    def sync_ack_args(self, name: str) -> tuple[str, ...] | None:
        """The host script (and its leading arguments) that takes the sync's acknowledgement of its
        final pass (the on_done waiter's cue); None: nothing on the host waits for it."""
        return (*self.on_done_args(name), "--ack")

    def cleanup_note(self) -> str:
        """One line cleanup says for this host besides its rows ("" for none)."""
        return ""

    def cleanup_runs(self, dry_run: bool = False) -> list[dict[str, str]]:
        """Zombies, stale locks, dead writers (tmuxkit-zombies): reported, or fixed."""
        rows = self.script_ok("tmuxkit-zombies", *([] if dry_run else ["--fix"]), timeout=300).kv_lines()
        for r in rows:
            r["host"] = self.name
        return rows

    def forget_runs(self, names: Sequence[str] = (), *, older_than: int | None = None,
                    dry_run: bool = False) -> list[dict[str, str]]:
        """Remove finished runs' state here (tmuxkit-forget); a row per run (forgot=RUN)."""
        args = (["--dry-run"] if dry_run else []) + (["--older-than", str(older_than)] if older_than is not None else [])
        return self.script_ok("tmuxkit-forget", *args, *names, timeout=120).kv_lines()

    def doctor_args(self) -> list[str]:
        """tmuxkit-doctor's extra arguments for this kind of host."""
        return []

    def doctor_rows(self, conf: Config, ok: set[str]) -> list[dict[str, str]]:
        """doctor's rows of this host's own checks of the config (kv rows: check, ok, value, fix),
        given the names of the host script's checks that passed."""
        return []


RUNG_TEXT: dict[str, str] = {Rung.SIGINT: "Ctrl-C", Rung.SIGTERM: "SIGTERM, after Ctrl-C's grace period ran out",
                             Rung.SIGKILL: "SIGKILL, after SIGTERM was ignored"}


