"""tmuxkit attach [RUN]: the run's tmux session on this terminal (the only live run when none is named)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from tmuxkit.cli._common import load_config, say
from tmuxkit.contract import ExitCode, State
from tmuxkit.errors import TmuxkitError, UsageError

HELP = "attach to a run's tmux session"


@dataclass(frozen=True)
class Args:
    config: str | None
    run: str | None = None
    host: str | None = None
    shell: bool = False


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    a = sub.add_parser("attach", help=HELP)
    a.add_argument("run", nargs="?", help="the run (default: the only running one)")
    a.add_argument("--host", metavar="HOST", help="the run's host (default: where it was started: its config, else this machine's note)")
    a.add_argument("--shell", action="store_true",
                   help="a run that is a batch job (Slurm): open a shell on its node, beside it (srun --overlap --pty) "
                        "(default: attach; for a batch job, follow its log)")


def run(a: Args) -> int:
    from tmuxkit import runs
    from tmuxkit.hosts import connect

    conf = load_config(a.config, [a.run] if a.run else [])
    if a.run:
        h = runs.host_for_run(conf, a.run, a.host)
        target = runs.status_on(h, [a.run]).runs[0]
    else:
        specs = [conf.host(a.host)] if a.host else conf.all_hosts()
        hosts = {spec.name: connect(spec) for spec in specs}
        live = runs.alive_runs(runs.status_all([(h, ()) for h in hosts.values()]))
        if not live:
            raise TmuxkitError("no running run to attach to (see: tmuxkit status)", ExitCode.NOT_FOUND)
        if len(live) > 1:
            names = ", ".join(f"{r.run} ({r.host})" for r in live)
            raise UsageError(f"several runs are running: {names}; name one: tmuxkit attach RUN")
        target = live[0]
        h = hosts[target.host]
    if a.shell:
        h.exec_interactive(h.shell_argv(target))
    if h.attach_follows_log:  # a batch job has no terminal: its log, followed as logs -f does
        if target.state not in (State.PENDING, State.RUNNING) and target.log_age_s is None:
            raise TmuxkitError(f"{target.run} on {target.host} ended ({target.state}) and has no log: "
                               f"it never started; see: tmuxkit status {target.run}", ExitCode.FAIL)
        for line in h.attach_lines(target):
            say(line)
        return runs.logs(h, target.run, 20, follow=True)
    h.exec_interactive(runs.attach_argv(h, target))
    return 0  # pragma: no cover
