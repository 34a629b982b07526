"""tmuxkit export RUN --to sbatch|skypilot [-o FILE]: a run of the config, whatever its host, as a
standalone Slurm batch script or a SkyPilot task YAML (tmuxkit.export)."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

from tmuxkit.cli._common import duration, load_config, say

HELP = "print a run as a standalone sbatch script or a SkyPilot task (no tmuxkit needed where it runs)"


@dataclass(frozen=True)
class Args:
    config: str | None
    run: str
    to: str
    output: str | None = None
    lead: int | None = None
    accelerator: str = "A100"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    e = sub.add_parser("export", help=HELP)
    e.add_argument("run", help="a run of the config (tmuxkit.toml)")
    e.add_argument("--to", required=True, choices=("sbatch", "skypilot"),
                   help="sbatch: a bash batch script (#SBATCH lines from the run's resources); skypilot: a task YAML (required; no default)")
    e.add_argument("-o", "--output", metavar="FILE",
                   help="write it to FILE, a new file (an existing one is never overwritten) (default: print it)")
    e.add_argument("--lead", type=duration, metavar="DURATION",
                   help="sbatch: Ctrl-C this long before the time limit, at most a third of it (default: the run's time_limit_lead, else 5m)")
    e.add_argument("--accelerator", default="A100", metavar="NAME",
                   help="skypilot: the GPU type for the run's gpus, as SkyPilot names it (default: A100)")


def run(a: Args) -> int:
    from tmuxkit import export
    from tmuxkit.config import check_run_name
    from tmuxkit.errors import TmuxkitError, UsageError

    check_run_name(a.run)
    conf = load_config(a.config)
    spec = conf.runs.get(a.run)
    if spec is None:
        where = f" in {conf.path}" if conf.path else " (no tmuxkit.toml here; --config PATH names one)"
        raise UsageError(f"export: no run named {a.run!r}{where}; a run to export is one the config defines")
    if a.to == "sbatch":
        text = export.sbatch_script(conf, spec, a.lead)
    else:
        if not a.accelerator.replace("-", "").replace("_", "").isalnum():
            raise UsageError(f"export: --accelerator: expected a GPU name such as A100 or H100, got {a.accelerator!r}")
        text = export.skypilot_yaml(conf, spec, a.accelerator)
    if a.output is None:
        sys.stdout.write(text)
        return 0
    try:  # a new file only: O_EXCL refuses whatever is there, a symlink included
        fd = os.open(a.output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755 if a.to == "sbatch" else 0o644)
    except FileExistsError:
        raise UsageError(f"export: {a.output} already exists; not overwritten (name a new file)") from None
    except OSError as e:
        raise TmuxkitError(f"export: cannot write {a.output}: {e.strerror}") from None
    with os.fdopen(fd, "w") as f:
        f.write(text)
    say(f"wrote {a.output}" + (f"; submit it with: sbatch {a.output}" if a.to == "sbatch" else
                               f"; launch it with: sky jobs launch {a.output}"))
    return 0
