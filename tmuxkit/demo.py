"""The built-in demo run: a tiny "training" loop that shows what tmuxkit does.

Each step it redraws a progress bar with carriage returns and colours (folded in the log), then
prints one line with the step, `loss=` and `lr=` (status shows the progress, the loss and its
sparkline; `tmuxkit plot demo` draws the curve); it writes a checkpoint every few steps
(atomically: temp file, then rename) and one at the end, so status reads 100 % and `tmuxkit
checkpoints demo` lists them. On Ctrl-C (SIGINT) it saves a checkpoint and exits cleanly.
`--resume PATH` continues from a checkpoint. `--crash` dies half-way (exit 1), as a run that hits a
bug does, unless it was resumed: `tmuxkit start demo --crash --watch` shows the watchdog resume it.
Standard library only, so it runs wherever Python 3 does.

40 s by default, long enough to attach to it, follow its log and stop it by hand;
TMUXKIT_DEMO_STEPS and TMUXKIT_DEMO_DELAY (seconds per step) change that, e.g.
`tmuxkit start demo --env TMUXKIT_DEMO_DELAY=0.1` for a demo of 4 s (the tests' demos run so).
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

STEPS = 40
DELAY = 1.0  # seconds per step: 40 steps in 40 s, time enough for attach, logs -f and stop
PEAK_LR = 3e-4
WARMUP = 3


def _env_number(name: str, default: float, kind: type = float) -> float:
    v = os.environ.get(name, "")
    try:
        n = kind(v) if v else default
    except ValueError:
        print(f"demo: ignoring {name}={v!r} (not a number)", file=sys.stderr, flush=True)
        return default
    return n if 0 <= n <= 3600 else default


def loss_at(step: int, steps: int) -> float:
    """A falling curve with a little wobble (deterministic: the same at every resume)."""
    return round(2.5 * math.exp(-3.0 * step / steps) + 0.08 + 0.04 * math.sin(step * 1.7) * math.exp(-step / steps), 4)


def lr_at(step: int, steps: int) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    warm = min(1.0, step / WARMUP)
    return PEAK_LR * warm * (0.1 + 0.45 * (1 + math.cos(math.pi * step / steps)))


def save_checkpoint(ckpt_dir: Path, step: int, loss: float) -> Path:
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    final = ckpt_dir / f"step_{step:06d}.pt"
    tmp = ckpt_dir / f".step_{step:06d}.pt.tmp"
    tmp.write_text(json.dumps({"step": step, "loss": loss, "saved_at": time.time()}))
    os.replace(tmp, final)
    return final


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--steps", type=int, default=int(_env_number("TMUXKIT_DEMO_STEPS", STEPS, int)))
    ap.add_argument("--delay", type=float, default=_env_number("TMUXKIT_DEMO_DELAY", DELAY),
                    help="seconds per step")
    ap.add_argument("--ckpt-every", type=int, default=5)
    ap.add_argument("--batches", type=int, default=4, help="batches per step")
    ap.add_argument("--results", default=os.environ.get("TMUXKIT_RESULTS", "results/demo"))
    ap.add_argument("--resume", help="checkpoint to continue from")
    ap.add_argument("--crash", action="store_true", help="die half-way (exit 1) unless resumed")
    args = ap.parse_args(argv)
    steps = max(1, args.steps)

    results = Path(args.results)
    ckpt_dir = results / "ckpt"
    step, loss = 0, loss_at(0, steps)
    if args.resume:
        state = json.loads(Path(args.resume).read_text())
        step, loss = int(state["step"]), float(state["loss"])
        print(f"resumed from {args.resume} at step {step}", flush=True)
    crash_at = steps // 2 + 1 if args.crash and not args.resume else None

    interrupted = False

    def on_sigint(signum: int, frame: object) -> None:
        nonlocal interrupted
        interrupted = True

    signal.signal(signal.SIGINT, on_sigint)
    tty_bar = "\x1b[36m"
    print(f"demo training: {steps} steps, checkpoint every {args.ckpt_every}, results in {results}", flush=True)
    while step < steps and not interrupted:
        for b in range(1, args.batches + 1):
            filled = "#" * (b * 20 // args.batches)
            sys.stdout.write(f"\r{tty_bar}step {step + 1}/{steps} [{filled:<20}] batch {b}/{args.batches}\x1b[0m")
            sys.stdout.flush()
            time.sleep(args.delay / args.batches)
            if interrupted:
                break
        if interrupted:
            break
        step += 1
        if step == crash_at:
            sys.stdout.write("\r\x1b[K")
            print("Traceback (most recent call last):\n  File \"demo.py\", in train_step\n"
                  f"RuntimeError: demo crash at step {step} (--crash): the watchdog resumes from the last checkpoint",
                  flush=True)
            return 1
        loss = loss_at(step, steps)
        sys.stdout.write(f"\rstep {step}/{steps} loss={loss:.4f} lr={lr_at(step, steps):.2e}\x1b[K\n")
        sys.stdout.flush()
        if step % args.ckpt_every == 0 or step == steps:
            print(f"checkpoint {save_checkpoint(ckpt_dir, step, loss)}", flush=True)
    if interrupted:
        sys.stdout.write("\r\x1b[K")
        path = save_checkpoint(ckpt_dir, step, loss)
        print(f"interrupted at step {step}: saved checkpoint {path}", flush=True)
        return 0
    (results / "metrics.json").parent.mkdir(parents=True, exist_ok=True)
    (results / "metrics.json").write_text(json.dumps({"steps": step, "final_loss": loss}))
    print(f"done: {step} steps, final loss {loss:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
