"""A run's end: notified from the host with no watchdog, once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import SHELL, Env, Sink, wait_until


def titles() -> list[str]:
    return [str(m.get("title", "")) for m in Sink.received]


def test_a_run_with_notify_and_no_watchdog_has_its_end_notified_once(tk: Env, sink: int) -> None:
    tk.add_run("quiet", "echo working; sleep 2; exit 0", f'notify = ["json://127.0.0.1:{sink}/"]')
    tk.add_run("boom", "echo working; sleep 2; exit 3", f'notify = ["json://127.0.0.1:{sink}/"]')
    r = tk.cli("start", "quiet")
    assert "the run's end goes to 1 target(s) from the host" in r.stdout
    tk.cli("start", "boom")
    wait_until(lambda: "tmuxkit: quiet finished" in titles() and "tmuxkit: boom crashed" in titles(),
               timeout=30, what="both ends notified")
    boom = next(m for m in Sink.received if m.get("title") == "tmuxkit: boom crashed")
    assert "exit code 3" in str(boom.get("message"))
    time.sleep(1)  # a second sender (a duplicate) would have sent by now: nothing more came
    assert sorted(titles()) == ["tmuxkit: boom crashed", "tmuxkit: quiet finished"]


def test_a_run_that_ends_while_start_hands_over_its_targets_is_notified_with_its_exit_code(tk: Env, sink: int) -> None:
    """The race behind a flake of the test above (2 in 14 under load): start's --notify-end call
    loaded the run while it still ran, the run ended (its runner found no targets yet, so left the
    end to start), and the end was then sent from the stale load: "crashed" with no exit code for a
    run that exited 0. Here the run ends exactly in that window: after the call has loaded the run
    (it is reading the targets from stdin) and before the targets arrive."""
    go = tk.work / "go"
    tk.add_run("edge", f"while [ ! -e {go} ]; do sleep 0.1; done; exit 0")
    tk.cli("start", "edge")
    rundir = tk.home / "runs" / "edge"
    p = subprocess.Popen(["bash", str(SHELL / "tmuxkit-watch"), "edge", "--notify-stdin", "--notify-end"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=tk.env, text=True)
    try:
        # The run is loaded and the targets are being read: the temp file they go to is open.
        wait_until(lambda: any(rundir.glob("notify.tmp.*")), timeout=20, what="the targets being read")
        go.touch()
        wait_until(lambda: (rundir / "exit").exists(), timeout=20, what="the run's exit recorded")
        _, err = p.communicate(f"json http://127.0.0.1:{sink}/\n", timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    wait_until(lambda: titles(), timeout=30, what="the end notified")
    assert titles() == ["tmuxkit: edge finished"], Sink.received


def test_a_run_that_ended_before_its_targets_arrived_is_notified_by_start(tk: Env, sink: int) -> None:
    tk.add_run("fast", "exit 0", f'notify = ["json://127.0.0.1:{sink}/"]')
    tk.cli("start", "fast")
    wait_until(lambda: "tmuxkit: fast finished" in titles(), timeout=30, what="the end notified")
    time.sleep(1)
    assert titles() == ["tmuxkit: fast finished"]


def test_with_a_watchdog_the_end_is_notified_once(tk: Env, sink: int) -> None:
    tk.add_run("watched", "echo working; sleep 3; exit 0", f'notify = ["json://127.0.0.1:{sink}/"]')
    tk.cli("start", "watched", "--watch")
    wait_until(lambda: "tmuxkit: watched finished" in titles(), timeout=40, what="the end notified")
    time.sleep(2)
    assert titles().count("tmuxkit: watched finished") == 1, titles()


def test_start_says_when_nothing_is_sent_from_the_host(tk: Env, sink: int) -> None:
    tk.add_run("lap", "exit 0", f'notify = ["json://127.0.0.1:{sink}/"]\nnotify_from = "laptop"')
    r = tk.cli("start", "lap")
    assert "nothing is sent from the host" in r.stdout and "tmuxkit events lap -f" in r.stdout


def test_the_relay_ends_with_its_command_while_an_orphan_keeps_printing(tmp_path: Path) -> None:
    """The relay ends when its command does, although a process the command left (on macOS
    no subreaper ends it) keeps printing to the relay's terminal more often than the relay's
    poll: it used to read on until that process stopped (the run never ended)."""
    envfile = tmp_path / "env"
    envfile.write_text("")
    orphan = tmp_path / "orphan.pid"
    script = (f"(trap '' HUP; while echo orphan; do sleep 0.05; done) & echo $! >'{orphan}'; "
              "echo main done; exit 3")
    relay = subprocess.Popen(
        [sys.executable, "-I", str(SHELL / "tmuxkit-relay.py"), str(envfile), str(tmp_path / "r.log"),
         "1000000", "2", "r", "r.1", str(tmp_path), "--", "bash", "-c", script],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert relay.stdout is not None
        seen = b""
        while b"main done" not in seen:  # the orphan runs: what the relay reads from now is its own
            seen += os.read(relay.stdout.fileno(), 1 << 16)
        threading.Thread(target=relay.stdout.read, daemon=True).start()  # drain the pipe
        assert relay.wait(timeout=20) == 3
    finally:
        relay.kill()
        wait_until(orphan.exists, timeout=10, what="the orphan's pid")
        try:
            os.kill(int(orphan.read_text()), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
