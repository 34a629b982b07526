"""tmuxkit benchmarks: each figure is measured side by side with its baseline in one run.

    .venv/bin/python -m bench.bench [local] [liveness] [parse] [remote] [sync] [slurm] [gpu]     (from the repository root)

local:  `tmuxkit status RUN` vs `bash shell/check_training_status.sh` (target <= 3x);
        a 200k-line burst under tmuxkit vs a bare tmux pane piped with `cat >> f` (target <= 1.15x, 0 lost);
        `start` to the first log line.
liveness: progress parsing in the log writer during a 300k-line burst vs none (target <= 1.1x);
        the log writer on 40 MB of \\r redraws with no newline vs the same bytes with newlines
        (target <= 1.2x, writer RSS <= 32 MiB); `status` with a 10 MB last line vs a short one (<= 1.2x).
parse:  the log writer on 100 MB of recorded HF Trainer output with progress parsing vs without
        (target <= 1.2x), and 100 MB vs 25 MB (linear: <= 4.8x).
remote: see bench/remote.py (over the loopback sshd, with an added 50 ms link delay).
gpu:    see bench/gpu.py (run end to the next queued run's start; status with a GPU run vs without).
slurm:  see bench/slurm.py (a real single-node Slurm: submit to the first log line, status with 20 jobs, and vs 20 tmux runs).

Everything runs on a private tmux socket and a temporary TMUXKIT_HOME.
"""

from __future__ import annotations

import os
import shutil
import signal
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


def median_times(fa: Callable[[], object], fb: Callable[[], object], n: int) -> tuple[float, float]:
    """The medians of N timings of FA and of FB, taken alternately (side by side: a slow spell of
    the machine falls on both)."""
    ta, tb = [], []
    for _ in range(n):
        for fn, times in ((fa, ta), (fb, tb)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(ta), statistics.median(tb)


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
        # A run outlives its tmux server (it ignores SIGHUP, as after a host reboot of tmux alone):
        # end every process that carries this sandbox's TMUXKIT_HOME, as the tests' teardown does.
        for _ in range(50):
            pids = sandbox_pids(self.env["TMUXKIT_HOME"])
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.1)
        shutil.rmtree(self.dir, ignore_errors=True)


def sandbox_pids(home: str) -> list[int]:
    """Live processes whose environment holds TMUXKIT_HOME=HOME (the host library's ps with environments)."""
    out = subprocess.run(["bash", "-c", '. "$1/lib/tmuxkit.bash" && tk_ps_env', "_", str(SHELL)],
                         capture_output=True, text=True, env={k: v for k, v in os.environ.items() if k != "TMUXKIT_HOME"}).stdout
    mark = f"TMUXKIT_HOME={home} "
    return [int(ln.split()[0]) for ln in out.splitlines()
            if mark in ln + " " and len(ln.split()) > 2 and not ln.split()[2].startswith("Z") and int(ln.split()[0]) != os.getpid()]


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


def writer_cost(data: Path, log: Path, env: dict[str, str] | None = None, awk: bool = False) -> tuple[float, float]:
    """Pipe the file DATA through the python3 log writer, or with AWK the awk one (as a pane would:
    cat | writer); (wall seconds, max RSS in MiB of the largest process of the pipeline). This
    process never holds the data, so the children's RSS is theirs alone (a fork counts the
    parent's pages until it execs)."""
    t0 = time.perf_counter()
    if awk:
        argv = ["sh", "-c", 'cat "$1" | TMUXKIT_LOG_WRITER=awk exec bash "$2" "$3" 1099511627776 5', "sh", str(data),
                str(SHELL / "tmuxkit-logwriter"), str(log)]
    else:
        argv = ["sh", "-c", 'cat "$1" | exec python3 "$2" "$3" 1099511627776 5', "sh", str(data),
                str(SHELL / "tmuxkit-logwriter.py"), str(log)]
    p = subprocess.Popen(argv, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    assert p.returncode == 0, "log writer failed"
    return time.perf_counter() - t0, usage.ru_maxrss / 1024  # ru_maxrss is KiB on Linux


def bench_liveness() -> list[str]:
    """Issue 9's targets: an unfinished line costs what the same bytes cost as lines."""
    sb = Sandbox()
    out = ["| measure | tmuxkit | baseline | ratio | target |", "| --- | --- | --- | --- | --- |"]
    try:
        bar, lines = sb.work / "bar.in", sb.work / "lines.in"
        subprocess.run([sys.executable, "-c", (
            "import sys; bar = b''.join(b'\\repoch 1/2: %3d%%| %d/1000000 [00:01<00:02, 2.3it/s]' % (i % 100, i) "
            "for i in range(800000))[:40000000]; open(sys.argv[1], 'wb').write(bar); "
            "open(sys.argv[2], 'wb').write(bar.replace(b'\\r', b'\\n'))"), str(bar), str(lines)], check=True)
        t_bar, t_lines, rss = [], [], 0.0
        for trial in range(3):
            tb, rb = writer_cost(bar, sb.work / f"bar{trial}.log")
            tl, _ = writer_cost(lines, sb.work / f"lines{trial}.log")
            t_bar.append(tb)
            t_lines.append(tl)
            rss = max(rss, rb)
        out.append(row(f"log writer, 40 MB of \\r redraws, no newline vs the same bytes as lines "
                       f"(writer max RSS {rss:.1f} MiB)", statistics.median(t_bar), statistics.median(t_lines),
                       "<= 1.2x, RSS <= 32 MiB"))
        # The awk writer (hosts without python3), with the bash loop that cuts a line every 64 KiB.
        t_bar, t_lines, rss = [], [], 0.0
        for trial in range(3):
            tb, rb = writer_cost(bar, sb.work / f"abar{trial}.log", awk=True)
            tl, _ = writer_cost(lines, sb.work / f"alines{trial}.log", awk=True)
            t_bar.append(tb)
            t_lines.append(tl)
            rss = max(rss, rb)
        out.append(row(f"awk log writer, the same 40 MB of redraws vs the same bytes as lines "
                       f"(max RSS {rss:.1f} MiB)", statistics.median(t_bar), statistics.median(t_lines),
                       "<= 1.2x, RSS <= 32 MiB"))

        # issue 12: progress parsing costs the writer at most 10% on a 300k-line burst.
        burst = sb.work / "burst.in"
        subprocess.run([sys.executable, "-c", (
            "import sys; open(sys.argv[1], 'w').write(''.join("
            "f'step {i}/300000 loss={1 / i:.5f} lr=3e-4 epoch 1/3\\n' for i in range(1, 300001)))"), str(burst)],
            check=True)
        t_on, t_off = [], []
        for trial in range(5):
            t_off.append(writer_cost(burst, sb.work / f"off{trial}.log", dict(os.environ, TMUXKIT_PROGRESS="off"))[0])
            t_on.append(writer_cost(burst, sb.work / f"on{trial}.log")[0])
            series = (sb.work / f"on{trial}.progress").read_text().splitlines()
            if not series or '"step":300000' not in series[-1]:  # the parser really ran, to the last line
                raise SystemExit(f"bench: progress parsing wrote no final step: {series[-1:]}")
        out.append(row("log writer, 300k-line burst with progress parsing vs without (median of 5)",
                       statistics.median(t_on), statistics.median(t_off), "<= 1.1x"))

        # status of a run whose last line is 10 MB (unfinished) vs one whose last line is short.
        big = "import sys, time; sys.stdout.write('x' * 10_000_000); sys.stdout.flush(); time.sleep(600)"
        short = "import sys, time; sys.stdout.write('short\\n'); sys.stdout.flush(); time.sleep(600)"
        sb.sh(*TMUXKIT, "start", "bigline", "--", "python3", "-c", big)
        sb.sh(*TMUXKIT, "start", "shortline", "--", "python3", "-c", short)
        logs = {r: sb.work / "results" / r / "tmuxkit" / f"{r}.log" for r in ("bigline", "shortline")}
        wait_for(lambda: logs["bigline"].exists() and logs["bigline"].stat().st_size >= 9_900_000)
        wait_for(lambda: logs["shortline"].exists() and b"short" in logs["shortline"].read_bytes())
        t_big = median_time(lambda: sb.sh(*TMUXKIT, "status", "bigline", "--json"), 9)
        t_short = median_time(lambda: sb.sh(*TMUXKIT, "status", "shortline", "--json"), 9)
        size = len(sb.sh(*TMUXKIT, "status", "bigline", "--json").stdout)
        out.append(row(f"`status RUN --json`, 10 MB last line vs a short one ({size} bytes of JSON)", t_big,
                       t_short, "<= 1.2x"))
    finally:
        sb.close()
    return out


def bench_parse(mb: int = 100) -> list[str]:
    """Issue 27: the progress parser on MB megabytes of recorded transformers Trainer output (the
    hf5 recording, its bytes repeated: bars, dicts, evaluation and save sub-bars, cursor moves),
    with it vs without it (TMUXKIT_PROGRESS=off), side by side; and linear: a quarter of the bytes
    costs about a quarter of the time."""
    sys.path.insert(0, str(ROOT / "tests" / "recordings"))
    import replay

    work = Path(tempfile.mkdtemp(prefix="tmuxkit-bench-parse-"))
    out = ["| measure | tmuxkit | baseline | ratio | target |", "| --- | --- | --- | --- | --- |"]
    try:
        rec = b"".join(d for _, d in replay.load("hf5")[1])
        big, small = work / "hf.in", work / "hf-quarter.in"
        copies = mb * 1_000_000 // len(rec)  # whole recordings: each ends at step 60/60
        big.write_bytes(rec * copies)
        small.write_bytes(rec * (copies // 4))
        t_on, t_off, t_small = [], [], []
        off = dict(os.environ, TMUXKIT_PROGRESS="off")
        for trial in range(3):
            t_off.append(writer_cost(big, work / f"off{trial}.log", off)[0])
            t_on.append(writer_cost(big, work / f"on{trial}.log")[0])
            t_small.append(writer_cost(small, work / f"q{trial}.log")[0])
            last = (work / f"on{trial}.progress").read_text().splitlines()[-1]
            if '"step":60' not in last or '"loss"' not in last:  # the parser really ran, to the end
                raise SystemExit(f"bench: the parser did not read the recording to its end: {last}")
        on, base, quarter = statistics.median(t_on), statistics.median(t_off), statistics.median(t_small)
        out.append(row(f"log writer, {mb} MB of recorded HF Trainer output, progress parsing vs without "
                       "(median of 3)", on, base, "<= 1.2x", "s", 1))
        out.append(row(f"the same parser, {mb} MB vs {mb // 4} MB (linear: 4.00x)", on, quarter, "<= 4.8x", "s", 1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def bench_fleet() -> list[str]:
    """Issue 13: the host side of `status` costs the same however many runs ended before, and a
    live run adds little. Times the host script as tmuxkit calls it (--runs-only --json --cache with
    the default window), with real runs started by tmuxkit-start; the finished ones are real run
    directories whose runs ended days ago."""
    sb = Sandbox()
    out = ["| measure | tmuxkit | baseline | ratio | target |", "| --- | --- | --- | --- | --- |"]
    script = str(ROOT / "shell" / "check_training_status.sh")
    status = ["bash", script, "--runs-only", "--json", "--cache", "--ended-within", str(3 * 86400)]
    try:
        def start(name: str, cmd: str) -> None:
            sb.sh("bash", str(ROOT / "shell" / "tmuxkit-start"), name, "--cmd", cmd)

        start("live0", "echo up; sleep 600")
        wait_for(lambda: (sb.work / "results" / "live0" / "tmuxkit" / "live0.log").exists())
        runs = Path(sb.env["TMUXKIT_HOME"]) / "runs"
        # The baseline, one live run: a second TMUXKIT_HOME holding only live0's state (the same run),
        # timed alternately with each measure.
        home1 = sb.dir / "home1"
        (home1 / "runs").mkdir(parents=True, mode=0o700)
        home1.chmod(0o700)
        shutil.copytree(runs / "live0", home1 / "runs" / "live0")
        env1 = dict(sb.env, TMUXKIT_HOME=str(home1))

        def one() -> object:
            return subprocess.run(status, env=env1, cwd=sb.work, capture_output=True, check=True)

        # 500 finished runs: one real run, ended, copied as the past would have left them.
        start("done0", "echo finished")
        wait_for(lambda: (runs / "done0" / "exit").exists())
        long_ago = int(time.time()) - 30 * 86400
        (runs / "done0" / "exit").write_text(f"0 {long_ago}\n")
        for i in range(1, 500):
            d = runs / f"done{i}"
            shutil.copytree(runs / "done0", d)
            meta = (d / "meta").read_text().replace("run=done0\n", f"run=done{i}\n")
            (d / "meta").write_text(meta)
        sb.sh(*status)  # the first call keeps each ended run's answer
        history, base = median_times(lambda: sb.sh(*status), one, 9)
        out.append(row("host `status`: 500 finished + 1 live run vs 1 live run (median of 9)", history, base,
                       "<= 1.5x"))
        for i in range(1, 20):
            start(f"live{i}", "echo up; sleep 600")
        sb.sh(*status)  # the first call keeps each ended run's answer
        many, base = median_times(lambda: sb.sh(*status), one, 9)
        out.append(row("host `status`: 500 finished + 20 live runs vs 1 live run (median of 9)", many, base,
                       "<= 1.5x"))
        every, base = median_times(lambda: sb.sh("bash", script, "--runs-only", "--json", "--cache"), one, 5)
        out.append(row("host `status --all`: the same 520 runs, every one listed, vs 1 live run", every, base,
                       "(reported)"))
        # The cost of a live run: 20 live vs 1 live, nothing else.
        for i in range(500):
            shutil.rmtree(runs / f"done{i}")
        twenty, base = median_times(lambda: sb.sh(*status), one, 9)
        per = (twenty - base) / 19
        out.append(f"| each extra live run (20 live vs 1) | {per * 1000:.1f} ms | | | <= 5 ms |")
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
    if "liveness" in which:
        print("## Liveness (issue 9)\n")
        print("\n".join(bench_liveness()))
        print()
    if "parse" in which:
        print("## Reading real trainers' output (issue 27)\n")
        print("\n".join(bench_parse()))
        print()
    if "fleet" in which:
        print("## Fleet scale (issue 13)\n")
        print("\n".join(bench_fleet()))
        print()
    if "remote" in which or "sync" in which:
        from bench import remote

        for part in which:
            if part in ("remote", "sync"):
                print("\n".join(remote.main(part)))
                print()
    if "gpu" in which:
        from bench import gpu

        print("## GPUs and the host queue (issue 24)\n")
        print("\n".join(gpu.main()))
        print()
    if "slurm" in which:
        from bench import slurm

        print("\n".join(slurm.main()))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
