"""A fake trainer for watchdog tests.

Prints "step N" and writes results/ckpt/step_N.pt (atomically) each step. With
--hang-after K (and no --resume) it goes silent after step K, while a
half-written step_{K+1}.pt keeps growing. With --resume PATH it says so and
goes on from that step. Ctrl-C (SIGINT) makes it exit 0.
"""

import argparse
import os
import signal
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--steps", type=int, default=6)
ap.add_argument("--delay", type=float, default=0.1)
ap.add_argument("--hang-after", type=int, default=0)
ap.add_argument("--resume")
ap.add_argument("--print-every", type=float, default=0)
a = ap.parse_args()
signal.signal(signal.SIGINT, lambda *_: (print("interrupted", flush=True), sys.exit(0)))
ckpt = os.path.join(os.environ.get("TMUXKIT_RESULTS", "results"), "ckpt")
os.makedirs(ckpt, exist_ok=True)
start = 0
if a.resume:
    start = int(open(a.resume).read().split()[1])
    print(f"resumed from {a.resume} at step {start}", flush=True)
for step in range(start + 1, a.steps + 1):
    time.sleep(a.delay)
    print(f"step {step}", flush=True)
    tmp = os.path.join(ckpt, f".step_{step:06d}.tmp")
    with open(tmp, "w") as f:
        f.write(f"step {step}\n")
    os.replace(tmp, os.path.join(ckpt, f"step_{step:06d}.pt"))
    if a.hang_after and not a.resume and step == a.hang_after:
        growing = os.path.join(ckpt, f"step_{step + 1:06d}.pt")
        while True:  # silent, but the next checkpoint is still being written
            with open(growing, "a") as f:
                f.write("x")
            time.sleep(0.3)
while a.print_every:
    print("still training", flush=True)
    time.sleep(a.print_every)
print("training done", flush=True)
