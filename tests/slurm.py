"""A real single-node Slurm for tests: munged, slurmctld and slurmd in the foreground.

Everything lives in one private temp dir (key, sockets, state, spool, logs, slurm.conf);
clients find it through SLURM_CONF. The daemons are stopped by PID. Needs root (SlurmUser=root,
munged's key checks) and the Debian packages slurmctld slurmd slurm-client munge; otherwise
`unavailable()` says why, for a skip.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

GRACE_TIME = 20  # seconds a preempted job of partition "debug" has between its signal and its requeue
TOOLS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "scontrol", "scancel", "squeue")


def _which(tool: str) -> str | None:
    return shutil.which(tool) or next(
        (p for p in (f"/usr/sbin/{tool}", f"/sbin/{tool}") if os.access(p, os.X_OK)), None
    )


def unavailable() -> str | None:
    """Why a real Slurm cannot be started here, or None."""
    if os.name != "posix" or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "a real Slurm needs root (SlurmUser=root, munged key ownership); not root here"
    missing = [t for t in TOOLS if _which(t) is None]
    if missing:
        return (
            "Slurm packages not installed (apt-get install slurmctld slurmd slurm-client munge): missing "
            + " ".join(missing)
        )
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(cond: Callable[[], bool], timeout: float, what: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    tails = "\n".join(f"--- {p}:\n{p.read_text(errors='replace')[-2000:]}" for p in logs if p.exists())
    raise RuntimeError(f"Slurm fixture: timed out after {timeout}s waiting for {what}\n{tails}")


@dataclass
class Slurm:
    """A running single-node cluster; env() is what a client needs."""

    root: Path
    conf: Path
    node: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def daemon_env(self) -> dict[str, str]:
        """The daemons' environment: this one without a test's TMUXKIT_* (a test's teardown kills
        every process that carries its TMUXKIT_SOCKET: a cluster started inside a test, as a
        fixture asked for late, would die with that test and not serve the module's next)."""
        return {**{k: v for k, v in os.environ.items() if not k.startswith("TMUXKIT_")}, **self.env()}

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, env={**os.environ, **self.env()}, capture_output=True, text=True, check=check, timeout=30
        )

    def controller_down(self) -> None:
        """Stop slurmctld (the daemons' second process); the node and its jobs run on."""
        p = self.procs[1]
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)

    def controller_up(self, timeout: float = 30.0) -> None:
        """Start slurmctld again (after controller_down), from its saved state: the jobs are kept;
        return once it answers."""
        assert self.procs[1].poll() is not None, "the controller is running"
        self.procs[1] = subprocess.Popen(
            [_which("slurmctld") or "slurmctld", "-D", "-i", "-f", str(self.conf)],
            env=self.daemon_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait(lambda: self.run("scontrol", "ping", check=False).stdout.count("UP") > 0, timeout,
              "the controller to answer again", [self.root / "log" / "slurmctld.log"])

    def stop(self) -> None:
        if self.procs and self.procs[-1].poll() is None:
            # Cancel every job first, so no slurmstepd or trainer outlives the daemons.
            self.run("scancel", "--user=root", "--full", "--signal=KILL", check=False)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                r = self.run("squeue", "-h", "-t", "RUNNING,COMPLETING", "-o", "%i", check=False)
                if r.returncode != 0 or not r.stdout.strip():
                    break
                time.sleep(0.2)
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(self.procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)


def start(timeout: float = 30.0) -> Slurm:
    """Start munged, slurmctld and slurmd; return once the node is idle (bounded by timeout)."""
    root = Path(tempfile.mkdtemp(prefix="tk-slurm-"))
    os.chmod(root, 0o700)
    for d in ("munge", "state", "spool", "log"):
        (root / d).mkdir(mode=0o700)
    host = socket.gethostname().split(".")[0]
    node = "tknode"
    # More CPUs than the machine has (slurmd told to trust the config): a job a test left running, or
    # two tests' jobs at once, never keep a later job pending on a 2-CPU machine.
    cpus = max(8, os.cpu_count() or 1)
    key = root / "munge" / "munge.key"
    sock = root / "munge" / "munge.socket"
    subprocess.run(
        [_which("mungekey") or "mungekey", "--create", "--keyfile", str(key)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    os.chmod(key, 0o400)
    conf = root / "slurm.conf"
    conf.write_text(
        "\n".join(
            [
                "ClusterName=tmuxkit",
                f"SlurmctldHost={host}(127.0.0.1)",
                f"SlurmctldPort={_free_port()}",
                f"SlurmdPort={_free_port()}",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={sock},cred_expire=5",
                f"StateSaveLocation={root / 'state'}",
                f"SlurmdSpoolDir={root / 'spool'}",
                f"SlurmctldPidFile={root / 'slurmctld.pid'}",
                f"SlurmdPidFile={root / 'slurmd.pid'}",
                f"SlurmctldLogFile={root / 'log' / 'slurmctld.log'}",
                f"SlurmdLogFile={root / 'log' / 'slurmd.log'}",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "MpiDefault=none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_CPU",
                "AccountingStorageType=accounting_storage/none",
                "JobCompType=jobcomp/filetxt",
                f"JobCompLoc={root / 'log' / 'jobcomp.txt'}",
                "SchedulerParameters=sched_interval=2,bf_interval=1",
                "SlurmctldParameters=preempt_send_user_signal",
                "SlurmdParameters=config_overrides",
                "MinJobAge=86400",
                "KillWait=3",
                "ReturnToService=2",
                "InactiveLimit=0",
                "SlurmctldTimeout=30",
                "SlurmdTimeout=30",
                # A job on partition "high" preempts the jobs of "debug" (the default) when it needs
                # their CPUs: Slurm warns them (GraceTime; preempt_send_user_signal, above: the job's
                # own --signal, tmuxkit's B:USR1, at once, not the job steps' TERM that never reaches
                # the batch shell), then requeues them.
                "PreemptType=preempt/partition_prio",
                "PreemptMode=REQUEUE",
                f"NodeName={node} NodeAddr=127.0.0.1 NodeHostname={host} CPUs={cpus} State=UNKNOWN",
                f"PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP PriorityTier=1"
                f" GraceTime={GRACE_TIME}",
                "PartitionName=high Nodes=ALL MaxTime=INFINITE State=UP PriorityTier=2 PreemptMode=OFF",
                "",
            ]
        )
    )
    s = Slurm(root=root, conf=conf, node=node)
    logs = [root / "log" / "munged.log", root / "log" / "slurmctld.log", root / "log" / "slurmd.log"]
    try:
        s.procs.append(
            subprocess.Popen(
                [
                    _which("munged") or "munged",
                    "-F",
                    "--force",
                    f"--key-file={key}",
                    f"--socket={sock}",
                    f"--pid-file={root / 'munge' / 'munged.pid'}",
                    f"--log-file={logs[0]}",
                    f"--seed-file={root / 'munge' / 'seed'}",
                ],
                env=s.daemon_env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        _wait(sock.exists, timeout, "munged's socket", logs)
        env = s.daemon_env()
        s.procs.append(
            subprocess.Popen(
                [_which("slurmctld") or "slurmctld", "-D", "-i", "-f", str(conf)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        s.procs.append(
            subprocess.Popen(
                [_which("slurmd") or "slurmd", "-D", "-N", node, "-f", str(conf)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )

        def idle() -> bool:
            for p in s.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"Slurm fixture: {p.args!r} exited with {p.returncode}")
            r = s.run("sinfo", "-h", "-N", "-o", "%T", check=False)
            return r.returncode == 0 and r.stdout.strip().startswith("idle")

        _wait(idle, timeout, "the node to become idle", logs)
    except BaseException:
        s.stop()
        raise
    return s
