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
