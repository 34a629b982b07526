"""The watchdog: stuck, crashed, finished, GPU idle; evidence, the ladder, resume, budget, notifications."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import FAKES, Env, Remote, Sink, kill_ssh_links, wait_until, writer_pid

TRAINER = f"{sys.executable} {FAKES / 'trainer.py'}"
FAST = "--backoff 1 --grace 3 --settle 2"


def test_silent_trainer_is_stopped_and_resumed_from_newest_complete_checkpoint(tk: Env) -> None:
    # The hung trainer still appends to its next checkpoint, which is work (it would be quiet, see
    # test_quiet.py): quiet_max = stuck_after makes silence stuck at once.
    tk.add_run("wt", f"{TRAINER} --hang-after 3",
            'stuck_after = 6\nquiet_max = 6\ncheckpoints = "results/wt/ckpt/step_*.pt"\nresume = "--resume {checkpoint}"')
    tk.env["TMUXKIT_WATCH_OPTS"] = FAST
    tk.cli("start", "wt")
    r = tk.cli("watch", "wt", "--auto-resume", "--every", "1")
    assert "watching and resuming wt on local" in r.stdout and "wt+watch" in tk.sessions()
    wait_until(lambda: "finished" in tk.kinds("wt"), timeout=60, what="finished after resume")
    kinds = tk.kinds("wt")
    assert kinds[:6] == ["started", "stuck", "evidence_saved", "stop_rung", "resumed", "finished"], kinds
    ev = {e["event"]: e for e in tk.events("wt")}
    silent_for = int(ev["stuck"]["reason"].split()[3].rstrip("s"))
    assert 6 <= silent_for <= 6 + 1 + 1  # noticed within stuck_after + every
    newest_complete = str(tk.work / "results" / "wt" / "ckpt" / "step_000003.pt")
    assert ev["resumed"]["checkpoint"] == newest_complete  # the growing step_000004.pt was skipped
    assert ev["stop_rung"]["rung"] == "sigint"
    log = tk.log_text("wt")
    assert f"resumed from {newest_complete} at step 3" in log  # in the command's argv
    evidence = Path(ev["evidence_saved"]["path"]).read_text()
    assert "step 3" in evidence and "== last 50 log lines" in evidence
    assert (tk.work / "tmuxkit.toml").read_text().count("--resume {checkpoint}") == 1  # user files untouched
    row = tk.status("wt")
    assert row["state"] == "exited" and row["restarts"] == 1 and row["last_event"] == "finished"


def test_crash_loop_stops_at_the_restart_budget(tk: Env) -> None:
    tk.add_run("crashy", "exit 3", "max_restarts = 3")  # silent: no progress at all
    tk.env["TMUXKIT_WATCH_OPTS"] = FAST
    tk.cli("start", "crashy")
    tk.cli("watch", "crashy", "--auto-resume", "--every", "1")
    wait_until(lambda: "budget_spent" in tk.kinds("crashy"), timeout=60, what="budget spent")
    # No progress between restarts: each counts double, so 3 allows two restarts.
    assert tk.kinds("crashy") == ["started", "crashed", "restarted", "crashed", "restarted", "crashed", "budget_spent"]
    assert all(e.get("exit_code") == 3 for e in tk.events("crashy") if e["event"] == "crashed")
    row = tk.status("crashy")
    assert row["state"] == "failed"
    assert "restart budget spent" in tk.cli("status").stdout


def test_exit_0_is_finished_and_nothing_restarts(tk: Env) -> None:
    tk.add_run("okay", "echo fine")
    tk.cli("start", "okay")
    tk.cli("watch", "okay", "--auto-resume", "--every", "1")
    wait_until(lambda: "finished" in tk.kinds("okay"), what="finished")
    assert tk.kinds("okay") == ["started", "finished"]
    assert tk.status("okay")["restarts"] == 0


def test_gpu_idle_is_stuck_and_the_stand_in_sees_only_its_queries(tk: Env, tmp_path: Path) -> None:
    gpu_bin = tmp_path / "gpubin"
    gpu_bin.mkdir()
    shutil.copy(FAKES / "nvidia-smi", gpu_bin / "nvidia-smi")
    (gpu_bin / "util").write_text("3\n")
    tk.env["PATH"] = f"{gpu_bin}:{tk.env['PATH']}"
    tk.add_run("idle", f"{TRAINER} --steps 1 --print-every 0.2", "gpu_idle_below = 10\ngpu_idle_for = 2")
    tk.cli("start", "idle")
    tk.cli("watch", "idle", "--every", "1")
    wait_until(lambda: "stuck" in tk.kinds("idle"), timeout=20, what="gpu idle")
    stuck = next(e for e in tk.events("idle") if e["event"] == "stuck")
    assert stuck["reason"] == "gpu idle" and stuck["gpu_util"] == 3
    calls = set((gpu_bin / "argv.log").read_text().splitlines())
    assert calls == {"--query-gpu=uuid,utilization.gpu --format=csv,noheader,nounits",
                     "--query-compute-apps=pid,gpu_uuid --format=csv,noheader,nounits"}
    assert tk.status("idle")["state"] == "running"  # without --auto-resume it only records


def test_without_nvidia_smi_gpu_checks_are_off(tk: Env) -> None:
    assert shutil.which("nvidia-smi", path=tk.env["PATH"]) is None
    tk.add_run("nogpu", f"{TRAINER} --steps 1 --print-every 0.5", "gpu_idle_below = 10")
    tk.cli("start", "nogpu")
    tk.cli("watch", "nogpu", "--every", "1")
    wait_until(lambda: "gpu_checks_off" in tk.kinds("nogpu"), what="gpu checks off")
    assert "nvidia-smi not found" in next(e for e in tk.events("nogpu") if e["event"] == "gpu_checks_off")["why"]


def test_notifications_reach_a_local_apprise_json_endpoint(tk: Env, sink: int) -> None:
    tk.add_run("noisy", "exit 5", f'max_restarts = 1\nnotify = ["json://127.0.0.1:{sink}/", "json://127.0.0.1:1/"]\n'
                                  'notify_from = "laptop"')
    tk.env["TMUXKIT_WATCH_OPTS"] = FAST
    tk.cli("start", "noisy")
    tk.cli("watch", "noisy", "--auto-resume", "--every", "1")
    wait_until(lambda: "budget_spent" in tk.kinds("noisy"), timeout=30, what="budget spent")
    r = tk.cli("events", "noisy")  # a second target that refuses does not break anything
    assert "crashed" in r.stdout and "budget_spent" in r.stdout
    wait_until(lambda: any("budget_spent" in m.get("title", "") for m in Sink.received), timeout=20,
               what="the budget_spent notification")
    titles = [m["title"] for m in Sink.received]
    notifiable = [e["event"] for e in tk.events("noisy") if e["event"] != "started"]
    assert notifiable == ["crashed", "restarted", "crashed", "budget_spent"]
    assert titles == [f"tmuxkit: noisy {k}" for k in notifiable]  # each once, in order
    n = len(Sink.received)
    tk.cli("events", "noisy")  # a listing sends nothing
    assert len(Sink.received) == n


def test_remote_watchdog_survives_the_link(tk: Env, remote: Remote) -> None:
    with remote.config.open("a") as f:
        f.write(f'\n[runs.rw]\nhost = "box"\ncwd = "/tmp"\nresults = "{remote.home.parent / "rw-res"}"\n'
                f'command = "{TRAINER} --steps 1 --print-every 0.3"\n')
    tk.cli("start", "rw")
    tk.cli("watch", "rw", "--auto-resume", "--every", "1")
    events = remote.home / "runs" / "rw" / "events.jsonl"
    wait_until(lambda: events.exists() and "started" in events.read_text(), what="watchdog started")
    assert kill_ssh_links(tk), "no ssh link to kill"
    assert tk.tmux("has-session", "-t", "=rw+watch").returncode == 0  # on the host, still there
    r = tk.cli("stop", "rw", "--grace", "5")  # the next command reconnects, and ends the watchdog first
    assert "watchdog was ended too" in r.stdout
    wait_until(lambda: '"event":"watchdog_ended"' in events.read_text(), what="the watchdog to leave")
    assert "rw watchdog_ended" in tk.cli("events", "rw").stdout  # read back over the new link


def test_a_dead_log_writer_is_repaired_not_taken_for_a_stuck_run(tk: Env) -> None:
    tk.add_run("quietlog", "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.3; done", "stuck_after = 2")
    tk.cli("start", "quietlog")
    log = tk.log("quietlog")
    wait_until(lambda: "tick 2" in tk.log_text("quietlog"), what="ticks")
    pid = wait_until(lambda: writer_pid(log), what="the writer")
    tk.cli("watch", "quietlog", "--auto-resume", "--every", "1")
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: "writer_repiped" in tk.kinds("quietlog"), timeout=15, what="the watchdog to re-pipe")
    n = tk.log_text("quietlog").count("tick")
    wait_until(lambda: tk.log_text("quietlog").count("tick") > n + 3, what="ticks after the repair")
    kinds = tk.kinds("quietlog")
    assert "stuck" not in kinds and "resumed" not in kinds, kinds
    assert "re-attached" in tk.log_text("quietlog")  # the gap is marked


def _watchdogs(tk: Env, run: str) -> list[int]:
    """Live watchdog processes of RUN on this test's tmux socket (bash tmuxkit-watch RUN ...), not
    counting the watchdog's own short-lived subshells (same args, parent a watchdog)."""
    out = subprocess.run(["ps", "-A", "-ww", "-o", "pid=,ppid=,stat=,args="],
                         capture_output=True, text=True).stdout
    mine = set(tk.socket_pids())
    rows = [(int(p), int(pp)) for p, pp, st, *args in (ln.split(None, 3) for ln in out.splitlines() if ln.strip())
            if int(p) in mine and not st.startswith("Z") and args and f"tmuxkit-watch {run} " in args[0] + " "
            and "--detach" not in args[0]]
    pids = {p for p, _ in rows}
    return [p for p, pp in rows if pp not in pids]


def test_one_watchdog_per_run_replace_off_and_stop(tk: Env) -> None:
    """Issue 10.9: watching again replaces the old watchdog (which ignores SIGHUP), --off ends it,
    and stop ends it first and says so, so a crash loop can be stopped."""
    tk.add_run("once", "exit 3", "max_restarts = 50")
    tk.env["TMUXKIT_WATCH_OPTS"] = "--backoff 2 --grace 3 --settle 2"
    tk.cli("start", "once")
    tk.cli("watch", "once", "--auto-resume", "--every", "1")
    wait_until(lambda: len(_watchdogs(tk, "once")) == 1, what="the first watchdog")
    (first,) = _watchdogs(tk, "once")
    tk.cli("watch", "once", "--auto-resume", "--every", "1")
    wait_until(lambda: first not in _watchdogs(tk, "once") and len(_watchdogs(tk, "once")) == 1,
               what="the second watchdog to replace the first")
    wait_until(lambda: tk.kinds("once").count("started") == 2, what="the second watchdog's started event")

    # With no resume template a restart is "restarted" (from scratch); "resumed" would never come.
    def restarts() -> int:
        return sum(1 for k in tk.kinds("once") if k in ("restarted", "resumed"))

    wait_until(lambda: restarts() >= 1, timeout=30, what="the crash loop to go round")
    r = tk.cli("stop", "once")
    assert "watchdog was ended too" in r.stdout, r.stdout
    assert _watchdogs(tk, "once") == []
    before = restarts()
    row = tk.status("once")
    assert row["state"] in ("exited", "stopped"), row
    # Nothing restarts it any more: well past the next backoff (2 s doubling with each restart, plus
    # a check every second), the count of restarts holds.
    deadline = time.monotonic() + 2 * 2 ** before + 4
    while time.monotonic() < deadline:
        assert restarts() == before
        assert _watchdogs(tk, "once") == []
        time.sleep(0.5)
    tk.cli("start", "alive", "--", "sleep", "60")
    tk.cli("watch", "alive", "--every", "1")
    wait_until(lambda: len(_watchdogs(tk, "alive")) == 1, what="a plain watchdog")
    assert "ended the watchdog of alive" in tk.cli("watch", "alive", "--off").stdout
    assert _watchdogs(tk, "alive") == [] and "alive+watch" not in tk.sessions()
    assert "alive has no watchdog" in tk.cli("watch", "alive", "--off").stdout
    assert tk.status("alive")["state"] == "running"


def test_helper_sessions_never_share_a_name_with_a_run(tk: Env) -> None:
    """Issue 9.5: `watch X` leaves a run named X-watch alone, and never kills a session that is not its own."""
    tk.cli("start", "x", "--", "sleep", "60")
    tk.cli("start", "x-watch", "--", "sleep", "60")
    tk.cli("watch", "x", "--every", "1")
    assert tk.status("x-watch")["state"] == "running"
    assert {"x", "x-watch", "x+watch"} <= set(tk.sessions())
    tk.cli("watch", "x", "--off")
    tk.tmux("new-session", "-d", "-s", "x+watch", "sleep 60")  # the user's own, by that name
    r = tk.cli("watch", "x", "--every", "1", check=1)
    assert "exists and is not tmuxkit's" in r.stderr
    assert tk.tmux("has-session", "-t", "=x+watch").returncode == 0


def test_evidence_dumps_every_python_process_and_notes_a_hung_nvidia_smi(tk: Env, tmp_path: Path) -> None:
    """Issue 10.11 / audit: py-spy dumps each python process of the run's tree, a launcher such as
    torchrun (a python script: its command name is its own, its args start with the interpreter)
    included; nvidia-smi is cut at its limit (TMUXKIT_EVIDENCE_TIMEOUT), and the note says so."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "py-spy").write_text('#!/bin/sh\necho "$*" >>"$(dirname "$0")/py-spy.log"\necho "Thread 1 (idle): MainThread"\n')
    (shim / "nvidia-smi").write_text("#!/bin/sh\nexec sleep 300\n")  # a hung driver: no answer, ever
    launcher = tmp_path / "torchrun"
    launcher.write_text(f"#!{sys.executable}\nimport os, subprocess, sys\n"
                        "open(sys.argv[1], 'w').write(str(os.getpid()))\n"
                        "p = subprocess.Popen(sys.argv[2:])\n"
                        "open(sys.argv[1] + '.child', 'w').write(str(p.pid))\nsys.exit(p.wait())\n")
    for f in (shim / "py-spy", shim / "nvidia-smi", launcher):
        f.chmod(0o755)
    pidfile = tmp_path / "launcher.pid"
    tk.env["PATH"] = f"{shim}:{tk.env['PATH']}"
    tk.env["TMUXKIT_EVIDENCE_TIMEOUT"] = "2"
    tk.add_run("spy", f"{launcher} {pidfile} {sys.executable} {FAKES / 'ckpt_trainer.py'} --steps 9 --hang-at 2 "
                      "--delay 0.02", "stuck_after = 3")
    tk.env["TMUXKIT_WATCH_OPTS"] = FAST
    tk.cli("start", "spy")
    wait_until(lambda: Path(f"{pidfile}.child").exists(), what="the launcher and its trainer")
    pids = {int(pidfile.read_text()), int(Path(f"{pidfile}.child").read_text())}
    tk.cli("watch", "spy", "--auto-resume", "--every", "1")
    wait_until(lambda: "evidence_saved" in tk.kinds("spy"), timeout=40, what="evidence")
    ev = {e["event"]: e for e in tk.events("spy")}
    assert ev["evidence_saved"]["ts"] - ev["stuck"]["ts"] <= 2 + 6  # nvidia-smi cut at 2 s, not 20
    text = Path(ev["evidence_saved"]["path"]).read_text()
    dumped = {int(ln.split("--pid")[1]) for ln in (shim / "py-spy.log").read_text().splitlines()}
    assert pids <= dumped, (pids, dumped)
    procs = text.split("== the run's processes")[1].split("== py-spy dump")[0].splitlines()[1:]
    pythons = {int(ln.split()[0]) for ln in procs
               if len(ln.split()) > 6 and Path(ln.split()[6]).name.lower().startswith("python")}
    assert pids <= pythons and pythons <= dumped, (pythons, dumped)
    assert "nvidia-smi gave no answer within 2 s" in text
    (note,) = [ln for ln in text.splitlines() if ln.startswith("== unavailable:")]
    assert "nvidia-smi(timed out after 2s)" in note and "nothing" not in note, note
    tk.cli("stop", "spy")


def test_a_resume_whose_steps_show_only_in_a_bar_made_progress(tk: Env) -> None:
    """Issue 27.3: the watchdog judges "did the resume make progress" by the run's progress as the
    log writer read it (a bar's unfinished redraw included), as status shows it. Resumed from step
    100, the trainer reaches 160 in its bar (never a finished line) and hangs: step_000100.pt is not
    rejected, and the next resume is from it again, not from scratch."""
    tk.add_run("barres", f"{sys.executable} {FAKES / 'bar_trainer.py'} --hang-at 130,160",
               'stuck_after = 4\ncheckpoints = "results/barres/ckpt/step_*.pt"\nresume = "--resume {checkpoint}"')
    tk.env["TMUXKIT_WATCH_OPTS"] = FAST
    tk.cli("start", "barres")
    tk.cli("watch", "barres", "--auto-resume", "--every", "1")
    wait_until(lambda: tk.kinds("barres").count("stuck") >= 2 and
               {"resumed", "restarted", "checkpoint_rejected"} & set(tk.kinds("barres")[-3:]) and
               tk.kinds("barres").count("resumed") + tk.kinds("barres").count("restarted") >= 2,
               timeout=90, what="the second restart")
    tk.cli("watch", "barres", "--off")
    kinds = tk.kinds("barres")
    assert "checkpoint_rejected" not in kinds and "restarted" not in kinds, kinds
    resumed = [e["checkpoint"] for e in tk.events("barres") if e["event"] == "resumed"]
    assert resumed[:2] == [str(tk.work / "results" / "barres" / "ckpt" / "step_000100.pt")] * 2, resumed
    tk.cli("stop", "barres")
