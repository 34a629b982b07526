"""The built-in demo run: a tiny "training" loop that shows what tmuxkit does.

It prints batch-level progress (flushed), redraws a progress bar with carriage
returns and colours (folded in the log), writes a checkpoint every few steps
(atomically: temp file, then rename), and on Ctrl-C (SIGINT) saves a checkpoint
and exits cleanly. `--resume PATH` continues from a checkpoint.
Standard library only, so it runs wherever Python 3 does.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from pathlib import Path


def save_checkpoint(ckpt_dir: Path, step: int, loss: float) -> Path:
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    final = ckpt_dir / f"step_{step:06d}.pt"
    tmp = ckpt_dir / f".step_{step:06d}.pt.tmp"
    tmp.write_text(json.dumps({"step": step, "loss": loss, "saved_at": time.time()}))
    os.replace(tmp, final)
    return final


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--delay", type=float, default=0.25, help="seconds per step")
    ap.add_argument("--ckpt-every", type=int, default=5)
    ap.add_argument("--batches", type=int, default=4, help="batches per step")
    ap.add_argument("--results", default=os.environ.get("TMUXKIT_RESULTS", "results/demo"))
    ap.add_argument("--resume", help="checkpoint to continue from")
    args = ap.parse_args(argv)

    results = Path(args.results)
    ckpt_dir = results / "ckpt"
    step, loss = 0, 2.5
    if args.resume:
        state = json.loads(Path(args.resume).read_text())
        step, loss = int(state["step"]), float(state["loss"])
        print(f"resumed from {args.resume} at step {step}", flush=True)

    interrupted = False

    def on_sigint(signum: int, frame: object) -> None:
        nonlocal interrupted
        interrupted = True

    signal.signal(signal.SIGINT, on_sigint)
    tty_bar = "\x1b[36m"
    print(f"demo training: {args.steps} steps, checkpoint every {args.ckpt_every}, results in {results}", flush=True)
    while step < args.steps and not interrupted:
        step += 1
        for b in range(1, args.batches + 1):
            filled = "#" * (b * 20 // args.batches)
            sys.stdout.write(f"\r{tty_bar}step {step:4d} [{filled:<20}] batch {b}/{args.batches}\x1b[0m")
            sys.stdout.flush()
            time.sleep(args.delay / args.batches)
            if interrupted:
                break
        loss = 2.5 * math.exp(-step / 15) + 0.05
        sys.stdout.write(f"\rstep {step:4d}/{args.steps} loss {loss:.4f}\x1b[K\n")
        sys.stdout.flush()
        if step % args.ckpt_every == 0:
            print(f"checkpoint {save_checkpoint(ckpt_dir, step, loss)}", flush=True)
    if interrupted:
        path = save_checkpoint(ckpt_dir, step, loss)
        print(f"interrupted at step {step}: saved checkpoint {path}", flush=True)
        return 0
    (results / "metrics.json").parent.mkdir(parents=True, exist_ok=True)
    (results / "metrics.json").write_text(json.dumps({"steps": step, "final_loss": loss}))
    print(f"done: {step} steps, final loss {loss:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
