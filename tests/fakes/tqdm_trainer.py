"""A trainer shaped like a real one: a tqdm bar per epoch that redraws with \\r (no newline until
the epoch ends), a loss postfix, and an optional checkpoint per epoch.

    python tqdm_trainer.py --epochs 2 --steps 200 --step-time 0.05 [--save DIR] [--hold FILE]

--hold FILE: the last epoch's bar stays on its last step, redrawn each step time, until FILE exists
(at most 120 s): a test decides when the epoch ends, whatever the machine's load.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--step-time", type=float, default=0.05)
    p.add_argument("--save", type=Path)
    p.add_argument("--hold", type=Path)
    a = p.parse_args()
    print("loading data", flush=True)
    for epoch in range(1, a.epochs + 1):
        bar = tqdm(range(a.steps), desc=f"epoch {epoch}/{a.epochs}", file=sys.stdout, mininterval=0.1,
                   dynamic_ncols=False, ncols=100)
        for step in bar:
            time.sleep(a.step_time)
            bar.set_postfix(loss=f"{1.0 / (1 + step + epoch * a.steps):.4f}", refresh=False)
            if a.hold and epoch == a.epochs and step == a.steps - 1:
                until = time.monotonic() + 120
                while not a.hold.exists() and time.monotonic() < until:
                    time.sleep(a.step_time)
                    bar.refresh()
        bar.close()
        if a.save:
            a.save.mkdir(parents=True, exist_ok=True)
            (a.save / f"epoch_{epoch:03d}.pt").write_bytes(b"weights" * 100)
        print(f"epoch {epoch} done", flush=True)


if __name__ == "__main__":
    main()
