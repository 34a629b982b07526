"""A trainer shaped like a real data-parallel one: a multiprocessing.Pool does each step's work
inside a tqdm loop (the bar redraws with \\r, no newline until the epoch ends), and a SIGINT
handler saves a checkpoint, ends the pool and exits 0.

    python pool_trainer.py PIDDIR [--workers N] [--steps N] [--step-time S] [--leave-at STEP]

Writes each pool worker's pid to PIDDIR/worker.PID and its own to PIDDIR/main, then prints
"ready". Workers ignore SIGINT (the usual pool initializer), so a Ctrl-C reaches the main
process's handler, which saves $TMUXKIT_RESULTS/interrupted.ckpt. --leave-at STEP: at that
step the pool gets a long batch and the main process exits 0 (os._exit), leaving its pool
workers running, busy, as a trainer that forgets pool.terminate() on an early return does.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from multiprocessing import Pool
from pathlib import Path

from tqdm import tqdm


class Interrupted(Exception):
    pass



def _put(path: Path, text: str) -> None:
    """Written whole or not at all (a test reads these while they are written)."""
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(text)
    os.replace(tmp, path)

def init_worker(piddir: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _put(Path(piddir, f"worker.{os.getpid()}"), f"{os.getpid()}\n")


def work(args: tuple[int, float]) -> int:
    x, step_time = args
    deadline = time.monotonic() + step_time
    acc = 0
    while time.monotonic() < deadline:  # a little real CPU work, then a nap
        acc += sum(i * i for i in range(200)) + x
        time.sleep(step_time / 10)
    return acc


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("piddir", type=Path)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--step-time", type=float, default=0.05)
    p.add_argument("--leave-at", type=int, default=0)
    a = p.parse_args()
    a.piddir.mkdir(parents=True, exist_ok=True)
    results = Path(os.environ.get("TMUXKIT_RESULTS", "results"))
    step = 0

    def on_sigint(*_: object) -> None:
        raise Interrupted

    signal.signal(signal.SIGINT, on_sigint)
    pool = Pool(a.workers, initializer=init_worker, initargs=(str(a.piddir),))
    try:
        while len(list(a.piddir.glob("worker.*"))) < a.workers:
            time.sleep(0.01)
        _put(a.piddir / "main", f"{os.getpid()}\n")
        print("ready: pool of", a.workers, flush=True)
        bar = tqdm(range(1, a.steps + 1), desc="epoch 1/1", file=sys.stdout, mininterval=0.1, ncols=100)
        for step in bar:
            if step == a.leave_at:  # the workers are handed a long batch, and the main process
                pool.map_async(work, [(i, 300.0) for i in range(a.workers)])  # returns without
                time.sleep(0.5)  # pool.terminate(): the workers live on, busy
                os._exit(0)
            pool.map(work, [(i, a.step_time) for i in range(a.workers * 2)])
            bar.set_postfix(loss=f"{1.0 / step:.4f}", refresh=False)
        bar.close()
        print("epoch 1 done", flush=True)
    except Interrupted:
        print(f"\ninterrupted at step {step}: saving checkpoint", flush=True)
        results.mkdir(parents=True, exist_ok=True)
        (results / "interrupted.ckpt").write_text(f"step {step}\n")
        print("checkpoint saved", flush=True)
    finally:
        pool.terminate()
        pool.join()


if __name__ == "__main__":
    main()
