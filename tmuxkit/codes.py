"""Exit codes and run states: the one table, mirrored from shell/check_training_status.sh.

tests/test_codes.py checks that the two agree, so a change on one side fails
the suite until the other follows.
"""

from __future__ import annotations

from enum import Enum, IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAIL = 1
    USAGE = 2  # bad arguments, bad config, bad run name
    LOCKED = 3  # the results lock is held by a live run, or the run already runs
    NOT_FOUND = 4  # no such run
    BAD_LOCK = 5  # a symlink or garbage at the lock path
    UNREACHABLE = 6  # the host did not answer
    NO_TOOL = 127  # tmux (or another needed tool) is missing


class State(str, Enum):
    RUNNING = "running"
    STUCK = "stuck"
    EXITED = "exited"
    STOPPED = "stopped"
    DEAD = "dead"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


ALIVE_STATES = frozenset({State.RUNNING.value, State.STUCK.value})
