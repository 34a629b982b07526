"""Watch: launch the host-side watchdog (shell/tmuxkit-watch, in tmux session RUN+watch on the
run's host) and follow its events, sending notifications from this side.

The watchdog itself is bash on the host, so it survives the laptop and the link, and needs
nothing there but bash and tmux; detection, evidence, the stop ladder and the restart all reuse
the host scripts. This module builds its arguments, reads events, and notifies through apprise.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tmuxkit.config import RunSpec
from tmuxkit.contract import NOTIFY_EVENTS, ContractError, last_kv_line
from tmuxkit.hosts import Host


def watch_args(spec: RunSpec, *, auto_resume: bool, every: int, stuck_after: int | None = None,
               gpu_idle_below: int | None = None, gpu_idle_for: int | None = None) -> list[str]:
    args = [spec.name, "--detach", "--every", str(every), "--stuck-after", str(stuck_after or spec.stuck_after)]
    if spec.quiet_max is not None:
        args += ["--quiet-max", str(spec.quiet_max)]
    below = gpu_idle_below if gpu_idle_below is not None else spec.gpu_idle_below
    if below is not None:
        args += ["--gpu-idle-below", str(below), "--gpu-idle-for", str(gpu_idle_for or spec.gpu_idle_for)]
    if auto_resume:
        args.append("--auto-resume")
    if spec.checkpoints:
        args += ["--checkpoints", spec.checkpoints]
    if spec.resume:
        args += ["--resume", spec.resume]
    if spec.checkpoint_check:
        args += ["--check", spec.checkpoint_check]
    args += ["--max-restarts", str(spec.max_restarts), "--restart-window", str(spec.restart_window),
             "--restart-on", spec.restart_on]
    args += ["--on-nan", spec.on_nan, "--disk-min-free", spec.disk_min_free]
    args += os.environ.get("TMUXKIT_WATCH_OPTS", "").split()
    return args


def start(host: Host, spec: RunSpec, *, auto_resume: bool, every: int, stuck_after: int | None = None,
          gpu_idle_below: int | None = None, gpu_idle_for: int | None = None) -> dict[str, str]:
    args = watch_args(spec, auto_resume=auto_resume, every=every, stuck_after=stuck_after,
                      gpu_idle_below=gpu_idle_below, gpu_idle_for=gpu_idle_for)
    # Notification targets go to the host on stdin, into a 0600 file: a webhook URL is a secret,
    # and a command line is readable by anyone on the box (ps).
    targets = host_targets(spec.notify)[0] if spec.notify_from in ("host", "both") else []
    args.append("--notify-stdin")
    try:
        return last_kv_line(host.script_ok("tmuxkit-watch", *args, input="".join(t + "\n" for t in targets).encode()).out,
                            "tmuxkit-watch")
    except ContractError:
        return {}


def host_targets(urls: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The notify URLs the host's watchdog can send to with curl or python3 alone, as "KIND URL"
    lines (KIND: ntfy, slack, discord, json), and the apprise URLs it cannot (sent from the laptop).
    ntfy://TOPIC, ntfys://HOST/TOPIC, slack://T/B/C, discord://ID/TOKEN, json(s)://HOST[:PORT]/PATH[?QUERY]
    (http(s)://, path and query kept as given), and plain http(s):// webhook URLs of ntfy, Slack and
    Discord (other http(s):// URLs get the generic JSON POST)."""
    from urllib.parse import urlsplit

    lines, other = [], []
    for u in urls:
        p = urlsplit(u)
        rest = (p.netloc + p.path).strip("/")
        kind, url = "", ""
        if p.scheme in ("json", "jsons") and p.netloc:  # path and query as given
            kind = "json"
            url = f"{'https' if p.scheme == 'jsons' else 'http'}://{p.netloc}{p.path or '/'}" + (f"?{p.query}" if p.query else "")
        elif p.scheme == "ntfy" and rest:
            kind, url = "ntfy", f"https://ntfy.sh/{rest}" if "/" not in rest else f"http://{rest}"
        elif p.scheme == "ntfys" and "/" in rest:
            kind, url = "ntfy", f"https://{rest}"
        elif p.scheme == "slack" and rest.count("/") == 2:
            kind, url = "slack", f"https://hooks.slack.com/services/{rest}"
        elif p.scheme == "discord" and rest.count("/") == 1:
            kind, url = "discord", f"https://discord.com/api/webhooks/{rest}"
        elif p.scheme in ("http", "https"):
            host = p.hostname or ""
            kind = ("slack" if host.endswith("slack.com") else "discord" if "discord" in host
                    else "ntfy" if host.startswith("ntfy") else "json")
            url = u
        if kind and all(c not in url for c in "\n\r \t"):
            lines.append(f"{kind} {url}")
        else:
            other.append(u)
    return lines, other


def off(host: Host, run: str) -> bool:
    """End the run's watchdog; True when one was running."""
    try:
        return last_kv_line(host.script_ok("tmuxkit-watch", run, "--off").out, "tmuxkit-watch").get("watchdog") == "ended"
    except ContractError:
        return False


def events(host: Host, run: str, follow: bool = False) -> Iterator[dict[str, object]]:
    """The run's events; blank lines (the follower's heartbeat) and anything that is not a JSON
    object (a damaged line) are skipped."""
    for line in host.lines(*host.events_args(run), *(["-f"] if follow else [])):
        if not line.strip():
            continue
        try:
            # 1e400 or NaN in a damaged line becomes null: what is printed again is valid JSON.
            ev = json.loads(line, parse_constant=lambda _: None,
                            parse_float=lambda x: float(x) if math.isfinite(float(x)) else None)
        except ValueError:
            continue
        if isinstance(ev, dict):
            yield _no_surrogates(ev)


def _no_surrogates(v: Any) -> Any:
    """V with each lone surrogate in its strings ("\\ud800" in a damaged line: printing it raised
    UnicodeEncodeError) as U+FFFD; a pair written as two escapes becomes its character."""
    if isinstance(v, str):
        if any("\ud800" <= c <= "\udfff" for c in v):
            return v.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return v
    if isinstance(v, dict):
        return {_no_surrogates(k): _no_surrogates(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_no_surrogates(x) for x in v]
    return v


def event_key(ev: dict[str, object], index: int) -> str:
    """An event's id: the one the host gave it (time, writer and a random part: a new run that
    reuses a name gets new ids), else, for events written before ids, its place in the log."""
    raw = ev.get("id")
    if isinstance(raw, str) and raw and all(c.isalnum() or c in "-_." for c in raw) and len(raw) <= 80:
        return raw
    return f"n{index}"


def describe(ev: dict[str, object]) -> str:
    import time

    extra = ", ".join(f"{k}={v}" for k, v in ev.items() if k not in ("ts", "run", "event", "id") and v not in (None, ""))
    ts = ev.get("ts")
    try:  # a damaged line ("ts":"abc", 1e400) is shown, not a traceback
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(ts)))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, OSError):
        when = "(no time)          "
    return f"{when} {ev.get('run')} {ev.get('event')}" + (f" ({extra})" if extra else "")


class Notifier:
    """Sends each notifiable event once, never raising. "Once" holds across processes: an event is
    claimed by creating $TMUXKIT_HOME/notified/RUN/KEY-EVENT exclusively before it is sent. A send
    that fails gives the claim back (KEY-EVENT.tries counts the failures), so a later pass (retry(),
    another follower, a reconnect) tries again, at most MAX_SENDS times in all."""

    MAX_SENDS = 5

    def __init__(self, run: str, urls: tuple[str, ...]) -> None:
        self.run, self.urls = run, urls
        home = Path(os.environ.get("TMUXKIT_HOME") or Path.home() / ".tmuxkit")
        self.dir = home / "notified" / run
        self.pending: dict[str, dict[str, object]] = {}  # failed sends that may be tried again

    def __call__(self, ev: dict[str, object], key: str) -> bool:
        """Send the event whose id is KEY (see event_key) unless it was sent already."""
        if not self.urls or ev.get("event") not in NOTIFY_EVENTS:
            return False
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            lock = os.open(self.dir / ".sending", os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
        except OSError:
            lock = -1
        try:
            if lock >= 0:
                # One send at a time per run, across followers: one that claimed an event but is
                # still starting its send is never overtaken by another's send of a later event.
                fcntl.flock(lock, fcntl.LOCK_EX)
            return self._send(ev, key)
        finally:
            if lock >= 0:
                os.close(lock)

    def _send(self, ev: dict[str, object], key: str) -> bool:
        claim: Path | None = self.dir / f"{key}-{ev.get('event')}"
        try:
            os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))  # type: ignore[arg-type]
        except FileExistsError:
            return False  # already sent (or being sent), here or by another follower
        except OSError:
            claim = None  # cannot record it: send anyway
        self.pending.pop(key, None)
        # Each URL on its own, and those that got it are remembered: a retry never repeats them.
        done_file = self.dir / f"{key}-{ev.get('event')}.done"
        try:
            done = set(done_file.read_text().split()) if done_file.exists() else set()
        except OSError:
            done = set()
        import hashlib

        for u in self.urls:
            h = hashlib.sha256(u.encode()).hexdigest()[:16]  # not the URL: it may hold a secret
            if h in done:
                continue
            try:
                import apprise

                ap = apprise.Apprise()
                ap.add(u)
                if ap.notify(title=f"tmuxkit: {self.run} {ev.get('event')}", body=describe(ev)):
                    done.add(h)
            except Exception:  # a failed notification must never break the watch
                pass
        sent = all(hashlib.sha256(u.encode()).hexdigest()[:16] in done for u in self.urls)
        if not sent and claim is not None:
            try:
                done_file.write_text("".join(f"{h}\n" for h in sorted(done)))
            except OSError:
                pass
            self._give_back(claim, ev, key)
        return sent

    def _give_back(self, claim: Path, ev: dict[str, object], key: str) -> None:
        tries_file = claim.with_name(claim.name + ".tries")
        try:
            tries = int(tries_file.read_text() or 0) if tries_file.exists() else 0
        except (OSError, ValueError):
            tries = 0
        if tries + 1 >= self.MAX_SENDS:
            return  # given up: the claim stays
        try:
            tries_file.write_text(f"{tries + 1}\n")
            claim.unlink()
            self.pending[key] = ev
        except OSError:
            pass

    def retry(self) -> None:
        """Try the failed sends of this process again (each at most MAX_SENDS times in all)."""
        for key, ev in list(self.pending.items()):
            self(ev, key)
