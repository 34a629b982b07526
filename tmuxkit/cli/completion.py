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


def run_names(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> Iterable[str]:
    """The runs of the config, and those this machine started (remembered by name): tmuxkit.tab's
    names, the same ones its fast path gives (the config read with tomllib only, no validation)."""
    from tmuxkit import tab

    return tab.run_names(prefix, getattr(parsed_args, "config", None))


def host_names(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> Iterable[str]:
    from tmuxkit import tab

    return tab.host_names(prefix, getattr(parsed_args, "config", None))


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


# --- tmuxkit/tabspec.py: the parser as tmuxkit.tab needs it, generated from the parser ---------

def _kind(action: argparse.Action, formatter: argparse.HelpFormatter) -> object:
    """What completes ACTION's value, in tabspec's words: "flag" (takes none), "run", "host",
    ("choices", CHOICES, HELP), "files" (argcomplete's default completer) or "other" (tmuxkit.tab
    leaves it to argcomplete). An option with one value, or a verb's one positional argument."""
    completer = getattr(action, "completer", None)
    if action.nargs == 0:
        return "flag"
    if action.nargs not in ((None, "?", "*", "+") if not action.option_strings else (None,)):
        return "other"
    if completer is not None:
        return {run_names: "run", host_names: "host"}.get(completer, "other")
    if action.choices is not None:
        return ("choices", tuple(str(c) for c in action.choices), _help(action, formatter))
    return "files"


def _help(action: argparse.Action, formatter: argparse.HelpFormatter) -> str:
    """argcomplete's CompletionFinder._get_action_help: the help with its %(...)s expanded by the top
    parser's formatter."""
    if action.help is None:
        return ""
    return action.help if "%" not in action.help else formatter._expand_help(action)


def _options(parser: argparse.ArgumentParser, formatter: argparse.HelpFormatter) -> list[object]:
    from argcomplete.completers import SuppressCompleter

    out: list[object] = []
    for a in parser._actions:
        if not a.option_strings:
            continue
        c = getattr(a, "completer", None)
        hidden = a.help == argparse.SUPPRESS or (isinstance(c, SuppressCompleter) and c.suppress())
        out.append((tuple(a.option_strings), None if hidden else _help(a, formatter), _kind(a, formatter)))
    return out


def spec_source() -> str:
    """The text of tmuxkit/tabspec.py for the current parser."""
    import pprint

    from tmuxkit.cli import build_parser

    top = build_parser()
    formatter = top.formatter_class(prog=top.prog)
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: _help(a, formatter) for a in sub._get_subactions()}
    verbs: dict[str, object] = {}
    for name, p in sub.choices.items():
        positionals = [a for a in p._actions if not a.option_strings]
        # (Options that exclude each other change what argcomplete offers: tmuxkit.tab leaves such a verb alone.)
        positional = "none" if not positionals else _kind(positionals[0], formatter) \
            if len(positionals) == 1 and not p._mutually_exclusive_groups else "other"
        nargs = positionals[0].nargs if positionals else None
        verbs[name] = (helps.get(name, ""), tuple(_options(p, formatter)), positional, nargs)
    return (f'"""{SPEC_DOC}"""\n\nfrom __future__ import annotations\n\n'
            f"TOP: tuple[tuple[tuple[str, ...], str | None, object], ...] = "
            f"{pprint.pformat(tuple(_options(top, formatter)), width=110)}\n\n"
            "VERBS: dict[str, tuple[str, tuple[tuple[tuple[str, ...], str | None, object], ...], object, object]] = "
            f"{pprint.pformat(verbs, width=110, sort_dicts=False)}\n")


SPEC_DOC = """The CLI's verbs, options, helps and what completes each argument, as tmuxkit.tab answers a Tab
press from them without importing argparse. GENERATED from the parser by
`.venv/bin/python -m tmuxkit.cli.completion --write` (tests/test_completion.py checks it is fresh):
do not edit. VERBS: name -> (help, options, what completes its argument, that argument's nargs); an
option is (strings, help or None when hidden, what completes its value)."""
SPEC_PATH = "tabspec.py"


if __name__ == "__main__":
    import sys
    from pathlib import Path

    from tmuxkit.cli.completion import spec_source as source  # this module's completers, not __main__'s

    text = source()
    if sys.argv[1:] == ["--write"]:
        (Path(__file__).parent.parent / SPEC_PATH).write_text(text)
    else:
        print(text, end="")
