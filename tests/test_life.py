"""A run's end: notified from the host with no watchdog, once."""

from __future__ import annotations

import time

from conftest import Env, Sink, wait_until


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
