"""Exit codes and state names are defined once per language; the two must agree."""

from __future__ import annotations

import re

from conftest import SHELL
from tmuxkit.contract import ExitCode, State


def _shell_table(prefix: str) -> dict[str, str]:
    text = (SHELL / "check_training_status.sh").read_text()
    return dict(re.findall(rf"^{prefix}_([A-Z_]+)=(\S+)$", text, re.M))


def test_exit_codes_match_shell() -> None:
    assert {k: int(v) for k, v in _shell_table("EX").items()} == {c.name: c.value for c in ExitCode}


def test_states_match_shell() -> None:
    assert _shell_table("ST") == {s.name: s.value for s in State}
