"""Record real trainers' terminal output, with its timing, through a pty (tqdm, rich and keras draw
as they do on a terminal). Run by record.sh with the recorders' own virtualenv.

Each recording is NAME.cast, asciicast v2: a header object (width, height, the command, and the
versions of the frameworks that made it), then one `[seconds, "o", text]` line per read. The text
is the bytes decoded as UTF-8 with surrogateescape, so replay.py gets back the exact bytes (a
multibyte character cut between two reads included). A recording stops at CAP bytes."""

from __future__ import annotations

import fcntl
import importlib.metadata
import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CAP = 200 * 1024
WIDTH, HEIGHT = 100, 30
T = HERE / "trainers"
TRAINERS: dict[str, tuple[list[str], list[str]]] = {
    "hf5": ([str(T / "hf_trainer.py")], ["transformers", "torch", "tqdm"]),
    "hf4": ([str(T / "hf_trainer.py")], ["transformers", "torch", "tqdm"]),  # with TF4 first on the path
    "accelerate": ([str(T / "accelerate_loop.py")], ["accelerate", "torch", "tqdm"]),
    "lightning_tqdm": ([str(T / "lightning_fit.py"), "tqdm"], ["lightning", "torch", "tqdm"]),
    "lightning_rich": ([str(T / "lightning_fit.py"), "rich"], ["lightning", "torch", "rich"]),
    "keras_jax": ([str(T / "keras_fit.py")], ["keras", "jax", "jaxlib"]),
    "tqdm_loop": ([str(T / "tqdm_loop.py")], ["torch", "tqdm"]),
    "nanogpt": ([str(T / "nanogpt_loop.py")], ["torch"]),
    "kohya": ([str(T / "kohya_loop.py")], ["tqdm"]),
}


def versions(names: list[str], path: str = "") -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for n in names:
        if path and n == "transformers":
            found = list(importlib.metadata.distributions(name=n, path=[path]))
            out[n] = found[0].version if found else "missing"
            continue
        try:
            out[n] = importlib.metadata.version(n)
        except importlib.metadata.PackageNotFoundError:
            out[n] = "missing"
    return out


def record(name: str, argv: list[str], pkgs: list[str], timeout: float = 300) -> int:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", HEIGHT, WIDTH, 0, 0))
    env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(WIDTH), LINES=str(HEIGHT), PYTHONUNBUFFERED="1",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
               TOKENIZERS_PARALLELISM="false", CUDA_VISIBLE_DEVICES="")
    if name == "hf4":  # transformers 4.x, installed apart (record.sh): first on the path
        env["PYTHONPATH"] = os.environ.get("TMUXKIT_TF4", "")
        if not env["PYTHONPATH"]:
            print("hf4: TMUXKIT_TF4 (a folder with transformers 4.x) is not set; skipped")
            return 0
    proc = subprocess.Popen([sys.executable, *argv], stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True, cwd="/tmp")
    os.close(slave)
    events: list[tuple[float, bytes]] = []
    size, t0 = 0, time.monotonic()
    while True:
        r, _, _ = select.select([master], [], [], 0.5)
        if time.monotonic() - t0 > timeout or size > CAP:
            os.killpg(proc.pid, signal.SIGKILL)
            break
        if not r:
            if proc.poll() is not None:
                break
            continue
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child side closed
            break
        if not data:
            break
        events.append((time.monotonic() - t0, data))
        size += len(data)
    rc = proc.wait()
    os.close(master)
    head = {"version": 2, "width": WIDTH, "height": HEIGHT, "command": " ".join(Path(a).name for a in argv),
            "exit_code": rc, "truncated": size > CAP, "versions": versions(pkgs, env.get("PYTHONPATH", ""))}
    with open(HERE / f"{name}.cast", "w") as f:
        f.write(json.dumps(head) + "\n")
        for t, data in events:
            f.write(json.dumps([round(t, 4), "o", data.decode("utf-8", "surrogateescape")]) + "\n")
    print(f"{name}: exit {rc}, {size} bytes in {len(events)} reads, {events[-1][0] if events else 0:.1f}s")
    return rc


def main(names: list[str]) -> int:
    bad = 0
    for name in names or list(TRAINERS):
        argv, pkgs = TRAINERS[name]
        bad += record(name, argv, pkgs) != 0
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
