"""Deprecated home of the exit codes and states: they live in tmuxkit.contract now."""

from __future__ import annotations

from tmuxkit.contract import ALIVE_STATES, ExitCode, State

__all__ = ["ALIVE_STATES", "ExitCode", "State"]
