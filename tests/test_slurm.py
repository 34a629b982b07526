"""The Slurm host scripts (tmuxkit-slurm, tmuxkit-sbatch-run) against a real single-node Slurm."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import slurm as slurm_mod
from conftest import wait_until

ROOT = Path(__file__).resolve().parent.parent
SHELL = ROOT / "shell"
TRAINER = ROOT / "tests" / "fakes" / "trainer.py"

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def cluster() -> Iterator[slurm_mod.Slurm]:
    why = slurm_mod.unavailable()
    if why:
        pytest.skip(why)
    s = slurm_mod.start()
    try:
        yield s
    finally:
        s.stop()


def tk(cluster: slurm_mod.Slurm, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        [str(SHELL / "tmuxkit-slurm"), *argv],
        env={**os.environ, **cluster.env()},
        capture_output=True,
        text=True,
        timeout=90,
    )
    if check and r.returncode != 0:
        raise AssertionError(f"tmuxkit-slurm {argv} -> {r.returncode}: {r.stderr}")
    return r


def kv(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def status(cluster: slurm_mod.Slurm, run: str) -> dict[str, str]:
    return kv(tk(cluster, "status", run).stdout)


def until_state(cluster: slurm_mod.Slurm, run: str, state: str, timeout: float) -> dict[str, str]:
    last: dict[str, str] = {}

    def reached() -> bool:
        last.update(status(cluster, run))
        return last.get("state") == state

    wait_until(reached, timeout=timeout, interval=0.2, what=f"{run} to be {state} (last: {last})")
    return last


def trainer_cmd(*args: str) -> str:
    return shlex.join([sys.executable, str(TRAINER), *args])


def submit(cluster: slurm_mod.Slurm, tmp: Path, run: str, cmd: str, *extra: str) -> dict[str, str]:
    (tmp / "results").mkdir(exist_ok=True)
    return kv(
        tk(cluster, "submit", run, "--results", str(tmp / "results"), "--cwd", str(tmp), "--cmd", cmd, *extra).stdout
    )


def test_lifecycle_pending_running_exited_and_logs(cluster: slurm_mod.Slurm, tmp_path: Path) -> None:
    # Hold the job so "pending" is observed for certain, then release it.
    info = submit(cluster, tmp_path, "life", trainer_cmd("--steps", "4", "--delay", "0.3"), "--", "--hold")
    job = info["job"]
    st = status(cluster, "life")
    assert st["job"] == job and st["state"] == "pending", st
    assert st["reason"], st
    cluster.run("scontrol", "release", job)
    st = until_state(cluster, "life", "running", 30)
    assert st["node"] == cluster.node
    st = until_state(cluster, "life", "exited", 30)
    assert st["exit"] == "0:0" and st["restarts"] == "0"
    log = Path(info["log"])
    assert log == tmp_path / "results" / "tmuxkit" / "life.log"
    assert "step 4" in log.read_text()
    assert (tmp_path / "results" / "tmuxkit" / "life.exit").read_text().split()[0] == "0"
    assert not (tmp_path / "results" / ".tmuxkit.lock").exists()


def test_stop_ladder_sigint_saves(cluster: slurm_mod.Slurm, tmp_path: Path) -> None:
    info = submit(cluster, tmp_path, "stopint", trainer_cmd("--steps", "1000", "--delay", "0.2"))
    log = Path(info["log"])
    wait_until(lambda: log.exists() and "step 2" in log.read_text(), timeout=30, interval=0.2, what="step 2")
    r = kv(tk(cluster, "stop", "stopint", "--grace", "20").stdout)
    assert r["rung"] == "sigint"
    assert "interrupted" in log.read_text()  # the trainer's INT handler ran
    assert (tmp_path / "results" / "tmuxkit" / "stopint.exit").read_text().split()[0] == "0"


def test_stop_ladder_escalates_when_int_is_ignored(cluster: slurm_mod.Slurm, tmp_path: Path) -> None:
    cmd = "trap '' INT; echo ready; while :; do sleep 0.2; done"
    info = submit(cluster, tmp_path, "stopterm", cmd)
    log = Path(info["log"])
    wait_until(lambda: log.exists() and "ready" in log.read_text(), timeout=30, interval=0.2, what="ready")
    t = time.monotonic()
    r = kv(tk(cluster, "stop", "stopterm", "--grace", "2").stdout)
    assert r["rung"] == "sigterm"
    assert time.monotonic() - t >= 1  # it waited the grace (whole seconds) before escalating
    assert status(cluster, "stopterm")["state"] == "stopped"


def test_requeue_resumes_from_newest_checkpoint_and_keeps_log(cluster: slurm_mod.Slurm, tmp_path: Path) -> None:
    cmd = trainer_cmd("--steps", "8", "--delay", "0.5")
    info = submit(cluster, tmp_path, "rq", cmd, "--resume", "--resume {checkpoint}", "--glob", "results/ckpt/step_*.pt")
    log = Path(info["log"])
    wait_until(lambda: log.exists() and "step 3" in log.read_text(), timeout=30, interval=0.2, what="step 3")
    tk(cluster, "requeue", "rq")
    st = until_state(cluster, "rq", "exited", 60)
    assert st["restarts"] == "1"
    text = log.read_text()
    assert "step 1" in text  # the first attempt's lines survived the requeue (--open-mode=append)
    assert "resumed from" in text and "step_" in text
    first = text.index("resumed from")
    assert "step 1\n" not in text[first:]  # it went on from a checkpoint, not from scratch
    assert "step 8" in text


def test_one_run_per_results_dir(cluster: slurm_mod.Slurm, tmp_path: Path) -> None:
    # The batch job holds the results lock on the compute node; a second run on the same results
    # dir (the wrapper, as a second job would run it) is refused with EX_LOCKED and a clear line.
    a = submit(cluster, tmp_path, "first", trainer_cmd("--steps", "1000", "--delay", "0.2"))
    wait_until(lambda: Path(a["log"]).exists() and "step 1" in Path(a["log"]).read_text(), timeout=30, interval=0.2, what="first running")
    r = subprocess.run(
        [str(SHELL / "tmuxkit-sbatch-run"), "--run", "second", "--results", str(tmp_path / "results"), "--cmd", "true"],
        env={**os.environ, **cluster.env()},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 3 and "locked by" in r.stderr, r
    assert not (tmp_path / "results" / "tmuxkit" / "second.exit").exists()
    assert kv(tk(cluster, "stop", "first", "--grace", "20").stdout)["rung"] == "sigint"


def test_bad_input(cluster: slurm_mod.Slurm, tmp_path: Path) -> None:
    r = tk(cluster, "submit", "bad name", "--results", str(tmp_path), "--cmd", "true", check=False)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0
    r = tk(cluster, "status", "nosuchrun", check=False)
    assert r.returncode == 4 and "no Slurm job named" in r.stderr


def test_status_report_lists_slurm_jobs(cluster: slurm_mod.Slurm, tmp_path: Path) -> None:
    info = submit(cluster, tmp_path, "held", "sleep 60", "--", "--hold")
    r = subprocess.run(
        [str(SHELL / "check_training_status.sh"), "--root", str(tmp_path)],
        env={**os.environ, **cluster.env(), "TMUXKIT_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    section = r.stdout.split("[6] Slurm jobs")[1]
    assert f"job {info['job']}" in section and "held" in section and "PENDING" in section
    assert "reason JobHeldUser" in section
    cluster.run("scancel", info["job"])
