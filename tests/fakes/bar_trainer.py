"""A trainer whose steps show only in a tqdm-style bar (redrawn with \\r, no newline), as HF's,
Lightning's and most loops' do.

    bar_trainer.py [--total N] [--every K] [--hang-at S,S...] [--delay D] [--resume PATH]

Saves $TMUXKIT_RESULTS/ckpt/step_NNNNNN.pt every K steps (atomically: temp file, then rename).
At each step in --hang-at it goes silent (alive, no output). --resume PATH goes on from PATH's step.
"""

import argparse
import json
import os
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--total", type=int, default=300)
ap.add_argument("--every", type=int, default=100)
ap.add_argument("--hang-at", default="")
ap.add_argument("--delay", type=float, default=0.01)
ap.add_argument("--resume")
a = ap.parse_args()
hang = {int(s) for s in a.hang_at.split(",") if s}
ckpt = os.path.join(os.environ.get("TMUXKIT_RESULTS", "results"), "ckpt")
os.makedirs(ckpt, exist_ok=True)
step = 0
if a.resume:
    with open(a.resume) as f:
        step = json.load(f)["step"]
    print(f"resumed from {a.resume}", flush=True)
t0 = time.monotonic()
while step < a.total:
    step += 1
    time.sleep(a.delay)
    el = time.monotonic() - t0
    sys.stdout.write(f"\r{100 * step // a.total:3d}%|{'#' * (step * 20 // a.total):<20}| {step}/{a.total} "
                     f"[00:{int(el):02d}<00:01, {step / max(el, 1e-3):.2f}it/s]")
    sys.stdout.flush()
    if step % a.every == 0:
        tmp = os.path.join(ckpt, f".step_{step:06d}.tmp")
        with open(tmp, "w") as f:
            json.dump({"step": step}, f)
        os.replace(tmp, os.path.join(ckpt, f"step_{step:06d}.pt"))
    if step in hang:
        while True:
            time.sleep(1)
print("\ndone", flush=True)
