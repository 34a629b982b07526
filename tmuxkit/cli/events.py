"""tmuxkit events RUN [-f]: a run's watchdog events (and notifications while following)."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass

from tmuxkit.cli._common import err, load_config, say
from tmuxkit.contract import ExitCode

HELP = "a run's watchdog events"


@dataclass(frozen=True)
class Args:
    config: str | None
    run: str
    host: str | None = None
    json: bool = False
    follow: bool = False


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ev = sub.add_parser("events", help=HELP)
    ev.add_argument("run", help="the run whose events to show")
    ev.add_argument("--host", metavar="HOST", help="the run's host (default: where it was started: its config, else this machine's note)")
    ev.add_argument("--json", action="store_true", help="one JSON object per line, as stored (default: one line of text each)")
    ev.add_argument("-f", "--follow", action="store_true", dest="follow", help="keep printing new events; reconnects after a drop (default: print and exit)")


def run(a: Args) -> int:
    """A plain listing only prints. With -f it also notifies, each event once (by its id, across
    followers and reconnects), and a dropped link is retried with backoff: the events missed
    meanwhile are printed and sent once when it is back."""
    import time

    from tmuxkit import config as cfg
    from tmuxkit import runs, watch
    from tmuxkit.errors import HostError, UnreachableError, user_message

    conf = load_config(a.config, [a.run])
    spec = conf.runs.get(a.run) or cfg.RunSpec(name=cfg.check_run_name(a.run))
    host = runs.host_for_run(conf, a.run, a.host)
    # What the host's watchdog sends (notify_from = "host") is not sent again from here.
    # A host whose watchdog sends nothing itself (a Slurm host's): this follower sends all.
    laptop_sends_all = spec.notify_from != "host" or not host.sends_notifications
    urls = spec.notify if laptop_sends_all else tuple(watch.host_targets(spec.notify)[1])
    notify = watch.Notifier(a.run, urls) if a.follow and urls else None
    seen: set[str] = set()
    delay = 1.0
    while True:
        began = time.monotonic()
        try:
            for i, ev in enumerate(watch.events(host, a.run, a.follow)):
                delay = 1.0  # the link answers again (a replayed event says so too)
                key = watch.event_key(ev, i)
                if key in seen:
                    continue
                seen.add(key)
                say(json.dumps(ev) if a.json else watch.describe(ev))
                if notify is not None:
                    notify.retry()  # an earlier send that failed: its turn again
                    notify(ev, key)
            if notify is not None:
                notify.retry()
            return 0
        except (UnreachableError, HostError) as e:
            if not a.follow or e.code in (ExitCode.USAGE, ExitCode.NOT_FOUND):  # retrying cannot fix these
                raise
            if time.monotonic() - began > 60:  # it held a while (a quiet night): not a link that keeps failing
                delay = 1.0
            if notify is not None:
                notify.retry()
            err(f"{a.run}: {user_message(e)}; reconnecting in {delay:.0f}s")
            time.sleep(delay)
            delay = min(delay * 2, 60.0)
