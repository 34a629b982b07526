"""tmuxkit benchmarks: each figure is measured side by side with its baseline in one run.

    .venv/bin/python -m bench.bench [local] [remote] [sync]     (from the repository root)

local:  `tmuxkit status RUN` vs `bash shell/check_training_status.sh` (target <= 3x);
        a 200k-line burst under tmuxkit vs a bare tmux pane piped with `cat >> f` (target <= 1.15x, 0 lost);
        `start` to the first log line.
remote: see bench/remote.py (over the loopback sshd, with an added 50 ms link delay).

Everything runs on a private tmux socket and a temporary TMUXKIT_HOME.
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
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHELL = ROOT / "shell"
TMUXKIT = [str(Path(sys.executable).parent / "tmuxkit")] if (Path(sys.executable).parent / "tmuxkit").exists() else [
    sys.executable, "-m", "tmuxkit"]


def median_time(fn: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def wait_for(pred: Callable[[], bool], timeout: float = 120.0, interval: float = 0.005) -> float:
    t0 = time.perf_counter()
    while not pred():
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("benchmark condition not reached")
        time.sleep(interval)
    return time.perf_counter() - t0


def row(name: str, ours: float, base: float, target: str, unit: str = "ms", scale: float = 1000) -> str:
    return f"| {name} | {ours * scale:.1f} {unit} | {base * scale:.1f} {unit} | {ours / base:.2f}x | {target} |"


class Sandbox:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="tmuxkit-bench-"))
        self.socket = f"bench-{uuid.uuid4().hex[:8]}"
        self.env = dict(os.environ, TMUXKIT_HOME=str(self.dir / "home"), TMUXKIT_SOCKET=self.socket,
                        HOME=str(self.dir), NO_COLOR="1")
        self.work = self.dir / "work"
        self.work.mkdir()

    def sh(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, env=self.env, cwd=self.work, capture_output=True, text=True, check=check)

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.sh("tmux", "-L", self.socket, *args, check=False)

    def close(self) -> None:
        self.tmux("kill-server")
        shutil.rmtree(self.dir, ignore_errors=True)


def bench_local() -> list[str]:
    sb = Sandbox()
    out = ["| measure | tmuxkit | baseline | ratio | target |", "| --- | --- | --- | --- | --- |"]
    try:
        # 1. status of one run vs the bare status script, on the same host.
        sb.sh(*TMUXKIT, "start", "benchrun", "--", "sleep", "600")
        status = median_time(lambda: sb.sh(*TMUXKIT, "status", "benchrun"), 15)
        script = median_time(lambda: sb.sh("bash", str(SHELL / "check_training_status.sh")), 15)
        out.append(row("`status RUN` vs `bash check_training_status.sh`", status, script, "<= 3x"))

        # 2. a 200k-line burst: tmuxkit's pane log vs a bare pane with pipe-pane 'cat >> f'.
        # Alternating trials; the median of each side.
        n = 200_000
        burst = f"while [ ! -e go ]; do sleep 0.01; done; seq 1 {n}; echo BURST-END; sleep 600"
        t_bares, t_tks, lost_tk, lost_bare = [], [], 0, 0
        for trial in range(3):
            bare_dir, tk_dir = sb.work / f"b{trial}", sb.work / f"t{trial}"
            bare_dir.mkdir()
            tk_dir.mkdir()
            bare_log = bare_dir / "bare.log"
            sb.tmux("new-session", "-d", "-s", f"bare{trial}", "-x", "200", "-y", "50", "-c", str(bare_dir), burst)
            sb.tmux("pipe-pane", "-t", f"=bare{trial}:", f"cat >> {bare_log}")
            (bare_dir / "go").touch()
            t_bares.append(wait_for(lambda: bare_log.exists() and b"BURST-END" in tail_bytes(bare_log)))
            name = f"burst{trial}"
            sb.sh(*TMUXKIT, "start", name, "--cwd", str(tk_dir), "--", "bash", "-c", burst)
            log = sb.dir / "home" / "runs" / name / "logs" / f"{name}.log"
            wait_for(lambda: log.exists() and log.stat().st_size > 0)
            (tk_dir / "go").touch()
            t_tks.append(wait_for(lambda: log.exists() and b"BURST-END" in tail_bytes(log)))
            got = [ln for ln in log.read_text().splitlines() if ln.isdigit()]
            lost_tk += n - len(got) if got == [str(i) for i in range(1, len(got) + 1)] else n
            lost_bare += n - sum(1 for ln in bare_log.read_text().splitlines() if ln.strip("\r").isdigit())
        out.append(row(f"{n // 1000}k-line burst to disk, median of 3 (lost: tmuxkit {lost_tk}, bare {lost_bare})",
                       statistics.median(t_tks), statistics.median(t_bares), "<= 1.15x, 0 lost"))

        # 3. start to the first log line.
        def start_first() -> None:
            name = f"first{uuid.uuid4().hex[:6]}"
            t0 = time.perf_counter()
            sb.sh(*TMUXKIT, "start", name, "--results", f"r/{name}", "--", "echo", "FIRST")
            p = sb.dir / "home" / "runs" / name / "logs" / f"{name}.log"
            wait_for(lambda: p.exists() and b"FIRST" in p.read_bytes())
            starts.append(time.perf_counter() - t0)

        starts: list[float] = []
        for _ in range(5):
            start_first()
        bare_new = median_time(lambda: (sb.tmux("new-session", "-d", "-s", f"x{uuid.uuid4().hex[:6]}", "true")), 5)
        out.append(row("`start` to first log line vs bare `tmux new-session -d`", statistics.median(starts), bare_new,
                       "(reported)"))
    finally:
        sb.close()
    return out


def tail_bytes(p: Path, n: int = 4096) -> bytes:
    with p.open("rb") as f:
        f.seek(max(0, p.stat().st_size - n))
        return f.read()


def main(argv: list[str]) -> int:
    which = argv or ["local"]
    print(f"# tmuxkit benchmarks ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, tmux "
          f"{subprocess.run(['tmux', '-V'], capture_output=True, text=True).stdout.split()[-1]})\n")
    if "local" in which:
        print("## Local host\n")
        print("\n".join(bench_local()))
        print()
    if "remote" in which or "sync" in which:
        from bench import remote

        for part in which:
            if part in ("remote", "sync"):
                print("\n".join(remote.main(part)))
                print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
