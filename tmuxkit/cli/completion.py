"""tmuxkit completion bash|zsh|fish: the shell's completion script (argcomplete), to source."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tmuxkit import shellcode
from tmuxkit.cli._common import say

HELP = "print the shell completion script for bash, zsh or fish"
SHELLS = shellcode.SHELLS
CONFIG_FILE = "tmuxkit.toml"  # config.DEFAULT_CONFIG (a test checks), here so a Tab need not import config


@dataclass(frozen=True)
class Args:
    config: str | None
    shell: str


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser("completion", help=HELP,
                       description="Print a completion script. Install it with, for bash: "
                                   "eval \"$(tmuxkit completion bash)\" in ~/.bashrc; zsh: the same in ~/.zshrc; "
                                   "fish: tmuxkit completion fish > ~/.config/fish/completions/tmuxkit.fish")
    c.add_argument("shell", choices=SHELLS, help="which shell's script to print")


def run(a: Args) -> int:
    say(shellcode.script(a.shell))
    return 0


def _config(parsed: argparse.Namespace) -> Any:
    from tmuxkit import config as cfg

    try:
        return cfg.load(getattr(parsed, "config", None))
    except Exception:  # a completion never fails loudly: a broken config completes nothing from it
        return cfg.Config()


def _remembered_runs() -> list[str]:
    """runs.remembered_runs without importing tmuxkit.runs (and the hosts behind it) on a Tab press:
    the notes in $TMUXKIT_HOME/where (runs._where_dir; a test checks both agree)."""
    import os

    home = os.environ.get("TMUXKIT_HOME") or os.path.join(os.path.expanduser("~"), ".tmuxkit")
    try:
        return sorted(n for n in os.listdir(os.path.join(home, "where")) if not n.startswith("."))
    except OSError:
        return []


def run_names(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> Iterable[str]:
    """The runs of the config, and those this machine started (remembered by name)."""
    import os

    # No config to read (config.load's rule: --config, $TMUXKIT_CONFIG, ./tmuxkit.toml): its module is not imported.
    none = not (getattr(parsed_args, "config", None) or os.environ.get("TMUXKIT_CONFIG") or os.path.exists(CONFIG_FILE))
    names = (set() if none else set(_config(parsed_args).runs)) | set(_remembered_runs())
    return sorted(n for n in names if n.startswith(prefix))


def host_names(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> Iterable[str]:
    from tmuxkit.config import LOCAL

    return sorted(n for n in {LOCAL, *_config(parsed_args).hosts} if n.startswith(prefix))


def add_completers(parser: argparse.ArgumentParser) -> None:
    """Attach run and host name completers to every RUN and HOST argument of every verb."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                add_completers(sub)
        elif action.dest in ("run", "runs"):
            action.completer = run_names  # type: ignore[attr-defined]
        elif action.dest == "host":
            action.completer = host_names  # type: ignore[attr-defined]
