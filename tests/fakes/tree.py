"""A training job whose processes resist stopping.

The main process ignores SIGINT and SIGTERM and starts: two workers that
ignore SIGINT and SIGTERM, a child that calls setsid(), and a grandchild
re-parented to init by a double fork. Each writes its pid to PIDS_DIR and
then sleeps; only SIGKILL ends them.
"""

import os
import signal
import sys
import time

pids_dir = sys.argv[1]


def stubborn(tag: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with open(os.path.join(pids_dir, tag), "w") as f:
        f.write(str(os.getpid()))
    while True:
        time.sleep(1)


def spawn(tag: str, setsid: bool = False, double: bool = False) -> None:
    if os.fork() == 0:
        if setsid:
            os.setsid()
        if double:
            if os.fork() != 0:
                os._exit(0)
        stubborn(tag)


for i in range(2):
    spawn(f"worker{i}")
spawn("setsid", setsid=True)
spawn("double", double=True)
while len(os.listdir(pids_dir)) < 4:
    time.sleep(0.01)
print("tree ready", flush=True)
stubborn("main")
