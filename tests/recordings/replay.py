"""Replay a recording (NAME.cast beside this file, or a path) on stdout, byte for byte, with its
timing compressed: each pause is divided by --speed and capped at --max-gap seconds, so a test sees
redraws arrive over time as a terminal would, in a fraction of the time. Standard library only.

--hang: sleep after the last byte instead of exiting (a trainer that hangs);
--exit CODE: the exit status (default the recorded one)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def load(name: str) -> tuple[dict[str, object], list[tuple[float, bytes]]]:
    path = Path(name) if "/" in name else HERE / f"{name}.cast"
    with open(path) as f:
        head = json.loads(f.readline())
        events = []
        for line in f:
            t, _, text = json.loads(line)
            events.append((float(t), text.encode("utf-8", "surrogateescape")))
    return head, events


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("--speed", type=float, default=20.0)
    ap.add_argument("--max-gap", type=float, default=0.05)
    ap.add_argument("--hang", action="store_true")
    ap.add_argument("--exit", type=int)
    a = ap.parse_args(argv)
    head, events = load(a.name)
    last = 0.0
    for t, data in events:
        time.sleep(min(max(t - last, 0.0) / a.speed, a.max_gap))
        last = t
        os.write(1, data)
    if a.hang:
        while True:
            time.sleep(3600)
    code = a.exit if a.exit is not None else head.get("exit_code", 0)
    return int(code) if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
