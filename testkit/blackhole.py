"""A TCP relay on 127.0.0.1 that can black-hole its connections: what a laptop's ssh link looks
like after it woke on another network. hole() makes every connection open now swallow what it
gets, both ways, without closing it (no RST, no FIN: the peers learn nothing); a connection made
afterwards is relayed as usual (the new network works).
"""

from __future__ import annotations

import select
import socket
import threading


class Blackhole:
    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port: int = self.server.getsockname()[1]
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.conns: list[tuple[socket.socket, socket.socket, threading.Event]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            r, _, _ = select.select([self.server], [], [], 0.2)
            if not r:
                continue
            try:
                a, _ = self.server.accept()
                b = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                continue
            holed = threading.Event()
            with self.lock:
                self.conns.append((a, b, holed))
            threading.Thread(target=self._relay, args=(a, b, holed), daemon=True).start()

    def _relay(self, a: socket.socket, b: socket.socket, holed: threading.Event) -> None:
        peer = {a: b, b: a}
        watch = [a, b]
        try:
            while not self.stopped.is_set():
                if not watch:
                    self.stopped.wait(0.2)
                    continue
                r, _, _ = select.select(watch, [], [], 0.2)
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        if not holed.is_set():
                            return
                        watch.remove(s)  # a close is swallowed too
                    elif not holed.is_set():
                        peer[s].sendall(data)
        except OSError:
            return
        finally:
            a.close()
            b.close()

    def hole(self) -> int:
        """Black-hole every connection open now; returns how many."""
        with self.lock:
            for _, _, holed in self.conns:
                holed.set()
            return len(self.conns)

    def stop(self) -> None:
        self.stopped.set()
        self.server.close()
        with self.lock:
            for a, b, _ in self.conns:
                a.close()
                b.close()
