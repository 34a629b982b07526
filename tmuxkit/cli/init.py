"""tmuxkit init [PATH]: write a commented example tmuxkit.toml."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from tmuxkit.cli._common import say
from tmuxkit.errors import TmuxkitError, UsageError

HELP = "write a commented example tmuxkit.toml"


@dataclass(frozen=True)
class Args:
    config: str | None
    path: str = "tmuxkit.toml"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    i = sub.add_parser("init", help=HELP)
    i.add_argument("path", nargs="?", default="tmuxkit.toml", help="where to write it (default: %(default)s; never overwrites)")


def run(a: Args) -> int:
    from tmuxkit.configdoc import example

    if not a.path:
        raise UsageError("init: the path is empty; give a file name, e.g. tmuxkit init tmuxkit.toml")
    if os.path.lexists(a.path):
        raise TmuxkitError(f"{a.path} already exists; not overwriting it")
    try:
        with open(a.path, "x") as f:
            f.write(example())
    except OSError as e:
        raise UsageError(f"init: cannot write {a.path}: {e.strerror}") from None
    say(f"wrote {a.path}: edit [runs.kssm_v3], then: tmuxkit start kssm_v3")
    return 0
