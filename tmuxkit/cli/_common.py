"""What every verb shares: output, argument types, and the parser that turns mistakes into UsageError."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tmuxkit.config import Config


def say(msg: str) -> None:
    print(msg, flush=True)


def err(msg: str) -> None:
    """One line on stderr with one "tmuxkit: " prefix (a message that already carries it, as a
    host script's does, is not prefixed twice)."""
    while msg.startswith("tmuxkit: "):
        msg = msg[len("tmuxkit: "):]
    print(f"tmuxkit: {msg}", file=sys.stderr, flush=True)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """"; did you mean 'status'?" for the closest of CHOICES to a mistyped WORD (difflib, as git and
    uv suggest), or "" when none is close."""
    import difflib

    close = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.75)
    return f"; did you mean '{close[0]}'?" if close else ""


def ago(seconds: object) -> str:
    if not isinstance(seconds, int):
        return "-"
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


_CONTROL = re.compile(r"\x1b\[[0-9;?<=>]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b.?|[\x00-\x08\x0a-\x1f\x7f\x9b]")


def plain(text: str) -> str:
    """Program output made safe to show: escape and control sequences removed, tabs as spaces.
    (It is never read as markup either: table() gives rich plain Text.)"""
    return _CONTROL.sub("", text).replace("\t", " ")


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """rich on a terminal (NO_COLOR respected by rich); plain aligned text otherwise. Cells are
    plain text in both: a "[/bold]" or "[link=...]" in a log line is shown as written."""
    rows = [[plain(c) for c in r] for r in rows]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        t = Table(title=title, title_justify="left", box=None, header_style="bold")
        for c in columns:
            t.add_column(c, overflow="fold" if c == "LAST LINE" else "ellipsis")
        for r in rows:
            t.add_row(*(Text(c) for c in r))
        Console().print(t)
        return
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths[:-1]) + "  {}"
    print(fmt.format(*columns))
    for r in rows:
        print(fmt.format(*r))


def positive(v: str) -> int:
    try:
        n = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {v!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {v!r}")
    if n > POSITIVE_MAX:  # past this, a timer or a sleep overflows: one line, not a traceback
        raise argparse.ArgumentTypeError(f"expected a number <= {POSITIVE_MAX}, got {v!r}")
    return n


POSITIVE_MAX = 10**9


def seconds(v: str) -> float:
    """A finite, positive number of seconds, at most a day (not nan, inf or 0)."""
    try:
        n = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {v!r}") from None
    if not 0 < n <= 86400:  # also false for nan
        raise argparse.ArgumentTypeError(f"expected seconds between 0 and 86400, got {v!r}")
    return n


def duration(v: str) -> int:
    from tmuxkit.config import parse_duration

    try:
        return parse_duration(v)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def wait(v: str) -> int:
    """A duration that may be 0 (off)."""
    from tmuxkit.config import parse_wait

    try:
        return parse_wait(v)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


_INVALID_CHOICE = re.compile(r"argument (\S+): invalid choice: '(.*)' \(choose from (.*)\)$", re.S)


def suggest_run(name: str, config: str | None = None) -> str:
    """did_you_mean for a run NAME that is not there: from the config's runs and the runs this
    machine started (a broken config suggests nothing from it)."""
    from tmuxkit.runs import remembered_runs

    names = set(remembered_runs())
    try:
        from tmuxkit import config as cfg

        names |= set(cfg.load(config).runs)
    except Exception:
        pass
    return did_you_mean(name, names - {name})


def suggest_host(name: str, config: str | None = None) -> str:
    """did_you_mean for a host NAME that the config does not have."""
    try:
        from tmuxkit import config as cfg

        return did_you_mean(name, ["local", *cfg.load(config).hosts])
    except Exception:
        return ""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        from tmuxkit.errors import UsageError

        m = _INVALID_CHOICE.match(message)
        if m:
            what, word = m.group(1), m.group(2)
            choices = [c.strip().strip("'") for c in m.group(3).split(",")]
            hint = did_you_mean(word, choices)
            if what == "COMMAND":
                message = f"unknown command '{word}'" + (hint or f" (choose from {', '.join(choices)})")
            else:
                message += hint
        verb = self.prog.split()[-1]
        # The top parser's own errors need no "tmuxkit:" of their own: err() gives the one prefix.
        raise UsageError(message if verb == "tmuxkit" else f"{verb}: {message}")


Subparsers = "argparse._SubParsersAction[Parser]"


_warned: set[str] = set()


def load_config(path: str | None, runs: Sequence[str] = (), ad_hoc: bool = False) -> Config:
    """The config, or, when ./tmuxkit.toml (found, not named) is broken and the command names only
    runs started ad hoc on this machine (remembered as local, or `start RUN -- CMD` with no --host),
    no config and one warning: a broken file of someone else's project does not stop a run that
    never used it."""
    import os

    from tmuxkit import config as cfg
    from tmuxkit.errors import ConfigError
    from tmuxkit.runs import remembered_host

    try:
        return cfg.load(path)
    except ConfigError as e:
        named = path or os.environ.get("TMUXKIT_CONFIG")
        # Only runs on this machine: a remote host's options are in the file that cannot be read.
        if named or not (ad_hoc or (runs and all(remembered_host(r) == cfg.LOCAL for r in runs))):
            raise
        if str(e) not in _warned:
            _warned.add(str(e))
            err(f"warning: ignoring {e}")
        return cfg.Config()
