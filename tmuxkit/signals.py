"""SIGTERM and SIGHUP end tmuxkit the way Ctrl-C does (timeout(1), a closed terminal).

Python's default for them ends the process at once, and the process groups its host calls run
in (an ssh client, a host script here) went on without it: one was found 25 minutes later. While
the CLI runs, each of these signals kills every child process group still registered
(hosts.base.live_groups) and then raises Terminated, a KeyboardInterrupt, so every cleanup path
Ctrl-C takes runs too; the CLI then exits 128 + the signal's number.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM or SIGHUP."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


caught: list[int] = []  # the first signal taken while handled() was active


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    from tmuxkit.hosts.base import kill_live_groups

    kill_live_groups()
    if caught:  # a second signal while cleaning up: the first one's exit stands
        return
    caught.append(signum)
    raise Terminated(signum)


@contextmanager
def handled() -> Iterator[None]:
    """TERM and HUP handled as above inside the block (main thread only; elsewhere a no-op),
    the previous handlers put back after it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught.clear()
    old = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        if old[s] == signal.SIG_IGN:  # nohup: the user asked to ignore it
            continue
        signal.signal(s, _on_signal)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def exit_code(default: int) -> int:
    """128 + the signal taken, else DEFAULT."""
    return 128 + caught[0] if caught else default
