"""GPU runs and the host queue (issue 24), on a stand-in 1-GPU box (tests/fakes/nvidia-smi).

run end -> next start: a run holding the one GPU ends; the queued run's command starts (its first act
writes the time). Goal <= 2 s. status with GPUs vs without: `check_training_status.sh --runs-only --json`
with one live run holding a GPU (one nvidia-smi inventory: its two queries side by side, while status
reads its runs) vs the same with a run that has none; then again with nvidia-smi replaying the real H100
capture (tests/fakes/nvidia-smi-h100), which takes the stand-in's own cost (it scans every process's
environment) out of the figure.
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

from bench.bench import ROOT, median_times, row, wait_for
from bench.bench import SHELL as _SHELL

# BENCH_SHELL: another copy of shell/ to time (an older commit's, side by side with this one's).
SHELL = Path(os.environ.get("BENCH_SHELL") or _SHELL)


def _env(tmp: Path) -> dict[str, str]:
    box = tmp / "gpubin"
    box.mkdir()
    shutil.copy(ROOT / "tests" / "fakes" / "nvidia-smi", box / "nvidia-smi")
    # The H100 capture's UUID: the status rows below are timed with the stand-in and with the capture.
    (box / "gpus").write_text("0 GPU-fbd535aa-ea81-7688-6446-0dd6f95e19fa 81559\n")
    env = dict(os.environ)
    env.update(PATH=f"{box}:{env['PATH']}", TMUXKIT_HOME=str(tmp / "home"), TMUXKIT_SOCKET=f"bench-gpu-{uuid.uuid4().hex[:8]}",
               TMUXKIT_EARLY_WAIT="0", TMUXKIT_QUEUE_POLL="5", HOME=str(tmp))
    return env


def _start(env: dict[str, str], cwd: Path, run: str, cmd: str, *extra: str) -> str:
    return subprocess.run(["bash", str(SHELL / "tmuxkit-start"), run, "--cmd", cmd, *extra], env=env, cwd=cwd,
                          capture_output=True, text=True, check=True).stdout


def main(parts: tuple[str, ...] = ("gap", "status")) -> list[str]:
    out = ["| measure | tmuxkit | baseline | ratio | target |", "| --- | --- | --- | --- | --- |"]
    tmp = Path(tempfile.mkdtemp(prefix="tk-bench-gpu-"))
    env = _env(tmp)
    box = tmp / "gpubin"
    work = tmp / "w"
    work.mkdir()
    try:
        gaps = []
        for i in range(3 if "gap" in parts else 0):
            a, b = f"a{i}", f"b{i}"
            _start(env, work, a, f"export FAKE_GPU_MIB=100; sleep 2; date +%s.%N >{work}/{a}.end", "--gpus", "1")
            q = _start(env, work, b, f"date +%s.%N >{work}/{b}.start; export FAKE_GPU_MIB=100; exec sleep 0.2",
                       "--gpus", "1")
            assert "state=queued" in q, q
            wait_for(lambda: (work / f"{b}.start").exists(), timeout=30)
            wait_for(lambda: Path(env["TMUXKIT_HOME"], "runs", b, "exit").exists(), timeout=30)
            gaps.append(float((work / f"{b}.start").read_text()) - float((work / f"{a}.end").read_text()))
            print(f"gap {i}: {gaps[-1]:.3f} s", file=sys.stderr)
        if gaps:
            out.append(row("run end (its command's last act) to the next queued run's first act, median of 3",
                           statistics.median(gaps), 2.0, "<= 2 s (the baseline column is the goal)", unit="s", scale=1))
        if "status" not in parts:
            return out
        # status: one live GPU run vs one live run without GPUs
        _start(env, work, "g", "export FAKE_GPU_MIB=100; exec sleep 300", "--gpus", "1")
        _start(env, work, "n", "exec sleep 300")
        status = ["bash", str(SHELL / "check_training_status.sh"), "--runs-only", "--json"]

        def with_gpu() -> object:
            return subprocess.run([*status, "g"], env=env, capture_output=True, check=True)

        def without() -> object:
            return subprocess.run([*status, "n"], env=env, capture_output=True, check=True)

        # "status RUN" of a run without GPUs asks no nvidia-smi (nor does the baseline)
        tg, tn = median_times(with_gpu, without, 21)
        out.append(row("`status --json` of a run holding a GPU (one nvidia-smi inventory, the live stand-in) vs a run "
                       "without", tg, tn, "<= 1.2x"))
        # The same with nvidia-smi answering from the real H100 capture (bash + cat: about what a real
        # nvidia-smi costs this CPU), so the stand-in's own scan of every process's environment is out of it.
        (box / "replay").write_text(f"{ROOT / 'tests' / 'fakes' / 'nvidia-smi-h100'} _busy\n")
        tg, tn = median_times(with_gpu, without, 21)
        out.append(row("the same, nvidia-smi replaying the H100 capture", tg, tn, "<= 1.2x"))
        return out
    finally:
        subprocess.run(["tmux", "-L", env["TMUXKIT_SOCKET"], "kill-server"], capture_output=True)
        time.sleep(0.2)
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(tmp)


if __name__ == "__main__":
    print("\n".join(main(tuple(sys.argv[1:]) or ("gap", "status"))))
