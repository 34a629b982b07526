"""rsync's -e over ssh for a host whose login shell prints something first (a banner, conda init).

Usage: python3 frame.py MARK ssh [OPTION]... HOST COMMAND...

Runs ssh (stdin and stderr are rsync's own), drops everything on ssh's stdout up to and including
the first "MARK\\n" (the remote command starts with `echo MARK`, so whatever the login shell printed
before it is dropped), then passes the rest on byte for byte. Exits with ssh's exit code. Standalone
(no tmuxkit import): it runs once per rsync call.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys


def unframe_bytes(data: bytes, mark: bytes) -> tuple[bytes, bool]:
    """(what follows the first MARK\\n in DATA, whether it was found)."""
    i = data.find(mark + b"\n")
    if i < 0:
        return b"", False
    return data[i + len(mark) + 1 :], True


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        sys.stderr.write("usage: frame.py MARK ssh ...\n")
        return 2
    mark = argv[1].encode()
    p = subprocess.Popen(argv[2:], stdout=subprocess.PIPE)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: p.send_signal(s))
    assert p.stdout is not None
    fd, buf, found = p.stdout.fileno(), b"", False
    while True:
        try:
            chunk = os.read(fd, 65536)
        except InterruptedError:  # pragma: no cover - retried by Python itself since 3.5
            continue
        if not chunk:
            break
        if not found:
            buf += chunk
            chunk, found = unframe_bytes(buf, mark)
            if not found:
                buf = buf[-(len(mark) + 1) :] if len(buf) > (1 << 20) else buf
                continue
            buf = b""
        try:
            write_all(1, chunk)
        except BrokenPipeError:
            break
    return p.wait()


def write_all(fd: int, data: bytes) -> None:
    """All of DATA to FD, which may be non-blocking: rsync makes its end of the pipe so, and the
    flag belongs to the pipe, ours included. A full pipe (a slow disk or --bwlimit on the laptop)
    is waited out, not an error: it was BlockingIOError, and every pass of a big file failed."""
    while data:
        try:
            data = data[os.write(fd, data) :]
        except BlockingIOError:
            select.select([], [fd], [])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
