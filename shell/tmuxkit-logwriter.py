"""The pane log writer, for hosts that have python3 (tmuxkit-logwriter picks it).

Same contract as the awk writer in tmuxkit-logwriter, byte for byte (a test
feeds both the same input): fold carriage-return redraws, drop ANSI escapes,
rotate by size, one writer per file. It reads whatever the pipe holds and
writes each batch with one write, so a burst costs a few syscalls, not one per
line, and a quiet line is written at once.
Usage: python3 tmuxkit-logwriter.py LOG MAX_BYTES KEEP [gap]
"""

import os
import re
import sys
import time

SUBS = [re.compile(p) for p in (rb"\x1b\[[0-9;?<=>]*[ -/]*[@-~]", rb"\x1b\][^\x07\x1b]*(\x07|\x1b\\)?",
                                rb"\x1b[()][0-9A-Za-z]", rb"\x1b.")]


SPECIAL = re.compile(rb"[\r\x1b\x07]")


def fold(line):
    line = line.rstrip(b"\r")
    if b"\r" in line:
        segs = line.split(b"\r")
        n = len(segs) - 1
        line = segs[n]
        while line == b"" and n > 0:
            n -= 1
            line = segs[n]
    if b"\x1b" in line:
        for rx in SUBS:
            line = rx.sub(b"", line)
    return line.replace(b"\x07", b"") + b"\n"


class Log:
    def __init__(self, path, max_bytes, keep):
        self.path, self.max, self.keep = path, max_bytes, keep
        self.f = open(path, "ab")
        self.size = self.f.tell()
        self.buf = []

    def add(self, line):
        if self.size > 0 and self.size + len(line) > self.max:
            self.flush()
            self.rotate()
        self.buf.append(line)
        self.size += len(line)

    def flush(self):
        if self.buf:
            self.f.write(b"".join(self.buf))
            self.f.flush()
            self.buf = []

    def rotate(self):
        self.f.close()
        p = self.path
        if os.path.exists(f"{p}.{self.keep}"):
            os.unlink(f"{p}.{self.keep}")
        for i in range(self.keep - 1, 0, -1):
            if os.path.exists(f"{p}.{i}"):
                os.replace(f"{p}.{i}", f"{p}.{i + 1}")
        os.replace(p, f"{p}.1")
        self.f = open(p, "ab")
        self.size = 0


def main(argv):
    log = Log(argv[1], int(argv[2]), int(argv[3]))
    if len(argv) > 4 and argv[4] == "gap":
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        log.add(f"[tmuxkit] log writer re-attached at {now}; pane output before this line may be missing\n".encode())
    log.flush()
    pending = b""
    while True:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            break
        data = pending + chunk
        cut = data.rfind(b"\n") + 1
        body, pending = data[:cut].replace(b"\r\n", b"\n"), data[cut:]
        if not body:
            continue
        if log.size + len(body) <= log.max and not SPECIAL.search(body):
            # Fast path: plain lines, no rotation due: the batch goes out as is.
            log.buf.append(body)
            log.size += len(body)
        else:
            for line in body[:-1].split(b"\n"):
                log.add(fold(line))
        log.flush()
    if pending:
        log.add(fold(pending))
    log.flush()


if __name__ == "__main__":
    main(sys.argv)
