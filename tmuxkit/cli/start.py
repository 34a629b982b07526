"""tmuxkit start RUN [-- CMD...]: a run in a detached tmux session on its host."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tmuxkit.cli._common import load_config, say, wait
from tmuxkit.errors import UsageError

if TYPE_CHECKING:
    from tmuxkit.config import HostSpec

if TYPE_CHECKING:
    from tmuxkit.config import RunSpec
    from tmuxkit.hosts.slurm import SlurmHost

HELP = "start a run in a detached tmux session"
FLAGS = frozenset({"-h", "--help", "--host", "--cwd", "--results", "--env", "--sync", "--watch", "--early-wait", "--gpus",
                   "--after"})


@dataclass(frozen=True)
class Args:
    config: str | None
    run: str
    host: str | None = None
    cwd: str | None = None
    results: str | None = None
    env: list[str] = field(default_factory=list)
    command: list[str] = field(default_factory=list)
    sync: bool = False
    watch: bool = False
    early_wait: int | None = None
    gpus: int | None = None
    after: str | None = None


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("start", help=HELP,
                       usage="tmuxkit start RUN [--host H] [--cwd DIR] [--results DIR] [--env K=V]... [--early-wait S] [--gpus N] [--after OTHER] [-- CMD ARG...]")
    s.add_argument("run", help="the run: a [runs.NAME] of the config, or a new name with -- CMD")
    s.add_argument("--host", metavar="HOST", help="where to run it (default: the run's host, else local)")
    s.add_argument("--cwd", metavar="DIR", help="working directory (default: the run's cwd, else here)")
    s.add_argument("--results", metavar="DIR", help="results dir, one run at a time (default: the run's results, else CWD/results/RUN)")
    s.add_argument("--env", action="append", default=[], metavar="K=V", help="set an environment variable, repeatable; never shown in ps (default: the run's env)")
    s.add_argument("--sync", action="store_true", help="also start the result sync loop, in a local tmux session RUN+sync (default: off)")
    s.add_argument("--early-wait", type=wait, metavar="SECONDS",
                   help="how long to watch for a command that dies at once: it is then an error with its last "
                        "lines, not \"started\"; 0: off (default: the run's early_exit_wait, else 2s)")
    s.add_argument("--gpus", type=_gpus, metavar="N",
                   help="give the run N free GPUs (CUDA_VISIBLE_DEVICES); it waits in the host's queue until they are free "
                        "(default: the run's gpus, else 0: no allocation)")
    s.add_argument("--after", metavar="OTHER", help="wait in the host's queue until run OTHER exited 0 (default: the run's after)")
    s.add_argument("--watch", action="store_true", help="also start its watchdog with auto-resume, RUN+watch on the host (default: off)")


def _gpus(v: str) -> int:
    if not v.isdigit() or int(v) > 999:
        raise argparse.ArgumentTypeError(f"expected a number of GPUs from 0 to 999, got {v!r}")
    return int(v)


def attach_hint(socket: str, session: str, spec: HostSpec) -> str:
    """A command to paste into a terminal as printed: the ssh options tmuxkit itself uses for the
    host (-F, -p, -i, -o), then tmux on the run's socket. Every word shell-quoted."""
    import os
    import shlex

    tmux = ["tmux", *(["-L", socket] if socket else []), "attach", "-t", session]
    if spec.is_local:
        return shlex.join(tmux)
    ssh = ["ssh"]
    if spec.ssh_config:
        ssh += ["-F", os.path.expanduser(spec.ssh_config)]
    if spec.port:
        ssh += ["-p", str(spec.port)]
    if spec.identity:
        ssh += ["-i", os.path.expanduser(spec.identity)]
    for o in spec.ssh_options:
        ssh += ["-o", o]
    return shlex.join([*ssh, "-t", spec.ssh, *tmux])


def run(a: Args) -> int:
    from tmuxkit import config as cfg
    from tmuxkit import runs
    from tmuxkit.hosts import connect

    # A start that takes its command from the config needs the config: a broken one is the error
    # (not "run is not configured"), even for a run remembered as local.
    conf = load_config(a.config, [a.run] if a.command else [], ad_hoc=bool(a.command) and a.host in (None, "local"))
    env_over = None
    if a.env:
        base = dict(conf.runs[a.run].env) if a.run in conf.runs else {}
        for kv in a.env:
            k, sep, v = kv.partition("=")
            if not sep or not k:
                raise UsageError(f"bad --env {kv!r}: want NAME=VALUE")
            base[k] = v
        try:  # the rules of the config's env table: a name, and a one-line value
            env_over = cfg.check_env(base)
        except ValueError as e:
            raise UsageError(f"bad --env: {e}") from None
    spec = runs.resolve(conf, a.run, a.command, host=a.host, cwd=a.cwd, results=a.results, env=env_over,
                        early_exit_wait=a.early_wait, gpus=a.gpus, after=a.after)
    spec = spec.with_overrides(max_runs=conf.host(spec.host).max_runs or None)
    h = connect(conf.host(spec.host))
    from tmuxkit.hosts.slurm import SlurmHost

    if isinstance(h, SlurmHost):
        return submit(a, h, spec)
    try:
        started = runs.start(h, spec)
    finally:
        h.close()
    i = started.info
    if i.state == "queued":
        say(f"{i.run} on {started.host}: {i.note or 'queued'}")
        say(f"status:  tmuxkit status {a.run}    (stop takes it out of the queue: tmuxkit stop {a.run})")
        return 0
    if i.note:
        say(f"note: {i.note}")
    say(f"started {i.run} on {started.host}")
    say(f"  session  {i.session}")
    say(f"  pid      {i.pid or i.runner_pid}")
    say(f"  log      {i.log}")
    say(f"  results  {i.results}")
    say(f"  lock     {i.lock}")
    say(f"attach:  tmuxkit attach {a.run}    (or: {attach_hint(i.socket, i.session, conf.host(started.host))})")
    _next_steps(a)
    if a.sync:
        from tmuxkit import sync

        cfg_path = str(conf.path) if conf.path else None
        name = sync.start_loop_session(cfg_path, a.run, str(conf.base_dir))
        say(f"sync:    every {spec.sync_every}s into {sync.sync_dir(conf, spec)} (local tmux session {name})")
    return 0


def submit(a: Args, h: SlurmHost, spec: RunSpec) -> int:
    """start on a Slurm host: one batch job; its watchdog (--watch) runs on the submitting host."""
    from tmuxkit import runs

    if a.sync:
        raise UsageError(f"--sync is not available for a run on Slurm host {h.name!r} yet; "
                         f"its results are on the cluster: tmuxkit logs {a.run} -f")
    try:
        sub = runs.submit(h, spec)
    finally:
        h.close()
    say(f"submitted {sub.run} to {h.name} as Slurm job {sub.job}")
    say(f"  job      {sub.job}")
    say(f"  log      {sub.log}")
    say(f"  results  {sub.results}")
    _next_steps(a)
    return 0


def _next_steps(a: Args) -> None:
    """What to type next; and the watchdog, when asked for (--watch)."""
    say(f"status:  tmuxkit status {a.run}    logs: tmuxkit logs {a.run} -f    stop: tmuxkit stop {a.run}")
    if a.watch:
        from tmuxkit.cli import watch

        watch.run(watch.Args(config=a.config, run=a.run, auto_resume=True))
