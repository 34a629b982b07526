"""Reacts to signals as told: MODE is 'int' (exits 0 on SIGINT, saying so),
'term' (ignores SIGINT, exits on SIGTERM) or 'none' (ignores both)."""

import signal
import sys
import time

mode = sys.argv[1]
if mode == "int":
    def on_int(signum: int, frame: object) -> None:
        print("got SIGINT, saving checkpoint", flush=True)
        sys.exit(0)
    signal.signal(signal.SIGINT, on_int)
elif mode == "term":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
else:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print(f"ready ({mode})", flush=True)
while True:
    time.sleep(0.1)
