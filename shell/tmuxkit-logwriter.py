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
- progress: the run's main bar (tqdm, with its postfix; Keras 3; Rich: see "progress bars" below;
  sub-bars such as evaluation, saving shards, loading or datasets' Map never replace it), `epoch
  3/10`, `step 1200/50000`, nanoGPT's `iter 100:`, the transformers Trainer's dicts (quoted as 5.x
  prints them, bare as 4.x does, with their fractional epoch) and `key=value` / `key: value` /
  `'key': 'value'` metrics (TMUXKIT_METRICS, default DEFAULT_METRICS; NaN and inf kept as "nan",
  "inf") are read from the output, each on its own: the last occurrence of each (found with rfind,
  not a regex over every line) in every TAIL bytes of finished lines (of a larger batch, its last
  TAIL bytes), so a val_loss printed once between many loss lines is kept, and then the live line;
  a JSON line goes to RUN.progress beside the log once a TICK when they changed (at once when the
  main bar or step count reaches its total); past PROGRESS_MAX bytes the file is halved (every
  other line kept) and written half as often, so it stays bounded and evenly spaced. The watchdog
  reads the same file to judge whether a resume made progress;
- output drawn with cursor moves (Rich's live display, tqdm's nested bars) is rendered by Screen
  once the pane shows a cursor-up, so the log has what the screen showed (the awk writer folds \r
  redraws only: the two write the same bytes for output without cursor-up).
Usage: python3 tmuxkit-logwriter.py LOG MAX_BYTES KEEP [gap]
       python3 tmuxkit-logwriter.py --follow LOG OFFSET  (RUN.live and RUN.progress of a log another
       process writes, such as a Slurm job's: see follow)
"""

import json
import os
import re
import select
import signal
import sys
import time
from collections import deque

SUBS = [re.compile(p) for p in (rb"\x1b\[[0-9;?<=>]*[ -/]*[@-~]", rb"\x1b\][^\x07\x1b]*(\x07|\x1b\\)?",
                                rb"\x1b[()][0-9A-Za-z]", rb"\x1b.")]
SPECIAL = re.compile(rb"[\r\x1b\x07\x08]")
SPLIT = 1 << 16  # an unfinished line longer than this is logged in pieces of this size
LIVE_MAX = 512  # bytes of the live line kept for status
TICK = 1.0  # at most one mtime touch and one live-line write a second
PROGRESS_MAX = 256 * 1024  # bytes of RUN.progress before it is thinned
TAIL = 4096  # bytes of each batch read for progress


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
    return line.replace(b"\x07", b"").replace(b"\x08", b"") + b"\n"


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
    """tqdm's [MM:SS] or [H:MM:SS], Rich's H:MM:SS, Keras's 28s or 1:57 -> seconds; None for '?'."""
    try:
        n = 0
        for part in hms.decode().rstrip("s").split(":"):
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
        if stop >= 0 and text[pos:stop].rstrip().endswith(b":"):  # a value wrapped to the next row (Rich)
            stop = text.find(b"\n", stop + 1, pos + 256)
        stop = stop if stop >= 0 else pos + 256
        if back:
            found = _last(rx, text, max(text.rfind(b"\n", 0, pos) + 1, pos - back), stop)
        else:
            found = rx.match(text, pos, stop)
        if found is not None:
            return found
        end = pos
    return _last(rx, text, 0, end) if rest else None


# --- progress bars: which one is the run's --------------------------------------------------
# A bar is (position, label, step, total, eta_s, rate). Three shapes are read, on text whose
# escapes are dropped:
#   tqdm (HF, Lightning's default, accelerate, kohya): `Epoch 2:  86%|####  | 86/100 [00:05<00:01, 17.2it/s, ...]`
#   Keras 3: ` 83/100 ━━━━━━━━━━━━━━━━━━━━ 0s 31ms/step - loss: 0.0247`
#   Rich (Lightning's RichProgressBar): `Epoch 1/4 ━━━╺━━ 97/125 0:00:05 • 0:00:02 18.00it/s loss: 0.031`
# The label is the text before the bar on its line (tqdm's desc). The MAIN bar is the run's
# progress: a bar whose label names a side task (SUB: validation, evaluation, sanity checking,
# loading, downloading, datasets' Map, writing or saving shards, tokenizing...) never is; of the
# others, the one with the largest total seen so far is, and so is a later bar with the same
# label up to its numbers (Lightning's `Epoch 3` after `Epoch 2`, a loop's `epoch 2/3` after
# `epoch 1/3`). A smaller unlabelled bar (HF's evaluation bar) is a sub-bar. A main bar whose
# label says `Epoch N` counts the steps of one epoch: the record says so (per_epoch) and
# carries the epoch.
TQDM = re.compile(rb"(\d+)/(\d+) \[([\d:]+)<([\d:?]+)(?:, *([\d.]+|\?)\s*(it/s|s/it))?")
KERAS = re.compile(b"(\\d+)/(\\d+) [\xe2\x94\x81\xe2\x95\xb8\xe2\x95\xba\xe2\x94\x80 ]*\xe2\x94\x81[^\\S\n]*"
                   rb"(\d[\d:]*s?) +(?:[\d.]+(?:ms|us|\xc2\xb5s|s)/step)")
RICH = re.compile(rb"(\d+)/(\d+) +(\d+:\d\d:\d\d) \xe2\x80\xa2 (-:--:--|\d+:\d\d:\d\d)(?: +([\d.]+)it/s)?")
SUB = re.compile(rb"valid|eval|test|predict|sanity|load|download|map\b|writ|sav|shard|token|fetch|extract|"
                 rb"upload|copy|verif|resolv|checkpoint", re.I)
LABEL_EPOCH = re.compile(rb"\bepoch\s*(\d+)(?:\s*/\s*(\d+))?", re.I)
BAR_JUNK = b" :|\t\xe2\x94\x81\xe2\x95\xb8\xe2\x95\xba\xe2\x94\x80"
EPOCH = re.compile(rb"\bepoch[\s:=]*(\d+)\s*/\s*(\d+)", re.I)
HF_EPOCH = re.compile(rb"""['"]epoch['"]: *['"]?([\d.]+(?:[eE][-+]?\d+)?)""")
STEP = re.compile(rb"\b(?:step|iter(?:ation)?)[\s:=]*(\d+)\s*/\s*(\d+)", re.I)
STEP_ONLY = re.compile(rb"\b(?:step|iter(?:ation)?)[ :=]*(\d+)\b(?!\s*/)", re.I)  # nanoGPT's `iter 100:`
NUM = rb"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|NaN|NAN|inf|Inf|INF|Infinity)\b)"
EPOCH_WORDS = (b"epoch", b"Epoch", b"EPOCH")
STEP_WORDS = (b"step", b"Step", b"STEP", b"iter", b"Iter", b"ITER")
CLEAN = re.compile(rb"\x1b\[[0-9;?<=>]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[()][0-9A-Za-z]|\x1b.|[\x07\x08]")
DIGITS = re.compile(rb"\d+")
# What a metric name in the output may stand for: Lightning's train_loss and kohya's avr_loss are the loss.
ALIASES = {b"loss": (b"train_loss", b"avr_loss")}
DEFAULT_METRICS = "loss,val_loss,eval_loss,acc,lr,learning_rate,grad_norm,train_runtime"


def bars(text):
    """Every bar in TEXT (escapes already dropped), in order: (pos, label, step, total, eta, rate,
    keras). A Keras bar counts one epoch's steps (its epoch is on the `Epoch k/N` line before it)."""
    out = []
    for rx in (TQDM, KERAS, RICH):
        for m in rx.finditer(text):
            pos = m.start()
            line = max(text.rfind(b"\n", 0, pos), text.rfind(b"\r", 0, pos)) + 1
            label = text[max(line, pos - 1024):pos]  # a wide bar is 3 bytes a cell
            cut = label.find(b"%|")
            if cut >= 0:  # tqdm: the desc is what stands before the percent
                label = label[:cut].rstrip(b"0123456789 ")
            label = label.strip(BAR_JUNK)
            rate = None
            if rx is not KERAS and m.group(5) and m.group(5) != b"?":
                r = float(m.group(5))
                rate = r if rx is RICH or m.group(6) == b"it/s" else (1.0 / r if r else None)
            eta = _secs(m.group(4) if rx is not KERAS else m.group(3))
            out.append((pos, label, int(m.group(1)), int(m.group(2)), eta, rate, rx is KERAS))
    out.sort(key=lambda b: b[0])
    return out


def clean(text):
    """TEXT as a line shows it for reading progress: escapes and backspaces dropped (cheap when none)."""
    return CLEAN.sub(b"", text) if b"\x1b" in text or b"\x08" in text or b"\x07" in text else text


def _value(raw):
    """A metric's value: a float, or "nan"/"inf"/"-inf" (kept as said, so a NaN loss shows as nan)."""
    try:
        v = float(raw)
    except ValueError:
        return None
    if v != v:
        return "nan"
    if v in (float("inf"), float("-inf")):
        return "inf" if v > 0 else "-inf"
    return v


class Progress:
    """The run's latest progress and metrics, appended to RUN.progress (JSON lines) when they change."""

    def __init__(self, log_path):
        base = log_path[:-4] if log_path.endswith(".log") else log_path
        self.path = base + ".progress"
        self.off = os.environ.get("TMUXKIT_PROGRESS") == "off"  # the benchmark's baseline
        names = os.environ.get("TMUXKIT_METRICS") or DEFAULT_METRICS
        names = [n.strip().encode() for n in names.split(",") if n.strip()]
        # Each name alone, matched where it starts (found by rfind): NAME=, NAME: , 'NAME': '4.1'
        # (HF's dicts, quoted or not), and NAME 2.34 (nanoGPT's `loss 2.34`, not after a word:
        # "val loss 2.3" is no loss); never xNAME= or NAME_x=. An alias reads into its name.
        self.one = []
        for n in names:
            for src in (n,) + ALIASES.get(n, ()):
                e = re.escape(src)
                rx = re.compile(e + rb"(?<![A-Za-z0-9_]" + e + rb")(?:['\"]?\s*[=:]\s*['\"]?|(?<![A-Za-z] " + e
                                + rb")[ \t]+)" + NUM)
                self.one.append((n.decode(), src, rx))
        self.now = {}
        self.shown = {}
        self.due = 0.0
        self.period = TICK  # doubles each time the series is thinned, so it stays evenly spaced
        self.parts, self.held = [], 0  # finished output not yet scanned (at most about TAIL bytes)
        self.live_tail, self.dirty = b"", False
        self.main_total, self.main_key = 0, None  # the main bar (see above)
        self.label_epoch = False  # the main bar's label says its epoch
        self.carry = b""  # the last line scanned

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

    def _is_main(self, b):
        """Is bar B the run's main bar (see above)? Remembers the main bar's total and label."""
        label, total = b[1], b[3]
        if label and SUB.search(label):
            return False
        key = DIGITS.sub(b"#", label)
        if total >= self.main_total or (key == self.main_key and b"#" in key):
            self.main_total, self.main_key = max(self.main_total, total), key
            return True
        return False

    def _main(self, text):
        """The last main bar in TEXT, or None: its lines are read from the back, only those that may
        hold a bar ("/" and tqdm's "<" or the bar glyph), and the first main bar found ends the
        search (a few C calls per line)."""
        if b"<" not in text and b"\xe2\x94\x81" not in text:  # no bar at all: two C calls
            return None
        end = len(text)
        while end > 0:
            start = text.rfind(b"\n", 0, end - 1) + 1
            if text.find(b"/", start, end) >= 0 and (text.find(b"<", start, end) >= 0 or  # tqdm
                                                     text.find(b"\xe2\x94\x81", start, end) >= 0):  # Keras, Rich
                for b in reversed(bars(text[start:end])):
                    if self._is_main(b):
                        return (b[0] + start,) + b[1:]
            end = start
        return None

    def _bar(self, b):
        self.now["step"], self.now["total"] = b[2], b[3]
        self.now["eta_s"] = b[4]
        if b[5] is not None:
            self.now["rate"] = b[5]
        m = LABEL_EPOCH.search(b[1])
        self.label_epoch = m is not None
        if m:  # the bar counts one epoch's steps, and says which epoch
            self.now["epoch"] = int(m.group(1))
            if m.group(2):
                self.now["epochs"] = int(m.group(2))
            else:
                self.now.pop("epochs", None)
        if m or b[6]:
            self.now["per_epoch"] = 1
        else:
            self.now.pop("per_epoch", None)

    def read(self, text, whole):
        """Progress in TEXT: the last main bar, the last step or epoch line, HF's epoch; the newest
        of them has the last word. WHOLE: TEXT is small (the live line), read with one regex pass
        for the metrics; else each metric's last occurrence is found from the back by rfind."""
        text = clean(text)
        seen = []  # (pos, kind, match)
        b = self._main(text)
        if b is not None:
            seen.append((b[0], "bar", b))
        s = _last(STEP, text) if whole else _find(text, STEP_WORDS, STEP, 0)
        if s is not None:
            seen.append((s.start(), "step", s))
        elif not self.main_total and "total" not in self.now:  # a step with no total, where nothing says more
            s = _last(STEP_ONLY, text) if whole else _find(text, STEP_WORDS, STEP_ONLY, 0)
            if s is not None:
                seen.append((s.start(), "step1", s))
        m = _last(EPOCH, text) if whole else _find(text, EPOCH_WORDS, EPOCH, 0)
        if m is not None:
            seen.append((m.start(), "epoch", m))
        if b"epoch'" in text or b'epoch"' in text:
            m = _last(HF_EPOCH, text) if whole else _find(text, (b"epoch'", b'epoch"'), HF_EPOCH, 1)
            if m is not None:
                seen.append((m.start(), "hf_epoch", m))
        seen.sort(key=lambda x: x[0])
        for _, kind, m in seen:
            if kind == "bar":
                self._bar(m)
            elif kind == "step":
                if not self.main_total or int(m.group(2)) >= self.main_total:
                    self.now["step"], self.now["total"] = int(m.group(1)), int(m.group(2))
                    self.now.pop("per_epoch", None)
            elif kind == "step1":
                self.now["step"] = int(m.group(1))
                self.now.pop("total", None)
            elif kind == "epoch":
                if not self.label_epoch:  # a bar's own `Epoch N` label has the word on its epoch
                    self.now["epoch"], self.now["epochs"] = int(m.group(1)), int(m.group(2))
            else:  # HF's fractional epoch: of a run whose number of epochs is not printed
                v = _value(m.group(1))
                if isinstance(v, float):
                    self.now["epoch"] = v
                    self.now.pop("epochs", None)
        pos = {}
        for name, src, rx in self.one:
            if src not in text:  # one C scan; most names are absent from most output
                continue
            m = _last(rx, text) if whole else _find(text, (src,), rx, 0, rest=True)
            if m is not None and m.start() >= pos.get(name, -1):
                v = _value(m.group(1))
                if v is not None:
                    pos[name] = m.start()
                    self.now[name] = v

    def scan(self):
        # The last line of the scan before is read again with these: a metric whose value a
        # renderer wrapped onto the next row (Rich's `train_loss:` / `1.081`) is read whole.
        text = self.carry + b"".join(self.parts)
        self.parts, self.held = [], 0
        self.carry = text[text.rfind(b"\n", 0, len(text) - 1) + 1:][-512:]
        self.read(text, False)

    def feed(self, text):
        if not text or self.off:
            return
        # The live line as the screen shows it: its last redraw (what follows the last \r that has
        # something after it); rows the renderer holds (joined by \n) are read whole.
        if b"\n" not in text:
            end = len(text.rstrip(b"\r"))
            cut = text.rfind(b"\r", 0, end)
            text = text[cut + 1:end]
        self.read(text, True)

    def write(self, now):
        if now < self.due and not self._done():
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

    def _done(self):
        """Has the newest output a finished main bar or step count (N/N, N the total)? It is written
        at once, not a TICK later: a run's last progress is in the series even if the writer is
        stopped the moment the run ends (the finished demo reads 100%, not 37/40)."""
        total = self.now.get("total")
        if not total or self.shown.get("step") == total:
            return False
        done = b"%d/%d" % (total, total)
        return done in self.live_tail or bool(self.parts) and done in self.parts[-1]

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


# --- output drawn with cursor moves ---------------------------------------------------------
CURSOR_UP = re.compile(rb"\x1b\[\d*[AF]")
TOKEN = re.compile(rb"\x1b\[([0-9;?<=>]*)[ -/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[()][0-9A-Za-z]|"
                   rb"\x1b[^\[\]()]|[\n\x07\x08]")  # \r: see _plain
ROW_EPOCH = re.compile(rb"^\s*epoch\s*(\d+)", re.I)
BAR_STARTED = re.compile(rb"(?<!poch )(?<![\d.])[1-9]\d*/\d")  # 100/100, not Rich's `Epoch 1/3`
HOLD = 64  # rows the renderer keeps within reach of a cursor-up


class Screen:
    """A small line-oriented terminal for output drawn with cursor moves (Rich's live display,
    tqdm's nested bars): once the pane has shown a cursor-up (ESC[nA), its output goes through
    this instead of the \\r fold, so the log has what the screen showed, not every redraw of a
    multi-line display. It keeps the last rows the cursor can still reach (as far up as the
    farthest cursor-up seen, at most HOLD), each as text: \\r then text replaces the row (as the
    fold does), ESC[2K erases it, ESC[nA/ESC[nF/ESC[nB move, \\n goes down (a new row at the
    bottom); other escapes, BEL and backspaces are dropped. A row out of reach is final and goes to
    the log; one overwritten by a bar of another epoch (`Epoch 1` over `Epoch 0`) is logged first,
    so the log keeps each epoch's last bar. Linear: each byte is looked at once, a row is cut at
    SPLIT bytes. The awk writer has no renderer (it folds as before)."""

    def __init__(self):
        self.rows = [b""]
        self.cur = 0
        self.reach = 1  # the farthest above the bottom row a cursor-up went
        self.fresh = False  # a \r or an erase was the last thing: the next text replaces the row
        self.was = None  # the row's text before that \r or erase
        self.rest = b""  # an escape cut by the end of a read
        self.best = None  # the last `Epoch N` bar row with a step done
        self.replaced = None  # (text, row) of an `Epoch N` row just overwritten

    def _text(self, out, text):
        row = self.rows[self.cur]
        if self.fresh:
            old = self.was if self.was is not None else row
            if ROW_EPOCH.match(old):  # judged once the new text is whole (at the next control byte)
                self.replaced = (old, self.cur)
            row = text
            self.fresh, self.was = False, None
        else:
            row += text
        if len(row) >= SPLIT:
            out.append(row[:SPLIT] + b"\n")
            row = row[SPLIT:]
        self.rows[self.cur] = row

    def _settle(self, out):
        """At a control byte, the row just written is whole: a new epoch's bar over the last one's
        logs that epoch's last bar with a step done (Lightning resets it to 0 before the next), after
        the rows above it."""
        if self.replaced is not None:
            old, i = self.replaced
            self.replaced = None
            a, b = ROW_EPOCH.match(old), ROW_EPOCH.match(self.rows[i]) if 0 <= i < len(self.rows) else None
            if a and b and a.group(1) != b.group(1):
                best = self.best if self.best and ROW_EPOCH.match(self.best).group(1) == a.group(1) else old
                out.extend(r + b"\n" for r in self.rows[:i])
                del self.rows[:i]
                self.cur -= i
                out.append(best + b"\n")
        row = self.rows[self.cur]
        if ROW_EPOCH.match(row) and BAR_STARTED.search(row):
            self.best = row

    def _cr(self, out):
        """A carriage return: the row is whole (settled); the next text replaces it."""
        self._settle(out)
        if self.was is None:
            self.was = self.rows[self.cur]
        self.fresh = True

    def _plain(self, out, seg):
        """SEG: text and carriage returns only. A run of \r redraws costs a few calls, not one per
        redraw: the row becomes the last non-empty one (as the fold does), unless an `epoch` is in
        them (each redraw is then looked at, for the epoch's last bar)."""
        i = seg.find(b"\r")
        if i < 0:
            self._text(out, seg)
            return
        if i:
            self._text(out, seg[:i])
        rest = seg[i + 1:]
        self._cr(out)
        if b"poch" in rest:
            for k, part in enumerate(rest.split(b"\r")):
                if k:
                    self._cr(out)
                if part:
                    self._text(out, part)
            return
        body = rest.rstrip(b"\r")
        if body:
            j = body.rfind(b"\r")
            self._text(out, body[j + 1:])
            if len(body) < len(rest):
                self._cr(out)

    def feed(self, data):
        """DATA's bytes; returns the finished lines (each ending in \\n) to log."""
        data = self.rest + data
        self.rest = b""
        cut = data.rfind(b"\x1b", max(0, len(data) - 64))
        if cut >= 0 and TOKEN.match(data, cut) is None:  # an escape not finished yet
            data, self.rest = data[:cut], data[cut:]
        out = []
        pos = 0
        for m in TOKEN.finditer(data):
            if m.start() > pos:
                self._plain(out, data[pos:m.start()])
            pos = m.end()
            self._settle(out)
            t = data[m.start():m.start() + 1]
            if t == b"\n":
                self.cur += 1
                if self.cur == len(self.rows):
                    self.rows.append(b"")
                self.fresh = False
                self.was = None
            elif t == b"\x1b" and m.group(2):
                kind, arg = m.group(2), m.group(1)
                n = int(arg) if arg.isdigit() else 1
                if kind in (b"A", b"F"):
                    self.cur = max(0, self.cur - n)
                    # Reach: how far above the bottom row the cursor went (Rich moves up one row at a time).
                    self.reach = min(max(self.reach, len(self.rows) - 1 - self.cur), HOLD)
                    self.was = None  # the column stays: after \r, text still replaces the row moved to
                    self.fresh = self.fresh or kind == b"F"
                elif kind == b"B":
                    self.cur = min(len(self.rows) - 1, self.cur + n)
                elif kind == b"K" and arg == b"2":
                    if self.was is None:
                        self.was = self.rows[self.cur]
                    self.rows[self.cur] = b""
                    self.fresh = True
        if pos < len(data):
            self._plain(out, data[pos:])
        # Rows above the cursor's reach are final; one more is held, for a display that grows by a row
        # (a validation bar added below Rich's): its next redraw moves up one row farther.
        final = min(self.cur, len(self.rows) - 1) - self.reach - 1
        if final > 0 or len(self.rows) > HOLD:
            k = max(final, len(self.rows) - HOLD)
            out.extend(r + b"\n" for r in self.rows[:k])
            del self.rows[:k]
            self.cur -= k
            if self.replaced is not None:
                self.replaced = (self.replaced[0], self.replaced[1] - k)
        return b"".join(out)

    def idle(self):
        """The pane went quiet: the held rows above the first one with a bar on it (and above the
        cursor's row) are logged now, so a trainer that crashed or hangs after a redrawn display has
        its last lines (a traceback) in the log, not held until the pane closes. The bars stay,
        to be redrawn."""
        k = self.cur
        for i in range(min(k, len(self.rows))):
            if re.search(rb"\d/\d", self.rows[i]):
                k = i
                break
        if k <= 0:
            return b""
        out = [r + b"\n" for r in self.rows[:k]]
        del self.rows[:k]
        self.cur -= k
        if self.replaced is not None:
            self.replaced = (self.replaced[0], self.replaced[1] - k)
        return b"".join(out)

    def held(self):
        """The rows still in reach, joined by \\n (for the live line and progress)."""
        return b"\n".join(self.rows)

    def shown(self):
        """The row status shows as the run's last line: the first held row with a bar on it, else
        the last non-blank one."""
        last = b""
        for r in self.rows:
            if re.search(rb"\d/\d", r):
                return r
            if r.strip():
                last = r
        return last

    def close(self):
        """The held rows, at the end: they are final."""
        out = []
        self._settle(out)
        rows = self.rows
        while rows and not rows[-1].strip():
            rows = rows[:-1]
        self.rows = [b""]
        return b"".join(out) + b"".join(r + b"\n" for r in rows)


class NullLog:
    """The log of --follow: another process writes it; only RUN.live and RUN.progress are kept."""

    def __init__(self):
        self.buf, self.size, self.max = [], 0, 1 << 62

    def add(self, line):
        pass

    def flush(self):
        self.buf.clear()


def pump(log, live, prog, chunks, touch):
    """The writer's loop: CHUNKS yields the output as it comes (None: a quiet TICK); TOUCH: move
    the log's mtime on activity without a finished line (the pane's writer only)."""
    pending = b""
    screen = None
    touched = 0.0
    for chunk in chunks:
        if chunk is None:
            if screen is not None:  # a quiet pane: the rendered rows above its bars are final
                idle = screen.idle()
                if idle:
                    for line in idle.splitlines(keepends=True):
                        log.add(line)
                    log.flush()
                    prog.note(idle, screen.held())
            live.write(time.monotonic())  # a quiet pane: bring the live line and progress up to date
            prog.write(time.monotonic())
            continue
        if screen is None and b"\x1b[" in pending[-16:] + chunk and CURSOR_UP.search(pending[-16:] + chunk):
            screen = Screen()  # output drawn with cursor moves: rendered from now on (see Screen)
            chunk, pending = pending + chunk, b""
        if screen is not None:
            body = screen.feed(chunk)  # finished rows, already as the screen shows them
            pending = screen.held()
        else:
            data = pending + chunk  # pending < SPLIT, so this stays linear
            cut = data.rfind(b"\n") + 1
            body, pending = data[:cut].replace(b"\r\n", b"\n"), data[cut:]
            while len(pending) >= SPLIT:  # an unfinished line too long to hold: log it in pieces
                body += pending[:SPLIT] + b"\n"
                pending = pending[SPLIT:]
        now = time.monotonic()
        if body:
            if log.size + len(body) <= log.max and (screen is not None or not SPECIAL.search(body)):
                # Fast path: plain lines, no rotation due: the batch goes out as is.
                log.buf.append(body)
                log.size += len(body)
            else:
                for line in body[:-1].split(b"\n"):
                    log.add(fold(line))
            log.flush()
            touched = now
        elif touch and now - touched >= TICK:
            try:
                os.utime(log.f.fileno())  # activity without a finished line moves the log's age too
            except (OSError, NotImplementedError):
                os.utime(log.path)
            touched = now
        live.set(pending if screen is None else screen.shown(), body)
        live.write(now)
        prog.note(body, pending)
        prog.write(now)
    if screen is not None:
        last = screen.close()
        for line in last.splitlines(keepends=True):
            log.add(line)
        pending = b""
        live.set(b"", last)
        prog.note(last, b"")
    elif pending:
        log.add(fold(pending))
    log.flush()
    if screen is None:
        live.set(b"", pending + b"\n" if pending else b"")
    live.due = 0.0
    live.write(time.monotonic())
    prog.note(b"", pending)
    prog.due = 0.0
    prog.write(time.monotonic())


def follow(path, offset):
    """--follow LOG OFFSET: read LOG, which another process writes (a Slurm job's output), from
    byte OFFSET as it grows, and keep RUN.live and RUN.progress beside it as the pane's writer
    does; LOG itself is never written. Ends, after reading LOG to its end, on TERM or when its
    parent is gone; INT, HUP, USR1 and USR2 (a stop's or a time limit's signals, sent to the whole
    job) are ignored, so the last progress is written after the trainer's last words."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_IGN)
    parent = os.getppid()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    os.lseek(fd, offset, os.SEEK_SET)

    def chunks():
        quiet = time.monotonic()
        while True:
            chunk = os.read(fd, 1 << 16)
            if chunk:
                yield chunk
                continue
            if stop or os.getppid() != parent:
                return
            time.sleep(0.2)
            if time.monotonic() - quiet >= TICK:
                quiet = time.monotonic()
                yield None

    pump(NullLog(), Live(path), Progress(path), chunks(), touch=False)


def main(argv):
    if len(argv) == 4 and argv[1] == "--follow":
        follow(argv[2], int(argv[3]))
        return
    log = Log(argv[1], int(argv[2]), int(argv[3]))
    if len(argv) > 4 and argv[4] == "gap":
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        log.add(f"[tmuxkit] log writer re-attached at {now}; pane output before this line may be missing\n".encode())
    log.flush()

    def chunks():
        while True:
            if not select.select([0], [], [], TICK)[0]:
                yield None
                continue
            chunk = os.read(0, 1 << 16)
            if not chunk:
                return
            yield chunk

    pump(log, Live(argv[1]), Progress(argv[1]), chunks(), touch=True)


if __name__ == "__main__":
    main(sys.argv)
