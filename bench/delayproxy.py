"""ProxyCommand for benchmarks: relays stdin/stdout to 127.0.0.1:PORT, each byte delayed DELAY seconds.

    ProxyCommand python3 bench/delayproxy.py PORT 0.05

Order is kept; both directions are delayed, so a round trip costs 2 x DELAY.
"""

import os
import socket
import sys
import threading
import time
from collections import deque


def pump(read, write, delay: float) -> None:
    q: deque[tuple[float, bytes]] = deque()
    cv = threading.Condition()
    done = []

    def reader() -> None:
        while True:
            data = read()
            with cv:
                q.append((time.monotonic() + delay, data))
                cv.notify()
            if not data:
                return

    threading.Thread(target=reader, daemon=True).start()
    while True:
        with cv:
            while not q:
                cv.wait()
            due, data = q.popleft()
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        if not data:
            done.append(1)
            return
        write(data)


def main() -> None:
    port, delay = int(sys.argv[1]), float(sys.argv[2])
    s = socket.create_connection(("127.0.0.1", port))

    def sock_write(b: bytes) -> None:
        s.sendall(b)

    def out_write(b: bytes) -> None:
        os.write(1, b)

    t = threading.Thread(target=pump, args=(lambda: os.read(0, 65536), sock_write, delay), daemon=True)
    t.start()
    pump(lambda: s.recv(65536), out_write, delay)


if __name__ == "__main__":
    main()
