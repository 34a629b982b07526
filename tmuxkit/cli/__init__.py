"""The command line: parse, dispatch to one module per verb, map errors to exit codes.

Each verb module (start, status, ...) has `add_parser(subparsers)`, a frozen dataclass `Args`
and `run(args) -> int`; it imports what its work needs inside `run`, so `status` stays fast.
The verb modules themselves are imported when first needed (VERBS, build_parser): a Tab completion
after `tmuxkit stop ` imports only stop's module (issue 29.8; bench/startup.py measures it).
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from tmuxkit.cli._common import Parser, did_you_mean, err, suggest_host, suggest_run

if TYPE_CHECKING:
    from types import ModuleType

    from tmuxkit.errors import TmuxkitError


class Verb:
    """One verb: its parser, its Args dataclass, its run, its one-line help. (A plain class, not a
    dataclass: the Tab path imports neither dataclasses nor typing's generics for it.)"""

    def __init__(self, add_parser: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None],
                 args: type[Any], run: Callable[[Any], int], help: str) -> None:
        self.add_parser, self.args, self.run, self.help = add_parser, args, run, help

    def call(self, ns: argparse.Namespace) -> int:
        import dataclasses

        fields = dataclasses.fields(self.args)
        return self.run(self.args(**{f.name: getattr(ns, f.name) for f in fields if hasattr(ns, f.name)}))


# The verbs, in the order of their modules' parsers; each module is tmuxkit.cli.NAME.
VERB_NAMES = ("start", "watch", "events", "sync", "attach", "status", "logs", "stop", "cleanup", "forget",
              "checkpoints", "plot", "install", "init", "doctor", "completion", "gpus", "export")


def verb_module(name: str) -> ModuleType:
    return importlib.import_module(f"tmuxkit.cli.{name}")


def verb(name: str) -> Verb:
    m = verb_module(name)
    return Verb(m.add_parser, m.Args, m.run, m.HELP)


def __getattr__(name: str) -> Any:  # VERBS on first use: it imports every verb's module
    if name == "VERBS":
        verbs = {n: verb(n) for n in VERB_NAMES}
        globals()["VERBS"] = verbs
        return verbs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


GROUPS: dict[str, tuple[str, ...]] = {
    "run": ("start", "watch", "sync"),
    "look": ("status", "logs", "events", "checkpoints", "plot", "attach", "gpus"),
    "fix": ("stop", "cleanup", "forget", "doctor"),
    "set up": ("init", "install", "completion", "export"),
}


class TopParser(Parser):
    """`tmuxkit --help`: the verbs grouped as run / look / fix / set up, one line each."""

    def format_help(self) -> str:
        from tmuxkit.contract import ExitCode

        lines = []
        for group, names in GROUPS.items():
            lines.append(f"{group}:")
            lines += [f"  {n:<12} {verb(n).help}" for n in names]
        codes = ", ".join(f"{c.value} {c.name.lower().replace('_', ' ')}" for c in ExitCode)
        lines.append(f"\nEach command has --help. Exit codes: {codes}.")
        return super().format_help() + "\n" + "\n".join(lines) + "\n"


class _Version(argparse.Action):
    """--version, anywhere before the verb: the host scripts' hash is read only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from tmuxkit.version import version_line

        print(version_line(), flush=True)
        parser.exit()


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with ONLY (the Tab path, once the line names its verb), that verb's parser and
    a bare stub of each other verb, so one verb module is imported, not all of them ("": stubs only)."""
    # Stubs only (a Tab before the verb): plain argparse, whose errors argcomplete takes as they are.
    top, sub_class = (argparse.ArgumentParser, argparse.ArgumentParser) if only == "" else (TopParser, Parser)
    p = top(prog="tmuxkit", description="Training runs in tmux sessions, on this machine or over SSH.",
                  usage="tmuxkit [--config PATH] COMMAND [ARGS...]")
    p.add_argument("--version", action=_Version, help="print the version of tmuxkit and of its host scripts, and exit")
    p.add_argument("--config", metavar="PATH", help="config file (default: $TMUXKIT_CONFIG, else ./tmuxkit.toml)")
    sub: argparse._SubParsersAction[argparse.ArgumentParser] = p.add_subparsers(dest="cmd", metavar="COMMAND",
                                                                                parser_class=sub_class,
                                                                                prog="tmuxkit [--config PATH]",
                                                                                help=argparse.SUPPRESS)
    sub.required = True
    stub = sub_class(prog="tmuxkit", add_help=False)  # one for all the verbs not being completed
    for name in VERB_NAMES:
        if only is None or name == only:
            verb_module(name).add_parser(sub)
        else:
            sub.choices[name] = stub  # the name only, as a Tab before the verb needs it
    if only != "":  # stubs only: no RUN or HOST argument to complete
        from tmuxkit.cli import completion

        completion.add_completers(p)
    return p


def complete() -> None:
    """One Tab press: argcomplete answers on fd 8 and ends the process. Once the line names a verb,
    only that verb's parser is built; before that only the verbs' names are needed, and their one-line
    help only where the shell shows it (zsh, fish)."""
    import argcomplete

    line = os.environ.get("COMP_LINE", "")[: int(os.environ.get("COMP_POINT") or 1 << 30)]
    done = line.split() if line[-1:].isspace() else line.split()[:-1]  # the words before the cursor's
    named = [w for w in done[1:] if w in VERB_NAMES]
    bare = os.environ.get("_ARGCOMPLETE_SHELL", "bash") == "bash"
    only = named[0] if named else ("" if bare else None)
    argcomplete.autocomplete(build_parser(only))


PATH_OPTIONS = frozenset({"--results", "--cwd", "--to", "--config"})


def unknown_arguments(parser: argparse.ArgumentParser, ns: argparse.Namespace, extras: list[str],
                      argv: Sequence[str], command: Sequence[str] = ()) -> str:
    """The one line for words the verb does not take: a mistyped option with the closest one; for
    start, a run command given without "--" (its first word an option of the command, not of
    tmuxkit's, or a plain word), the "--" form to type instead."""
    import shlex

    sub = _verb_parser(parser, ns.cmd)
    options = [o for act in [*parser._actions, *sub._actions] for o in act.option_strings]
    first = extras[0]
    name = first.split("=", 1)[0]
    hint = did_you_mean(name, options) if first.startswith("-") else ""
    if ns.cmd == "start" and not hint:
        # The command: the words from the first unknown one on (tmuxkit's own options before it stay).
        verb_at = argv.index("start") if "start" in argv else 0
        at = next((i for i, w in enumerate(argv) if i > verb_at and w == first), len(argv))
        before, cmd = list(argv[:at]), [*argv[at:], *command]
        form = f"tmuxkit {shlex.join(before)} -- {shlex.join(cmd)}"
        if first.startswith("-"):
            return f"start: {name} is not an option of tmuxkit start; if it is the run's command's, put the command after --: {form}"
        return f"start: the run's command goes after --: {form}"
    if first.startswith("-"):
        return f"{ns.cmd}: unknown option '{name}'" + hint
    return f"{ns.cmd}: unexpected argument '{first}'" + (f" (and {len(extras) - 1} more)" if len(extras) > 1 else "")


def _verb_parser(parser: argparse.ArgumentParser, verb: str) -> argparse.ArgumentParser:
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            sub: argparse.ArgumentParser = a.choices[verb]
            return sub
    return parser


_NO_RUN = re.compile(r"no run named '([^']+)'")
_NO_HOST = re.compile(r"unknown host '([^']+)'")


def _run_hint(e: TmuxkitError, argv: Sequence[str]) -> str:
    """"; did you mean 'kssm_v3'?" for a run name or a host name that is not there."""
    if "did you mean" in e.message:
        return ""
    m = _NO_RUN.search(e.message)
    if m:
        return suggest_run(m.group(1), _config_arg(argv))
    m = _NO_HOST.search(e.message)
    return suggest_host(m.group(1), _config_arg(argv)) if m else ""


def _config_arg(argv: Sequence[str]) -> str | None:
    for i, a in enumerate(argv):
        if a == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--config="):
            return a[len("--config="):]
    return None


def main(argv: Sequence[str] | None = None) -> int:
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions (tmuxkit completion SHELL)
        complete()
    from tmuxkit import signals

    # SIGTERM and SIGHUP end tmuxkit as Ctrl-C does: no host call's process group is left behind.
    with signals.handled():
        return signals.exit_code(_main(argv))


def _main(argv: Sequence[str] | None = None) -> int:
    from tmuxkit.errors import TmuxkitError, UsageError, user_message

    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after the first "--" is the run's command, untouched by option parsing.
    command: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, command = argv[:cut], argv[cut + 1 :]
    # argparse drops a value that is exactly "--" (--results=-- gave the default results dir, in
    # silence): a path of that name goes on as "./--", the same path. (Not in the run's command.)
    argv = [f"{a[:-2]}./--" if a.endswith("=--") and a[:-3] in PATH_OPTIONS else a for a in argv]
    try:
        if argv[:1] == ["start"] and len(argv) > 1 and argv[1].startswith("-") \
                and argv[1] not in verb_module("start").FLAGS:
            from tmuxkit.config import check_run_name

            check_run_name(argv[1])  # "-x" is a bad run name, not an unknown flag
        # A line that starts with its verb needs only that verb's module (the rest are stubs).
        parser = build_parser(argv[0] if argv[:1] and argv[0] in VERB_NAMES else None)
        ns, extras = parser.parse_known_args(argv)
        if extras:
            raise UsageError(unknown_arguments(parser, ns, extras, argv, command))
        if command and ns.cmd != "start":
            raise UsageError(f"{ns.cmd}: '--' is only for start's command")
        ns.command = command
        return verb(ns.cmd).call(ns)
    except TmuxkitError as e:
        err(user_message(e) + _run_hint(e, argv))
        return int(e.code)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
