"""Events and the laptop's notification follower (issue 12.4): a listing never notifies, each
event is sent once by its id (a new run that reuses a name is notified again), and the follower
survives dropped links, delivering what it missed once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from conftest import Env, Remote, Sink, kill_ssh_links, wait_until


def _titles() -> list[str]:
    return [m["title"] for m in Sink.received]


def test_a_listing_never_notifies_and_a_reused_name_is_notified_again(tk: Env, sink: int) -> None:
    tk.add_run("reuse", "true", f'notify = ["json://127.0.0.1:{sink}/"]\nnotify_from = "laptop"')
    tk.cli("start", "reuse")
    wait_until(lambda: tk.status("reuse")["state"] == "exited", what="the run to end")
    assert tk.script("tmuxkit-events", "reuse", "--add", "crashed").returncode == 0
    assert "reuse crashed" in tk.cli("events", "reuse").stdout
    assert Sink.received == []  # a plain listing only prints
    tk.cli("events", "reuse", "-f")  # nothing lives: it prints, notifies and ends
    wait_until(lambda: _titles() == ["tmuxkit: reuse crashed"], timeout=10, what="one notification")
    tk.cli("events", "reuse", "-f")
    time.sleep(0.5)  # (a second follower must not send it again: give it the chance to)
    assert _titles() == ["tmuxkit: reuse crashed"]
    tk.cli("start", "reuse")  # the name again, a new run: its events are new events
    wait_until(lambda: tk.status("reuse")["state"] == "exited", what="the second run to end")
    assert tk.script("tmuxkit-events", "reuse", "--add", "crashed").returncode == 0
    tk.cli("events", "reuse", "-f")
    wait_until(lambda: len(_titles()) == 2, timeout=10, what="the new run's notification")
    assert _titles() == ["tmuxkit: reuse crashed"] * 2


def test_the_follower_survives_dropped_links_and_sends_each_event_once(tk: Env, remote: Remote, sink: int) -> None:
    remote.add_run("drops", "sleep 2.5; exit 3", f'max_restarts = 3\nnotify = ["json://127.0.0.1:{sink}/"]\nnotify_from = "laptop"\n')
    tk.env["TMUXKIT_WATCH_OPTS"] = "--backoff 2 --grace 3 --settle 2"
    tk.cli("start", "drops")
    tk.cli("watch", "drops", "--auto-resume", "--every", "1")  # also starts the local follower drops+events
    follower = subprocess.Popen([sys.executable, "-m", "tmuxkit", "events", "drops", "-f"], cwd=tk.work, env=tk.env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        kills = 0
        while time.monotonic() < deadline and not any("budget_spent" in t for t in _titles()):
            time.sleep(1.5)
            kills += len(kill_ssh_links(tk, clients=True))
        wait_until(lambda: any("budget_spent" in t for t in _titles()), timeout=60, what="budget_spent notified")
        out, _ = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.communicate()
    assert kills > 0
    assert "reconnecting" in out
    want = ["crashed", "restarted", "crashed", "restarted", "crashed", "budget_spent"]
    assert _titles() == [f"tmuxkit: drops {k}" for k in want]  # each once, in order
    assert [ln.split()[3] for ln in out.splitlines() if " drops " in ln].count("budget_spent") == 1

    def pollers() -> list[str]:  # host-side `tmuxkit-events drops -f`: none outlives its link
        ps = subprocess.run(["ps", "-A", "-ww", "-o", "stat=,args="], capture_output=True, text=True).stdout
        return [ln for ln in ps.splitlines() if "tmuxkit-events drops -f" in ln and not ln.startswith("Z")]

    wait_until(lambda: not pollers(), timeout=10, what=f"no poller left on the host ({pollers()})")


def test_the_host_watchdog_notifies_with_the_laptop_side_not_running(tk: Env, remote: Remote, sink: int) -> None:
    """Issue 12.3: notify_from = "host" (the default): the watchdog on the host sends, with the run's
    progress in the message; the laptop starts no follower; the URL never reaches a command line."""
    secret = f"json://127.0.0.1:{sink}/hook-s3cr3t"
    remote.add_run("hosted", "echo 'step 3/10 loss=0.25'; sleep 2.5; exit 3",
                   f'max_restarts = 1\nnotify = ["{secret}", "json://127.0.0.1:1/refused"]\n')
    tk.env["TMUXKIT_WATCH_OPTS"] = "--backoff 1 --grace 3 --settle 2"
    tk.cli("start", "hosted")
    r = tk.cli("watch", "hosted", "--auto-resume", "--every", "1")
    assert "sent by the watchdog on box" in r.stdout and "hosted+events" not in tk.sessions()
    seen_on_argv: list[str] = []

    def budget_spent() -> bool:
        ps = subprocess.run(["ps", "-A", "-ww", "-o", "args="], capture_output=True, text=True).stdout
        seen_on_argv.extend(ln for ln in ps.splitlines() if "s3cr3t" in ln)
        return any("budget_spent" in t for t in _titles())

    wait_until(budget_spent, timeout=60, interval=0.1, what="budget_spent sent from the host")
    assert seen_on_argv == []
    assert _titles() == [f"tmuxkit: hosted {k}" for k in ("crashed", "restarted", "crashed", "budget_spent")]
    crashed = Sink.received[0]["message"]
    assert "exit code 3" in crashed and "loss 0.25" in crashed and "step 3/10" in crashed, crashed
    notify = remote.home / "runs" / "hosted" / "notify"
    assert notify.stat().st_mode & 0o777 == 0o600
    log = remote.home / "runs" / "hosted" / "notify.log"
    wait_until(lambda: log.exists() and log.read_text().count("failed") == 4, timeout=60,
               what="the refused target tried and logged for each event")  # (3 tries each, with backoff)
    assert "s3cr3t" not in log.read_text()


class _Raw(BaseHTTPRequestHandler):
    got: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        _Raw.got.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_host_sent_payloads_for_ntfy_slack_and_discord(tk: Env) -> None:
    """The watchdog's own sender speaks each service's webhook shape (checked against a local endpoint
    standing in for them: "KIND URL" lines, as the laptop turns ntfy://, slack://, discord:// into)."""
    server = HTTPServer(("127.0.0.1", 0), _Raw)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Raw.got = []
    port = server.server_address[1]
    try:
        tk.cli("start", "shapes", "--", "sh", "-c", "echo 'epoch 2/5 loss=0.5'; sleep 1; exit 4")
        targets = "".join(f"{k} http://127.0.0.1:{port}/{k}\n" for k in ("ntfy", "slack", "discord"))
        r = subprocess.run(["bash", str(Path(__file__).parent.parent / "shell" / "tmuxkit-watch"), "shapes",
                            "--every", "1", "--notify-stdin"], input=targets, capture_output=True, text=True,
                           env=tk.env, cwd=tk.work, timeout=60)
        assert r.returncode == 0, r.stderr
        wait_until(lambda: len(_Raw.got) == 3, timeout=20, what="three webhooks")
    finally:
        server.shutdown()
    by = {path.strip("/"): (headers, body) for path, headers, body in _Raw.got}
    h, body = by["ntfy"]
    assert h["title"] == "tmuxkit: shapes crashed" and body.decode().startswith("crashed shapes after ")
    assert "exit code 4" in body.decode() and "epoch 2/5" in body.decode() and "loss 0.5" in body.decode()
    assert json.loads(by["slack"][1])["text"].startswith("*tmuxkit: shapes crashed*: crashed shapes")
    assert json.loads(by["discord"][1])["content"].startswith("**tmuxkit: shapes crashed**: crashed shapes")
    assert (tk.home / "runs" / "shapes" / "notify").stat().st_mode & 0o777 == 0o600


def test_notify_urls_translate_for_the_host() -> None:
    from tmuxkit.watch import host_targets

    lines, other = host_targets(("ntfy://my-topic", "ntfys://ntfy.example.org/t", "slack://T1/B2/C3",
                                 "discord://123/tok", "jsons://example.org/hook", "tgram://bot/chat",
                                 "https://hooks.slack.com/services/T/B/C"))
    assert lines == ["ntfy https://ntfy.sh/my-topic", "ntfy https://ntfy.example.org/t",
                     "slack https://hooks.slack.com/services/T1/B2/C3", "discord https://discord.com/api/webhooks/123/tok",
                     "json https://example.org/hook", "slack https://hooks.slack.com/services/T/B/C"]
    assert other == ["tgram://bot/chat"]
    lines, _ = host_targets(("json://h/api/notify?token=abc", "json://127.0.0.1:8080/hook", "json://h",
                             "jsons://h:8443/a/b/?x=1&y=2"))
    assert lines == ["json http://h/api/notify?token=abc", "json http://127.0.0.1:8080/hook", "json http://h/",
                     "json https://h:8443/a/b/?x=1&y=2"]  # path and query as given


class _Scripted(BaseHTTPRequestHandler):
    """Answers each POST with the next of CODES (then 200); a 3xx points at /landed."""

    codes: ClassVar[list[int]] = []
    got: ClassVar[list[tuple[float, str, str, int]]] = []

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        code = _Scripted.codes.pop(0) if _Scripted.codes and self.command == "POST" else 200
        _Scripted.got.append((time.monotonic(), self.command, self.path, code))
        self.send_response(code)
        if 300 <= code < 400:
            self.send_header("Location", "/landed")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET = _answer

    def log_message(self, *args: object) -> None:
        pass


def _path_without(tk: Env, tool: str, d: Path) -> str:
    """A PATH with everything of tk's PATH but TOOL (symlinks in one folder)."""
    d.mkdir()
    for folder in tk.env["PATH"].split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            src = Path(folder) / name
            if name != tool and not os.path.lexists(d / name) and os.access(src, os.X_OK) and not src.is_dir():
                (d / name).symlink_to(src)
    return str(d)


def _host_sends(tk: Env, run: str, codes: list[int], env: dict[str, str] | None = None) -> list[str]:
    """Run RUN (it crashes) under a watchdog that sends to a _Scripted endpoint; its notify.log lines."""
    server = HTTPServer(("127.0.0.1", 0), _Scripted)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Scripted.codes, _Scripted.got = list(codes), []
    log = tk.home / "runs" / run / "notify.log"
    try:
        tk.cli("start", run, "--", "sh", "-c", "sleep 1; exit 4")
        r = subprocess.run(["bash", str(Path(__file__).parent.parent / "shell" / "tmuxkit-watch"), run, "--every", "1",
                            "--notify-stdin"], input=f"json http://127.0.0.1:{server.server_address[1]}/hook?k=v\n",
                           capture_output=True, text=True, env={**tk.env, **(env or {})}, cwd=tk.work, timeout=60)
        assert r.returncode == 0, r.stderr
        wait_until(lambda: log.exists() and " crashed " in log.read_text(), timeout=30, what="the send logged")
    finally:
        server.shutdown()
    return log.read_text().splitlines()


def test_the_host_notifier_retries_with_backoff_and_delivers_once(tk: Env) -> None:
    log = _host_sends(tk, "flaky", [500, 500], {"TMUXKIT_NOTIFY_BACKOFF": "1"})
    assert [(m, p, c) for _, m, p, c in _Scripted.got] == [("POST", "/hook?k=v", 500), ("POST", "/hook?k=v", 500),
                                                           ("POST", "/hook?k=v", 200)]
    t = [g[0] for g in _Scripted.got]
    assert t[1] - t[0] >= 0.9 and t[2] - t[1] >= 1.9  # backoff: 1 s, then 2 s
    assert [ln.split()[1:] for ln in log] == [["crashed", "json", "sent"]]


@pytest.mark.parametrize("client", ["curl", "python3"])
def test_a_redirect_is_a_failed_send_not_a_delivery(tk: Env, tmp_path: Path, client: str) -> None:
    env = {"TMUXKIT_NOTIFY_BACKOFF": "0"}
    if client == "python3":
        env["PATH"] = _path_without(tk, "curl", tmp_path / "bin")
    log = _host_sends(tk, f"moved-{client}", [302, 307, 301], env)
    assert [(m, c) for _, m, _, c in _Scripted.got] == [("POST", 302), ("POST", 307), ("POST", 301)]  # none followed
    assert [ln.split()[1:] for ln in log] == [["crashed", "json", "failed"]]


def test_damaged_event_lines_are_skipped_or_shown_never_a_traceback(tk: Env) -> None:
    """Issue 11.7: a line that is not an object, a "ts" that is not a number, a number too large."""
    tk.cli("start", "damaged", "--", "sleep", "60")
    with (tk.run_dir("damaged") / "events.jsonl").open("a") as f:
        f.write('5\n{"ts":"abc","event":"odd","id":"a1"}\n{"ts":1e400,"event":"huge","id":"a2"}\nnot json\n')
    r = tk.cli("events", "damaged")
    assert "odd" in r.stdout and "huge" in r.stdout and "Traceback" not in r.stderr
    rows = [json.loads(ln) for ln in tk.cli("events", "damaged", "--json").stdout.splitlines()]
    assert [e["event"] for e in rows][-2:] == ["odd", "huge"] and rows[-1]["ts"] is None


def test_a_failed_laptop_send_is_tried_again_on_a_later_pass_and_then_never_again(tk: Env) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Scripted)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Scripted.codes, _Scripted.got = [500, 500], []
    try:
        tk.add_run("retry", "true", f'notify = ["json://127.0.0.1:{server.server_address[1]}/hook"]\nnotify_from = "laptop"')
        tk.cli("start", "retry")
        wait_until(lambda: tk.status("retry")["state"] == "exited", what="the run to end")
        assert tk.script("tmuxkit-events", "retry", "--add", "crashed").returncode == 0
        tk.cli("events", "retry", "-f")  # the send fails (and its retry in this pass too)
        assert [c for *_, c in _Scripted.got] == [500, 500]
        tk.cli("events", "retry", "-f")  # a later pass: sent
        tk.cli("events", "retry", "-f")  # and never again
    finally:
        server.shutdown()
    assert [(m, p, c) for _, m, p, c in _Scripted.got] == [("POST", "/hook", 500)] * 2 + [("POST", "/hook", 200)]


def test_a_laptop_send_that_keeps_failing_is_tried_five_times_in_all_then_given_up(tk: Env,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The cap holds across passes and across followers (a new process, a reconnect): five sends in
    all, then the claim stays and the event is never sent again, even once the endpoint answers."""
    from tmuxkit.watch import Notifier

    server = HTTPServer(("127.0.0.1", 0), _Scripted)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Scripted.codes, _Scripted.got = [500] * 5, []
    monkeypatch.setenv("TMUXKIT_HOME", str(tk.home))
    url = f"json://127.0.0.1:{server.server_address[1]}/hook"
    ev: dict[str, object] = {"ts": 1, "run": "capped", "event": "crashed", "id": "e1"}
    try:
        first = Notifier("capped", (url,))
        sent = [first(ev, "e1")]
        for _ in range(2):
            first.retry()  # later passes of the same follower
        sent += [Notifier("capped", (url,))(ev, "e1") for _ in range(4)]  # new followers, after the cap too
    finally:
        server.shutdown()
    assert [c for *_, c in _Scripted.got] == [500] * 5  # the sixth and seventh tries never went out
    assert sent == [False] * 5
    assert (tk.home / "notified" / "capped" / "e1-crashed").exists()  # the claim stays: given up


class _Slow(BaseHTTPRequestHandler):
    """Keeps each title once its request is answered; a "crashed" one is answered a second late."""

    got: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        title = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))["title"]
        if title.endswith(" crashed"):
            time.sleep(1.0)
        _Slow.got.append(title)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_two_followers_never_send_a_runs_events_out_of_order(tk: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """CI once saw budget_spent before the crash that spent it: one follower had claimed the crash
    and was still starting its send when the other sent the next event. One send at a time per run."""
    from http.server import ThreadingHTTPServer

    from tmuxkit.watch import Notifier

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Slow.got = []
    monkeypatch.setenv("TMUXKIT_HOME", str(tk.home))
    url = f"json://127.0.0.1:{server.server_address[1]}/hook"
    crash: dict[str, object] = {"ts": 1, "run": "order", "event": "crashed", "id": "c1"}
    spent: dict[str, object] = {"ts": 2, "run": "order", "event": "budget_spent", "id": "b1"}
    try:
        first = threading.Thread(target=Notifier("order", (url,)), args=(crash, "c1"))
        first.start()
        wait_until(lambda: (tk.home / "notified" / "order" / "c1-crashed").exists(), timeout=10,
                   interval=0.01, what="the first follower's claim")
        Notifier("order", (url,))(spent, "b1")  # the second follower, which has seen both events
        first.join(timeout=30)
    finally:
        server.shutdown()
    assert _Slow.got == ["tmuxkit: order crashed", "tmuxkit: order budget_spent"]
