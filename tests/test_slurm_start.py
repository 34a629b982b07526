"""Issue 28, items 3 and 5 (lane sstart): what a tmux run does that a Slurm run did not.
attach (follows the job's log; --shell opens srun --overlap --pty on its node), start --sync and
tmuxkit sync of a Slurm run, start --after OTHER as --dependency=afterok:JOB, the time-limit lead
as a setting (time_limit_lead), and cleanup's line for a Slurm host. Against a real single-node
Slurm (tests/slurm.py), one for this module."""

from __future__ import annotations

import json
import os
import pty
import select
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import slurm as slurm_mod
from conftest import Env, pid_alive, wait_until
from test_slurm import js, squeue_empty, until_cli_state

from tmuxkit import config
from tmuxkit.errors import ConfigError
from tmuxkit.hosts import slurm_args

pytestmark = pytest.mark.timeout(180)
ROOT = Path(__file__).resolve().parent.parent
SHELL = ROOT / "shell"
TRAINER = ROOT / "tests" / "fakes" / "trainer.py"


def trainer_cmd(*args: str) -> str:
    return shlex.join([sys.executable, str(TRAINER), *args])


# --- without a cluster ------------------------------------------------------------------------------


def test_time_limit_lead_is_a_setting_never_more_than_a_third_of_the_limit() -> None:
    conf = config.parse({
        "hosts": {"c": {"kind": "slurm", "time_limit_lead": "2m"}},
        "runs": {"short": {"host": "c", "command": "x", "time": "1m", "time_limit_lead": "10m"},
                 "own": {"host": "c", "command": "x", "time": "1h", "time_limit_lead": "15s"},
                 "host_default": {"host": "c", "command": "x", "time": "1h"},
                 "in_args": {"host": "c", "command": "x", "sbatch_args": ["--time=1"]},
                 "plain": {"host": "c", "command": "x"}},
    })
    h = conf.host("c")

    def lead(run: str) -> int:
        return slurm_args.time_limit_lead(slurm_args.resources(h, conf.runs[run]), 60)

    assert lead("short") == 20  # capped: a third of 60 s
    assert lead("own") == 15  # the run's own
    assert lead("host_default") == 120  # the host's default
    assert lead("in_args") == 20  # a --time among sbatch_args (Slurm's minutes) caps it too
    assert slurm_args.time_limit_lead(slurm_args.resources(None, conf.runs["plain"]), 60) == 60
    # not an sbatch option of its own
    assert not any("lead" in o for o in slurm_args.sbatch_args(h, conf.runs["short"]))
    with pytest.raises(ConfigError) as e:
        config.parse({"runs": {"r": {"command": "x", "time_limit_lead": "soon"}}})
    assert "time_limit_lead" in str(e.value) and "\n" not in str(e.value)


def test_export_takes_the_runs_time_limit_lead_and_lead_wins_over_it() -> None:
    from tmuxkit import export

    conf = config.parse({"hosts": {"c": {"kind": "slurm"}},
                         "runs": {"r": {"host": "c", "command": "x", "time": "1h", "time_limit_lead": "90s"},
                                  "s": {"host": "c", "command": "x", "time": "3m", "time_limit_lead": "10m"}}})
    assert "#SBATCH --signal=B:INT@90\n" in export.sbatch_script(conf, conf.runs["r"])
    assert "#SBATCH --signal=B:INT@120\n" in export.sbatch_script(conf, conf.runs["r"], 120)  # --lead 2m
    assert "#SBATCH --signal=B:INT@60\n" in export.sbatch_script(conf, conf.runs["s"])  # a third of 3m


def test_sync_lists_a_slurm_runs_checkpoints_by_its_results_folder() -> None:
    from tmuxkit.hosts import connect

    conf = config.parse({"hosts": {"c": {"kind": "slurm", "ssh": "login1"}},
                         "runs": {"r": {"host": "c", "command": "x", "cwd": "~/proj"}}})
    h = connect(conf.host("c"))
    try:
        # the login's home is where ssh lands; after the end nothing needs to settle
        assert h.sync_checkpoint_args(conf.runs["r"], "/shared/res", False) == [
            "--results", "/shared/res", "--cwd", "proj", "r"]
        assert h.sync_checkpoint_args(conf.runs["r"], "/shared/res", True)[-3:] == ["--settle", "0", "r"]
        assert h.sync_status_argv("r") is None and h.sync_event_args("r") is None
        assert h.sync_ack_args("r") == ("tmuxkit-slurm", "done", "r", "--ack")
    finally:
        h.close()


def test_cleanup_says_in_one_line_that_a_slurm_host_has_nothing_to_clean(tk: Env) -> None:
    tk.write_config('[hosts.cluster]\nkind = "slurm"\n')
    r = tk.cli("cleanup", "--host", "cluster")
    lines = r.stdout.splitlines()
    assert [ln for ln in lines if ln.startswith("cluster: ")] == [
        ln for ln in lines if "Slurm host: nothing to clean by design" in ln], r.stdout
    assert len([ln for ln in lines if ln.startswith("cluster: ")]) == 1, r.stdout
    assert "tmuxkit forget RUN" in r.stdout


def test_attach_shell_of_a_tmux_run_is_one_line_exit_2(tk: Env) -> None:
    tk.add_run("loc", "sleep 60")
    tk.cli("start", "loc", "--early-wait", "0")
    try:
        r = tk.cli("attach", "loc", "--shell", check=2)
        assert r.stderr.count("\n") == 1 and "has a tmux session: tmuxkit attach loc" in r.stderr, r.stderr
    finally:
        tk.cli("stop", "loc", "--grace", "5", check=None)


# A real single-node Slurm (tests/slurm.py), one for this module: conftest's `cluster`.




@pytest.fixture
def stk(tk: Env, cluster: slurm_mod.Slurm) -> Iterator[Env]:
    """tk with this cluster's SLURM_CONF and host 'cluster' (kind = "slurm", submitting from here).
    Every job is cancelled (and gone), and every sync loop session ended, when the test ends."""
    tk.env.update(cluster.env())
    tk.write_config('[hosts.cluster]\nkind = "slurm"\n')
    try:
        yield tk
    finally:
        for s in tk.sessions():
            tk.tmux("kill-session", "-t", f"={s}")
        cluster.run("scancel", "--user=root", "--full", "--signal=KILL", check=False)
        wait_until(lambda: squeue_empty(cluster), timeout=30, interval=0.2, what="every job gone")






def job_field(cluster: slurm_mod.Slurm, job: str, key: str) -> str:
    line = cluster.run("scontrol", "-o", "show", "job", job).stdout
    return next((w.split("=", 1)[1] for w in line.split() if w.startswith(key + "=")), "")


def job_of(out: str) -> str:
    return out.split("Slurm job ")[1].split()[0]


def test_start_after_is_afterok_on_the_others_job_and_refuses_unknown_or_failed(stk: Env,
                                                                             cluster: slurm_mod.Slurm) -> None:
    stk.write_config('[hosts.cluster]\nkind = "slurm"\n')
    stk.add_run("prep", trainer_cmd("--steps", "2", "--delay", "0.1"),
                'host = "cluster"\nsbatch_args = ["--hold"]')
    stk.add_run("train", trainer_cmd("--steps", "2", "--delay", "0.1"), 'host = "cluster"')
    stk.add_run("bad", "echo broken; exit 3", 'host = "cluster"')
    # OTHER unknown on that host: one line, exit 2, nothing submitted (sbatch itself takes afterok:999).
    r = stk.cli("start", "train", "--after", "nosuch", check=2)
    assert r.stderr.count("\n") == 1 and "no run named 'nosuch'" in r.stderr and "nothing submitted" in r.stderr
    assert squeue_empty(cluster) and not (stk.work / "results" / "train").exists()
    r = stk.cli("start", "train", "--after", "train", check=2)
    assert "cannot wait for itself" in r.stderr and squeue_empty(cluster)
    # OTHER pending: the job waits for it (singleton and afterok: both)
    prep = job_of(stk.cli("start", "prep").stdout)
    r = stk.cli("start", "train", "--after", "prep")
    job = job_of(r.stdout)
    assert f"waits    for run prep to exit 0 (Slurm job {prep}: --dependency=afterok:{prep})" in r.stdout, r.stdout
    assert f"afterok:{prep}" in job_field(cluster, job, "Dependency")
    assert js(stk, "train")["state"] == "pending"
    cluster.run("scontrol", "release", prep)
    until_cli_state(stk, "prep", "exited", 60)
    until_cli_state(stk, "train", "exited", 60)
    # OTHER already exited 0: no dependency needed
    r = stk.cli("start", "train", "--after", "prep")
    assert "waits    for nothing: run prep already exited 0" in r.stdout, r.stdout
    assert job_field(cluster, job_of(r.stdout), "Dependency") == "(null)"
    until_cli_state(stk, "train", "exited", 60)
    # OTHER exited non-zero (its trainer's own exit 3): refused, naming it; nothing submitted
    stk.cli("start", "bad")
    until_cli_state(stk, "bad", "exited", 60)
    before = cluster.run("scontrol", "-o", "show", "job").stdout.count("JobName=train ")
    r = stk.cli("start", "train", "--after", "bad", check=2)
    assert r.stderr.count("\n") == 1, r.stderr
    assert "run 'bad'" in r.stderr and "(Slurm job " in r.stderr and ") exited (exit 3)" in r.stderr and "nothing submitted" in r.stderr, r.stderr
    assert cluster.run("scontrol", "-o", "show", "job").stdout.count("JobName=train ") == before


@pytest.mark.timeout(240)
def test_time_limit_lead_reaches_slurm_as_set(stk: Env, cluster: slurm_mod.Slurm) -> None:
    # time = 2m and time_limit_lead = 20s: Slurm gets --signal=B:USR1@20 (with the lead of before,
    # 60 s whatever the setting, it came 40 s sooner). scontrol show job does not show --signal; the
    # wrapper's time_limit event tells when the warning came. slurmctld sends it at its first
    # time-limit check (every 30 s) from LEAD + 30 s before the end ("up to 60 s earlier",
    # sbatch(1) --signal): from 70 s after the start here; a 60 s lead: from 30 s.
    # (The cap, a third of the limit, is the start's note here and the unit test above.)
    stk.add_run("lead", trainer_cmd("--steps", "100000", "--delay", "0.2"),
                'host = "cluster"\ntime = "2m"\ntime_limit_lead = "20s"')
    stk.add_run("capped", "true", 'host = "cluster"\ntime = "1m"\ntime_limit_lead = "10m"\nsbatch_args = ["--hold"]')
    r = stk.cli("start", "capped")
    assert ("note: time_limit_lead 600s is more than a third of the run's time limit: the trainer gets its "
            "Ctrl-C 20s before it") in r.stdout, r.stdout
    r = stk.cli("start", "lead")
    assert "note: time_limit_lead" not in r.stdout, r.stdout
    job = job_of(r.stdout)
    events = stk.work / "results" / "lead" / "tmuxkit" / "lead.events.jsonl"
    log = stk.work / "results" / "lead" / "tmuxkit" / "lead.log"
    wait_until(lambda: events.exists() and '"event":"time_limit"' in events.read_text(), timeout=180,
               interval=0.5, what=f"the time_limit event: {log.read_text()[-300:] if log.exists() else ''}")
    ev = next(json.loads(ln) for ln in events.read_text().splitlines() if '"event":"time_limit"' in ln)
    start = datetime.fromisoformat(job_field(cluster, job, "StartTime")).timestamp()
    after = ev["ts"] - start
    assert 65 <= after < 120, (after, ev)
    wait_until(lambda: "interrupted" in log.read_text(), timeout=30, interval=0.3, what="the trainer's Ctrl-C")


def _pty_run(tk: Env, argv: list[str], *, send: bytes = b"", until: bytes = b"", timeout: float = 60
             ) -> tuple[int, bytes]:
    """tmuxkit ARGV on a real terminal (a pty): SEND once UNTIL... is seen (at once without UNTIL);
    returns (exit code, all it wrote)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "tmuxkit", *argv], env=tk.env, cwd=tk.work,
                            stdin=follower, stdout=follower, stderr=follower, start_new_session=True)
    os.close(follower)
    seen, sent = b"", not send
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < timeout:
            if not sent and (not until or until in seen):
                os.write(leader, send)
                sent = True
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        rc = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=10)
        os.close(leader)
    return rc, seen


def test_attach_follows_the_jobs_log_and_shell_opens_one_on_its_node(stk: Env, cluster: slurm_mod.Slurm) -> None:
    stk.add_run("att", trainer_cmd("--steps", "40", "--delay", "0.25"), 'host = "cluster"\nsbatch_args = ["--hold"]')
    job = job_of(stk.cli("start", "att").stdout)
    # pending: no node yet for a shell: one line, exit 1, what to do instead
    r = stk.cli("attach", "att", "--shell", check=1)
    assert r.stderr.count("\n") == 1 and "pending" in r.stderr and "tmuxkit attach att" in r.stderr, r.stderr
    cluster.run("scontrol", "release", job)
    until_cli_state(stk, "att", "running", 30)
    log = stk.work / "results" / "att" / "tmuxkit" / "att.log"
    wait_until(lambda: log.exists() and "step 2" in log.read_text(), timeout=30, interval=0.2, what="step 2")
    # --shell on a terminal: a shell inside the job's allocation, on its node
    rc, seen = _pty_run(stk, ["attach", "att", "--shell"], send=b"echo TKJOB=$SLURM_JOB_ID; exit\n", timeout=60)
    assert f"TKJOB={job}".encode() in seen and rc == 0, seen[-800:]
    # attach on a terminal: says where the job is and how to open a shell, then follows the log
    # (as logs -f) to the job's end, and exits 0.
    rc, seen = _pty_run(stk, ["attach", "att"], timeout=90)
    text = seen.decode(errors="replace")
    assert rc == 0, text[-800:]
    assert f"att is a batch job on cluster, running as Slurm job {job} on {cluster.node}" in text, text[:600]
    assert "tmuxkit attach att --shell" in text and f"srun --jobid {job} --overlap --pty bash" in text
    assert "step 40" in text and "training done" in text, text[-500:]
    until_cli_state(stk, "att", "exited", 30)
    # ended: its log as it was left, said so; exit 0 (no terminal needed)
    r = stk.cli("attach", "att")
    assert f"ended (exited, exit code 0; Slurm job {job})" in r.stdout and "training done" in r.stdout, r.stdout
    assert "--shell" not in r.stdout


def test_start_sync_follows_a_slurm_run_through_pending_to_its_real_end(stk: Env, cluster: slurm_mod.Slurm) -> None:
    stk.add_run("sy", trainer_cmd("--steps", "12", "--delay", "0.3"),
                'host = "cluster"\nsbatch_args = ["--hold"]\nsync_every = "1s"\nsync_checkpoints = 2')
    dest = stk.work / "runs" / "sy"
    dest.mkdir(parents=True)
    (dest / "notes.txt").write_text("mine\n")  # the user's own file, where a pulled *.txt could land
    r = stk.cli("start", "sy", "--sync")
    job = job_of(r.stdout)
    assert "sync:    every 1s into" in r.stdout and "(local tmux session sy+sync)" in r.stdout, r.stdout
    status = dest / "STATUS.json"
    # pending is not an end: the loop passes on, and its STATUS says pending, not final
    wait_until(lambda: status.exists() and json.loads(status.read_text()).get("passes", 0) >= 3, timeout=60,
               interval=0.3, what="three passes of a pending job")
    st = json.loads(status.read_text())
    assert st["state"] == "pending" and not st.get("final") and st["pid"], st
    assert "sy+sync" in stk.sessions()
    # a loop that died while its job waits is flagged, as for a running run, and starts again
    pid = int(st["pid"])
    stk.tmux("kill-session", "-t", "=sy+sync")
    wait_until(lambda: not pid_alive(pid), timeout=15, interval=0.1, what="the sync loop gone")
    assert "SYNC LOOP DEAD" in stk.cli("status", "sy").stdout
    stk.cli("sync", "sy", "--detach")
    wait_until(lambda: json.loads(status.read_text()).get("pid") not in (None, pid), timeout=30, interval=0.3,
               what="the loop started again")
    cluster.run("scontrol", "release", job)
    wait_until(lambda: json.loads(status.read_text()).get("final") is True, timeout=90, interval=0.5,
               what=f"the final pass: {status.read_text() if status.exists() else ''}")
    st = json.loads(status.read_text())
    assert st["state"] == "exited" and st["exit_code"] == 0 and st["pid"] is None, st
    # the final pass brought the log to its end and the newest 2 checkpoints, whole
    assert "training done" in (dest / "tmuxkit" / "sy.log").read_text()
    assert sorted(p.name for p in (dest / "ckpt").iterdir()) == ["step_000011.pt", "step_000012.pt"]
    assert (dest / "notes.txt").read_text() == "mine\n"
    # tmuxkit sync --once of the ended run: one more pass, the laptop's copies kept
    r = stk.cli("sync", "sy", "--once")
    assert "sy: exited, pulled" in r.stdout, r.stdout
    assert sorted(p.name for p in (dest / "ckpt").iterdir()) == ["step_000011.pt", "step_000012.pt"]


def test_over_a_login_node_sync_and_attach_shell(tk: Env, sshd: object, cluster: slurm_mod.Slurm,
                                                 tmp_path: Path) -> None:
    # this machine as the login node, over the loopback sshd: the sync pulls the shared results
    # through it, and attach --shell runs srun there through ssh -t.
    rhome = tmp_path / "login-home"
    ssh_config = sshd.client_config(tmp_path / "ssh_config", "tklogin",  # type: ignore[attr-defined]
                                    {"TMUXKIT_HOME": str(rhome), **cluster.env()})
    results = tmp_path / "shared-results"
    tk.write_config(f'[hosts.cluster]\nkind = "slurm"\nssh = "tklogin"\nssh_config = "{ssh_config}"\n')
    tk.add_run("rs", trainer_cmd("--steps", "30", "--delay", "0.3"),
               f'host = "cluster"\ncwd = "{tmp_path}"\nresults = "{results}"\nsync_every = "1s"\n'
               'sync_checkpoints = 1')
    try:
        r = tk.cli("start", "rs", "--sync")
        job = job_of(r.stdout)
        st = until_cli_state(tk, "rs", "running", 30)
        assert st["node"] == cluster.node
        rc, seen = _pty_run(tk, ["attach", "rs", "--shell"], send=b"echo TKJOB=$SLURM_JOB_ID; exit\n", timeout=60)
        assert f"TKJOB={job}".encode() in seen and rc == 0, seen[-800:]
        status = tk.work / "runs" / "rs" / "STATUS.json"
        wait_until(lambda: status.exists() and json.loads(status.read_text()).get("final") is True, timeout=90,
                   interval=0.5, what=f"the final pass: {status.read_text() if status.exists() else ''}")
        st2 = json.loads(status.read_text())
        assert st2["state"] == "exited" and st2["host"] == "cluster", st2
        dest = tk.work / "runs" / "rs"
        assert "training done" in (dest / "tmuxkit" / "rs.log").read_text()
        assert [p.name for p in (dest / "ckpt").iterdir()] == ["step_000030.pt"]
    finally:
        for s in tk.sessions():
            tk.tmux("kill-session", "-t", f"={s}")
        cluster.run("scancel", "--user=root", "--full", "--signal=KILL", check=False)
        wait_until(lambda: squeue_empty(cluster), timeout=30, interval=0.2, what="every job gone")


def test_on_done_runs_on_the_login_host_after_the_final_sync_pass_never_after_stop(stk: Env) -> None:
    marks = stk.work / "marks"
    marks.mkdir()
    body = 'host = "cluster"\non_done = "echo {run}-$TMUXKIT_RUN_STATE-$TMUXKIT_RUN_EXIT > {marks}/{run}"\n'
    # with a sync loop: on_done runs once its final pass landed (long before on_done_wait, 1h)
    stk.add_run("od1", trainer_cmd("--steps", "4", "--delay", "0.2"),
                body.format(run="od1", marks=marks) + 'sync_every = "1s"')
    # no sync: on_done_wait after the end; a crash (the trainer's own exit 3) is an end too: exited, 3
    stk.add_run("od2", "echo boom; exit 3",
                body.format(run="od2", marks=marks) + 'on_done_wait = "3s"')
    # stopped: never
    stk.add_run("od3", trainer_cmd("--steps", "100000", "--delay", "0.2"),
                body.format(run="od3", marks=marks) + 'on_done_wait = "1s"')
    r = stk.cli("start", "od1", "--sync")
    assert "on_done: runs on cluster (this machine) once od1's Slurm job ended for good" in r.stdout, r.stdout
    assert "will not run" not in r.stdout
    t0 = time.monotonic()
    stk.cli("start", "od2")
    stk.cli("start", "od3")
    wait_until(lambda: (marks / "od1").exists(), timeout=90, interval=0.3, what="od1's on_done")
    assert (marks / "od1").read_text() == "od1-exited-0\n"
    status = json.loads((stk.work / "runs" / "od1" / "STATUS.json").read_text())
    assert status["final"] is True  # its final pass came first
    wait_until(lambda: (marks / "od2").exists(), timeout=90, interval=0.3, what="od2's on_done")
    assert (marks / "od2").read_text() == "od2-exited-3\n" and time.monotonic() - t0 < 600
    until_cli_state(stk, "od3", "running", 30)
    stk.cli("stop", "od3", "--grace", "20")
    events = stk.home / "slurm" / "od3" / "events.jsonl"
    wait_until(lambda: events.exists() and '"event":"on_done_skipped"' in events.read_text(), timeout=30,
               interval=0.3, what="od3's on_done skipped")
    assert not (marks / "od3").exists()
    ran = [json.loads(ln) for ln in (stk.home / "slurm" / "od1" / "events.jsonl").read_text().splitlines()
           if '"event":"on_done"' in ln]
    assert len(ran) == 1 and ran[0]["exit"] == 0 and ran[0]["state"] == "exited", ran
    # the command never went on a command line, and is kept 0600
    assert oct((stk.home / "slurm" / "od1" / "on_done").stat().st_mode & 0o777) == "0o600"
