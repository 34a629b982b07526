"""Alerts from the host's watchdog (shell/lib/alerts.bash), sent as notifications from the host
with the laptop side gone (the CLI has exited): nan_loss, resume_failed."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from conftest import Env, Sink, wait_until


def titles() -> list[str]:
    return [str(m.get("title", "")) for m in Sink.received]


def test_a_nan_loss_is_notified_from_the_host_once(tk: Env, sink: int) -> None:
    tk.env["TMUXKIT_WATCH_OPTS"] = "--every 1"
    tk.add_run("nanny", "for i in 1 2 3; do echo \"step $i loss=0.7\"; sleep 0.3; done; "
                        "i=4; while :; do echo \"step $i loss=nan\"; i=$((i+1)); sleep 0.3; done",
               f'notify = ["json://127.0.0.1:{sink}/"]')
    tk.cli("start", "nanny")
    r = tk.cli("watch", "nanny")  # the laptop's part ends here: the host's watchdog sends
    assert "sent by the watchdog on local" in r.stdout
    wait_until(lambda: "tmuxkit: nanny nan_loss" in titles(), timeout=40, what="nan_loss notified")
    msg = next(m for m in Sink.received if m.get("title") == "tmuxkit: nanny nan_loss")
    assert "loss is nan" in str(msg.get("message")), msg
    time.sleep(3)  # three more rounds of the watchdog, each seeing the NaN: nothing more is sent
    assert titles().count("tmuxkit: nanny nan_loss") == 1, titles()
    assert tk.status("nanny")["state"] == "running"  # on_nan = "notify" (the default) leaves it running


def test_a_resume_that_fails_is_notified_and_says_the_watchdog_ended(tk: Env, sink: int, tmp_path: Path) -> None:
    tk.env["TMUXKIT_WATCH_OPTS"] = "--every 1 --backoff 1"
    cwd = tmp_path / "gone"
    cwd.mkdir()
    tk.add_run("rf", "echo started; sleep 2; exit 3",
               f'cwd = "{cwd}"\nresults = "{tmp_path / "res"}"\nnotify = ["json://127.0.0.1:{sink}/"]')
    tk.cli("start", "rf")
    tk.cli("watch", "rf", "--auto-resume")
    shutil.rmtree(cwd)  # the restart cannot start it there again
    wait_until(lambda: "tmuxkit: rf resume_failed" in titles(), timeout=60, what="resume_failed notified")
    msg = str(next(m for m in Sink.received if m.get("title") == "tmuxkit: rf resume_failed").get("message"))
    assert "could not start it again, the watchdog ended" in msg, msg
    assert "tmuxkit: rf crashed" in titles()
    assert "resume_failed" in tk.kinds("rf")
    time.sleep(1)
    assert "tmuxkit: rf watchdog_gave_up" not in titles()  # resume_failed said it: not twice


def test_on_done_runs_once_after_the_final_checkpoint_landed_here_never_before(tk: Env, sink: int,
                                                                              tmp_path: Path) -> None:
    """A real sync loop: on_done (a harmless command: it notes whether the final checkpoint was
    here when it ran) runs on the host after the loop's final pass acknowledged it, not after
    on_done_wait (1h), and is notified from the host."""
    import subprocess
    import sys

    tk.env["TMUXKIT_DONE_POLL"] = "1"
    here = tk.work / "runs" / "fin" / "ckpt" / "step_3.pt"
    mark = tmp_path / "on_done"
    train = ("mkdir -p results/fin/ckpt; for i in 1 2 3; do sleep 1; echo \"step $i\"; "
             "echo w$i > results/fin/ckpt/.t; mv results/fin/ckpt/.t results/fin/ckpt/step_$i.pt; done")
    on_done = f"if test -f {here}; then echo landed >> {mark}; else echo early >> {mark}; fi"
    tk.add_run("fin", train, f'sync_checkpoints = 1\non_done = "{on_done}"\non_done_wait = "1h"\n'
                             f'notify = ["json://127.0.0.1:{sink}/"]')
    r = tk.cli("start", "fin")
    assert "on_done: runs on local once fin ended for good" in r.stdout, r.stdout
    assert (tk.run_dir("fin") / "on_done").stat().st_mode & 0o777 == 0o600
    loop = subprocess.Popen([sys.executable, "-m", "tmuxkit", "sync", "fin", "--every", "1"], cwd=tk.work,
                            env=tk.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = loop.communicate(timeout=90)  # the loop ends after its final pass
    finally:
        if loop.poll() is None:
            loop.kill()
    assert "final sync done" in out, out
    wait_until(lambda: mark.exists(), timeout=30, what="on_done ran")
    assert mark.read_text() == "landed\n"
    wait_until(lambda: "tmuxkit: fin on_done" in titles(), timeout=30, what="on_done notified")
    ev = [e for e in tk.events("fin") if e["event"] == "on_done"]
    assert len(ev) == 1 and ev[0]["exit_code"] == 0, ev
    assert "the laptop's sync acknowledged its final pass" in ev[0]["reason"]
    time.sleep(2)  # two more rounds of any waiter: never twice
    assert mark.read_text() == "landed\n"


def test_status_shows_a_disk_low_that_the_watchdog_found_and_nothing_once_there_is_room() -> None:
    from tmuxkit.cli.status import state_text
    from tmuxkit.contract import RunStatus

    base = {"run": "r", "state": "running", "runner_pid": 1, "exit_code": None}
    low = RunStatus.parse({**base, "disk_low_free_kb": 2048})
    assert low.disk_low_free_kb == 2048 and "DISK LOW (2.0 MiB free)" in state_text(low)
    assert "DISK LOW (9.8 GiB free)" in state_text(RunStatus.parse({**base, "disk_low_free_kb": 10276044}))
    ok = RunStatus.parse(base)
    assert ok.disk_low_free_kb is None and "DISK" not in state_text(ok)
    assert low.to_json()["disk_low_free_kb"] == 2048


def test_doctor_checks_a_runs_results_against_its_disk_min_free(tk: Env, tmp_path: Path) -> None:
    import json

    res = tmp_path / "res"
    res.mkdir()
    tk.add_run("big", "true", f'results = "{res}"\ndisk_min_free = "100%"')
    data = json.loads(tk.cli("doctor", "--json", check=None).stdout)
    (disk,) = [c for c in data["checks"] if c["check"] == f"disk {res}"]
    assert disk["ok"] is False and "under disk_min_free (100%" in disk["value"], disk
    tk.write_config("")
    tk.add_run("big", "true", f'results = "{res}"\ndisk_min_free = 0')
    data = json.loads(tk.cli("doctor", "--json", check=None).stdout)
    (disk,) = [c for c in data["checks"] if c["check"] == f"disk {res}"]
    assert "disk_min_free" not in disk["value"], disk
