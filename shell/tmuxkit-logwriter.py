"""The pane log writer, for hosts that have python3 (tmuxkit-logwriter picks it).

Same contract as the awk writer in tmuxkit-logwriter, byte for byte (a test
feeds both the same input): fold carriage-return redraws, drop ANSI escapes,
rotate by size, one writer per file. It reads whatever the pipe holds and
writes each batch with one write, so a burst costs a few syscalls, not one per
line, and a quiet line is written at once.

Beyond the awk writer it keeps the run's liveness honest while a line is still
unfinished (a tqdm bar redrawing with \\r and no newline):
- activity: any byte that reaches the pane moves the log's mtime (at most once a
  second), so a long epoch is not silence;
- the live line: what status shows as the run's last line, in RUN.live beside
  the log, replaced atomically: the unfinished line as the screen shows it
  (folded, its last LIVE_MAX bytes), so status shows the bar, not the last
  finished line; else the program's last finished line (folded, its first
  LIVE_MAX bytes; tmuxkit's own "[tmuxkit] " lines and blank lines skipped), so
  status reads one small file instead of the log's tail;
- bounded cost: an unfinished line is cut every SPLIT bytes (each piece folded
  and logged as its own line), so a 40 MB line costs linear time and
  constant memory;
- progress: a tqdm bar (`151/200 [00:31<00:10, 4.8it/s]`), `epoch 3/10`,
  `step 1200/50000` and `key=value` / `key: value` metrics (TMUXKIT_METRICS,
  default loss,val_loss,acc,lr) are read from the output, each on its own: the
  last occurrence of each (found with rfind, not a regex over every line) in
  every TAIL bytes of finished lines (of a larger batch, its last TAIL bytes),
  so a val_loss printed once between many loss lines is kept, and then the
  live line; a JSON line goes to RUN.progress beside the log once a TICK when
  they changed; past PROGRESS_MAX bytes the file is halved (every other line kept)
  and written half as often, so it stays bounded and evenly spaced.
Usage: python3 tmuxkit-logwriter.py LOG MAX_BYTES KEEP [gap]
"""

import json
import os
import re
import select
import sys
import time
from collections import deque

SUBS = [re.compile(p) for p in (rb"\x1b\[[0-9;?<=>]*[ -/]*[@-~]", rb"\x1b\][^\x07\x1b]*(\x07|\x1b\\)?",
                                rb"\x1b[()][0-9A-Za-z]", rb"\x1b.")]
SPECIAL = re.compile(rb"[\r\x1b\x07]")
SPLIT = 1 << 16  # an unfinished line longer than this is logged in pieces of this size
LIVE_MAX = 512  # bytes of the live line kept for status
TICK = 1.0  # at most one mtime touch and one live-line write a second
PROGRESS_MAX = 256 * 1024  # bytes of RUN.progress before it is thinned
TAIL = 4096  # bytes of each batch read for progress
TQDM = re.compile(rb"(\d+)/(\d+) \[([\d:]+)<([\d:?]+)(?:, *([\d.]+|\?)\s*(it/s|s/it))?")
EPOCH = re.compile(rb"\bepoch[\s:=]*(\d+)\s*/\s*(\d+)", re.I)
STEP = re.compile(rb"\b(?:step|iter(?:ation)?)[\s:=]*(\d+)\s*/\s*(\d+)", re.I)
NUM = rb"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
EPOCH_WORDS = (b"epoch", b"Epoch", b"EPOCH")
STEP_WORDS = (b"step", b"Step", b"STEP", b"iter", b"Iter", b"ITER")


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
        self.f = open_log(path)
        self.size = self.f.tell()
        self.buf = []
        self.lost = self.lost_lines = 0  # what a full disk kept out of the log, not yet said
        self.lost_at, self.torn = "", False

    def add(self, line):
        if self.size > 0 and self.size + len(line) > self.max:
            self.flush()
            self.rotate()
        self.buf.append(line)
        self.size += len(line)

    def flush(self):
        if self.buf:
            data = b"".join(self.buf)
            self.buf = []
            if self.lost:  # space again, maybe: first a line saying what is missing, on a line of its own
                note = (b"\n" if self.torn else b"") + (
                    f"[tmuxkit] log writer: {self.lost_lines} lines ({self.lost} bytes) of output are missing here: "
                    f"no space left on the log's disk from {self.lost_at} to {time.strftime('%H:%M:%S')}\n").encode()
                self.size += len(note)
                if self.write(note) < len(note):
                    self.drop(data, 0)
                    return
                self.lost = self.lost_lines = 0
                self.torn = False
            self.write(data)

    def write(self, data):
        """Write DATA, all of it or what the disk takes: a full disk (ENOSPC, EDQUOT) never ends the
        writer (it keeps reading, so the run never blocks); what is dropped is counted and said
        once space returns. Returns the bytes written."""
        done = 0
        try:
            while done < len(data):
                done += os.write(self.f.fileno(), data[done:])
        except OSError:
            self.drop(data, done)
        return done

    def drop(self, data, done):
        if not self.lost:
            self.lost_at = time.strftime("%H:%M:%S")
        if done:
            self.torn = data[done - 1:done] != b"\n"
        self.lost += len(data) - done
        self.lost_lines += data.count(b"\n", done)
        self.size -= len(data) - done

    def rotate(self):
        self.f.close()
        p = self.path
        if os.path.exists(f"{p}.{self.keep}"):
            os.unlink(f"{p}.{self.keep}")
        for i in range(self.keep - 1, 0, -1):
            if os.path.exists(f"{p}.{i}"):
                os.replace(f"{p}.{i}", f"{p}.{i + 1}")
        os.replace(p, f"{p}.1")
        self.f = open_log(p)
        self.size = 0


def open_log(path):
    """Append, never through a symlink planted at the log path."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    return os.fdopen(fd, "ab")


class Live:
    """RUN.live: the line status shows (see above); worked out and written at most once a TICK,
    atomically, so a burst of output costs nothing here."""

    def __init__(self, log_path):
        base = log_path[:-4] if log_path.endswith(".log") else log_path
        self.path = base + ".live"
        self.tmp = os.path.join(os.path.dirname(self.path), "." + os.path.basename(self.path) + ".tmp")
        self.shown = None
        self.pending = b""
        self.done = b""  # the newest finished line that is the program's (raw, unfolded)
        self.due = 0.0

    def set(self, raw, body=b""):
        """RAW: the unfinished line; BODY: the finished lines of this batch, each ending in \\n."""
        self.pending = raw
        end = len(body) - 1
        for _ in range(64):  # the batch's last program line; a batch of tmuxkit's own lines keeps the old one
            if end <= 0:
                break
            start = body.rfind(b"\n", 0, end) + 1
            line = body[start:end]
            if line.strip() and not line.startswith(b"[tmuxkit] "):
                self.done = line
                break
            end = start - 1

    def want(self):
        if self.pending:
            return fold(self.pending[-(LIVE_MAX * 8):])[:-1][-LIVE_MAX:]
        line = fold(self.done)[:-1]
        return line[:LIVE_MAX] if line.strip() else b""

    def write(self, now):
        if now < self.due:
            return
        want = self.want()
        if want == self.shown:
            return
        try:
            fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o666)
            with os.fdopen(fd, "wb") as f:
                f.write(want + (b"\n" if want else b""))
            os.replace(self.tmp, self.path)
            self.shown = want
        except OSError:
            pass
        self.due = now + TICK


def _secs(hms):
    """tqdm's [MM:SS] or [H:MM:SS] -> seconds; None for '?'."""
    try:
        n = 0
        for part in hms.decode().split(":"):
            n = n * 60 + int(part)
        return n
    except ValueError:
        return None


def _last(rx, text, start=0, stop=None):
    """The last match of RX in TEXT[START:STOP] (a lookbehind still sees before START), or None."""
    found = deque(rx.finditer(text, start, len(text) if stop is None else stop), maxlen=1)
    return found[0] if found else None


def _find(text, words, rx, back, tries=8, rest=False):
    """The last match of RX in TEXT that holds one of WORDS, found from the back by rfind (RX
    matched from BACK bytes before the word, within its line): a few C calls, not a regex pass
    over every line. After TRIES words that are not a match (val_loss= for loss, "loss is"):
    with REST (an RX that starts with its word, so re finds it by its literal prefix), RX's last
    match in the rest of TEXT; else None."""
    end = len(text)
    for _ in range(tries):
        pos = -1
        for w in words:
            p = text.rfind(w, pos + 1, end)
            if p > pos:
                pos = p
        if pos < 0:
            return None
        stop = text.find(b"\n", pos, pos + 256)
        stop = stop if stop >= 0 else pos + 256
        if back:
            found = _last(rx, text, max(text.rfind(b"\n", 0, pos) + 1, pos - back), stop)
        else:
            found = rx.match(text, pos, stop)
        if found is not None:
            return found
        end = pos
    return _last(rx, text, 0, end) if rest else None


class Progress:
    """The run's latest progress and metrics, appended to RUN.progress (JSON lines) when they change."""

    def __init__(self, log_path):
        base = log_path[:-4] if log_path.endswith(".log") else log_path
        self.path = base + ".progress"
        self.off = os.environ.get("TMUXKIT_PROGRESS") == "off"  # the benchmark's baseline
        names = os.environ.get("TMUXKIT_METRICS") or "loss,val_loss,acc,lr"
        names = [n.strip().encode() for n in names.split(",") if n.strip()]
        keys = [re.escape(n) for n in names]
        self.metric = re.compile(rb"(?<![A-Za-z0-9_])(" + b"|".join(keys) + rb")\s*[=:]\s*" + NUM) if keys else None
        # Each metric alone, matched where its name starts (found by rfind): NAME=, not xNAME= or NAME_x=.
        self.one = [(n, re.compile(re.escape(n) + rb"(?<![A-Za-z0-9_]" + re.escape(n) + rb")\s*[=:]\s*" + NUM))
                    for n in names]
        self.now = {}
        self.shown = {}
        self.due = 0.0
        self.period = TICK  # doubles each time the series is thinned, so it stays evenly spaced
        self.parts, self.held = [], 0  # finished output not yet scanned (at most about TAIL bytes)
        self.live_tail, self.dirty = b"", False

    def note(self, body, live):
        """A batch's finished lines and the live line. The lines are scanned every TAIL bytes (of a
        larger batch, its last TAIL bytes) and at each write, so each key's last occurrence is kept
        however many other lines follow it, and a burst costs a few rfinds per TAIL bytes."""
        if body and not self.off:
            part = body[-TAIL:]
            self.parts.append(part)
            self.held += len(part)
            if self.held >= TAIL:
                self.scan()
        self.live_tail = live[-TAIL:]
        self.dirty = True

    def scan(self):
        text = b"".join(self.parts)
        self.parts, self.held = [], 0
        t = _find(text, (b"<",), TQDM, 48)
        s = _find(text, STEP_WORDS, STEP, 0)
        if t is not None and (s is None or t.start() > s.start()):
            self._tqdm(t)
        elif s is not None:
            self.now["step"], self.now["total"] = int(s.group(1)), int(s.group(2))
        m = _find(text, EPOCH_WORDS, EPOCH, 0)
        if m is not None:
            self.now["epoch"], self.now["epochs"] = int(m.group(1)), int(m.group(2))
        for name, rx in self.one:
            m = _find(text, (name,), rx, 0, rest=True)
            if m is not None:
                self._metric(name.decode(), m.group(1))

    def _tqdm(self, m):
        self.now["step"], self.now["total"] = int(m.group(1)), int(m.group(2))
        self.now["eta_s"] = _secs(m.group(4))
        rate, unit = m.group(5), m.group(6)
        if rate and rate != b"?":
            r = float(rate)
            self.now["rate"] = r if unit == b"it/s" else (1.0 / r if r else None)

    def _metric(self, name, raw):
        try:
            v = float(raw)
        except ValueError:
            return
        if v == v and v not in (float("inf"), float("-inf")):
            self.now[name] = v

    def feed(self, text):
        if not text or self.off:
            return
        m = _last(TQDM, text)
        if m:
            self._tqdm(m)
        else:
            m = _last(STEP, text)
            if m:
                self.now["step"], self.now["total"] = int(m.group(1)), int(m.group(2))
        m = _last(EPOCH, text)
        if m:
            self.now["epoch"], self.now["epochs"] = int(m.group(1)), int(m.group(2))
        if self.metric is not None:
            for m in self.metric.finditer(text):
                self._metric(m.group(1).decode(), m.group(2))

    def write(self, now):
        if now < self.due:
            return
        if self.parts:
            self.scan()
        if self.dirty:
            self.feed(self.live_tail)  # the newest output of all: it has the last word
            self.dirty = False
        if self.now == self.shown:
            return
        self.due = now + self.period
        self.shown = dict(self.now)
        rec = {"t": int(time.time())}
        rec.update(self.now)
        line = (json.dumps(rec, separators=(",", ":")) + "\n").encode()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
            try:
                size = os.fstat(fd).st_size
                os.write(fd, line)
            finally:
                os.close(fd)
            if size + len(line) > PROGRESS_MAX:
                self.thin()
        except OSError:
            pass

    def thin(self):
        """Keep every other line (the first and the newest always) and write half as often from now
        on: the series stays bounded and evenly spaced over the whole run."""
        with open(self.path, "rb") as f:
            lines = f.read().splitlines(keepends=True)
        kept = lines[::2] + (lines[-1:] if len(lines) % 2 == 0 else [])
        self.period *= 2
        tmp = os.path.join(os.path.dirname(self.path), "." + os.path.basename(self.path) + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(b"".join(kept))
        os.replace(tmp, self.path)


def main(argv):
    log = Log(argv[1], int(argv[2]), int(argv[3]))
    live = Live(argv[1])
    prog = Progress(argv[1])
    if len(argv) > 4 and argv[4] == "gap":
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        log.add(f"[tmuxkit] log writer re-attached at {now}; pane output before this line may be missing\n".encode())
    log.flush()
    pending = b""
    touched = 0.0
    while True:
        if not select.select([0], [], [], TICK)[0]:
            live.write(time.monotonic())  # a quiet pane: bring the live line and progress up to date
            prog.write(time.monotonic())
            continue
        chunk = os.read(0, 1 << 16)
        if not chunk:
            break
        data = pending + chunk  # pending < SPLIT, so this stays linear
        cut = data.rfind(b"\n") + 1
        body, pending = data[:cut].replace(b"\r\n", b"\n"), data[cut:]
        while len(pending) >= SPLIT:  # an unfinished line too long to hold: log it in pieces
            body += pending[:SPLIT] + b"\n"
            pending = pending[SPLIT:]
        now = time.monotonic()
        if body:
            if log.size + len(body) <= log.max and not SPECIAL.search(body):
                # Fast path: plain lines, no rotation due: the batch goes out as is.
                log.buf.append(body)
                log.size += len(body)
            else:
                for line in body[:-1].split(b"\n"):
                    log.add(fold(line))
            log.flush()
            touched = now
        elif now - touched >= TICK:
            try:
                os.utime(log.f.fileno())  # activity without a finished line moves the log's age too
            except (OSError, NotImplementedError):
                os.utime(log.path)
            touched = now
        live.set(pending, body)
        live.write(now)
        prog.note(body, pending)
        prog.write(now)
    if pending:
        log.add(fold(pending))
    log.flush()
    live.set(b"", pending + b"\n" if pending else b"")
    live.due = 0.0
    live.write(time.monotonic())
    prog.note(b"", pending)
    prog.due = 0.0
    prog.write(time.monotonic())


if __name__ == "__main__":
    main(sys.argv)
