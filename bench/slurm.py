"""Slurm benchmarks, against the tests' real single-node Slurm (tests/slurm.py; needs root and the
Debian slurm packages):

- `tmuxkit start RUN` on a kind = "slurm" host until the first line of the job's log is on disk,
  vs a bare `sbatch --wrap` until its output file has a line (median of 3 each);
- `tmuxkit status --json` with 20 jobs (one scontrol call on the host, one line a job), vs a bare
  `squeue` listing them, and vs `status RUN --json` for one of them (median of 5);
- `tmuxkit status --json` of those 20 Slurm runs vs of 20 tmux runs on this machine (`sleep 600` each),
  timed alternately in the same run (median of 7): the ratio is the Slurm host's cost over a tmux host's.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from bench.bench import ROOT, TMUXKIT, median_time, median_times, row, wait_for

sys.path.insert(0, str(ROOT / "tests"))
import slurm as slurm_mod


def main() -> list[str]:
    why = slurm_mod.unavailable()
    if why:
        return ["## Slurm", "", f"skipped: {why}"]
    cluster = slurm_mod.start()
    d = Path(tempfile.mkdtemp(prefix="tmuxkit-bench-slurm-"))
    env = dict(os.environ, **cluster.env(), TMUXKIT_HOME=str(d / "home"), HOME=str(d), NO_COLOR="1", TMUXKIT_EARLY_WAIT="0",
               TMUXKIT_SOCKET=f"bench-{uuid.uuid4().hex[:8]}", PYTHONPATH=str(ROOT))
    (d / "tmuxkit.toml").write_text(
        '[hosts.cluster]\nkind = "slurm"\n\n[hosts.held]\nkind = "slurm"\nsbatch_args = ["--hold"]\n'
    )

    def tk(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*TMUXKIT, *args], env=env, cwd=d, capture_output=True, text=True, check=True)

    def has_line(p: Path) -> bool:
        return p.exists() and p.stat().st_size > 0

    out = ["## Slurm (single-node, slurmctld and slurmd on this machine)", "",
           "| measure | tmuxkit | baseline | ratio | target |", "| --- | --- | --- | --- | --- |"]
    try:
        ours, bare = [], []
        for i in range(3):
            log = d / "results" / f"first{i}" / "tmuxkit" / f"first{i}.log"
            t = wait_for_first(lambda i=i: tk("start", f"first{i}", "--host", "cluster", "--", "echo", "hello"),
                               lambda log=log: has_line(log))
            ours.append(t)
            outf = d / f"bare{i}.out"
            bare.append(wait_for_first(
                lambda outf=outf: subprocess.run(["sbatch", "--parsable", f"--output={outf}", f"--chdir={d}",
                                                  "--wrap", "echo hello"], env=env, check=True, capture_output=True),
                lambda outf=outf: has_line(outf)))
        out.append(row("`start` to the job's first log line vs bare `sbatch --wrap` to its first line (median of 3)",
                       statistics.median(ours), statistics.median(bare), "(reported)"))
        for i in range(20):  # held, so all 20 stay in the queue while status is timed
            tk("start", f"held{i:02d}", "--host", "held", "--", "true")
        n = len([r for r in json.loads(tk("status", "--json").stdout) if r["run"].startswith("held")])
        assert n == 20, n
        t_ours = median_time(lambda: tk("status", "--json"), 5)
        t_bare = median_time(lambda: subprocess.run(["squeue", "-h", "-o", "%i|%j|%T|%N|%r"], env=env, check=True,
                                                    capture_output=True), 5)
        out.append(row("`status --json` with 20 jobs (one `tmuxkit-slurm list`) vs bare `squeue` (median of 5)",
                       t_ours, t_bare, "(reported)"))
        t_one = median_time(lambda: tk("status", "held07", "--json"), 5)
        out.append(row("`status --json` with 20 jobs vs `status RUN --json` for one of them (median of 5)", t_ours,
                       t_one, "(reported)"))
        # 20 tmux runs on this machine beside the 20 Slurm ones: status of each host, side by side
        for i in range(20):
            tk("start", f"tmux{i:02d}", "--", "sleep", "600")
        rows = json.loads(tk("status", "--json", "--host", "local").stdout)
        assert sum(r["state"] == "running" for r in rows) == 20, rows
        t_slurm, t_tmux = median_times(lambda: tk("status", "--json", "--host", "held"),
                                       lambda: tk("status", "--json", "--host", "local"), 7)
        out.append(row("`status --json` of 20 Slurm runs (`--host held`) vs of 20 tmux runs (`--host local`), "
                       "alternately (median of 7)", t_slurm, t_tmux, "(reported)"))
    finally:
        subprocess.run(["tmux", "-L", env["TMUXKIT_SOCKET"], "kill-server"], env=env, capture_output=True)
        cluster.stop()
        shutil.rmtree(d, ignore_errors=True)
    return out


def wait_for_first(submit: Callable[[], object], ready: Callable[[], bool]) -> float:
    """Seconds from submitting until READY holds."""
    import time

    t0 = time.perf_counter()
    submit()
    wait_for(ready, timeout=120, interval=0.01)
    return time.perf_counter() - t0
