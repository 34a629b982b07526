"""tmuxkit completion bash|zsh|fish: the shell's completion script (argcomplete), to source."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tmuxkit.cli._common import say

HELP = "print the shell completion script for bash, zsh or fish"
SHELLS = ("bash", "zsh", "fish")


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


# zsh: `eval "$(tmuxkit completion zsh)"` in a .zshrc that holds only that line runs before any
# compinit, so compdef does not exist yet ("command not found: compdef" at every start, and no
# completion). When the script is eval'ed (not autoloaded from $fpath) and compdef is missing, it
# loads the completion system itself first, as gh's and uv's scripts ask the user to; -i skips
# directories compaudit finds insecure instead of asking at every shell start.
ZSH_COMPINIT = """\
if [[ $zsh_eval_context != *func ]] && (( ! ${+functions[compdef]} )); then
    autoload -Uz compinit && compinit -i
fi
"""


def script(shell: str) -> str:
    from argcomplete.shell_integration import shellcode

    code = shellcode(["tmuxkit"], shell=shell).rstrip("\n")
    if shell == "zsh":
        first, _, rest = code.partition("\n")  # keep "#compdef tmuxkit" first: the file may go into $fpath
        code = f"{first}\n{ZSH_COMPINIT}{rest}"
    return code


def run(a: Args) -> int:
    say(script(a.shell))
    return 0


def _config(parsed: argparse.Namespace) -> Any:
    from tmuxkit import config as cfg

    try:
        return cfg.load(getattr(parsed, "config", None))
    except Exception:  # a completion never fails loudly: a broken config completes nothing from it
        return cfg.Config()


def run_names(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> Iterable[str]:
    """The runs of the config, and those this machine started (remembered by name)."""
    from tmuxkit.runs import remembered_runs

    names = set(_config(parsed_args).runs) | set(remembered_runs())
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
