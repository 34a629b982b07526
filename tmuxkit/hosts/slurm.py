"""SlurmHost: a host whose runs are Slurm batch jobs, not tmux sessions.

The transport is LocalHost (submit from this machine) or SshHost (ssh = "login-node": the same
ControlMaster, BatchMode and host-key rules); this class only forwards to it. What a run is on
such a host lives in shell/tmuxkit-slurm (submit, list, logs, stop, watch) and, on the compute
node, shell/tmuxkit-sbatch-run; this module builds their arguments and reads their answers.
The host scripts must be on a filesystem the compute nodes see (over ssh: $TMUXKIT_HOME/bin on
the login node, usually in a shared home).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from tmuxkit.config import Config, HostSpec, RunSpec, expand_home
from tmuxkit.contract import ContractError, Defaults, ExitCode, Rung, RunStatus, StartInfo, State, StopResult, kv_line
from tmuxkit.errors import HostError, TmuxkitError, UsageError
from tmuxkit.hosts import slurm_args
from tmuxkit.hosts.base import SCRIPT_TIMEOUT, Host, InstallInfo, Result
from tmuxkit.hosts.local import LocalHost

SCRIPT = "tmuxkit-slurm"
SUBMIT_TIMEOUT = 120.0  # sbatch on a busy controller can take a while


@dataclass(frozen=True)
class Submitted:
    """tmuxkit-slurm submit's answer."""

    run: str
    job: str
    log: str
    results: str
    cwd: str
    after: str = ""  # --after OTHER: what the job waits for, in words ("" for nothing)
    note: str = ""  # what start says first (a time_limit_lead cut to a third of the limit)


def _kv(text: str) -> dict[str, str]:
    """The scripts' key=value lines (one a line, or tab-separated), merged."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        out.update(kv_line(line))
    return out


def _exit_code(slurm_exit: str) -> int | None:
    """Slurm's ExitCode "CODE:SIGNAL" -> the code (128+SIGNAL when a signal ended it)."""
    code, _, sig = slurm_exit.partition(":")
    try:
        c, s = int(code), int(sig or 0)
    except ValueError:
        return None
    return 128 + s if c == 0 and s else c


RUNG_TEXT: dict[str, str] = {Rung.SIGINT: "Ctrl-C (scancel --signal=INT --full): the job ended",
                             Rung.SIGTERM: "scancel after the grace period, or cancelled while pending"}


class SlurmHost(Host):
    kind = "slurm"
    shares_runs = True  # two host entries (partitions, sbatch_args) may reach one cluster and list its jobs
    # Its watchdog, a loop on the login host, sends them (with the wrapper's events it relays):
    # curl or python3 there, the laptop gone; without --watch, start starts one that only notifies.
    sends_notifications = True
    resumes_itself = True  # a requeued job resumes from the newest complete checkpoint (tmuxkit-sbatch-run)
    runs_on_done = True  # on the login host, by a waiter there (tmuxkit-slurm done), once the job ended for good
    attach_follows_log = True  # a batch job has no terminal: attach follows its log (attach --shell: srun --pty)

    def __init__(self, spec: HostSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.transport: Host
        if spec.ssh:
            from tmuxkit.hosts.ssh import SshHost

            self.transport = SshHost(spec)
        else:
            self.transport = LocalHost()
            self.transport.name = spec.name  # errors name the configured host

    @property
    def local(self) -> bool:
        return not self.spec.ssh

    # --- the transport, unchanged -------------------------------------------------------
    def _argv_for(self, argv: Sequence[str], *, tty: bool = False) -> list[str]:
        return self.transport._argv_for(argv, tty=tty)

    def script_argv(self, script: str, args: Sequence[str]) -> list[str]:
        return self.transport.script_argv(script, args)

    def _check_transport(self, res: Result, argv: Sequence[str]) -> None:
        self.transport._check_transport(res, argv)

    def run(self, argv: Sequence[str], *, timeout: float | None = SCRIPT_TIMEOUT, input: bytes | None = None) -> Result:
        return self.transport.run(argv, timeout=timeout, input=input)

    def script(
        self, script: str, *args: str, timeout: float | None = SCRIPT_TIMEOUT, input: bytes | None = None
    ) -> Result:
        return self.transport.script(script, *args, timeout=timeout, input=input)

    def stream(self, script: str, *args: str) -> int:
        return self.transport.stream(script, *args)

    def lines(self, script: str, *args: str) -> Iterator[str]:
        return self.transport.lines(script, *args)

    def exec_interactive(self, argv: Sequence[str]) -> NoReturn:
        self.transport.exec_interactive(argv)

    def rsync_path(self, path: str) -> str:
        return self.transport.rsync_path(path)

    def rsync_options(self, pre_shell: str = "") -> list[str]:
        return self.transport.rsync_options(pre_shell)

    def install(self) -> InstallInfo:
        return self.transport.install()

    def close(self) -> None:
        self.transport.close()

    # --- the Host interface's runs, as batch jobs ------------------------------------------
    @property
    def link(self) -> Host:
        return self.transport

    def check_start(self, *, resume: bool, sync: bool) -> None:
        if resume:
            raise UsageError(f"--resume is not available for a run on Slurm host {self.name!r}: its batch job "
                             "resumes from the newest checkpoint by itself when requeued")

    def start_run(self, spec: RunSpec) -> StartInfo:
        sub = self.submit(spec)
        return StartInfo(run=sub.run, session="", log=sub.log, results=sub.results, lock="",
                         state=State.PENDING.value, job=sub.job, waiting_for=sub.after, note=sub.note)

    def run_statuses(self, names: Sequence[str] = (), timeout: float = 10.0,
                     ended_within: int | None = None) -> tuple[list[RunStatus], list[str]]:
        return self.statuses_partial(names, timeout)

    def rung_text(self, rung: str) -> str:
        return RUNG_TEXT.get(rung, rung)

    def stop_tail(self) -> str:
        return ""

    def events_args(self, name: str) -> tuple[str, ...]:
        return (SCRIPT, "events", name)

    def attach_argv(self, run: RunStatus) -> list[str]:
        raise self.no_terminal(run)

    def _srun_hint(self, job: str) -> str:
        srun = f"srun --jobid {job} --overlap --pty bash"
        return f"ssh -t {self.spec.ssh} {srun}" if not self.local else srun

    def attach_lines(self, run: RunStatus) -> list[str]:
        """attach of a batch job: it follows the job's log (as logs -f), and says so first, with
        where the job stands and how to open a shell on its node."""
        job = str(run.extra.get("job") or "")
        node = str(run.extra.get("node") or "")
        if run.state == State.PENDING:
            where = f"pending (Slurm job {job}): its log is followed from when it starts"
        elif run.state == State.RUNNING:
            where = f"running as Slurm job {job}" + (f" on {node}" if node else "")
        else:
            code = f", exit code {run.exit_code}" if run.exit_code is not None else ""
            where = f"ended ({run.state}{code}; Slurm job {job}): its log as it was left"
        lines = [f"{run.run} is a batch job on {self.name}, {where}. Following its log; Ctrl-C leaves it, "
                 "the run goes on."]
        if run.state in (State.PENDING, State.RUNNING):
            lines.append(f"a shell on its node, beside it: tmuxkit attach {run.run} --shell   "
                         f"(or: {self._srun_hint(job)})")
        return lines

    def shell_argv(self, run: RunStatus) -> list[str]:
        """attach --shell: srun --jobid JOB --overlap --pty bash, on the login host (over ssh -t)."""
        job = str(run.extra.get("job") or "")
        if run.state != State.RUNNING or not job.replace("_", "").isdigit():
            now = "pending: it has no node yet" if run.state == State.PENDING else f"{run.state}: it has ended"
            raise TmuxkitError(f"{run.run} (Slurm job {job or '?'} on {self.name}) is {now}, so there is no shell "
                               f"to open beside it; follow its log: tmuxkit attach {run.run}", ExitCode.FAIL)
        return ["srun", f"--jobid={job}", "--overlap", "--pty", "bash"]

    def watch_run(self, spec: RunSpec, *, auto_resume: bool, every: int, stuck_after: int | None,
                  gpu_idle_below: int | None, gpu_idle_for: int | None) -> str:
        """The Slurm watchdog (tmuxkit-slurm watch), a loop on the submitting host: by the run's
        restart_on, a job whose log is silent for stuck_after, or whose GPUs (read on the compute
        node) idle under gpu_idle_below for gpu_idle_for, and a job that crashed, is requeued (the
        wrapper resumes from the newest complete checkpoint), within the run's restart budget. It
        sends the run's notifications itself."""
        stuck = stuck_after or spec.stuck_after
        below = gpu_idle_below if gpu_idle_below is not None else spec.gpu_idle_below
        idle_for = gpu_idle_for or spec.gpu_idle_for
        extra = ["--restart-on", spec.restart_on]
        if below is not None:
            extra += ["--gpu-idle-below", str(below), "--gpu-idle-for", str(idle_for)]
        info = self.watch(spec.name, every=every, stuck_after=stuck, max_restarts=spec.max_restarts,
                          restart_window=spec.restart_window, extra=extra, targets=self._targets(spec))
        kinds = {"both": "a log silent for {s}s{g} or a crash", "stuck": "a log silent for {s}s{g}",
                 "crash": "a crash"}[spec.restart_on]
        what = kinds.format(s=stuck, g=f" or GPUs under {below}% for {idle_for}s" if below is not None else "")
        return (f"watching {spec.name} (Slurm job {info.get('job', '?')}) from {self.name}: {what} is requeued "
                f"and resumes, at most {spec.max_restarts} times in {spec.restart_window}s; "
                f"events: tmuxkit events {spec.name} -f")

    @staticmethod
    def _targets(spec: RunSpec) -> list[str]:
        """The notify targets the login host's watchdog sends to ("KIND URL" lines)."""
        from tmuxkit import watch

        return watch.host_targets(spec.notify)[0] if spec.notify_from in ("host", "both") else []

    def notify_end(self, spec: RunSpec, targets: Sequence[str]) -> None:
        """No watchdog asked for: one that only notifies (it requeues nothing) sends the run's
        events from the login host, its end included, with the laptop gone."""
        self.watch(spec.name, every=Defaults.WATCH_EVERY, stuck_after=spec.stuck_after,
                   max_restarts=spec.max_restarts, restart_window=spec.restart_window,
                   extra=["--notify-only"], targets=list(targets))

    def cleanup_runs(self, dry_run: bool = False) -> list[dict[str, str]]:
        return []  # Slurm keeps its own jobs; the wrapper's lock on the compute node ends with the job

    # The sync pulls from the cluster's shared filesystem through the login host, like any host's.
    def sync_status_argv(self, name: str) -> list[str] | None:
        return None  # the job's state is Slurm's (one scontrol call, asked before each pass)

    def sync_event_args(self, name: str) -> tuple[str, ...] | None:
        return None  # the tmux hosts' event log (tmuxkit-events) is no Slurm run's

    def sync_checkpoint_args(self, spec: RunSpec, results: str, ended: bool) -> list[str]:
        """By the results folder (this host keeps no tmux run of it); a glob is taken from the run's
        cwd (as submit resolves it). Once the job has ended nothing writes: none needs to settle."""
        cwd = spec.cwd
        if cwd is not None and self.local:
            cwd = str(Path(expand_home(cwd)).resolve())
        elif cwd is not None and (cwd == "~" or cwd.startswith("~/")):  # the login's home is where ssh lands
            cwd = cwd[2:] or "."
        return ["--results", results, *(["--cwd", cwd] if cwd else []), *(["--settle", "0"] if ended else []),
                spec.name]

    def on_done_args(self, name: str) -> tuple[str, ...]:
        return (SCRIPT, "done", name)

    def on_done_line(self, spec: RunSpec) -> str:
        where = "its login host" if not self.local else "this machine"
        return (f"on_done: runs on {self.name} ({where}) once {spec.name}'s Slurm job ended for good (not pending or "
                f"requeued, not after tmuxkit stop or scancel), after the sync's final pass landed here, else "
                f"{spec.on_done_wait}s after the end")

    def cleanup_note(self) -> str:
        return ("Slurm host: nothing to clean by design (Slurm ends a job's processes; its batch wrapper releases "
                "the results lock as the job ends); ended runs' records here go with tmuxkit forget RUN, or cleanup --older-than")

    def forget_runs(self, names: Sequence[str] = (), *, older_than: int | None = None,
                    dry_run: bool = False) -> list[dict[str, str]]:
        """tmuxkit-slurm forget: the ended runs' state on the submitting host (results and logs stay)."""
        args = (["--dry-run"] if dry_run else []) + (["--older-than", str(older_than)] if older_than is not None else [])
        return self.script_ok(SCRIPT, "forget", *args, *names, timeout=120).kv_lines()

    def doctor_args(self) -> list[str]:
        return ["--slurm"]

    def doctor_rows(self, conf: Config, ok: set[str]) -> list[dict[str, str]]:
        """sbatch --test-only of the host's and each run's resources (with a client and a controller)."""
        if not {"sbatch", "slurm controller"} <= ok:
            return []
        return slurm_args.test_only_rows(self, conf)

    # --- runs as batch jobs -------------------------------------------------------------
    def submit(self, spec: RunSpec) -> Submitted:
        """sbatch the run (tmuxkit-slurm submit): its env goes on stdin, never on a command line."""
        cwd = spec.cwd
        if cwd is not None and self.local:
            cwd = str(Path(expand_home(cwd)).resolve())
        results = spec.results or f"results/{spec.name}"
        # The warning signal's lead (--signal=B:USR1@LEAD): time_limit_lead, at most a third of the limit.
        lead = slurm_args.time_limit_lead(slurm_args.resources(self.spec, spec), Defaults.GRACE)
        asked = int(slurm_args.resources(self.spec, spec).get("time_limit_lead") or 0)
        note = (f"time_limit_lead {asked}s is more than a third of the run's time limit: the trainer gets its "
                f"Ctrl-C {lead}s before it" if asked > lead else "")
        args = [spec.name, "--results", results, "--cmd", spec.command_line(), "--grace", str(lead)]
        if cwd is not None:
            args += ["--cwd", cwd]
        if spec.resume:
            args += ["--resume", spec.resume]
        if spec.checkpoints:
            args += ["--glob", spec.checkpoints]
        if spec.checkpoint_check:
            args += ["--check", spec.checkpoint_check]
        if spec.after:  # --dependency=afterok: OTHER's job (tmuxkit-slurm submit checks it first)
            args += ["--after", spec.after]
        stdin = None
        if spec.env:
            args.append("--env-stdin")
            stdin = "".join(f"{k}={v}\n" for k, v in spec.env.items()).encode()
        args += ["--", *slurm_args.sbatch_args(self.spec, spec)]  # resources, then sbatch_args
        res = self.script_ok(SCRIPT, "submit", *args, timeout=SUBMIT_TIMEOUT, input=stdin)
        kv = _kv(res.out)
        if not kv.get("job") or not kv.get("log"):
            raise TmuxkitError(f"{self.name}: {SCRIPT} submit printed no job id")
        log = kv["log"]
        res_dir = str(Path(log).parent.parent)
        after = ""
        if kv.get("after"):
            after = (f"run {kv['after']} to exit 0 (Slurm job {kv['after_job']}: --dependency=afterok:{kv['after_job']})"
                     if kv.get("after_job") else f"nothing: run {kv['after']} already exited 0")
        return Submitted(run=spec.name, job=kv["job"], log=log, results=res_dir, cwd=cwd or "", after=after, note=note)

    def statuses(self, names: Sequence[str] = (), timeout: float | None = SCRIPT_TIMEOUT) -> list[RunStatus]:
        """Each named run's newest job (none named: every job tmuxkit submitted here), from one
        scontrol call on the host. A named run Slurm does not know is an error (exit 4)."""
        out, missing = self.statuses_partial(names, timeout)
        if missing:
            raise HostError(
                f"no Slurm job named '{missing[0]}' on {self.name}, and none submitted from there",
                host=self.name,
                code=ExitCode.NOT_FOUND,
            )
        return out

    def statuses_partial(
        self, names: Sequence[str] = (), timeout: float | None = SCRIPT_TIMEOUT
    ) -> tuple[list[RunStatus], list[str]]:
        """As statuses, but a named run Slurm does not know is returned by name, not raised:
        (the runs found, the names not found), as the tmux hosts answer a partial status."""
        res = self.script_ok(SCRIPT, "list", *names, timeout=timeout)
        out = [self._status(kv_line(line)) for line in res.out.splitlines() if "=" in line]
        found = {r.run for r in out}
        return self.same_keys(out), [n for n in names if n not in found]

    def _status(self, r: dict[str, str]) -> RunStatus:
        if "run" not in r or "state" not in r:
            raise TmuxkitError(f"{self.name}: {SCRIPT} list printed a line without run and state")
        ended = r["state"] not in (State.PENDING, State.RUNNING)
        log = r.get("log", "")
        data: dict[str, object] = {
            "run": r["run"],
            "state": r["state"],
            "log_path": log,
            "log_age_s": r.get("log_age_s", ""),
            "last_line": r.get("last_line", ""),
            "last_event": r.get("last_event", ""),
            "restarts": r.get("restarts", "") or 0,
            "results": str(Path(log).parent.parent) if log else "",
            "exit_code": _exit_code(r.get("exit", "")) if ended else None,
            "job": r.get("job", ""),
            "node": r.get("node", ""),
            "reason": r.get("reason", ""),
            "slurm_state": r.get("slurm_state", ""),
            "requeues": int(r.get("requeues") or 0),
            "watchdog": r.get("watchdog", ""),
            "stop_rung": r.get("stop_rung", ""),
            "cause": r.get("cause", ""),
            "kind": self.kind,
            # what a tmux run shows, from the same host code (tmuxkit-slurm list's emit)
            "uptime_s": r.get("uptime_s", ""),
            "progress": r.get("progress") or None,
            "losses": r.get("losses", ""),
        }
        try:
            return RunStatus.parse(data, host=self.name)
        except ContractError as e:
            raise TmuxkitError(f"{self.name}: {e}") from None

    def stop_run(self, name: str, grace: int = Defaults.GRACE, term_wait: int = Defaults.TERM_WAIT) -> StopResult:
        """The ladder in tmuxkit-slurm stop: scancel --signal=INT --full, GRACE, then scancel."""
        res = self.script_ok(SCRIPT, "stop", name, "--grace", str(grace), timeout=grace + 120)
        kv = _kv(res.out)
        rung = kv.get("rung", "")
        return StopResult(
            state="stopped" if rung else "not_running",
            run=name,
            rung=rung,
            detail=f"Slurm job {kv.get('job', '?')}" + ("" if rung else " had ended")
            + (", cancelled while pending" if kv.get("was") == "pending" else ""),
            watchdog=kv.get("watchdog", "none"),
            exit_code=int(kv["exit"]) if kv.get("exit", "").lstrip("-").isdigit() else None,
        )

    def log_args(self, name: str) -> tuple[str, ...]:
        return (SCRIPT, "logs", name)

    def start_lines(self, info: StartInfo) -> list[str]:
        return [f"submitted {info.run} to {self.name} as Slurm job {info.job}", f"  job      {info.job}",
                f"  log      {info.log}", f"  results  {info.results}",
                *([f"  waits    for {info.waiting_for}"] if info.waiting_for else [])]

    def stop_outcome(self, r: StopResult) -> str | None:
        return "it never started" if r.detail.endswith("while pending") else None

    def watch(
        self, name: str, *, every: int, stuck_after: int, max_restarts: int, restart_window: int,
        extra: Sequence[str] = (), targets: Sequence[str] = (),
    ) -> dict[str, str]:
        """tmuxkit-slurm watch --detach; the notify targets go on stdin (a webhook URL is a secret)."""
        res = self.script_ok(
            SCRIPT,
            "watch",
            name,
            "--detach",
            "--every",
            str(every),
            "--stuck-after",
            str(stuck_after),
            "--max-restarts",
            str(max_restarts),
            "--restart-window",
            str(restart_window),
            "--grace",
            str(Defaults.GRACE),
            *extra,
            *os.environ.get("TMUXKIT_WATCH_OPTS", "").split(),  # as for the tmux watchdog (tests: --every 1)
            "--notify-stdin",
            input="".join(f"{t}\n" for t in targets).encode(),
        )
        return _kv(res.out)

    def watch_off(self, name: str) -> bool:
        return _kv(self.script_ok(SCRIPT, "watch", name, "--off").out).get("watchdog") == "ended"

    def no_terminal(self, run: RunStatus) -> TmuxkitError:
        """attach on a batch job: there is no terminal; say what to do instead."""
        job = str(run.extra.get("job") or "JOB")
        srun = f"srun --jobid {job} --overlap --pty bash"
        if not self.local:
            srun = f"ssh -t {self.spec.ssh} {srun}"
        where = f"Slurm job {job} on {self.name}, {run.state}"
        return TmuxkitError(
            f"{run.run} is a batch job ({where}): it has no terminal to attach to; follow its "
            f"output with: tmuxkit logs {run.run} -f, or open a shell beside it: {srun}",
            ExitCode.FAIL,
        )
