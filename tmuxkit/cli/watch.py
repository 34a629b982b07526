"""tmuxkit watch RUN: the host-side watchdog (crash, stuck, GPU idle; optional auto-resume)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from tmuxkit.cli._common import duration, load_config, positive, say
from tmuxkit.contract import Defaults, helper_session

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
    if a.off:
        ended = h.watch_off(a.run)
        say(f"ended the watchdog of {a.run} on {h.name}" if ended else f"{a.run} has no watchdog on {h.name}")
        return 0
    say(h.watch_run(spec, auto_resume=a.auto_resume, every=a.every, stuck_after=a.stuck_after,
                    gpu_idle_below=a.gpu_idle_below, gpu_idle_for=a.gpu_idle_for))
    if not spec.notify:
        return 0
    # A host whose watchdog sends nothing itself (a Slurm host's): every target is sent from here.
    on_host, not_on_host = watch.host_targets(spec.notify) if h.sends_notifications else ([], list(spec.notify))
    from_host = spec.notify_from in ("host", "both")
    if from_host and on_host:
        say(f"notifications: {len(on_host)} target(s), sent by the watchdog on {h.name} (the laptop may sleep)")
    if spec.notify_from in ("laptop", "both") or not_on_host:
        name = runs.start_helper_session(helper_session(a.run, "events"), [*(["--config", str(conf.path)] if conf.path else []),
                                                            "events", a.run, "-f"], str(conf.base_dir))
        n = len(spec.notify) if spec.notify_from != "host" else len(not_on_host)
        say(f"notifications: {n} target(s), sent from this machine (local tmux session {name})")
    return 0
