"""SlurmHost: a host whose runs are Slurm batch jobs, not tmux sessions.

The transport is LocalHost (submit from this machine) or SshHost (ssh = "login-node": the same
ControlMaster, BatchMode and host-key rules); this class only forwards to it. What a run is on
such a host lives in shell/tmuxkit-slurm (submit, list, logs, stop, watch) and, on the compute
node, shell/tmuxkit-sbatch-run; this module builds their arguments and reads their answers.
The host scripts must be on a filesystem the compute nodes see (over ssh: $TMUXKIT_HOME/bin on
the login node, usually in a shared home).
"""

from __future__ import annotations

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
    sends_notifications = False  # its watchdog writes events; `tmuxkit events RUN -f` here sends them
    resumes_itself = True  # a requeued job resumes from the newest complete checkpoint (tmuxkit-sbatch-run)
    runs_on_done = False  # not yet: a batch job's end is on the compute node (tmuxkit-done runs beside tmux runs)

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
        if sync:
            raise UsageError(f"--sync is not available for a run on Slurm host {self.name!r} yet; "
                             "its results are on the cluster: tmuxkit logs RUN -f")

    def start_run(self, spec: RunSpec) -> StartInfo:
        sub = self.submit(spec)
        return StartInfo(run=sub.run, session="", log=sub.log, results=sub.results, lock="",
                         state=State.PENDING.value, job=sub.job)

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

    def watch_run(self, spec: RunSpec, *, auto_resume: bool, every: int, stuck_after: int | None,
                  gpu_idle_below: int | None, gpu_idle_for: int | None) -> str:
        """The Slurm watchdog (tmuxkit-slurm watch), a loop on the submitting host: a job whose log
        is silent for stuck_after is requeued (the wrapper resumes from the newest complete
        checkpoint), within the run's restart budget."""
        if gpu_idle_below is not None:
            raise UsageError("watch: --gpu-idle-below is not available for a Slurm job (its GPUs are on the compute node)")
        stuck = stuck_after or spec.stuck_after
        info = self.watch(spec.name, every=every, stuck_after=stuck, max_restarts=spec.max_restarts,
                          restart_window=spec.restart_window)
        return (f"watching {spec.name} (Slurm job {info.get('job', '?')}) from {self.name}: a log silent for "
                f"{stuck}s is requeued, at most {spec.max_restarts} times in {spec.restart_window}s; "
                f"events: tmuxkit events {spec.name} -f")

    def cleanup_runs(self, dry_run: bool = False) -> list[dict[str, str]]:
        return []  # Slurm keeps its own jobs; the wrapper's lock on the compute node ends with the job

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
        args = [spec.name, "--results", results, "--cmd", spec.command_line(), "--grace", str(Defaults.GRACE)]
        if cwd is not None:
            args += ["--cwd", cwd]
        if spec.resume:
            args += ["--resume", spec.resume]
        if spec.checkpoints:
            args += ["--glob", spec.checkpoints]
        if spec.checkpoint_check:
            args += ["--check", spec.checkpoint_check]
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
        return Submitted(run=spec.name, job=kv["job"], log=log, results=res_dir, cwd=cwd or "")

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
                f"  log      {info.log}", f"  results  {info.results}"]

    def stop_outcome(self, r: StopResult) -> str | None:
        return "it never started" if r.detail.endswith("while pending") else None

    def watch(
        self, name: str, *, every: int, stuck_after: int, max_restarts: int, restart_window: int
    ) -> dict[str, str]:
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
