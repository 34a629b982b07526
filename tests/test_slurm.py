"""The Slurm host scripts (tmuxkit-slurm, tmuxkit-sbatch-run) against a real single-node Slurm."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import slurm as slurm_mod
from conftest import Env, Sink, wait_until

ROOT = Path(__file__).resolve().parent.parent
SHELL = ROOT / "shell"
TRAINER = ROOT / "tests" / "fakes" / "trainer.py"

pytestmark = pytest.mark.timeout(120)


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
    assert r["rung"] == "sigint" and r["exit"] == "0", r  # the trainer's own code, as the wrapper recorded it
    assert "interrupted" in log.read_text()  # the trainer's INT handler ran
    assert (tmp_path / "results" / "tmuxkit" / "stopint.exit").read_text().split()[0] == "0"


def test_trainer_env_and_int_before_the_time_limit(cluster: slurm_mod.Slurm, tmp_path: Path) -> None:
    # The wrapper's markers reach the trainer, as on tmux hosts; and --signal=B:USR1@GRACE is real:
    # with --time=1 (60 s) and a grace of 58 s, Slurm warns the batch shell (the wrapper) long
    # before the limit, the wrapper gives the trainer Ctrl-C, and the trainer saves and exits 0.
    # With no resume template nothing requeues it: the run reads timeout (it read "exited (0)").
    env = "echo env run=$TMUXKIT_RUN id=$TMUXKIT_RUN_ID results=$TMUXKIT_RESULTS unbuffered=$PYTHONUNBUFFERED"
    cmd = f"{env}; exec {trainer_cmd('--steps', '100000', '--delay', '0.2')}"
    info = submit(cluster, tmp_path, "tenv", cmd, "--grace", "58", "--", "--time=1")
    log = Path(info["log"])
    try:
        wait_until(lambda: log.exists() and "step 1" in log.read_text(), timeout=30, interval=0.2, what="step 1")
        results = tmp_path / "results"
        assert f"env run=tenv id={info['job']} results={results} unbuffered=1\n" in log.read_text()
        wait_until(lambda: "interrupted" in log.read_text(), timeout=90, interval=0.5,
                   what=f"the trainer's INT handler (--signal=B:USR1@58 with --time=1): {log.read_text()[-300:]}")
        st = until_state(cluster, "tenv", "timeout", 30)  # it saved in time, but the limit ended it
        assert st["exit"] == "0:0" and st["slurm_state"] == "COMPLETED", (st, log.read_text()[-500:])
        assert "time limit of job" in log.read_text() and "unexpected EOF" not in log.read_text()
        events = (results / "tmuxkit" / "tenv.events.jsonl").read_text()
        assert '"event":"time_limit"' in events, events
    finally:
        cluster.run("scancel", "--signal=KILL", "--full", info["job"], check=False)


@pytest.mark.timeout(300)
def test_time_limit_requeues_resumes_and_a_run_without_progress_fails(cluster: slurm_mod.Slurm,
                                                                      tmp_path: Path) -> None:
    # At the time limit's warning the trainer saves, the wrapper requeues the job and it resumes
    # from the newest complete checkpoint. This trainer makes no checkpoint after resuming, so the
    # second warning finds none newer: the run ends failed with that cause, not in a requeue loop.
    cmd = f"sh -c '{trainer_cmd('--steps', '3', '--delay', '0.1')} \"$@\"; exec sleep 1000' _"
    info = submit(cluster, tmp_path, "tl", cmd, "--grace", "58", "--resume", "--resume {checkpoint}",
                  "--glob", "results/ckpt/step_*.pt", "--", "--time=1")
    log = Path(info["log"])
    events = tmp_path / "results" / "tmuxkit" / "tl.events.jsonl"
    try:
        wait_until(lambda: log.exists() and "resumed from" in log.read_text(), timeout=150, interval=0.5,
                   what=f"the resumed attempt: {log.read_text()[-500:] if log.exists() else ''}")
        st = until_state(cluster, "tl", "failed", 150)
        assert "no newer complete checkpoint than step_000003.pt" in st["cause"], (st, log.read_text()[-800:])
        kinds = [json.loads(ln)["event"] for ln in events.read_text().splitlines()]
        assert kinds == ["time_limit", "requeued", "resumed", "time_limit", "crashed"], kinds
        assert st["restarts"] == "1", st
    finally:
        cluster.run("scancel", "--signal=KILL", "--full", info["job"], check=False)


def test_run_state_reads_out_of_memory_and_the_records(tmp_path: Path) -> None:
    # run_state (shell/lib/slurm.bash) on recorded scontrol states: OUT_OF_MEMORY is failed with
    # that cause; TIMEOUT is timeout; a job cancelled before it ran has no exit code.
    log = tmp_path / "r" / "tmuxkit" / "m.log"
    log.parent.mkdir(parents=True)
    script = f"""
TK_BIN={shlex.quote(str(SHELL))}
. "$TK_BIN/lib/tmuxkit.bash"; . "$TK_BIN/lib/slurm.bash"
for st in OUT_OF_MEMORY:0:125 TIMEOUT:0:15 CANCELLED:0:0 COMPLETED:0:0; do
  run_state m 42 "${{st%%:*}}" "${{st#*:}}" {shlex.quote(str(log))}
  printf '%s|%s|%s|%s\n' "$RS_STATE" "$RS_EXIT" "$RS_RUNG" "$RS_CAUSE"
done
"""
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30,
                       env={**os.environ, "TMUXKIT_HOME": str(tmp_path / "home")})
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["failed|0:125||out of memory (Slurm: OUT_OF_MEMORY)", "timeout|0:15||",
                                     "stopped|||", "exited|0:0||"], r.stdout


def test_run_state_reads_a_trainers_own_crash_as_exited_as_a_tmux_host(tmp_path: Path) -> None:
    # Slurm's FAILED of a job whose wrapper recorded the trainer's own non-zero exit is exited (3),
    # as on a tmux host, whether Slurm still knows the job or not. failed stays for the rest: no
    # record (the wrapper itself failed: its lock held), the wrapper's failed record, out of memory,
    # a node failure, the watchdog's spent budget.
    log = tmp_path / "r" / "tmuxkit" / "m.log"
    log.parent.mkdir(parents=True)
    ex = log.parent / "m.exit"
    home = tmp_path / "home"
    cases = [  # (the wrapper's record, Slurm's state, the watchdog's failed record, what it reads)
        ("3 1700000000 crashed 42", "FAILED", "", "exited|3:0|"),
        ("3 1700000000 crashed 42", "", "", "exited|3:0|"),
        ("3 1700000000", "FAILED", "", "exited|3:0|"),
        ("", "FAILED", "", "failed|3:0|"),
        ("1 1700000000 failed 42 no newer checkpoint", "FAILED", "", "failed|1:0|no newer checkpoint"),
        ("3 1700000000 crashed 42", "OUT_OF_MEMORY", "", "failed|3:0|out of memory (Slurm: OUT_OF_MEMORY)"),
        ("3 1700000000 crashed 42", "NODE_FAIL", "", "failed|3:0|node failure (Slurm: NODE_FAIL)"),
        ("3 1700000000 crashed 42", "FAILED", "restart budget spent\n42\n", "failed|3:0|restart budget spent"),
        ("0 1700000000 finished 42", "COMPLETED", "", "exited|0:0|"),
    ]
    got = []
    for record, st, failed, _ in cases:
        ex.unlink(missing_ok=True)
        if record:
            ex.write_text(record + "\n")
        d = home / "slurm" / "m"
        d.mkdir(parents=True, exist_ok=True)
        (d / "failed").unlink(missing_ok=True)
        if failed:
            (d / "failed").write_text(failed)
        script = f"""
TK_BIN={shlex.quote(str(SHELL))}
. "$TK_BIN/lib/tmuxkit.bash"; . "$TK_BIN/lib/slurm.bash"
run_state m 42 {shlex.quote(st)} 3:0 {shlex.quote(str(log))}
printf '%s|%s|%s\n' "$RS_STATE" "$RS_EXIT" "$RS_CAUSE"
"""
        r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30,
                           env={**os.environ, "TMUXKIT_HOME": str(home)})
        assert r.returncode == 0, r.stderr
        got.append(r.stdout.strip())
    assert got == [c[3] for c in cases], list(zip(cases, got, strict=True))


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


def test_wrapper_resumes_by_the_watchdogs_checkpoint_rules(tmp_path: Path) -> None:
    # The wrapper as Slurm runs it on a restart (SLURM_RESTART_COUNT set; no daemons needed):
    # the newest complete checkpoint, the one completed last (by mtime), not the highest step; an HF directory without
    # trainer_state.json (written last) and a temp name are skipped; the run's checkpoint_check
    # rules one out. A "&" in the path is passed on as it is.
    results = tmp_path / "results"
    ck = results / "ck&pt"
    ck.mkdir(parents=True)
    high, low = ck / "step_000005.pt", ck / "step_000002.pt"
    high.write_bytes(b"x" * 10)
    os.utime(high, (time.time() - 600, time.time() - 600))
    low.write_bytes(b"x" * 10)  # a lower step, completed last: the newest
    hf = ck / "checkpoint-9"
    hf.mkdir()
    (hf / "model.safetensors").write_bytes(b"x" * 10)  # no trainer_state.json yet: incomplete
    (ck / "step_000007.pt.tmp").write_bytes(b"x" * 10)

    def resume(*extra: str) -> str:
        r = subprocess.run(
            [str(SHELL / "tmuxkit-sbatch-run"), "--run", "ckrules", "--results", str(results), "--cmd", "echo resume-with",
             "--resume", "--from {checkpoint}", "--glob", "results/ck&pt/*", *extra],
            env={**os.environ, "SLURM_RESTART_COUNT": "1", "SLURM_JOB_ID": "77"},
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    assert resume() == f"resume-with --from {low}"
    assert resume("--check", "sh -c 'case $0 in *step_000002*) exit 1 ;; esac'") == f"resume-with --from {high}"


def test_a_pending_reason_in_words() -> None:
    """status gives Slurm's reason for a pending job in words, and says when it can never start
    (issue 28 item 2); a code not known is named as it is."""
    from tmuxkit.hosts.slurm_reasons import reason_text

    assert reason_text("JobHeldUser", "21") == "held by a user: it starts once released (scontrol release 21)"
    assert reason_text("PartitionTimeLimit").startswith("it can never start as asked: its time limit is over")
    assert reason_text("BadConstraints").startswith("it can never start as asked")
    assert reason_text("QOSGrpGRES") == "a limit of its account or QOS holds it (QOSGrpGRES)"
    assert reason_text("SomethingNew") == "SomethingNew"
    assert reason_text("None") == reason_text("") == ""


def _session_pids(sid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,sid="], capture_output=True, text=True, check=True).stdout
    return [int(p) for p, s in (line.split() for line in out.splitlines() if line.strip()) if int(s) == sid]


def test_the_wrapper_records_the_trainers_own_exit_code_when_a_signal_interrupts_its_wait(tmp_path: Path) -> None:
    """Slurm's cancel sends CONT then TERM to every process of the job, the wrapper too. The CONT
    interrupts the wrapper's `wait` (status 128+SIGCONT); when the trainer died of the TERM by the
    time the wrapper looked, the wrapper recorded that 146 as the trainer's exit code (it read
    "exited with code 146" or, with other signals, other codes, not "signal 15"). No Slurm needed:
    the wrapper is run as the batch step runs it. Each round is a race, so several rounds."""
    results = tmp_path / "results"
    for i in range(8):
        (results / "tmuxkit").mkdir(parents=True, exist_ok=True)
        out = tmp_path / f"out{i}"
        with out.open("w") as fh:
            w = subprocess.Popen(
                [str(SHELL / "tmuxkit-sbatch-run"), "--run", "sigs", "--results", str(results),
                 "--cmd", "trap '' INT; echo ready; while :; do sleep 0.2; done"],
                env={**os.environ, "TMUXKIT_HOME": str(tmp_path / "home")}, stdout=fh, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_until(lambda: "ready" in out.read_text(), timeout=30, interval=0.05, what="the trainer to start")
            pids = _session_pids(w.pid)
            for sig in (signal.SIGCONT, signal.SIGTERM):  # as slurmd ends a job: every process of it
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, sig)
            rc = w.wait(timeout=30)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(w.pid, signal.SIGKILL)
            w.wait(timeout=30)
        code = (results / "tmuxkit" / "sigs.exit").read_text().split()[0]
        assert (rc, code) == (143, "143"), f"round {i}: wrapper exit {rc}, recorded {code}: {out.read_text()}"
        assert "Terminated" not in out.read_text()  # the log is the trainer's: no note of the wrapper's bash
        wait_until(lambda: not _session_pids(w.pid), timeout=30, interval=0.1, what="no process left of the job")


def test_the_wrapper_gets_the_warning_that_comes_right_after_a_cont(tmp_path: Path) -> None:
    """At a preemption's grace start (and a time limit's warning) Slurm sends CONT, then the job's
    --signal (B:USR1) to the batch shell, milliseconds apart. The wrapper trapped CONT too, and bash
    5.2 loses a trapped signal that arrives while its `wait` is cut short by another one: the USR1
    was never acted on, the trainer never had its Ctrl-C, and Slurm killed it at the grace end
    (test_a_preempted_run_saves_in_its_grace_time_is_requeued_and_resumes failed now and then). No
    Slurm needed: the wrapper is run as the batch step runs it, and gets CONT then USR1 at once."""
    results = tmp_path / "results"
    for i in range(5):
        (results / "tmuxkit").mkdir(parents=True, exist_ok=True)
        out = tmp_path / f"out{i}"
        with out.open("w") as fh:
            w = subprocess.Popen(
                [str(SHELL / "tmuxkit-sbatch-run"), "--run", "warn", "--results", str(results),
                 "--cmd", "trap 'echo interrupted; exit 0' INT; echo ready; while :; do sleep 0.2; done"],
                env={**os.environ, "TMUXKIT_HOME": str(tmp_path / "home")}, stdout=fh, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_until(lambda: "ready" in out.read_text(), timeout=30, interval=0.05, what="the trainer to start")
            os.kill(w.pid, signal.SIGCONT)  # as slurmctld's send_job_warn_signal: CONT, then the warning
            os.kill(w.pid, signal.SIGUSR1)
            try:
                rc = w.wait(timeout=15)
            except subprocess.TimeoutExpired:
                rc = None
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(w.pid, signal.SIGKILL)
            w.wait(timeout=30)
        assert rc == 0 and "interrupted" in out.read_text(), f"round {i}: wrapper exit {rc}: {out.read_text()}"
        assert "time_limit" in (results / "tmuxkit" / "warn.events.jsonl").read_text(), f"round {i}"
        wait_until(lambda: not _session_pids(w.pid), timeout=30, interval=0.1, what="no process left of the job")


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


def test_every_verb_takes_help_and_the_entry_point_is_short() -> None:
    """`tmuxkit-slurm VERB --help` prints the usage (it read '--help' as a run name); the logic
    lives in shell/lib/slurm*.bash, the entry point is as short as the others (issue 28)."""
    for verb in ("submit", "status", "stop", "requeue", "list", "logs", "watch", "events"):
        r = subprocess.run(["bash", str(SHELL / "tmuxkit-slurm"), verb, "--help"], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0 and "Usage: tmuxkit-slurm submit" in r.stdout, (verb, r.returncode, r.stderr)
    body = [ln for ln in (SHELL / "tmuxkit-slurm").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(body) < 40, len(body)


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


# --- the CLI on a kind = "slurm" host -------------------------------------------------------------
# tmuxkit start/status/logs/stop/attach/watch through the Python side (hosts.slurm.SlurmHost),
# against the same real Slurm; the last test goes through the loopback sshd as the login node.


def squeue_empty(cluster: slurm_mod.Slurm) -> bool:
    r = cluster.run("squeue", "-h", "-o", "%i", check=False)
    return r.returncode == 0 and not r.stdout.strip()


@pytest.fixture
def stk(tk: Env, cluster: slurm_mod.Slurm) -> Iterator[Env]:
    """tk with this cluster's SLURM_CONF, and host 'cluster' (kind = "slurm", submitting from here)
    in tmuxkit.toml. Every job is cancelled (and gone) when the test ends, pass or fail."""
    tk.env.update(cluster.env())
    tk.write_config('[hosts.cluster]\nkind = "slurm"\n')
    try:
        yield tk
    finally:
        for d in (tk.home / "slurm").glob("*"):
            subprocess.run(["bash", str(SHELL / "tmuxkit-slurm"), "watch", d.name, "--off"], env=tk.env,
                           capture_output=True, timeout=30)
        cluster.run("scancel", "--user=root", "--full", "--signal=KILL", check=False)
        wait_until(lambda: squeue_empty(cluster), timeout=30, interval=0.2, what="every job gone")


def slurm_conf(sbatch_args: list[str] | None = None, ssh: str = "") -> str:
    out = '[hosts.cluster]\nkind = "slurm"\n'
    if ssh:
        out += ssh
    if sbatch_args is not None:
        out += f"sbatch_args = {json.dumps(sbatch_args)}\n"
    return out


def js(tk: Env, run: str) -> dict[str, object]:
    rows = json.loads(tk.cli("status", run, "--json").stdout)
    assert len(rows) == 1, rows
    row: dict[str, object] = rows[0]
    return row


def until_cli_state(tk: Env, run: str, state: str, timeout: float) -> dict[str, object]:
    last: dict[str, object] = {}

    def reached() -> bool:
        last.clear()
        last.update(js(tk, run))
        return last.get("state") == state

    wait_until(reached, timeout=timeout, interval=0.3, what=f"{run} to be {state} (last: {last})")
    return last


def test_cli_start_pending_running_exited_logs_and_attach(stk: Env, cluster: slurm_mod.Slurm) -> None:
    stk.write_config(slurm_conf(["--hold"]))
    stk.add_run("clife", f"echo secret=$TK_SECRET; {trainer_cmd('--steps', '10', '--delay', '0.3')}",
                'host = "cluster"\nenv = { TK_SECRET = "s3cr3t" }')
    r = stk.cli("start", "clife")
    assert "submitted clife to cluster as Slurm job" in r.stdout, r.stdout
    job = r.stdout.split("Slurm job ")[1].split()[0]
    st = js(stk, "clife")
    assert st["state"] == "pending" and st["job"] == job and st["reason"] == "JobHeldUser", st
    assert st["host"] == "cluster" and st["restarts"] == 0
    table = stk.cli("status").stdout
    # the reason in words (it read "pending (JobHeldUser)"), with what to do
    assert "pending (JobHeldUser: held by a user" in table and f"job {job}" in table, table
    # attach --shell of a pending job: it has no node yet; one clear line, exit 1, what to do instead.
    # (attach itself follows a batch job's log: tests/test_slurm_start.py, with srun --jobid JOB --overlap --pty bash)
    a = stk.cli("attach", "clife", "--shell", check=1)
    assert a.stderr.count("\n") == 1 and "pending: it has no node yet" in a.stderr, a.stderr
    assert "tmuxkit attach clife" in a.stderr and f"Slurm job {job} " in a.stderr
    cluster.run("scontrol", "release", job)
    st = until_cli_state(stk, "clife", "running", 30)
    assert st["node"] == cluster.node
    # logs -f follows the job's log and ends with the job.
    f = stk.cli("logs", "clife", "-f", "-n", "100", timeout=60)
    assert "step 10" in f.stdout and "training done" in f.stdout, f.stdout
    st = until_cli_state(stk, "clife", "exited", 30)
    assert st["exit_code"] == 0 and st["last_line"] == "training done", st
    text = stk.cli("logs", "clife", "-n", "50").stdout
    assert "secret=s3cr3t" in text and "step 1\n" in text  # the run's env reached the job (on stdin)
    assert "exited (0)" in stk.cli("status", "clife").stdout
    assert (stk.home / "where" / "clife").read_text().strip() == "cluster"  # remembered here


@pytest.mark.parametrize("name", ["hf4", "hf5", "lightning_tqdm", "tqdm_loop", "nanogpt", "accelerate"])
def test_the_log_reader_of_a_slurm_job_reads_a_trainer_as_the_pane_writer_does(tmp_path: Path, name: str) -> None:
    """tmuxkit-logwriter.py --follow (a Slurm job's log, which slurmstepd writes with every redraw)
    ends with the same progress and live line as the pane's writer given the same bytes: a tqdm
    bar, HF Trainer and Lightning read the same on both hosts (recordings of the real trainers)."""
    sys.path.insert(0, str(ROOT / "tests" / "recordings"))
    import replay

    data = b"".join(d for _, d in replay.load(name)[1])
    writer = [sys.executable, str(SHELL / "tmuxkit-logwriter.py")]
    (tmp_path / "pane").mkdir()
    (tmp_path / "job").mkdir()
    subprocess.run([*writer, str(tmp_path / "pane" / "r.log"), "100000000", "3"], input=data, check=True,
                   timeout=60)
    log = tmp_path / "job" / "r.log"
    log.write_bytes(b"an earlier attempt's lines, before the offset\n")
    off = log.stat().st_size
    with log.open("ab") as f:
        f.write(data)
    p = subprocess.Popen([*writer, "--follow", str(log), str(off)])
    try:
        wait_until(lambda: (tmp_path / "job" / "r.live").exists(), timeout=30, interval=0.1, what="the reader")
        p.send_signal(signal.SIGINT)  # a stop's Ctrl-C reaches the whole job: ignored
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            p.kill()
        p.wait()

    def last(d: str) -> dict[str, object]:
        row: dict[str, object] = json.loads((tmp_path / d / "r.progress").read_text().splitlines()[-1])
        row.pop("t")
        return row

    assert last("job") == last("pane") and last("job"), name
    assert (tmp_path / "job" / "r.live").read_bytes() == (tmp_path / "pane" / "r.live").read_bytes(), name
    assert log.read_bytes()[off:] == data  # read, never written


def test_cli_status_of_a_tqdm_run_shows_progress_uptime_loss_and_the_current_bar(stk: Env, sink: int) -> None:
    """What a tmux run shows (issue 28.3): the wrapper's reader of the log (tmuxkit-logwriter.py
    --follow) keeps RUN.progress and RUN.live beside it, and list reads them with the tmux host's
    code; uptime is the job's RunTime. It read progress null, uptime null, losses [] and, for a
    bar, its first redraws (the log holds every redraw of the line). Its "finished" notification
    says how long, the step and the loss (it said "finished (job=21, exit=0:0)")."""
    hold = stk.work / "hold"
    stk.write_config(slurm_conf())
    bar = shlex.join([sys.executable, str(ROOT / "tests" / "fakes" / "tqdm_trainer.py"), "--epochs", "1",
                      "--steps", "200", "--step-time", "0.03", "--hold", str(hold)])
    stk.add_run("sbar", bar, f'host = "cluster"\nnotify = ["json://127.0.0.1:{sink}/"]')
    stk.cli("start", "sbar")
    stk.cli("watch", "sbar", "--every", "1")
    last: dict[str, object] = {}

    def moving() -> bool:
        last.clear()
        last.update(js(stk, "sbar"))
        p = last.get("progress")
        losses = last.get("losses")
        return isinstance(p, dict) and p.get("step", 0) >= 30 and isinstance(losses, list) and len(losses) >= 2

    wait_until(moving, timeout=60, interval=0.5, what=f"progress of the Slurm run (last: {last})")
    p = last["progress"]
    assert isinstance(p, dict) and p["total"] == 200 and 0 < p["percent"] <= 100, p
    assert isinstance(p["loss"], float) and "eta_s" in p and p["epochs"] == 1, p
    assert isinstance(last["uptime_s"], int) and last["uptime_s"] >= 1, last
    # the bar as it is now, not its first redraw
    line = str(last["last_line"])
    assert "epoch 1/1:" in line and "loss=" in line and " 0%" not in line, line
    table = stk.cli("status", "sbar").stdout
    assert "% " in table and "/200" in table and "loss " in table, table
    hold.write_text("")
    st = until_cli_state(stk, "sbar", "exited", 60)
    p = st["progress"]
    assert isinstance(p, dict) and p["step"] == 200 and p["percent"] == 100.0, st  # its last reading
    assert st["last_line"] == "epoch 1 done" and st["uptime_s"] is None, st
    log = Path(str(st["log_path"]))
    assert "epoch 1 done" in log.read_text()  # the log itself is the job's, as Slurm wrote it
    png = stk.work / "sbar.png"
    assert "wrote" in stk.cli("plot", "sbar", "-o", str(png)).stdout and png.stat().st_size > 0  # "no series"
    wait_until(lambda: any("finished" in str(b) for b in Sink.received), timeout=30, interval=0.3,
               what="the finished notification")
    body = next(str(b) for b in Sink.received if "finished" in str(b))
    # sent by the login host's watchdog (lib/slurm_watch.bash w_send), in the tmux watchdog's words
    assert "after " in body and "step 200/200" in body and "epoch 1/1" in body and "loss 0.00" in body, body


def _stop_diag(tk: Env, out: str, log: Path) -> str:
    """What a wrong stop answer needs to be explained: the wrapper's RUN.exit, Slurm's own record
    of the job (ExitCode, State) and the log's tail."""
    ex = log.with_suffix(".exit")
    jobs = subprocess.run(["scontrol", "-o", "show", "job"], env=tk.env, capture_output=True, text=True).stdout
    return (f"{out}\n--- {ex.name}: {ex.read_text() if ex.exists() else '(none)'}"
            f"\n--- scontrol:\n{jobs}\n--- log tail:\n{log.read_text(errors='replace')[-2000:]}")


def test_cli_stop_reports_the_rung(stk: Env) -> None:
    stk.add_run("cint", trainer_cmd("--steps", "1000", "--delay", "0.2"), 'host = "cluster"')
    stk.add_run("cterm", "trap '' INT; echo ready; while :; do sleep 0.2; done",
                'host = "cluster"\nresults = "results/cterm"')
    stk.cli("start", "cint")
    stk.cli("start", "cterm")
    log = stk.work / "results" / "cint" / "tmuxkit" / "cint.log"
    wait_until(lambda: log.exists() and "step 2" in log.read_text(), timeout=30, interval=0.2, what="step 2")
    r = stk.cli("stop", "cint", "--grace", "20")
    assert "at rung sigint" in r.stdout and "Slurm job" in r.stdout, _stop_diag(stk, r.stdout, log)
    assert "it exited cleanly (0)" in r.stdout, _stop_diag(stk, r.stdout, log)  # the exit code, as on tmux hosts
    assert "interrupted" in log.read_text()  # the trainer's Ctrl-C handler ran (it saves there)
    st = js(stk, "cint")  # stopped with its rung, as on tmux (it read exited (0): Slurm's COMPLETED)
    assert (st["state"], st["stop_rung"], st["exit_code"]) == ("stopped", "sigint", 0), st
    tlog = stk.work / "results" / "cterm" / "tmuxkit" / "cterm.log"
    wait_until(lambda: tlog.exists() and "ready" in tlog.read_text(), timeout=30, interval=0.2, what="ready")
    r = stk.cli("stop", "cterm", "--grace", "2")
    assert "at rung sigterm" in r.stdout and "it ended on signal 15 (143)" in r.stdout, _stop_diag(stk, r.stdout, tlog)
    st = js(stk, "cterm")
    assert (st["state"], st["stop_rung"], st["exit_code"]) == ("stopped", "sigterm", 143), st
    assert "nothing to stop" in stk.cli("stop", "cterm").stdout


def test_cli_start_of_a_queued_run_is_refused(stk: Env, cluster: slurm_mod.Slurm) -> None:
    # A second start would queue a duplicate behind --dependency=singleton, and status and stop
    # would then act on it: refused (exit 3) with the live job's id, and still one job.
    stk.write_config(slurm_conf(["--hold"]))
    stk.add_run("dup", "true", 'host = "cluster"')
    job = stk.cli("start", "dup").stdout.split("Slurm job ")[1].split()[0]
    r = stk.cli("start", "dup", check=3)
    assert f"already pending as Slurm job {job}" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    jobs = cluster.run("squeue", "-h", "-n", "dup", "-o", "%i").stdout.split()
    assert jobs == [job], jobs
    shown = cluster.run("scontrol", "show", "job", job).stdout
    # sbatch --requeue. (--dependency=singleton is not asserted here: once the scheduler has found it
    # met, scontrol shows Dependency=(null), so whether it is still shown is a race.)
    assert "Requeue=1" in shown, shown
    assert js(stk, "dup")["job"] == job
    r = stk.cli("stop", "dup")
    assert "at rung sigterm" in r.stdout and "cancelled while pending" in r.stdout and "it never started" in r.stdout, r.stdout


def test_cli_one_run_per_results_dir(stk: Env) -> None:
    stk.add_run("own1", trainer_cmd("--steps", "1000", "--delay", "0.2"), 'host = "cluster"\nresults = "shared"')
    stk.add_run("own2", "echo should-not-run", 'host = "cluster"\nresults = "shared"')
    stk.cli("start", "own1")
    log1 = stk.work / "shared" / "tmuxkit" / "own1.log"
    wait_until(lambda: log1.exists() and "step 1" in log1.read_text(), timeout=30, interval=0.2, what="own1 runs")
    stk.cli("start", "own2")
    st = until_cli_state(stk, "own2", "failed", 30)
    assert st["exit_code"] == 3, st  # the wrapper on the compute node found the results dir locked
    text = (stk.work / "shared" / "tmuxkit" / "own2.log").read_text()
    assert "locked by" in text and "should-not-run" not in text
    assert js(stk, "own1")["state"] == "running"


HANG = """case "$*" in *--resume*) exec {py} {trainer} --steps 6 --delay 0.3 "$@" ;; esac
{py} {trainer} --steps 3 --delay 0.3
echo going silent
exec sleep 600
"""


def test_cli_watch_requeues_a_silent_job_and_it_resumes(stk: Env) -> None:
    (stk.work / "hang.sh").write_text(HANG.format(py=sys.executable, trainer=TRAINER))
    stk.add_run("cwatch", "bash hang.sh", 'host = "cluster"\nresults = "results"\n'
                'checkpoints = "results/ckpt/step_*.pt"\nresume = "--resume {checkpoint}"\nmax_restarts = 2')
    stk.cli("start", "cwatch")
    log = stk.work / "results" / "tmuxkit" / "cwatch.log"
    wait_until(lambda: log.exists() and "going silent" in log.read_text(), timeout=30, interval=0.2, what="silent")
    r = stk.cli("watch", "cwatch", "--every", "1", "--stuck-after", "3")
    assert "watching cwatch" in r.stdout, r.stdout
    events = stk.home / "slurm" / "cwatch" / "events.jsonl"

    def kinds() -> list[str]:
        return [json.loads(ln)["event"] for ln in events.read_text().splitlines()] if events.exists() else []

    wait_until(lambda: "finished" in kinds(), timeout=90, interval=0.5, what=f"finished (events: {kinds()})")
    k = kinds()
    assert k.index("stuck") < k.index("evidence_saved") < k.index("requeued") < k.index("finished"), k
    req = [json.loads(ln) for ln in events.read_text().splitlines() if '"requeued"' in ln]
    assert req[0]["by"] == "watchdog" and req[0]["reason"] == "stuck"
    assert any((stk.home / "slurm" / "cwatch" / "evidence").iterdir())
    listed = stk.cli("events", "cwatch").stdout
    assert "cwatch requeued" in listed and "cwatch finished" in listed, listed
    st = js(stk, "cwatch")
    assert st["state"] == "exited" and st["restarts"] == 1 and st["requeues"] == 1, st
    text = log.read_text()
    assert "step 1\n" in text and "going silent" in text  # the first attempt's lines are still there
    after = text[text.index("resumed from"):]
    assert "step_000003.pt at step 3" in after.splitlines()[0], after
    assert "step 1\n" not in after and "step 6" in after  # it went on from the newest checkpoint


def test_cli_watch_budget_spent_stops_the_job_and_the_laptop_notifies(stk: Env, sink: int) -> None:
    stk.add_run("cbudget", "trap 'echo saved; exit 0' INT; echo hello; while :; do sleep 0.2; done",
                f'host = "cluster"\nmax_restarts = 0\nnotify = ["json://127.0.0.1:{sink}/"]')
    stk.cli("start", "cbudget")
    until_cli_state(stk, "cbudget", "running", 30)
    r = stk.cli("watch", "cbudget", "--every", "1", "--stuck-after", "2")
    assert "sent by the watchdog on cluster" in r.stdout, r.stdout  # the login host's watchdog sends them
    events = stk.home / "slurm" / "cbudget" / "events.jsonl"
    wait_until(lambda: events.exists() and "budget_spent" in events.read_text(), timeout=60, interval=0.3,
               what="budget_spent")
    # It saves and exits 0 on the Ctrl-C rung: Slurm calls that COMPLETED; tmuxkit says failed, with
    # the cause, as on a tmux host (it read "exited (0)").
    st = until_cli_state(stk, "cbudget", "failed", 60)
    assert st["restarts"] == 0 and st["cause"] == "restart budget spent", st
    assert '"event":"requeued"' not in events.read_text()
    # The Slurm watchdog sends every event worth it itself, from the login host.
    wait_until(lambda: any("budget_spent" in str(b) for b in Sink.received), timeout=30, interval=0.3,
               what="the budget_spent notification")


def test_cli_over_ssh_with_this_machine_as_login_node(tk: Env, sshd: object, cluster: slurm_mod.Slurm,
                                                     tmp_path: Path) -> None:
    rhome = tmp_path / "login-home"
    ssh_config = sshd.client_config(tmp_path / "ssh_config", "tklogin",  # type: ignore[attr-defined]
                                    {"TMUXKIT_HOME": str(rhome), **cluster.env()})
    results = tmp_path / "shared-results"
    tk.write_config(slurm_conf(["--time=10"], ssh=f'ssh = "tklogin"\nssh_config = "{ssh_config}"\n'))
    tk.add_run("rslurm", trainer_cmd("--steps", "1000", "--delay", "0.2"),
               f'host = "cluster"\ncwd = "{tmp_path}"\nresults = "{results}"')
    try:
        r = tk.cli("start", "rslurm")
        assert "submitted rslurm to cluster as Slurm job" in r.stdout, r.stdout
        assert (rhome / "bin" / "tmuxkit-slurm").exists()  # the scripts went to the login node
        st = until_cli_state(tk, "rslurm", "running", 30)
        assert st["host"] == "cluster" and st["node"] == cluster.node, st
        log = results / "tmuxkit" / "rslurm.log"
        wait_until(lambda: log.exists() and "step 2" in log.read_text(), timeout=30, interval=0.2, what="step 2")
        assert "step" in tk.cli("logs", "rslurm", "-n", "5").stdout
        assert "rslurm" in tk.cli("status").stdout
        r = tk.cli("stop", "rslurm", "--grace", "20")
        assert "at rung sigint" in r.stdout, r.stdout
        assert "interrupted" in log.read_text()
        # doctor reaches a Slurm host through its login node's ssh, and checks its Slurm there.
        r = tk.cli("doctor", "cluster", check=None)
        assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stderr
        for ok in ("✓ laptop ssh config", "✓ laptop reach", "✓ host   login banner", "✓ host   host scripts",
                   "✓ host   sbatch", "✓ host   squeue", "✓ host   slurm controller"):
            assert ok in r.stdout, (ok, r.stdout)
    finally:
        cluster.run("scancel", "--user=root", "--full", "--signal=KILL", check=False)
        wait_until(lambda: squeue_empty(cluster), timeout=30, interval=0.2, what="every job gone")


def test_config_kind_and_sbatch_args_errors(tk: Env) -> None:
    for body, needle in [
        ('[hosts.c]\nkind = "pbs"\n', "hosts.c.kind: expected 'tmux' or 'slurm', got 'pbs'"),
        ('[hosts.c]\nkind = "slurm"\nsbatch_args = "--gres=gpu:1"\n', "hosts.c.sbatch_args: expected a list"),
        ('[hosts.c]\nkind = "slurm"\nsbatch_args = ["gpu"]\n', "hosts.c.sbatch_args: expected sbatch options"),
        ('[hosts.c]\nssh = "x"\nsbatch_args = ["--time=1"]\n', "hosts.c.sbatch_args: only for a Slurm host"),
        ('[hosts.c]\nkind = "slurm"\nport = 22\n', "hosts.c.port: only with ssh"),
    ]:
        tk.write_config(body)
        r = tk.cli("status", check=2)
        assert needle in r.stderr and r.stderr.count("\n") == 1, (body, r.stderr)


def test_list_reports_a_run_slurm_has_forgotten_from_its_exit_file(stk: Env, tmp_path: Path) -> None:
    # Slurm forgets a job MinJobAge after it ends; the run submitted from here is still listed.
    log = tmp_path / "gone" / "tmuxkit" / "ghost.log"
    log.parent.mkdir(parents=True)
    log.write_text("step 1\nlast words\n")
    d = stk.home / "slurm" / "ghost"
    d.mkdir(parents=True)
    (d / "job").write_text(f"999999\n{log}\n")
    (stk.home / "where").mkdir(mode=0o700)
    (stk.home / "where" / "ghost").write_text("cluster\n")  # started from here
    (log.parent / "ghost.exit").write_text("2 1700000000\n")  # an older wrapper's record: the trainer's exit
    st = js(stk, "ghost")
    assert st["state"] == "exited" and st["exit_code"] == 2 and st["job"] == "999999", st
    assert st["last_line"] == "last words" and st["slurm_state"] == ""
    # tmuxkit's own records outlive Slurm's: a stop, the time limit, a spent budget, logs and events.
    (d / "stopped").write_text("999999 sigint 0\n")
    (log.parent / "ghost.exit").write_text("0 1700000000 finished 999999\n")
    st = js(stk, "ghost")
    assert (st["state"], st["stop_rung"], st["exit_code"]) == ("stopped", "sigint", 0), st
    (d / "stopped").unlink()
    (log.parent / "ghost.exit").write_text("0 1700000000 time_limit 999999\n")
    assert js(stk, "ghost")["state"] == "timeout"
    (d / "failed").write_text("restart budget spent\n999999\n")
    st = js(stk, "ghost")
    assert (st["state"], st["cause"]) == ("failed", "restart budget spent"), st
    (d / "failed").unlink()
    r = stk.cli("logs", "ghost")  # it read: no Slurm job named 'ghost'
    assert "last words" in r.stdout, r.stdout + r.stderr
    (log.parent / "ghost.exit").unlink()
    assert js(stk, "ghost")["state"] == "dead"
    assert any(r["run"] == "ghost" for r in json.loads(stk.cli("status", "--json").stdout))
    stk.add_run("nosuchrun", "true", 'host = "cluster"')  # configured, never submitted
    r = stk.cli("status", "nosuchrun", check=4)
    assert "no run named 'nosuchrun' on cluster" in r.stderr and r.stderr.count("\n") == 1
    # A partial answer, as on a tmux host: the known run's row, the unknown one named, exit 4.
    r = stk.cli("status", "ghost", "nosuchrun", check=4)
    assert "ghost" in r.stdout and "dead" in r.stdout, r.stdout
    assert "no run named 'nosuchrun' on cluster" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    r = stk.cli("status", "ghost", "nosuchrun", "--json", check=4)
    assert [row["run"] for row in json.loads(r.stdout)] == ["ghost"], r.stdout


def test_two_slurm_hosts_on_one_cluster_list_each_run_once(stk: Env) -> None:
    stk.write_config(slurm_conf(["--hold"]) + '\n[hosts.cluster2]\nkind = "slurm"\nsbatch_args = ["--hold"]\n')
    stk.cli("start", "twice", "--host", "cluster2", "--", "true")
    rows = [r for r in json.loads(stk.cli("status", "--json").stdout) if r["run"] == "twice"]
    assert [r["host"] for r in rows] == ["cluster2"], rows


@pytest.mark.timeout(240)
def test_controller_down_is_one_line_and_logs_still_read(tk: Env) -> None:
    # A controller that does not answer: status names it in one line (not "unreachable": the host
    # answered), logs still reads the log, and the stopped run's records are kept. A cluster of its
    # own, since its controller is stopped for good.
    why = slurm_mod.unavailable()
    if why:
        pytest.skip(why)
    own = slurm_mod.start()
    try:
        tk.env.update(own.env())
        tk.write_config('[hosts.cluster]\nkind = "slurm"\n')
        tk.add_run("cdown", trainer_cmd("--steps", "1000", "--delay", "0.2"), 'host = "cluster"')
        tk.cli("start", "cdown")
        log = tk.work / "results" / "cdown" / "tmuxkit" / "cdown.log"
        wait_until(lambda: log.exists() and "step 2" in log.read_text(), timeout=30, interval=0.2, what="step 2")
        tk.cli("stop", "cdown", "--grace", "20")
        own.controller_down()
        t = time.monotonic()
        r = tk.cli("status", check=None)
        assert r.returncode != 0 and time.monotonic() - t < 30, r
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and "Slurm controller does not answer" in lines[0], r.stderr
        assert "unreachable" not in r.stdout + r.stderr, r.stdout + r.stderr
        r = tk.cli("logs", "cdown")  # it printed nothing, exit 1
        assert "step 2" in r.stdout, r.stdout + r.stderr
        assert (tk.home / "slurm" / "cdown" / "stopped").read_text().split()[1] == "sigint"
    finally:
        own.stop()


def test_forget_of_a_slurm_run_refuses_a_live_one_and_keeps_results(stk: Env) -> None:
    # forget did nothing (exit 0) for a Slurm run: now it removes tmuxkit's state of an ended run on
    # the submitting host, refuses a live one (exit 3), and never touches results or logs.
    stk.write_config(slurm_conf(["--hold"]))
    stk.cli("start", "fgt", "--host", "cluster", "--", "echo hi")
    r = stk.cli("forget", "fgt", check=3)
    assert "is PENDING as a Slurm job" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    stk.cli("stop", "fgt")
    state = stk.home / "slurm" / "fgt"
    assert (state / "stopped").exists()
    r = stk.cli("forget", "fgt", "--dry-run")
    assert "would forget fgt on cluster" in r.stdout and state.exists(), r.stdout
    r = stk.cli("forget", "fgt")
    assert "forgot fgt on cluster" in r.stdout, r.stdout
    assert not state.exists() and (stk.work / "results" / "fgt" / "tmuxkit").is_dir()
