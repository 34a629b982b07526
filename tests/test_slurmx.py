"""Issue 28 items 4 and 7: a run's cluster resources as sbatch options, the options tmuxkit owns
refused in config, sbatch --test-only before a submit and in doctor, and tmuxkit export
(a standalone sbatch script, a SkyPilot task)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import slurm as slurm_mod
from conftest import Env, wait_until

from tmuxkit import config
from tmuxkit.errors import ConfigError
from tmuxkit.hosts import slurm_args
from tmuxkit.resources import OWNED, slurm_time, time_seconds

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parent.parent
TRAINER = ROOT / "tests" / "fakes" / "trainer.py"


def parse(data: dict[str, Any]) -> config.Config:
    return config.parse(data)


def test_resources_become_sbatch_options_with_host_defaults() -> None:
    conf = parse({
        "hosts": {"c": {"kind": "slurm", "partition": "gpu", "time": "24h", "account": "lab",
                        "sbatch_args": ["--exclusive"]}},
        "runs": {"big": {"host": "c", "command": "python t.py", "gpus": 8, "mem": "64GB", "cpus": 16,
                         "time": "1:30:00", "qos": "high", "constraint": "a100|h100", "nodes": 2,
                         "ntasks_per_node": 4, "sbatch_args": ["--mail-type=END"]},
                 "debug": {"host": "c", "command": "python t.py", "gpus": 1}},
    })
    big = slurm_args.sbatch_args(conf.host("c"), conf.runs["big"])
    assert big == ["--partition=gpu", "--time=0-01:30:00", "--mem=64G", "--cpus-per-task=16",
                   "--account=lab", "--qos=high", "--constraint=a100|h100", "--nodes=2",
                   "--ntasks-per-node=4", "--gres=gpu:8", "--exclusive", "--mail-type=END"]
    # one host, two sizes: the 1-GPU debug run keeps the host's defaults
    assert slurm_args.sbatch_args(conf.host("c"), conf.runs["debug"]) == [
        "--partition=gpu", "--time=1-00:00:00", "--account=lab", "--gres=gpu:1", "--exclusive"]
    assert slurm_args.ranks(slurm_args.resources(conf.host("c"), conf.runs["big"]))
    assert not slurm_args.ranks(slurm_args.resources(conf.host("c"), conf.runs["debug"]))


@pytest.mark.parametrize("opt", [*(f"{o}=x" for o in OWNED if o not in ("--no-requeue",)), "--no-requeue",
                                 "-o", "-oslurm.log", "-J", "--out=x.log", "--sig=B:USR1@100", "-a1-4"])
@pytest.mark.parametrize("where", ["host", "run"])
def test_options_tmuxkit_owns_are_refused_in_config_one_line_naming_the_key(opt: str, where: str) -> None:
    host: dict[str, Any] = {"kind": "slurm"}
    run: dict[str, Any] = {"host": "c", "command": "x"}
    (host if where == "host" else run)["sbatch_args"] = ["--exclusive", opt]
    with pytest.raises(ConfigError) as e:
        parse({"hosts": {"c": host}, "runs": {"r": run}})
    msg = str(e.value)
    assert "\n" not in msg
    assert ("hosts.c.sbatch_args" if where == "host" else "runs.r.sbatch_args") in msg
    assert "tmuxkit sets --" in msg and repr(opt) in msg


@pytest.mark.parametrize("ok", ["--exclusive", "--mail-type=END", "--nodes=2", "--oversubscribe", "--requeue",
                                "--export=ALL", "--exclude=n1"])
def test_other_sbatch_options_pass(ok: str) -> None:
    conf = parse({"runs": {"r": {"command": "x", "sbatch_args": [ok]}}})
    assert slurm_args.options(slurm_args.resources(None, conf.runs["r"])) == [ok]


@pytest.mark.parametrize(("key", "bad"), [("time", 30), ("time", "30"), ("time", "soon"), ("mem", "lots"),
                                          ("cpus", 0), ("nodes", "2-"), ("partition", "gpu debug"),
                                          ("account", "a;rm -rf"), ("constraint", "a b"),
                                          ("ntasks_per_node", True)])
def test_bad_resource_values_are_one_line_naming_the_key(key: str, bad: object) -> None:
    with pytest.raises(ConfigError) as e:
        parse({"runs": {"r": {"command": "x", key: bad}}})
    assert f"runs.r.{key}:" in str(e.value) and "\n" not in str(e.value)


def test_resources_on_a_tmux_host_are_refused_but_allowed_on_any_run() -> None:
    with pytest.raises(ConfigError, match=r"hosts.h.partition: only for a Slurm host"):
        parse({"hosts": {"h": {"ssh": "h", "partition": "gpu"}}})
    # a run on a tmux host may carry them: tmuxkit export reads them
    conf = parse({"hosts": {"h": {"ssh": "h"}}, "runs": {"r": {"host": "h", "command": "x", "time": "2h"}}})
    assert conf.runs["r"].resources == {"time": "0-02:00:00"}


@pytest.mark.parametrize(("text", "secs"), [("90m", 5400), ("24h", 86400), ("2d", 172800), ("1:30:00", 5400),
                                            ("45:00", 2700), ("2-12", 216000), ("1-00:30", 88200),
                                            ("0-01:30:00", 5400)])
def test_time_limits_in_both_spellings(text: str, secs: int) -> None:
    assert time_seconds(text) == secs
    assert time_seconds(slurm_time(secs)) == secs


def test_the_warning_signal_lead_is_never_more_than_a_third_of_the_limit() -> None:
    assert slurm_args.signal_lead({"time": "0-00:03:00"}, 120) == 60
    assert slurm_args.signal_lead({"time": "1-00:00:00"}, 120) == 120
    assert slurm_args.signal_lead({}, 120) == 120


# --- tmuxkit export --to sbatch: the script, run for real under plain bash --------------------

SECRET = "hf_s3cr3t-VALUE-never-in-the-script"


def _export(tk: Env, run: str, *extra: str) -> Path:
    out = tk.work / f"{run}.sbatch"
    r = tk.cli("export", run, "--to", "sbatch", "-o", str(out), *extra)
    assert "sbatch " in r.stdout
    return out


# Ranks of the fake trainer would race on one checkpoint folder (a real one saves on rank 0): each its own.
PER_RANK = 'TMUXKIT_RESULTS="$TMUXKIT_RESULTS/rank${SLURM_PROCID:-0}" '


def _trainer_run(tk: Env, run: str, steps: int, delay: float, extra: str = "", prefix: str = "") -> None:
    cmd = prefix + (shlex.join([sys.executable, str(TRAINER)]) +
           f" --steps ${{TK_STEPS:-{steps}}} --delay ${{TK_DELAY:-{delay}}}")
    tk.add_run(run, 'echo "token-length=${#HF_TOKEN}"; ' + cmd,  # resume's arguments go after the trainer's
               f'resume = "--resume {{checkpoint}}"\nenv = {{ HF_TOKEN = "{SECRET}" }}\n{extra}')


def _script_env(tk: Env, **more: str) -> dict[str, str]:
    env = {**tk.env, "TMUXKIT_ENV_FILE": str(tk.work / "secrets.env")}
    for k in ("HF_TOKEN", "SLURM_JOB_ID", "SLURM_RESTART_COUNT", "SLURM_CONF"):
        env.pop(k, None)
    return {**env, **more}


def _bash(tk: Env, script: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(["bash", str(script)], cwd=tk.work, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _end(p: subprocess.Popen[str]) -> None:
    """No process left: the script's group and the trainer's own (set -m)."""
    kids = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
    for pg in [p.pid, *map(int, kids)]:
        try:
            os.killpg(pg, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    p.wait(timeout=10)


BASH32 = Path("/root/.cache/bash-3.2.48/bin/bash")  # macOS's bash, built for the tests (README)


@pytest.mark.parametrize("bash", ["bash", str(BASH32)], ids=["bash", "bash-3.2"])
def test_export_sbatch_runs_under_plain_bash_secrets_only_from_a_0600_file(tk: Env, bash: str) -> None:
    if bash != "bash" and not Path(bash).exists():
        pytest.skip(f"bash 3.2 is not built here ({bash})")
    _trainer_run(tk, "ex1", steps=3, delay=0.01, extra='partition = "debug"\ntime = "2h"\ngpus = 1')
    script = _export(tk, "ex1")
    text = script.read_text()
    assert SECRET not in text and "HF_TOKEN" in text  # the name, never the value
    assert "#SBATCH --partition=debug" in text and "#SBATCH --gres=gpu:1" in text
    assert "#SBATCH --time=0-02:00:00" in text and "#SBATCH --signal=B:INT@300" in text
    assert "#SBATCH --requeue" in text and "#SBATCH --job-name=ex1" in text
    if shutil.which("shellcheck"):
        sc = subprocess.run(["shellcheck", "-s", "bash", str(script)], capture_output=True, text=True)
        assert sc.returncode == 0, sc.stdout
    results = tk.work / "results" / "ex1"
    # the secret is missing: one line naming it, exit 2, nothing created
    p = subprocess.run([bash, str(script)], cwd=tk.work, env=_script_env(tk), capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2 and "not set: HF_TOKEN" in p.stderr and len(p.stderr.splitlines()) == 1
    assert not results.exists()
    # a world-readable env file is refused
    envf = tk.work / "secrets.env"
    envf.write_text(f"# the run's secrets\nHF_TOKEN={SECRET}\n")
    envf.chmod(0o644)
    p = subprocess.run([bash, str(script)], cwd=tk.work, env=_script_env(tk), capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2 and "chmod 600" in p.stderr and not results.exists()
    envf.chmod(0o600)
    p = subprocess.run([bash, str(script)], cwd=tk.work, env=_script_env(tk), capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    log = (results / "tmuxkit" / "ex1.log").read_text()
    assert "step 3" in log and f"token-length={len(SECRET)}" in log and SECRET not in log
    assert (results / "tmuxkit" / "ex1.exit").read_text().split()[0] == "0"
    assert not (results / ".tmuxkit.lock").exists()  # released
    # a lock left by a dead process on this host is taken over; the environment wins over the file
    dead = subprocess.Popen(["true"])
    dead.wait()
    (results / ".tmuxkit.lock").write_text(f"pid={dead.pid}\nstart=x\nhost={socket.gethostname()}\nrun=ex1\n"
                                           "session=export:1\n")
    p = subprocess.run([bash, str(script)], cwd=tk.work, env=_script_env(tk, HF_TOKEN="abc"),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "token-length=3" in (results / "tmuxkit" / "ex1.log").read_text()


def test_export_sbatch_holds_the_results_lock_and_ctrl_c_reaches_the_trainer(tk: Env) -> None:
    _trainer_run(tk, "ex2", steps=100000, delay=0.2)
    script = _export(tk, "ex2")
    env = _script_env(tk, HF_TOKEN="t")
    lock = tk.work / "results" / "ex2" / ".tmuxkit.lock"
    log = tk.work / "results" / "ex2" / "tmuxkit" / "ex2.log"
    first = _bash(tk, script, env)
    try:
        wait_until(lambda: log.exists() and "step 1" in log.read_text(), timeout=30, what="the first step")
        assert f"pid={first.pid}" in lock.read_text()
        second = subprocess.run(["bash", str(script)], cwd=tk.work, env=env, capture_output=True, text=True,
                                timeout=60)
        assert second.returncode == 3 and "locked by run ex2" in second.stderr, second.stderr
        os.kill(first.pid, signal.SIGINT)  # Slurm's B:INT, or a Ctrl-C: the trainer saves and exits 0
        assert first.wait(timeout=30) == 0
        assert "interrupted" in log.read_text()
        assert not lock.exists()
    finally:
        _end(first)


def test_export_sbatch_never_takes_a_live_tmuxkit_runs_lock(tk: Env) -> None:
    """A lock tmuxkit wrote (start=t:TICKS, its owner alive on this host) is live to the exported
    script: exit 3, the lock left (it compared its own ps lstart form, called it stale and removed it)."""
    _trainer_run(tk, "ex4", steps=3, delay=0.01)
    script = _export(tk, "ex4")
    env = _script_env(tk, HF_TOKEN="t")
    owner = subprocess.Popen(["sleep", "300"])
    try:
        lock = tk.work / "results" / "ex4" / ".tmuxkit.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        text = (f"pid={owner.pid}\nstart=t:1641114\nhost={socket.gethostname()}\nrun=ex4\nsession=ex4\n"
                f"run_id=ex4.1.1\ncreated=1\n")
        lock.write_text(text)
        r = subprocess.run(["bash", str(script)], cwd=tk.work, env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 3, r.stderr
        assert lock.read_text() == text
    finally:
        owner.kill()
        owner.wait()


def test_export_time_limit_requeues_resumes_from_the_newest_checkpoint_and_never_loops(tk: Env) -> None:
    """Under plain bash with stand-ins for squeue (the job's time left) and scontrol (records the
    requeue): the B:INT before the limit, the save, the requeue; the requeued job resumes."""
    _trainer_run(tk, "ex3", steps=100000, delay=0.2, extra='time = "10m"')
    script = _export(tk, "ex3")
    assert "#SBATCH --signal=B:INT@200" in script.read_text()  # a third of the limit, under the 5m lead
    bindir = tk.work / "standin"
    bindir.mkdir()
    calls = tk.work / "scontrol.calls"
    (bindir / "squeue").write_text('#!/bin/sh\necho "${TK_LEFT:-3:10}"\n')
    (bindir / "scontrol").write_text(f'#!/bin/sh\necho "$*" >>{shlex.quote(str(calls))}\n')
    for f in bindir.iterdir():
        f.chmod(0o755)
    log = tk.work / "results" / "ex3" / "tmuxkit" / "ex3.log"
    env = _script_env(tk, HF_TOKEN="t", SLURM_JOB_ID="77", PATH=f"{bindir}{os.pathsep}{tk.env['PATH']}")
    p = _bash(tk, script, env)
    try:
        wait_until(lambda: log.exists() and "step 2" in log.read_text(), timeout=30, what="two steps")
        os.kill(p.pid, signal.SIGINT)
        assert p.wait(timeout=30) == 0
    finally:
        _end(p)
    assert calls.read_text().split("\n")[0] == "requeue 77"
    text = log.read_text()
    assert "interrupted" in text and "time limit: requeued job 77" in text
    saved = max(int(x.split()[1]) for x in text.splitlines() if x.startswith("step "))
    # the requeued job (SLURM_RESTART_COUNT=1) resumes from the newest complete checkpoint
    p = _bash(tk, script, {**env, "SLURM_RESTART_COUNT": "1", "TK_DELAY": "60"})
    try:
        wait_until(lambda: "resumed from" in log.read_text(), timeout=30, what="the resume")
        assert f"step_{saved:06d}.pt at step {saved}" in log.read_text()
        # the limit again before any newer checkpoint (TK_DELAY: its next step is 60 s away): not
        # requeued (it would loop), failed
        os.kill(p.pid, signal.SIGINT)
        assert p.wait(timeout=30) == 1
    finally:
        _end(p)
    assert "not requeued, it would loop" in log.read_text()
    assert calls.read_text().count("requeue") == 1
    # a user's stop long before the limit is no time limit: no requeue
    p = _bash(tk, script, {**env, "TK_LEFT": "9:00"})
    try:
        wait_until(lambda: log.read_text().count("step 1\n") >= 2, timeout=30, what="a fresh start")
        os.kill(p.pid, signal.SIGINT)
        assert p.wait(timeout=30) == 0
    finally:
        _end(p)
    assert calls.read_text().count("requeue") == 1


def test_export_refuses_an_unknown_run_and_never_overwrites(tk: Env) -> None:
    tk.add_run("ex4", "true")
    r = tk.cli("export", "nope", "--to", "sbatch", check=2)
    assert "no run named 'nope'" in r.stderr and len(r.stderr.splitlines()) == 1
    mine = tk.work / "mine.sh"
    mine.write_text("precious\n")
    r = tk.cli("export", "ex4", "--to", "sbatch", "-o", str(mine), check=2)
    assert "already exists" in r.stderr and mine.read_text() == "precious\n"
    (tk.work / "link.sh").symlink_to(tk.work / "elsewhere.sh")
    tk.cli("export", "ex4", "--to", "sbatch", "-o", str(tk.work / "link.sh"), check=2)
    assert not (tk.work / "elsewhere.sh").exists()
    assert tk.cli("export", "ex4", "--to", "sbatch").stdout.startswith("#!/usr/bin/env bash\n")


# --- a real single-node Slurm (tests/slurm.py; the module fixture `cluster` in conftest.py) ---


def test_exported_script_passes_real_sbatch_test_only_and_runs_when_submitted(tk: Env, cluster: slurm_mod.Slurm) -> None:
    # two ranks (ntasks_per_node = 2): the command runs once per rank, through srun
    _trainer_run(tk, "sx1", steps=3, delay=0.05, extra='partition = "debug"\ncpus = 1\ntime = "10m"\nntasks_per_node = 2',
                 prefix=PER_RANK)
    _trainer_run(tk, "sx2", steps=3, delay=0.05, extra='partition = "debug"\ngpus = 1')
    env = {**_script_env(tk), **cluster.env()}
    ok = _export(tk, "sx1")
    r = subprocess.run(["sbatch", "--test-only", str(ok)], cwd=tk.work, env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    # a GPU the node lacks: Slurm's own refusal, and nothing queued
    gpu = _export(tk, "sx2")
    r = subprocess.run(["sbatch", "--test-only", str(gpu)], cwd=tk.work, env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0 and "gres" in r.stderr.lower(), r.stderr
    # submitted by hand, the secret from the submitter's environment, never from the script
    r = subprocess.run(["sbatch", "--parsable", str(ok)], cwd=tk.work, env={**env, "HF_TOKEN": SECRET},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    exitf = tk.work / "results" / "sx1" / "tmuxkit" / "sx1.exit"
    wait_until(exitf.exists, timeout=90, interval=0.2, what=f"job {r.stdout.strip()} to end")
    assert exitf.read_text().split()[0] == "0"
    log = (tk.work / "results" / "sx1" / "tmuxkit" / "sx1.log").read_text()
    assert log.count("step 3") == 2 and log.count(f"token-length={len(SECRET)}") == 2 and SECRET not in log
    lock = tk.work / "results" / "sx1" / ".tmuxkit.lock"  # released as the script exits, after the .exit file
    wait_until(lambda: not lock.exists(), timeout=30, interval=0.1, what="the results lock to be released")
    # Slurm's warning signal (B:INT, to the batch shell alone) reaches every rank: each saves and exits 0
    exitf.unlink()
    logf = tk.work / "results" / "sx1" / "tmuxkit" / "sx1.log"
    r = subprocess.run(["sbatch", "--parsable", str(ok)], cwd=tk.work,
                       env={**env, "HF_TOKEN": "t", "TK_STEPS": "100000", "TK_DELAY": "0.2"},
                       capture_output=True, text=True, timeout=60)
    job = r.stdout.strip().split(";")[0]
    wait_until(lambda: logf.read_text().splitlines().count("step 2") == 4, timeout=90, interval=0.2, what="both ranks' steps")
    cluster.run("scancel", "--signal=INT", "--batch", job)
    wait_until(exitf.exists, timeout=60, interval=0.2, what=f"job {job} to end")
    assert exitf.read_text().split()[0] == "0" and logf.read_text().count("interrupted") == 2


def test_submit_asks_sbatch_test_only_first_and_doctor_runs_it_for_each_run(tk: Env, cluster: slurm_mod.Slurm) -> None:
    env = {**tk.env, **cluster.env()}
    results = tk.work / "results" / "bad"
    r = subprocess.run([str(ROOT / "shell" / "tmuxkit-slurm"), "submit", "bad", "--results", str(results),
                        "--cwd", str(tk.work), "--cmd", "true", "--", "--partition=nope"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.splitlines()) == 1 and "partition" in r.stderr and "nope" in r.stderr, r.stderr
    assert not results.exists()  # nothing created ...
    q = cluster.run("squeue", "-h", "-n", "bad", "-o", "%i")
    assert q.stdout.strip() == ""  # ... nothing submitted
    tk.write_config('[hosts.c]\nkind = "slurm"\npartition = "nope"\n'
                    '[runs.good]\nhost = "c"\ncommand = "true"\npartition = "debug"\n'
                    '[runs.big]\nhost = "c"\ncommand = "true"\npartition = "debug"\ngpus = 2\n')
    r = subprocess.run([sys.executable, "-m", "tmuxkit", "doctor", "c", "--json"], cwd=tk.work, env=env,
                       capture_output=True, text=True, timeout=120)
    rows = {c["value"].split(":")[0]: c for c in json.loads(r.stdout)["checks"] if c["check"] == "sbatch --test-only"}
    assert set(rows) == {"host c", "run good", "run big"}, r.stdout
    assert not rows["host c"]["ok"] and "nope" in rows["host c"]["value"]
    assert rows["run good"]["ok"]
    assert not rows["run big"]["ok"] and "gres" in rows["run big"]["value"].lower()
    assert r.returncode == 1
    # tmuxkit start passes the run's resources (gpus = 2 -> --gres=gpu:2) and Slurm's refusal comes back
    r = subprocess.run([sys.executable, "-m", "tmuxkit", "start", "big"], cwd=tk.work, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "sbatch --test-only" in r.stderr and "gres" in r.stderr.lower(), r.stderr
    assert cluster.run("squeue", "-h", "-o", "%i").stdout.strip() == ""
    # ranks (ntasks_per_node = 2): the wrapper runs the command once per rank through srun, and
    # Slurm's warning signal (B:INT, to the batch shell alone) reaches each rank
    rk = tk.work / "results" / "rk"
    cmd = "echo rank=$SLURM_PROCID; " + PER_RANK + shlex.join([sys.executable, str(TRAINER), "--steps", "100000", "--delay", "0.2"])
    r = subprocess.run([str(ROOT / "shell" / "tmuxkit-slurm"), "submit", "rk", "--results", str(rk), "--cwd",
                        str(tk.work), "--cmd", cmd, "--", "--ntasks-per-node=2", "--cpus-per-task=1"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    job = dict(x.split("=", 1) for x in r.stdout.splitlines())["job"]
    log = rk / "tmuxkit" / "rk.log"
    try:
        wait_until(lambda: log.exists() and log.read_text().splitlines().count("step 2") == 2, timeout=90, interval=0.2,
                   what="both ranks' second step")
        assert "rank=0" in log.read_text() and "rank=1" in log.read_text()
        cluster.run("scancel", "--signal=INT", "--batch", job)
        wait_until((rk / "tmuxkit" / "rk.exit").exists, timeout=60, interval=0.2, what=f"job {job} to end")
    finally:
        cluster.run("scancel", job, check=False)
    assert (rk / "tmuxkit" / "rk.exit").read_text().split()[0] == "0"
    assert log.read_text().count("interrupted") == 2, log.read_text()


# --- tmuxkit export --to skypilot -------------------------------------------------------------


def _sky_task(tk: Env) -> tuple[Path, str]:
    _trainer_run(tk, "sky1", steps=3, delay=0.01, extra='gpus = 2\ncpus = 8\nmem = "64G"\ntime = "2h"\nmax_restarts = 5')
    out = tk.work / "sky1.yaml"
    tk.cli("export", "sky1", "--to", "skypilot", "--accelerator", "H100", "-o", str(out))
    return out, out.read_text()


def test_export_skypilot_yaml_has_resources_recovery_env_names_only_and_its_run_resumes(tk: Env) -> None:
    import yaml  # type: ignore[import-untyped, unused-ignore]  # apprise depends on it: always here

    _, text = _sky_task(tk)
    assert SECRET not in text
    task = yaml.safe_load(text)
    assert task["name"] == "sky1" and task["workdir"] == "."
    assert task["resources"]["accelerators"] == "H100:2"
    assert task["resources"]["cpus"] == "8+" and task["resources"]["memory"] == "64+"
    assert task["resources"]["job_recovery"] == {"strategy": "FAILOVER", "max_restarts_on_errors": 5}
    assert task["envs"] == {"HF_TOKEN": None}  # SkyPilot requires it at launch (--env HF_TOKEN)
    assert "setup" in task and str(TRAINER) in task["run"]
    assert "time limit (0-02:00:00)" in text  # said, not silently dropped
    # the run section, as SkyPilot runs it (bash, in the workdir, envs exported): it logs where
    # tmuxkit does, and a second launch (a recovery) resumes from the newest checkpoint
    env = {**_script_env(tk), "HF_TOKEN": "t"}
    for _ in range(2):
        r = subprocess.run(["bash", "-c", task["run"]], cwd=tk.work, env=env, capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
    log = (tk.work / "results" / "sky1" / "tmuxkit" / "sky1.log").read_text()
    assert "step 3" in log and "resumed from" in log and "step_000003.pt" in log


def test_export_skypilot_yaml_loads_in_skypilots_own_parser(tk: Env) -> None:
    try:
        import sky  # type: ignore[import-not-found, unused-ignore]
    except ImportError as e:
        pytest.skip(f"SkyPilot is not installed here ({e}); pip install skypilot to run its parser on the export")
    import yaml  # type: ignore[import-untyped, unused-ignore]

    _, text = _sky_task(tk)
    # HF_TOKEN is null in the YAML: SkyPilot refuses the task until it is given, as `--env HF_TOKEN` does
    t = sky.Task.from_yaml_config(yaml.safe_load(text), env_overrides=[("HF_TOKEN", "given-at-launch")])
    assert t.name == "sky1" and t.num_nodes == 1
    assert any(r.accelerators == {"H100": 2} for r in t.resources)


def test_export_works_for_a_run_of_any_host_kind_without_reaching_the_host(tk: Env) -> None:
    tk.write_config('[hosts.box]\nssh = "nobody@box.invalid"\n'
                    '[hosts.c]\nkind = "slurm"\nssh = "login.invalid"\npartition = "gpu"\naccount = "lab"\n'
                    '[runs.on_box]\nhost = "box"\ncommand = ["python", "train.py", "--name", "it\'s"]\n'
                    'cwd = "~/src/proj"\ngpus = 4\ntime = "1d"\n'
                    '[runs.on_c]\nhost = "c"\ncommand = "python train.py"\nqos = "high"\n')
    box = tk.cli("export", "on_box", "--to", "sbatch", timeout=30).stdout
    assert "#SBATCH --gres=gpu:4" in box and "#SBATCH --time=1-00:00:00" in box and "--partition" not in box
    got = subprocess.run(["bash", "-c", "\n".join(x for x in box.splitlines() if x.startswith(("CMD=", "WORKDIR=")))
                          + '\nprintf "%s\\n%s" "$WORKDIR" "$CMD"'], capture_output=True, text=True, timeout=30).stdout
    assert got == "~/src/proj\n" + shlex.join(["python", "train.py", "--name", "it's"])
    c = tk.cli("export", "on_c", "--to", "sbatch", timeout=30).stdout
    assert "#SBATCH --partition=gpu" in c and "#SBATCH --account=lab" in c and "#SBATCH --qos=high" in c
    assert tk.cli("export", "on_c", "--to", "skypilot", timeout=30).stdout.startswith("# on_c: written by")
