"""Remote benchmarks over a real loopback sshd (started here, with generated keys).

remote: `status RUN` vs `ssh HOST bash -s < check_training_status.sh` on a fresh connection (target <= 1.5x);
        status over 8 host entries vs 1 (target <= 1.5x);
        ssh round trips per command over a link with 50 ms added each way (targets: status 1, start <= 3, stop <= 2),
        counted by an `ssh` shim that logs each invocation (each is one remote exchange over the shared master).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.bench import TMUXKIT, median_time, row
from testkit.sshd import start_sshd

ROOT = Path(__file__).resolve().parent.parent

DELAY = 0.05


class RemoteBench:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="tmuxkit-rbench-"))
        self.sshd = start_sshd(self.dir / "sshd")
        # Seven more ports on the same sshd: eight distinct hosts, eight ControlMasters.
        conf = self.dir / "sshd" / "sshd_config"
        self.sshd.stop()
        from testkit.sshd import free_port, wait_port

        self.ports = [self.sshd.port] + [free_port() for _ in range(7)]
        text = conf.read_text().replace(f"Port {self.sshd.port}\n", "".join(f"Port {p}\n" for p in self.ports))
        conf.write_text(text)
        self.sshd.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(conf)], stderr=subprocess.DEVNULL)
        for p in self.ports:
            wait_port(p)
        known = "".join(f"[127.0.0.1]:{p} {self.sshd.host_pub}\n" for p in self.ports)
        (self.dir / "sshd" / "known_hosts").write_text(known)
        rhome = self.dir / "rhome"
        blocks = []
        for i, p in enumerate(self.ports):
            blocks.append(self._block(f"h{i}", p, rhome))
        for i, p in enumerate(self.ports):
            proxy = f"ProxyCommand {sys.executable} {ROOT / 'bench' / 'delayproxy.py'} {p} {DELAY}"
            blocks.append(self._block("slow" if i == 0 else f"slow{i}", p, rhome, proxy))
        self.ssh_config = self.dir / "ssh_config"
        self.ssh_config.write_text("\n".join(blocks))
        hosts = "".join(f'[hosts.h{i}]\nssh = "h{i}"\nssh_config = "{self.ssh_config}"\n' for i in range(8))
        hosts += f'[hosts.slow]\nssh = "slow"\nssh_config = "{self.ssh_config}"\n'
        self.work = self.dir / "work"
        self.work.mkdir()
        (self.work / "one.toml").write_text(hosts.split("[hosts.h1]")[0])
        (self.work / "eight.toml").write_text(hosts.split("[hosts.slow]")[0])
        (self.work / "slow.toml").write_text("[hosts.slow]" + hosts.split("[hosts.slow]")[1])
        (self.work / "slow8.toml").write_text(
            (self.work / "slow.toml").read_text()
            + "".join(f'[hosts.slow{i}]\nssh = "slow{i}"\nssh_config = "{self.ssh_config}"\n' for i in range(1, 8)))
        # An ssh shim that counts invocations.
        self.shim = self.dir / "shim"
        self.shim.mkdir()
        self.count = self.dir / "ssh-count"
        real = shutil.which("ssh")
        # `ssh -G` (resolve a host's options, no connection) is not an exchange and is not counted.
        (self.shim / "ssh").write_text(f'#!/bin/sh\ncase " $* " in *" -G "*) ;; *) echo x >> "{self.count}" ;; esac\n'
                                       f'exec {real} "$@"\n')
        (self.shim / "ssh").chmod(0o755)
        self.socket = f"rb-{uuid.uuid4().hex[:8]}"
        self.env = dict(os.environ, TMUXKIT_HOME=str(self.dir / "lhome"), TMUXKIT_SOCKET=self.socket,
                        HOME=str(self.dir), NO_COLOR="1", PATH=f"{self.shim}:{os.environ['PATH']}")

    def _block(self, alias: str, port: int, rhome: Path, extra: str = "") -> str:
        return (f"Host {alias}\n  HostName 127.0.0.1\n  Port {port}\n  User root\n  IdentityFile {self.sshd.user_key}\n"
                f"  IdentitiesOnly yes\n  UserKnownHostsFile {self.dir / 'sshd' / 'known_hosts'}\n"
                f"  GlobalKnownHostsFile /dev/null\n  LogLevel ERROR\n  SetEnv TMUXKIT_HOME={rhome}\n"
                + (f"  {extra}\n" if extra else ""))

    def tk(self, conf: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*TMUXKIT, "--config", str(self.work / conf), *args], env=self.env, cwd=self.work,
                              capture_output=True, text=True, check=True)

    def counted(self, conf: str, *args: str) -> tuple[int, float]:
        self.count.write_text("")
        t0 = time.perf_counter()
        self.tk(conf, *args)
        return len(self.count.read_text().split()), time.perf_counter() - t0

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)
        for p in (self.dir / "lhome").glob("ssh/*"):
            subprocess.run(["ssh", "-o", f"ControlPath={p}", "-O", "exit", "x"], capture_output=True)
        self.sshd.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def bench_sync(b: RemoteBench) -> list[str]:
    """A pass of `tmuxkit sync` (one rsync, status riding along) vs a bare rsync of the same tree."""
    from tmuxkit.config import HostSpec, RunSpec
    from tmuxkit.hosts.ssh import SshHost
    from tmuxkit.sync import pull

    os.environ.update(TMUXKIT_HOME=b.env["TMUXKIT_HOME"], TMUXKIT_SOCKET=b.socket)
    res = b.dir / "syncres"
    b.tk("slow.toml", "start", "syncrun", "--host", "slow", "--cwd", "/tmp", "--results", str(res), "--", "sleep", "600")
    for i in range(300):
        (res / f"d{i % 10}").mkdir(exist_ok=True)
        (res / f"d{i % 10}" / f"m{i}.json").write_text(f'{{"loss": {i}}}' + " " * 2000)
    (res / "big.png").write_bytes(os.urandom(20 * 1024 * 1024))
    host = SshHost(HostSpec("slow", ssh="slow", ssh_config=str(b.ssh_config)))
    spec = RunSpec(name="syncrun")
    bare_cmd = ["rsync", "-a", "-e", f"ssh -F {b.ssh_config}", f"slow:{res}/"]
    ours_first, bare_first, ours_steady, bare_steady = [], [], [], []
    for trial in range(3):
        d1, d2 = b.dir / f"s-ours{trial}", b.dir / f"s-bare{trial}"
        t0 = time.perf_counter()
        pull(host, spec, str(res), d1, ("*.png", "*.json", "*.csv", "*.txt"), 0, time.time() + 600)
        ours_first.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        subprocess.run([*bare_cmd, str(d2) + "/"], check=True, env=b.env)
        bare_first.append(time.perf_counter() - t0)
        for _ in range(3):
            t0 = time.perf_counter()
            pull(host, spec, str(res), d1, ("*.png", "*.json", "*.csv", "*.txt"), 0, time.time() + 600)
            ours_steady.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            subprocess.run([*bare_cmd, str(d2) + "/"], check=True, env=b.env)
            bare_steady.append(time.perf_counter() - t0)
    return ["## Sync (300 files + 20 MB, 50 ms each way)", "", "| measure | tmuxkit | bare rsync | ratio | target |",
            "| --- | --- | --- | --- | --- |",
            row("first sync (median of 3)", statistics.median(ours_first), statistics.median(bare_first), "<= 1.2x"),
            row("steady-state pass, nothing new (median of 9)", statistics.median(ours_steady),
                statistics.median(bare_steady), "<= 1.2x")]


def main(part: str) -> list[str]:
    if part == "sync":
        b = RemoteBench()
        try:
            b.tk("slow.toml", "status")  # master up, scripts installed
            return bench_sync(b)
        finally:
            b.close()
    b = RemoteBench()
    out = ["## Remote host (loopback sshd)", "", "| measure | tmuxkit | baseline | ratio | target |",
           "| --- | --- | --- | --- | --- |"]
    try:
        b.tk("one.toml", "start", "rb", "--host", "h0", "--cwd", "/tmp", "--results", str(b.dir / "res"), "--",
             "sleep", "600")
        script = ROOT / "shell" / "check_training_status.sh"

        def bare() -> None:
            with script.open("rb") as f:
                subprocess.run(["ssh", "-F", str(b.ssh_config), "-o", "ControlPath=none", "h0", "bash", "-s"], stdin=f,
                               capture_output=True, env=b.env, check=True)

        ours = median_time(lambda: b.tk("one.toml", "status", "rb"), 9)
        base = median_time(bare, 9)
        out.append(row("remote `status RUN` (shared master) vs fresh `ssh HOST bash -s < check_training_status.sh`",
                       ours, base, "<= 1.5x"))
        b.tk("eight.toml", "status")  # masters up for all eight
        eight = median_time(lambda: b.tk("eight.toml", "status"), 7)
        one = median_time(lambda: b.tk("one.toml", "status"), 7)
        # The eight "hosts" are sshd sessions on this machine: their host-side work shares its CPUs,
        # so wall time is bounded by the rig (issue 13.6); the target is the client CPU below.
        out.append(row("`status` over 8 hosts vs 1 host (fast link: the 8 share this machine's CPUs)", eight, one,
                       "(reported: bounded by the rig)"))
        # This machine's CPU (the CLI and its ssh clients, as children of this process) per call.
        import resource
        import statistics

        def cpu(conf: str, n: int = 7) -> float:
            spent = []
            for _ in range(n):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                b.tk(conf, "status")
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                spent.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            return statistics.median(spent)

        c8, c1 = cpu("eight.toml"), cpu("one.toml")
        out.append(row("client CPU of `status` (the CLI and its ssh clients), 8 hosts vs 1", c8, c1, "(reported)"))
        out.append(f"| client CPU per extra host ((8 - 1) / 7) | {(c8 - c1) / 7 * 1000:.1f} ms | | | <= 30 ms |")
        b.tk("slow8.toml", "status")
        eight = median_time(lambda: b.tk("slow8.toml", "status"), 5)
        one = median_time(lambda: b.tk("slow.toml", "status"), 5)
        out.append(row(f"`status` over 8 hosts vs 1 host ({DELAY * 1000:.0f} ms each way)", eight, one,
                       "(reported: bounded by the rig)"))
        out += ["", f"Over a link with {DELAY * 1000:.0f} ms added each way (a delaying ProxyCommand), after the "
                "connection is set up. Each ssh invocation is one exchange over the shared master.", "",
                "| command | ssh round trips | wall time | target |", "| --- | --- | --- | --- |"]
        b.tk("slow.toml", "status")  # set up the master (and the scripts on the host)
        n, t = b.counted("slow.toml", "start", "slowrun", "--host", "slow", "--cwd", "/tmp", "--results",
                         str(b.dir / "slowres"), "--", "bash", "-c", "trap 'exit 0' INT; sleep 600 & wait")
        out.append(f"| start | {n} | {t * 1000:.0f} ms | <= 3 |")
        n, t = b.counted("slow.toml", "status", "slowrun")
        out.append(f"| status RUN | {n} | {t * 1000:.0f} ms | 1 |")
        n, t = b.counted("slow.toml", "status")
        out.append(f"| status (all runs) | {n} | {t * 1000:.0f} ms | 1 |")
        n, t = b.counted("slow.toml", "stop", "slowrun", "--grace", "5")
        out.append(f"| stop | {n} | {t * 1000:.0f} ms | <= 2 |")
    finally:
        b.close()
    return out
