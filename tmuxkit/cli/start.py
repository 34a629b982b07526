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
    from tmuxkit.config import Config, RunSpec
    from tmuxkit.hosts import Host

HELP = "start a run in a detached tmux session"
FLAGS = frozenset({"-h", "--help", "--host", "--cwd", "--results", "--env", "--sync", "--watch", "--early-wait",
                   "--resume", "--gpus", "--after", "--crash"})


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
    resume: bool = False
    gpus: int | None = None
    after: str | None = None
    crash: bool = False


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("start", help=HELP,
                       usage="tmuxkit start RUN [--host H] [--cwd DIR] [--results DIR] [--env K=V]... [--early-wait S] [--gpus N] [--after OTHER] [--resume] [-- CMD ARG...]")
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
    s.add_argument("--crash", action="store_true",
                   help="the built-in demo only: it crashes half-way (exit 1); with --watch the watchdog resumes it "
                        "from its last checkpoint (default: off)")
    s.add_argument("--resume", action="store_true",
                   help="resume from the newest complete checkpoint in its results, with the run's resume template "
                        "(default: off: start from scratch, with a note when checkpoints are there)")


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
    if a.crash and (a.command or not runs.is_builtin_demo(conf, a.run)):
        raise UsageError(f"start: --crash is only for the built-in demo (tmuxkit start {runs.DEMO} --crash --watch)")
    spec = runs.resolve(conf, a.run, a.command, host=a.host, cwd=a.cwd, results=a.results, env=env_over,
                        early_exit_wait=a.early_wait, gpus=a.gpus, after=a.after)
    if a.crash:
        spec = spec.with_overrides(command=(*spec.command, "--crash"))
    hspec = conf.host(spec.host)
    spec = spec.with_overrides(max_runs=hspec.max_runs or None, gpus_ignore_foreign=hspec.gpus_ignore_foreign or None)
    h = connect(conf.host(spec.host))
    h.check_start(resume=a.resume, sync=a.sync)
    try:
        if not h.resumes_itself:
            spec = _resume_or_hint(a, h, spec)
        started = runs.start(h, spec)
        notify_note = _host_notify(h, a, spec, queued=started.info.state == "queued")
        done_note = _host_on_done(h, spec)
    finally:
        h.close()
    i = started.info
    if i.state == "queued":
        say(f"{i.run} on {started.host}: {i.note or 'queued'}")
        say(f"status:  tmuxkit status {a.run}    (stop takes it out of the queue: tmuxkit stop {a.run})")
        if notify_note:
            say(notify_note)
        if a.watch:  # kept with its queue entry: the host starts the watchdog with the run
            from tmuxkit.cli import watch

            watch.run(watch.Args(config=a.config, run=a.run, auto_resume=True))
        if a.sync:  # the loop waits through the queue, then follows the run to its end
            _start_sync(a, conf, spec, queued=True)
        return 0
    if i.note:
        say(f"note: {i.note}")
    for line in h.start_lines(i):
        say(line)
    if i.session:
        say(f"attach:  tmuxkit attach {a.run}    (or: {attach_hint(i.socket, i.session, conf.host(started.host))})")
    if notify_note:
        say(notify_note)
    if done_note:
        say(done_note)
    _next_steps(a, demo=runs.is_builtin_demo(conf, a.run) and not a.command)
    if a.sync:
        _start_sync(a, conf, spec)
    return 0


def _start_sync(a: Args, conf: Config, spec: RunSpec, queued: bool = False) -> None:
    """--sync: the run's sync loop in a local tmux session RUN+sync. For a run QUEUED on its host,
    the loop waits for it to leave the queue (tmuxkit/sync.py), then syncs it to its end."""
    from tmuxkit import sync

    cfg_path = str(conf.path) if conf.path else None
    try:
        name = sync.start_loop_session(cfg_path, a.run, str(conf.base_dir))
    except UsageError as e:  # a loop of an earlier start, with options of its own, syncs on: the run started
        say(f"note: {e}")
    else:
        when = "once it leaves the queue, " if queued else ""
        say(f"sync:    {when}every {spec.sync_every}s into {sync.sync_dir(conf, spec)} (local tmux session {name})")


def _resume_or_hint(a: Args, h: Host, spec: RunSpec) -> RunSpec:
    """With --resume: the spec whose command resumes from the newest complete checkpoint in its
    results (as the watchdog resumes). Without: the spec as it is, and one line when its results
    already hold a complete checkpoint (the start begins from step 0). The hint never fails a start."""
    from tmuxkit import checkpoints, runs
    from tmuxkit.errors import TmuxkitError

    cwd = runs.StartArgs.for_spec(h, spec).cwd
    where = spec.results or f"results/{spec.name}"
    if a.resume:
        if not spec.resume:
            raise UsageError(f"run {spec.name!r} has no resume template: set resume = \"--resume {{checkpoint}}\" "
                             "(how its command takes a checkpoint) in its config")
        unit = checkpoints.newest_in_results(h, spec, cwd)
        if unit is None:
            raise UsageError(f"nothing to resume {spec.name} from: no complete checkpoint in {where} "
                             f"(tmuxkit checkpoints {spec.name} says why); start it without --resume to begin from step 0")
        say(f"resuming from {checkpoints.describe(unit)}")
        return spec.with_overrides(command=checkpoints.resume_command(spec, str(unit["path"])))
    try:
        unit = checkpoints.newest_in_results(h, spec, cwd, timeout=30)
    except TmuxkitError:
        return spec
    if unit is not None:
        how = (f"tmuxkit start {spec.name} --resume resumes from it" if spec.resume else
               "set the run's resume template (resume = \"--resume {checkpoint}\") to resume from it")
        say(f"note: {where} holds checkpoints (newest {checkpoints.describe(unit)}); this start begins from step 0: {how}")
    return spec


def _host_notify(h: Host, a: Args, spec: RunSpec, queued: bool = False) -> str:
    """With notify set and no --watch, the run's end is notified from the host (its runner's end
    hook): the targets go there now, on stdin (a webhook URL is a secret). A run that ended before
    they arrived is notified by this same call. A run queued on the host keeps them there for its
    end, and for the queue's own news (blocked: its --after run failed; queue_refused: refused at
    its turn), sent by the host with the laptop gone. Returns the line that says what will be sent."""
    if not spec.notify or (a.watch and not queued) or not h.sends_notifications:
        return ""
    from tmuxkit import watch
    from tmuxkit.errors import TmuxkitError

    on_host = watch.host_targets(spec.notify)[0] if spec.notify_from in ("host", "both") else []
    if not on_host:
        return (f"notify: nothing is sent from the host (notify_from = {spec.notify_from!r}, or no target it can "
                f"send to): `tmuxkit events {a.run} -f` sends them from this machine")
    try:
        h.notify_end(spec, on_host)
    except TmuxkitError as e:
        return f"notify: the run's end will not be notified: {e}"
    if queued:
        return (f"notify: the run's end, or why the host's queue never started it (blocked, queue_refused), "
                f"goes to {len(on_host)} target(s) from the host")
    return (f"notify: the run's end goes to {len(on_host)} target(s) from the host "
            "(no watchdog: --watch adds stuck and restart alerts)")


def _host_on_done(h: Host, spec: RunSpec) -> str:
    """The run's on_done command goes to the host on stdin, into a 0600 file (never a command line:
    it may hold a token); the host runs it once when the run ended for good and its results are safe
    (shell/lib/done.bash). Returns the line that says so, or why it will not run."""
    if not spec.on_done:
        return ""
    if not h.runs_on_done:
        return f"on_done: will not run: {h.name} does not run on_done commands yet (a batch job's host)"
    from tmuxkit.errors import TmuxkitError

    try:
        h.script_ok(*h.on_done_args(spec.name), "--set", "--wait", str(spec.on_done_wait), input=spec.on_done.encode())
    except TmuxkitError as e:
        return f"on_done: will not run: {e}"
    return h.on_done_line(spec)


def _next_steps(a: Args, demo: bool = False) -> None:
    """What to type next; and the watchdog, when asked for (--watch)."""
    say(f"status:  tmuxkit status {a.run}    logs: tmuxkit logs {a.run} -f    stop: tmuxkit stop {a.run}")
    if a.watch:
        from tmuxkit.cli import watch
        from tmuxkit.contract import Defaults
        from tmuxkit.runs import DEMO_WATCH_EVERY

        # The built-in demo lasts seconds: its watchdog looks every few seconds, so a crash is resumed at once.
        watch.run(watch.Args(config=a.config, run=a.run, auto_resume=True,
                             every=DEMO_WATCH_EVERY if demo else Defaults.WATCH_EVERY))
