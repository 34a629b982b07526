"""The Slurm watchdog's cluster side, against a real single-node Slurm (its own, started here):
restart_on (a crash resumes from its checkpoint, within the budget), forensics and the GPU-idle
check taken on the compute node (srun --jobid JOB --overlap), and notifications sent by the login
host's watchdog with no laptop attached."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import slurm as slurm_mod
from conftest import FAKES, Env, Sink, wait_until
from test_slurm import js, squeue_empty

ROOT = Path(__file__).resolve().parent.parent
SHELL = ROOT / "shell"
CKPT = FAKES / "ckpt_trainer.py"
TRAINER = FAKES / "trainer.py"

pytestmark = pytest.mark.timeout(180)




@pytest.fixture
def stk(tk: Env, cluster: slurm_mod.Slurm) -> Iterator[Env]:
    """tk with this cluster's SLURM_CONF and host 'cluster' (kind = "slurm", submitting from here).
    Every watchdog ended and every job gone when the test ends, pass or fail."""
    tk.env.update(cluster.env())
    tk.env["TMUXKIT_NOTIFY_BACKOFF"] = "0"
    tk.write_config('[hosts.cluster]\nkind = "slurm"\n')
    try:
        yield tk
    finally:
        for d in (tk.home / "slurm").glob("*"):
            subprocess.run(["bash", str(SHELL / "tmuxkit-slurm"), "watch", d.name, "--off"], env=tk.env,
                           capture_output=True, timeout=30)
        cluster.run("scancel", "--user=root", "--full", "--signal=KILL", check=False)
        wait_until(lambda: squeue_empty(cluster), timeout=30, interval=0.2, what="every job gone")


def events(tk: Env, run: str) -> list[dict[str, object]]:
    f = tk.home / "slurm" / run / "events.jsonl"
    return [json.loads(ln) for ln in f.read_text().splitlines() if ln.strip()] if f.exists() else []


def kinds(tk: Env, run: str) -> list[str]:
    return [str(e["event"]) for e in events(tk, run)]


def watchdog_gone(tk: Env, run: str) -> bool:
    return not (tk.home / "slurm" / run / "watchdog").exists()


def notified(event: str) -> list[dict[str, object]]:
    return [b for b in Sink.received if str(b.get("title", "")).endswith(f" {event}")]


def gpu_bin(tmp: Path) -> Path:
    """nvidia-smi and py-spy stand-ins in a folder for PATH (the job and its srun steps inherit it)."""
    d = tmp / "nodebin"
    d.mkdir()
    (d / "nvidia-smi").write_bytes((FAKES / "nvidia-smi").read_bytes())
    (d / "py-spy").write_text('#!/bin/sh\necho "fake py-spy $*"\necho "Thread 1 (idle): MainThread"\n')
    for f in ("nvidia-smi", "py-spy"):
        (d / f).chmod(0o755)
    (d / "util").write_text("0\n")
    return d


def test_watch_resumes_a_crash_from_its_checkpoint_and_the_login_host_notifies(stk: Env, sink: int) -> None:
    # The trainer saves step 3 and dies (exit 1); the watchdog requeues it (restart_on = "both", the
    # default), counted against the budget, and the wrapper resumes from step_000003.pt: the run
    # finishes. Each event worth it is sent once, by the watchdog on the login host (here), with
    # no follower on the laptop's side. (It read: crashed, the watchdog ended, state failed.)
    cmd = shlex.join([sys.executable, str(CKPT), "--steps", "6", "--delay", "0.3", "--crash-after-save-at", "3"])
    stk.add_run("wcrash", cmd, 'host = "cluster"\nresults = "results"\ncheckpoints = "results/step_*.pt"\n'
                'resume = "--resume {checkpoint}"\nmax_restarts = 2\n'
                f'notify = ["json://127.0.0.1:{sink}/"]')
    stk.cli("start", "wcrash")
    r = stk.cli("watch", "wcrash", "--every", "1")
    wait_until(lambda: "finished" in kinds(stk, "wcrash") or watchdog_gone(stk, "wcrash"), timeout=120,
               interval=0.5, what="the resumed run to finish")
    k = kinds(stk, "wcrash")
    assert k.index("crashed") < k.index("requeued") < k.index("resumed") < k.index("finished"), k
    ev = {str(e["event"]): e for e in events(stk, "wcrash")}
    assert (ev["crashed"]["exit"], ev["crashed"]["state"]) == ("1:0", "exited"), ev["crashed"]
    assert ev["requeued"]["by"] == "watchdog" and ev["requeued"]["reason"] == "crash", ev["requeued"]
    assert str(ev["resumed"]["checkpoint"]).endswith("step_000003.pt"), ev["resumed"]
    assert "budget_spent" not in k
    assert "or a crash is requeued" in r.stdout, r.stdout
    assert "sent by the watchdog on cluster" in r.stdout and "sent from this machine" not in r.stdout, r.stdout
    assert not any(s.endswith("+events") for s in stk.sessions())  # nothing of tmuxkit's on the laptop side
    st = js(stk, "wcrash")
    assert st["state"] == "exited" and st["restarts"] == 1 and st["requeues"] == 1, st
    assert (stk.home / "slurm" / "wcrash" / "restarts").read_text().count(":1") == 1  # counted in the budget
    log = (stk.work / "results" / "tmuxkit" / "wcrash.log").read_text()
    after = log[log.index("resumed from"):]
    assert "step_000003.pt at step 3" in after.splitlines()[0] and "step 4" in after and "training done" in after
    # Notifications: each once, from the watchdog.
    for e in ("crashed", "requeued", "resumed", "finished"):
        wait_until(lambda e=e: len(notified(e)) >= 1, timeout=30, interval=0.3, what=f"the {e} notification")  # type: ignore[misc]
        assert len(notified(e)) == 1, (e, Sink.received)
    msg = str(notified("finished")[0]["message"])
    assert "finished wcrash" in msg and "after " in msg and "exit 0:0" in msg, msg
    assert "from step_000003.pt" in str(notified("resumed")[0]["message"])
    sent = (stk.home / "slurm" / "wcrash" / "notify.log").read_text()
    assert "finished json sent" in sent and "127.0.0.1" not in sent  # never the URL


def test_a_crash_past_the_budget_is_failed_and_restart_on_stuck_leaves_it(stk: Env) -> None:
    # A resume that crashes again spends the budget (max_restarts = 1): budget_spent, state failed
    # with that cause, never a loop. And with restart_on = "stuck" a crash is not requeued at all.
    cmd = shlex.join([sys.executable, str(CKPT), "--steps", "6", "--delay", "0.3", "--crash-after-save-at", "2",
                      "--crash-resuming-from", "2"])
    stk.add_run("wbudget", cmd, 'host = "cluster"\nresults = "results/b"\ncheckpoints = "results/b/step_*.pt"\n'
                'resume = "--resume {checkpoint}"\nmax_restarts = 1')
    stk.add_run("wstuckonly", shlex.join([sys.executable, str(CKPT), "--steps", "6", "--delay", "0.3",
                                          "--crash-after-save-at", "2"]),
                'host = "cluster"\nresults = "results/s"\ncheckpoints = "results/s/step_*.pt"\n'
                'resume = "--resume {checkpoint}"\nrestart_on = "stuck"')
    stk.cli("start", "wbudget")
    stk.cli("start", "wstuckonly")
    stk.cli("watch", "wbudget", "--every", "1")
    r = stk.cli("watch", "wstuckonly", "--every", "1")
    assert "a log silent for" in r.stdout and "crash" not in r.stdout, r.stdout
    wait_until(lambda: watchdog_gone(stk, "wbudget") and watchdog_gone(stk, "wstuckonly"), timeout=120,
               interval=0.5, what=f"both watchdogs to end ({kinds(stk, 'wbudget')}, {kinds(stk, 'wstuckonly')})")
    k = kinds(stk, "wbudget")
    assert k.count("crashed") == 2 and k.count("requeued") == 1 and k[-1] == "budget_spent", k
    st = js(stk, "wbudget")
    assert st["state"] == "failed" and st["cause"] == "restart budget spent", st
    k = kinds(stk, "wstuckonly")
    assert "crashed" in k and "finished" not in k and "requeued" not in k and "budget_spent" not in k, k
    st = js(stk, "wstuckonly")  # the trainer's own crash: exited with its code, as on a tmux host
    assert (st["state"], st["slurm_state"]) == ("exited", "FAILED") and st["exit_code"] == 1, st


SILENT = "import time; print('going silent', flush=True); time.sleep(600)"


def test_evidence_of_a_stuck_job_is_taken_on_the_compute_node(stk: Env, tmp_path: Path) -> None:
    # The process tree (the job's steps, by scontrol listpids), a py-spy dump of its python process
    # and nvidia-smi, each probed on the node through srun --jobid JOB --overlap: the stand-ins are
    # on the PATH the job and the watchdog's srun inherit. restart_on = "crash": stuck is only told.
    # (It read: "unavailable here: the process tree, py-spy and nvidia-smi live on the compute node".)
    d = gpu_bin(tmp_path)
    stk.env["PATH"] = f"{d}:{stk.env['PATH']}"
    stk.add_run("wstuck", shlex.join([sys.executable, "-c", SILENT]), 'host = "cluster"\nrestart_on = "crash"')
    stk.cli("start", "wstuck")
    log = stk.work / "results" / "wstuck" / "tmuxkit" / "wstuck.log"
    wait_until(lambda: log.exists() and "going silent" in log.read_text(), timeout=30, interval=0.2, what="silent")
    stk.cli("watch", "wstuck", "--every", "1", "--stuck-after", "2")
    wait_until(lambda: "evidence_saved" in kinds(stk, "wstuck"), timeout=90, interval=0.5,
               what=f"evidence ({kinds(stk, 'wstuck')})")
    ev = next(e for e in events(stk, "wstuck") if e["event"] == "evidence_saved")
    text = Path(str(ev["path"])).read_text()
    assert "the job's processes" in text and "going silent" in text, text  # the trainer's args
    pid = next(ln.split()[0] for ln in text.splitlines() if "python -c import time" in ln)  # the trainer
    assert f"fake py-spy dump --pid {pid}" in text, text
    assert "fake nvidia-smi: 1 GPU" in text, text
    assert "== unavailable: nothing" in text and "unavailable here" not in text, text
    assert "requeued" not in kinds(stk, "wstuck")  # restart_on = "crash": told, not requeued
    assert js(stk, "wstuck")["state"] == "running"


def test_gpu_idle_is_read_on_the_node_for_the_jobs_own_gpus(stk: Env, tmp_path: Path) -> None:
    # Two GPUs: the job's (CUDA_VISIBLE_DEVICES=1) idles at 2 %, another's (0) is busy at 99 %. The
    # check reads nvidia-smi on the node, of the job's own GPU (its processes' compute apps): stuck
    # (gpu idle), requeued, and with the budget spent (max_restarts = 1) stopped: failed. The log
    # is never silent. (It read: "--gpu-idle-below is not available for a Slurm job".)
    d = gpu_bin(tmp_path)
    (d / "gpus").write_text("0 GPU-00000000-fake 81559\n1 GPU-00000001-fake 81559\n")
    (d / "util-0").write_text("99\n")
    (d / "util-1").write_text("2\n")
    stk.env["PATH"] = f"{d}:{stk.env['PATH']}"
    cmd = ("export FAKE_GPU_MIB=1000 CUDA_VISIBLE_DEVICES=1; exec "
           + shlex.join([sys.executable, str(TRAINER), "--steps", "100000", "--delay", "0.2"]))
    stk.add_run("widle", cmd, 'host = "cluster"\nmax_restarts = 1')
    stk.cli("start", "widle")
    r = stk.cli("watch", "widle", "--every", "1", "--gpu-idle-below", "10", "--gpu-idle-for", "2")
    assert "GPUs under 10% for 2s" in r.stdout, r.stdout
    wait_until(lambda: "budget_spent" in kinds(stk, "widle"), timeout=120, interval=0.5,
               what=f"budget_spent ({kinds(stk, 'widle')})")
    evs = events(stk, "widle")
    stuck = [e for e in evs if e["event"] == "stuck"]
    assert stuck and all(e["reason"] == "gpu idle" and e["gpu_util"] == 2 for e in stuck), stuck
    req = [e for e in evs if e["event"] == "requeued"]
    assert len(req) == 1 and req[0]["reason"] == "gpu idle", req
    assert "log_age_s" not in json.dumps(stuck)  # never the log's silence
    wait_until(lambda: js(stk, "widle")["state"] == "failed", timeout=60, interval=0.5, what="failed")
    assert "--query-gpu=uuid,utilization.gpu" in (d / "argv.log").read_text()


def test_notifications_with_the_laptop_gone_each_once(stk: Env, sink: int) -> None:
    # start with notify and no --watch: a watchdog that only notifies runs on the login host (here)
    # and sends the run's end itself; nothing of tmuxkit's on the laptop's side after start. A
    # laptop's `events -f` meanwhile sends no second copy. (It read: nothing was sent unless a
    # laptop's `tmuxkit events RUN -f` ran.)
    cmd = shlex.join([sys.executable, str(TRAINER), "--steps", "8", "--delay", "0.3"])
    stk.add_run("wnote", cmd, f'host = "cluster"\nnotify = ["json://127.0.0.1:{sink}/"]')
    stk.env["TMUXKIT_WATCH_OPTS"] = "--every 1"  # its end is seen within a second, not 30
    r = stk.cli("start", "wnote")
    assert "from the host" in r.stdout, r.stdout
    assert not any(s.endswith("+events") for s in stk.sessions())
    follower = subprocess.Popen([sys.executable, "-m", "tmuxkit", "events", "wnote", "-f"], env=stk.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: len(notified("finished")) >= 1, timeout=90, interval=0.3,
                   what=f"the finished notification ({kinds(stk, 'wnote')})")
        out, _ = follower.communicate(timeout=60)  # it ends with the watchdog
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.communicate()
    assert "wnote finished" in out, out
    wait_until(lambda: watchdog_gone(stk, "wnote"), timeout=30, interval=0.3, what="the watchdog to end")
    assert len(notified("finished")) == 1, Sink.received
    msg = str(notified("finished")[0]["message"])
    assert "step 8/8" in msg or "after " in msg, msg
    k = kinds(stk, "wnote")
    assert "requeued" not in k and "stuck" not in k, k  # it only notifies
    assert next(e for e in events(stk, "wnote") if e["event"] == "started")["restart_on"] == "none"
    assert os.stat(stk.home / "slurm" / "wnote" / "notify").st_mode & 0o077 == 0
    # watch on the ended run: a new watchdog tells the end again (an event) but sends it no second time.
    stk.cli("watch", "wnote", "--every", "1")
    wait_until(lambda: kinds(stk, "wnote").count("finished") == 2 and watchdog_gone(stk, "wnote"), timeout=30,
               interval=0.3, what=f"the second watchdog's end ({kinds(stk, 'wnote')})")
    assert len(notified("finished")) == 1, Sink.received
