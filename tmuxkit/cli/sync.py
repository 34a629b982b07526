"""tmuxkit sync RUN: pull a run's results, logs and checkpoints; repeat until it ends."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from tmuxkit.cli._common import duration, load_config, positive, say
from tmuxkit.contract import Defaults, ExitCode
from tmuxkit.errors import TmuxkitError, user_message

HELP = "pull a run's results, logs and checkpoints; repeat until it ends"


@dataclass(frozen=True)
class Args:
    config: str | None
    run: str
    host: str | None = None
    once: bool = False
    every: int | None = None
    to: str | None = None
    include: list[str] = field(default_factory=list)
    checkpoints: int | None = None
    detach: bool = False


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sy = sub.add_parser("sync", help=HELP)
    sy.add_argument("run", help="the run whose results to pull")
    sy.add_argument("--host", metavar="HOST", help="the run's host (default: where it was started: its config, else this machine's note)")
    sy.add_argument("--once", action="store_true", help="one pass, then exit (default: repeat until the run ends)")
    sy.add_argument("--every", type=duration, metavar="DUR", help=f"seconds (or 30s, 5m) between passes (default: the run's sync_every, else {Defaults.SYNC_EVERY})")
    sy.add_argument("--to", metavar="DIR", help="where on this machine (default: the run's sync_to, else runs/RUN beside the config)")
    sy.add_argument("--include", action="append", default=[], metavar="PATTERN", help="also pull these paths of the results dir, repeatable; added to the defaults, *.json *.png *.csv *.txt, and the run's sync_include (default: none)")
    sy.add_argument("--checkpoints", type=positive, metavar="N", help="keep the newest N checkpoints here (default: the run's sync_checkpoints, else none)")
    sy.add_argument("--detach", action="store_true",
                    help="run the loop in a local tmux session RUN+sync and return; starts it again if it died (default: run here)")


def run(a: Args) -> int:
    from tmuxkit import config as cfg
    from tmuxkit import runs, sync

    conf = load_config(a.config, [a.run])
    spec = conf.runs.get(a.run) or cfg.RunSpec(name=cfg.check_run_name(a.run))
    h = runs.host_for_run(conf, a.run, a.host)
    if a.detach:
        # The loop is this command without --detach: the same --to, --every, --checkpoints,
        # --include and --host. A run that is not there is said here, in one line, and no session starts.
        try:
            runs.status_on(h, [spec.name], timeout=sync.io_timeout() + sync.CALL_MARGIN)
        except TmuxkitError as e:
            if e.code in (ExitCode.NOT_FOUND, ExitCode.USAGE):
                raise
            say(f"note: {user_message(e)}; the loop keeps trying")  # a host down for now: the loop waits for it
        options = sync.loop_options(a.to, a.every, a.include, a.checkpoints, a.host)
        name = sync.start_loop_session(str(conf.path) if conf.path else None, a.run, str(conf.base_dir), options)
        say(f"syncing {a.run} into {sync.sync_dir(conf, spec, a.to)} in local tmux session {name}")
        return 0
    return sync.run_loop(conf, spec, h, once=a.once, every=a.every, to=a.to, include=tuple(a.include),
                         checkpoints=a.checkpoints, say=say, host_option=a.host)
