"""rsync's -e over ssh for a host whose login shell prints something first (a banner, conda init).

Usage: python3 frame.py MARK ssh [OPTION]... HOST COMMAND...

Runs ssh (stdin is rsync's own), drops everything on ssh's stdout up to and including the first
"MARK\\n" (the remote command starts with `echo MARK; echo MARK >&2`, so whatever the login shell
printed before it is dropped), then passes the rest on byte for byte. Its stderr likewise, to
rsync's stderr: a .bashrc line there was taken for rsync's error ("rsync failed (255): <that
line>"); when no mark comes there (ssh never ran the command) all of it is passed on, at the end.
Exits with ssh's exit code. Standalone (no tmuxkit import): it runs once per rsync call.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading


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
    p = subprocess.Popen(argv[2:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: p.send_signal(s))
    assert p.stdout is not None and p.stderr is not None
    errs = threading.Thread(target=pass_stderr, args=(p.stderr.fileno(), mark), daemon=True)
    errs.start()
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
    rc = p.wait()
    errs.join(5)
    return rc


def pass_stderr(fd: int, mark: bytes) -> None:
    """FD to our stderr from the first MARK line on; all of it at the end when none came."""
    buf, found = b"", False
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        if not found:
            buf += chunk
            chunk, found = unframe_bytes(buf, mark)
            if not found:
                continue
            buf = b""
        try:
            write_all(2, chunk)
        except OSError:
            return
    if not found and buf:
        try:
            write_all(2, buf)
        except OSError:
            pass


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
