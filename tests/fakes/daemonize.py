"""A command that double-forks a daemon which calls setsid and clears its environment (so no
TMUXKIT_RUN_ID marker), the way a badly behaved data server or tensorboard launcher does.

    python3 daemonize.py PIDFILE [then]    then: "wait" (default: sleep on) or "exit" (exit 0 at once)
"""

import os
import sys
import time

pidfile, then = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "wait"
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        tmp = pidfile + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{os.getpid()}\n")
        os.replace(tmp, pidfile)
        os.execve("/bin/sleep", ["sleep", "300"], {})
    os._exit(0)
os.wait()
while not os.path.exists(pidfile):
    time.sleep(0.01)
print("ready: daemon started", flush=True)
if then == "exit":
    sys.exit(0)
while True:
    time.sleep(1)
