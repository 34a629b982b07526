"""The command line: parse, dispatch to one module per verb, map errors to exit codes.

Each verb module (start, status, ...) has `add_parser(subparsers)`, a frozen dataclass `Args`
and `run(args) -> int`; it imports what its work needs inside `run`, so `status` stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tmuxkit import __version__
from tmuxkit.cli import (
    attach,
    checkpoints,
    cleanup,
    completion,
    doctor,
    events,
    forget,
    gpus,
    init,
    install,
    logs,
    plot,
    start,
    status,
    stop,
    sync,
    watch,
)
from tmuxkit.cli._common import Parser, did_you_mean, err, suggest_host, suggest_run
from tmuxkit.config import check_run_name
from tmuxkit.contract import ExitCode
from tmuxkit.errors import TmuxkitError, UsageError, user_message

A = TypeVar("A")


@dataclass(frozen=True)
class Verb(Generic[A]):
    add_parser: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]
    args: type[A]
    run: Callable[[A], int]
    help: str

    def call(self, ns: argparse.Namespace) -> int:
        fields = dataclasses.fields(self.args)  # type: ignore[arg-type]
        return self.run(self.args(**{f.name: getattr(ns, f.name) for f in fields if hasattr(ns, f.name)}))


VERBS: dict[str, Verb[Any]] = {
    "start": Verb(start.add_parser, start.Args, start.run, start.HELP),
    "watch": Verb(watch.add_parser, watch.Args, watch.run, watch.HELP),
    "events": Verb(events.add_parser, events.Args, events.run, events.HELP),
    "sync": Verb(sync.add_parser, sync.Args, sync.run, sync.HELP),
    "attach": Verb(attach.add_parser, attach.Args, attach.run, attach.HELP),
    "status": Verb(status.add_parser, status.Args, status.run, status.HELP),
    "logs": Verb(logs.add_parser, logs.Args, logs.run, logs.HELP),
    "stop": Verb(stop.add_parser, stop.Args, stop.run, stop.HELP),
    "cleanup": Verb(cleanup.add_parser, cleanup.Args, cleanup.run, cleanup.HELP),
    "forget": Verb(forget.add_parser, forget.Args, forget.run, forget.HELP),
    "checkpoints": Verb(checkpoints.add_parser, checkpoints.Args, checkpoints.run, checkpoints.HELP),
    "plot": Verb(plot.add_parser, plot.Args, plot.run, plot.HELP),
    "install": Verb(install.add_parser, install.Args, install.run, install.HELP),
    "init": Verb(init.add_parser, init.Args, init.run, init.HELP),
    "doctor": Verb(doctor.add_parser, doctor.Args, doctor.run, doctor.HELP),
    "completion": Verb(completion.add_parser, completion.Args, completion.run, completion.HELP),
    "gpus": Verb(gpus.add_parser, gpus.Args, gpus.run, gpus.HELP),
}


GROUPS: dict[str, tuple[str, ...]] = {
    "run": ("start", "watch", "sync"),
    "look": ("status", "logs", "events", "checkpoints", "plot", "attach", "gpus"),
    "fix": ("stop", "cleanup", "forget", "doctor"),
    "set up": ("init", "install", "completion"),
}


class TopParser(Parser):
    """`tmuxkit --help`: the verbs grouped as run / look / fix / set up, one line each."""

    def format_help(self) -> str:
        lines = []
        for group, names in GROUPS.items():
            lines.append(f"{group}:")
            lines += [f"  {n:<12} {VERBS[n].help}" for n in names]
        codes = ", ".join(f"{c.value} {c.name.lower().replace('_', ' ')}" for c in ExitCode)
        lines.append(f"\nEach command has --help. Exit codes: {codes}.")
        return super().format_help() + "\n" + "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = TopParser(prog="tmuxkit", description="Training runs in tmux sessions, on this machine or over SSH.",
                  usage="tmuxkit [--config PATH] COMMAND [ARGS...]")
    p.add_argument("--version", action="version", version=f"tmuxkit {__version__}")
    p.add_argument("--config", metavar="PATH", help="config file (default: $TMUXKIT_CONFIG, else ./tmuxkit.toml)")
    sub: argparse._SubParsersAction[argparse.ArgumentParser] = p.add_subparsers(dest="cmd", metavar="COMMAND",
                                                                                parser_class=Parser,
                                                                                prog="tmuxkit [--config PATH]",
                                                                                help=argparse.SUPPRESS)
    sub.required = True
    for verb in VERBS.values():
        verb.add_parser(sub)
    completion.add_completers(p)
    return p


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
    from tmuxkit import signals

    # SIGTERM and SIGHUP end tmuxkit as Ctrl-C does: no host call's process group is left behind.
    with signals.handled():
        return signals.exit_code(_main(argv))


def _main(argv: Sequence[str] | None = None) -> int:
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions (tmuxkit completion SHELL)
        import argcomplete

        argcomplete.autocomplete(build_parser())
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
        if argv[:1] == ["start"] and len(argv) > 1 and argv[1].startswith("-") and argv[1] not in start.FLAGS:
            check_run_name(argv[1])  # "-x" is a bad run name, not an unknown flag
        parser = build_parser()
        ns, extras = parser.parse_known_args(argv)
        if extras:
            raise UsageError(unknown_arguments(parser, ns, extras, argv, command))
        if command and ns.cmd != "start":
            raise UsageError(f"{ns.cmd}: '--' is only for start's command")
        ns.command = command
        return VERBS[ns.cmd].call(ns)
    except TmuxkitError as e:
        err(user_message(e) + _run_hint(e, argv))
        return int(e.code)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
