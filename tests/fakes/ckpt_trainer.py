"""A fake trainer that saves checkpoints the way real tools lay them out, in the order they write them.

    ckpt_trainer.py [--layout torch|hf|kohya|lightning] [--steps N] [--every K] [--delay S]
                    [--hang-at S] [--hang-save-at S] [--crash-after-save-at S]
                    [--crash-resuming-from S] [--resume PATH]

Layouts, under $TMUXKIT_RESULTS (written in place, file by file, each file in a few chunks):
- torch: step_000130.pt (torch.save-style single file: a header, chunks, then an END marker);
- hf: checkpoint-130/ with model.safetensors, optimizer.pt, scheduler.pt, rng_state.pth, and
  trainer_state.json last (as the HF Trainer does);
- kohya: lora-step00000130.safetensors, then lora-step00000130-state/ with train_state.json (the
  save hook), model.safetensors, optimizer.bin, scheduler.bin, and random_states_0.pkl last (as
  accelerate's save_state does);
- lightning: checkpoints/epoch=0-step=S.ckpt once (save_top_k=1 on a metric that never improves
  again: the best stays the first) and checkpoints/last.ckpt at every save (save_last=True).
Prints "step N" each step. --hang-at S: goes silent after step S (alive, saving nothing).
--hang-save-at S: hangs half-way through writing step S's checkpoint, silent and deaf to SIGINT.
--crash-after-save-at S: saves step S, then dies with exit 1 at once. SIGINT saves the current
step and exits 0. --resume PATH: loads PATH (a torn or foreign checkpoint makes it crash with a
traceback, as torch.load would) and goes on from its step; first it loads the model, with
tqdm's "Loading checkpoint shards" bar. --crash-resuming-from S: a resume from step S's
checkpoint dies with a traceback (exit 1) once the model is loaded, as one that cannot use it.
"""

import argparse
import json
import os
import signal
import sys
import time
from typing import Any

ap = argparse.ArgumentParser()
ap.add_argument("--layout", default="torch", choices=["torch", "hf", "kohya", "lightning"])
ap.add_argument("--steps", type=int, default=6)
ap.add_argument("--every", type=int, default=1)
ap.add_argument("--delay", type=float, default=0.1)
ap.add_argument("--hang-at", type=int, default=0)
ap.add_argument("--hang-save-at", type=int, default=0)
ap.add_argument("--crash-after-save-at", type=int, default=0)
ap.add_argument("--crash-resuming-from", type=int, default=-1)
ap.add_argument("--resume")
a = ap.parse_args()
RESULTS = os.environ.get("TMUXKIT_RESULTS", "results")
os.makedirs(RESULTS, exist_ok=True)
BLOB = b"w" * 4096


def write(path: str, body: bytes, hang: bool = False) -> None:
    with open(path, "wb") as f:
        for i in range(4):
            f.write(body[i * len(body) // 4:(i + 1) * len(body) // 4])
            f.flush()
            if hang and i == 1:
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a writer stuck in the kernel is deaf to it
                while True:  # the writer hangs half-way: silent, the file stops growing
                    time.sleep(1)


def save(step: int, hang: bool = False) -> str:
    if a.layout == "torch":
        path = os.path.join(RESULTS, f"step_{step:06d}.pt")
        write(path, b"TORCH step %d\n" % step + BLOB + b"END\n", hang)
    elif a.layout == "hf":
        path = os.path.join(RESULTS, f"checkpoint-{step}")
        os.makedirs(path, exist_ok=True)
        for name in ("model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth"):
            write(os.path.join(path, name), BLOB, hang and name == "optimizer.pt")
        write(os.path.join(path, "trainer_state.json"), json.dumps({"global_step": step}).encode())
    elif a.layout == "lightning":
        d = os.path.join(RESULTS, "checkpoints")
        os.makedirs(d, exist_ok=True)
        body = b"TORCH step %d\n" % step + BLOB + b"END\n"
        if not any(f.startswith("epoch=") for f in os.listdir(d)):
            write(os.path.join(d, f"epoch=0-step={step}.ckpt"), body)
        path = os.path.join(d, "last.ckpt")
        write(path, body, hang)
    else:
        write(os.path.join(RESULTS, f"lora-step{step:08d}.safetensors"), BLOB)
        path = os.path.join(RESULTS, f"lora-step{step:08d}-state")
        os.makedirs(path, exist_ok=True)
        write(os.path.join(path, "train_state.json"), json.dumps({"current_step": step}).encode())
        for name in ("model.safetensors", "optimizer.bin", "scheduler.bin"):
            write(os.path.join(path, name), BLOB, hang and name == "optimizer.bin")
        write(os.path.join(path, "random_states_0.pkl"), b"rng")
    print(f"saved {path}", flush=True)
    return path


def load(path: str) -> int:
    """The step a checkpoint holds; raises on a torn or foreign one, as torch.load would."""
    if os.path.isdir(path):
        for state in ("trainer_state.json", "train_state.json"):
            if os.path.exists(os.path.join(path, state)):
                d: dict[str, Any] = json.load(open(os.path.join(path, state)))
                return int(d.get("global_step", d.get("current_step", 0)))
        raise RuntimeError(f"{path}: no trainer state")
    data = open(path, "rb").read()
    if not data.startswith(b"TORCH step ") or not data.endswith(b"END\n"):
        raise RuntimeError(f"PytorchStreamReader failed reading zip archive: {path} is torn")
    return int(data.split()[2])


step = 0


def on_sigint(*_: object) -> None:
    print(f"interrupted at step {step}: saving", flush=True)
    save(step)
    sys.exit(0)


signal.signal(signal.SIGINT, on_sigint)
print("loading data", flush=True)
if a.resume:
    for i in range(1, 4):  # tqdm redraws its bar in place, with CRs
        sys.stderr.write(f"\rLoading checkpoint shards: {i * 100 // 3:3d}%|{'#' * i * 3:<9}| {i}/3 [00:0{i}<00:00]")
        sys.stderr.flush()
        time.sleep(0.05)
    sys.stderr.write("\n")
    step = load(a.resume)
    if step == a.crash_resuming_from:
        print("Traceback (most recent call last):\n  File \"train.py\", line 1, in <module>\n"
              f"RuntimeError: size mismatch for lm_head.weight in {a.resume}", flush=True)
        sys.exit(1)
    print(f"resumed from {a.resume} at step {step}", flush=True)
while step < a.steps:
    time.sleep(a.delay)
    step += 1
    print(f"step {step}", flush=True)
    if step == a.hang_save_at and not a.resume:
        save(step, hang=True)
    if step % a.every == 0:
        save(step)
    if step == a.crash_after_save_at and not a.resume:
        os._exit(1)
    if step == a.hang_at and not a.resume:
        while True:  # stuck: alive, silent, saving nothing until told to stop
            time.sleep(1)
print("training done", flush=True)
