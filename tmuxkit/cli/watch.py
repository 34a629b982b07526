"""tmuxkit watch RUN: the host-side watchdog (crash, stuck, GPU idle; optional auto-resume)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tmuxkit.cli._common import duration, load_config, positive, say
from tmuxkit.contract import Defaults, helper_session
from tmuxkit.errors import UsageError

if TYPE_CHECKING:
    from tmuxkit.config import Config, RunSpec
    from tmuxkit.hosts.slurm import SlurmHost

HELP = "watch a run on its host: stuck, crashed, GPU idle; resume from a checkpoint"


@dataclass(frozen=True)
class Args:
    config: str | None
    run: str
    host: str | None = None
    auto_resume: bool = False
    stuck_after: int | None = None
    gpu_idle_below: int | None = None
    gpu_idle_for: int | None = None
    every: int = Defaults.WATCH_EVERY
    off: bool = False


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    w = sub.add_parser("watch", help=HELP)
    w.add_argument("run", help="the run to watch")
    w.add_argument("--host", metavar="HOST", help="the run's host (default: where it was started: its config, else this machine's note)")
    w.add_argument("--auto-resume", action="store_true", help="stop a stuck or crashed run and restart it from its newest complete checkpoint (default: only report)")
    w.add_argument("--stuck-after", type=duration, metavar="DUR", help=f"no output for this long is stuck (default: the run's stuck_after, else {Defaults.STUCK_AFTER}s)")
    w.add_argument("--gpu-idle-below", type=positive, metavar="PCT", help="GPU use under PCT%% counts as idle (default: the run's gpu_idle_below, else off)")
    w.add_argument("--gpu-idle-for", type=duration, metavar="DUR", help=f"idle this long flags the run (default: the run's gpu_idle_for, else {Defaults.GPU_IDLE_FOR}s)")
    w.add_argument("--every", type=duration, default=Defaults.WATCH_EVERY, metavar="DUR", help="seconds between checks (default: %(default)s)")
    w.add_argument("--off", action="store_true", help="end the run's watchdog; a run has one, and watching again replaces it (default: start one)")


def run(a: Args) -> int:
    from tmuxkit import config as cfg
    from tmuxkit import runs, watch

    conf = load_config(a.config, [a.run])
    # The built-in demo (no run of its name in the config) resumes by its own template.
    spec = conf.runs.get(a.run) or (runs.demo_spec() if runs.is_builtin_demo(conf, a.run) else
                                     cfg.RunSpec(name=cfg.check_run_name(a.run)))
    h = runs.host_for_run(conf, a.run, a.host)
    from tmuxkit.hosts.slurm import SlurmHost

    if isinstance(h, SlurmHost):
        return watch_slurm(a, h, spec, conf)
    if a.off:
        ended = watch.off(h, a.run)
        say(f"ended the watchdog of {a.run} on {h.name}" if ended else f"{a.run} has no watchdog on {h.name}")
        return 0
    info = watch.start(h, spec, auto_resume=a.auto_resume, every=a.every, stuck_after=a.stuck_after,
                       gpu_idle_below=a.gpu_idle_below, gpu_idle_for=a.gpu_idle_for)
    mode = "watching and resuming" if a.auto_resume else "watching"
    if info.get("watchdog") == "queued":
        say(f"{mode} {a.run} on {h.name} once the host's queue starts it: its watchdog starts with it, "
            f"tmux session {info.get('session')} there; events: tmuxkit events {a.run} -f")
    else:
        say(f"{mode} {a.run} on {h.name}: tmux session {info.get('session')} there; events: tmuxkit events {a.run} -f")
    if not spec.notify:
        return 0
    on_host, not_on_host = watch.host_targets(spec.notify)
    from_host = spec.notify_from in ("host", "both")
    if from_host and on_host:
        say(f"notifications: {len(on_host)} target(s), sent by the watchdog on {h.name} (the laptop may sleep)")
    if spec.notify_from in ("laptop", "both") or (from_host and not_on_host):
        name = runs.start_helper_session(helper_session(a.run, "events"), [*(["--config", str(conf.path)] if conf.path else []),
                                                            "events", a.run, "-f"], str(conf.base_dir))
        n = len(spec.notify) if spec.notify_from != "host" else len(not_on_host)
        say(f"notifications: {n} target(s), sent from this machine (local tmux session {name})")
    return 0


def watch_slurm(a: Args, h: SlurmHost, spec: RunSpec, conf: Config) -> int:
    """The Slurm watchdog (tmuxkit-slurm watch), a loop on the submitting host: a job whose log is
    silent for stuck_after is requeued (the wrapper resumes from the newest complete checkpoint),
    within the run's restart budget. GPU checks and laptop notifications are not wired for it."""
    if a.off:
        ended = h.watch_off(a.run)
        say(f"ended the Slurm watchdog of {a.run} on {h.name}" if ended else f"{a.run} has no watchdog on {h.name}")
        return 0
    if a.gpu_idle_below is not None:
        raise UsageError("watch: --gpu-idle-below is not available for a Slurm job (its GPUs are on the compute node)")
    info = h.watch(a.run, every=a.every, stuck_after=a.stuck_after or spec.stuck_after,
                   max_restarts=spec.max_restarts, restart_window=spec.restart_window)
    say(f"watching {a.run} (Slurm job {info.get('job', '?')}) from {h.name}: a log silent for "
        f"{a.stuck_after or spec.stuck_after}s is requeued, at most {spec.max_restarts} times in "
        f"{spec.restart_window}s; events: tmuxkit events {a.run} -f")
    if spec.notify:  # the Slurm watchdog sends nothing itself: every target is sent from this machine
        from tmuxkit import runs

        conf_args = ["--config", str(conf.path)] if conf.path else []
        name = runs.start_helper_session(helper_session(a.run, "events"), [*conf_args, "events", a.run, "-f"],
                                         str(conf.base_dir))
        say(f"notifications: {len(spec.notify)} target(s), sent from this machine (local tmux session {name})")
    return 0
