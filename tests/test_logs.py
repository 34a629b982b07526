"""The pane log: first byte to last, rotated, folded, re-piped when its writer dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from conftest import Env, Remote, kill_ssh_links, wait_until, writer_pid


def _log_parts(tk: Env, run: str) -> list[Path]:
    log = tk.log(run)
    rotated = sorted(log.parent.glob(f"{run}.log.*"), key=lambda p: int(p.suffix[1:]), reverse=True)
    return [*rotated, log]


def test_300k_line_burst_through_20_rotations_loses_nothing(tk: Env) -> None:
    n = 300_000
    tk.write_config(f"""
[runs.burst]
command = "seq 1 {n}; echo BURST-END"
log_max_bytes = 90000
log_keep = 100
""")
    tk.cli("start", "burst")
    wait_until(lambda: tk.status("burst")["state"] == "exited" and "BURST-END" in tk.log(
        "burst").read_text(), timeout=120, interval=0.2, what="burst written")
    parts = _log_parts(tk, "burst")
    assert len(parts) - 1 >= 20, f"only {len(parts) - 1} rotations"
    assert all(p.stat().st_size <= 90000 for p in parts)
    lines = [ln for p in parts for ln in p.read_text().splitlines()]
    numbers = [ln for ln in lines if ln.isdigit()]
    assert numbers == [str(i) for i in range(1, n + 1)]  # 0 lost, 0 duplicated, in order


def test_redraws_and_colours_are_folded(tk: Env) -> None:
    tk.cli("start", "bar", "--", "printf", "\\033[32mgreen\\033[0m done\\nepoch 1:  10%%\\repoch 1:  50%%\\repoch 1: 100%%\\nEND\\n")
    wait_until(lambda: "END" in tk.log_text("bar"), what="END")
    lines = tk.log_text("bar").splitlines()
    assert "green done" in lines
    assert "epoch 1: 100%" in lines
    assert not any("10%" in ln or "\x1b" in ln or "\r" in ln for ln in lines)


def test_killed_log_writer_is_detected_and_repiped(tk: Env) -> None:
    tk.cli("start", "ticker", "--", "bash", "-c", "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.05; done")
    log = tk.log("ticker")
    wait_until(lambda: "tick 3" in tk.log_text("ticker"), what="ticks")
    pid = wait_until(lambda: writer_pid(log), what="writer pid")
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: tk.tmux("display-message", "-p", "-t", "=ticker:", "#{pane_pipe}").stdout.strip() == "0",
               what="tmux to notice the dead writer")
    r = tk.cli("status", "ticker")
    assert "log writer re-attached" in r.stdout
    wait_until(lambda: "log writer re-attached" in tk.log_text("ticker"), what="gap marker")
    wait_until(lambda: "tick" in tk.log_text("ticker").split("log writer re-attached")[1], what="ticks after gap")
    before, after = tk.log_text("ticker").split("log writer re-attached")
    last_before = int(before.strip().splitlines()[-2].split()[-1]) if "tick" in before else 0
    first_after = int(next(ln for ln in after.splitlines() if ln.startswith("tick")).split()[1])
    assert first_after > last_before  # in order; what was printed while no writer ran is the gap
    assert tk.status("ticker")["writer"] == "alive"


def test_logs_prints_the_tail_and_follows_to_the_end(tk: Env) -> None:
    tk.cli("start", "tail", "--", "bash", "-c", "for i in $(seq 1 30); do echo line $i; done; sleep 1; echo late")
    wait_until(lambda: "line 30" in tk.log_text("tail"), what="30 lines")
    r = tk.cli("logs", "tail", "-n", "3")
    assert r.stdout.splitlines()[-3:] in (["line 28", "line 29", "line 30"], ["line 29", "line 30", "late"],
                                          ["line 30", "late", r.stdout.splitlines()[-1]])
    r = tk.cli("logs", "tail", "-n", "1", "-f", timeout=30)  # returns once the run has ended
    assert "exited with code 0" in r.stdout


# --- logs -f over a long night (issue 12.6) ---------------------------------------------------------
def test_logs_f_follows_across_watchdog_restarts(tk: Env) -> None:
    tk.add_run("again", "echo attempt $$; sleep 1.5; exit 3", "max_restarts = 2")
    tk.env["TMUXKIT_WATCH_OPTS"] = "--backoff 1 --grace 3 --settle 2"
    tk.cli("start", "again")
    tk.cli("watch", "again", "--auto-resume", "--every", "1")
    out = tk.cli("logs", "again", "-f", timeout=90).stdout  # ends once the budget is spent
    attempts = [ln for ln in out.splitlines() if ln.startswith("attempt ")]
    assert len(attempts) >= 2 and len(set(attempts)) == len(attempts), out
    assert "budget_spent" in [json.loads(x)["event"] for x in
                              (tk.home / "runs" / "again" / "events.jsonl").read_text().splitlines()]


def test_logs_f_reconnects_after_dropped_links_without_gaps_or_repeats(tk: Env, remote: Remote) -> None:
    """Three links dropped while `logs -f` follows a run: each time it reconnects, and the run's 60
    lines arrive each once, in order. Each drop waits for the follower to be live (a line or a
    reconnect seen since the last drop), and the run waits for the test's word before it ends, so
    a loaded machine cannot make a drop miss the follower."""
    go = tk.work / "ticks-may-end"
    remote.add_run("ticks", f"for i in $(seq 1 60); do echo tick $i; sleep 0.1; done; "
                            f"while [ ! -e {go} ]; do sleep 0.1; done; sleep 1")
    tk.cli("start", "ticks")
    p = subprocess.Popen([sys.executable, "-m", "tmuxkit", "logs", "ticks", "-f", "-n", "1000"], cwd=tk.work,
                         env=tk.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out: list[str] = []
    err: list[str] = []

    def read(f: IO[str], into: list[str]) -> None:
        for line in f:
            into.append(line)

    readers = [threading.Thread(target=read, args=(f, into), daemon=True) for f, into in ((p.stdout, out), (p.stderr, err))]
    for t in readers:
        t.start()
    try:
        for k in range(3):
            wait_until(lambda: sum("reconnecting" in ln for ln in err) == k and
                       (k > 0 or any(ln.startswith("tick ") for ln in out)),
                       timeout=60, what=f"the follower live before drop {k + 1}")
            wait_until(lambda: bool(kill_ssh_links(tk, clients=True)), timeout=10, what="a link to drop")
            wait_until(lambda: sum("reconnecting" in ln for ln in err) > k, timeout=60,
                       what=f"the follower to reconnect after drop {k + 1}")
        go.touch()
        p.wait(timeout=60)
        for t in readers:
            t.join(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    ticks = [ln.rstrip("\n") for ln in out if ln.startswith("tick ")]
    assert ticks == [f"tick {i}" for i in range(1, 61)], "".join(out)


def test_logs_f_leaves_no_poller_on_the_host_when_the_laptop_side_goes(tk: Env, remote: Remote) -> None:
    remote.add_run("long", "while :; do echo alive; sleep 0.2; done")
    tk.cli("start", "long")
    p = subprocess.Popen([sys.executable, "-m", "tmuxkit", "logs", "long", "-f"], cwd=tk.work, env=tk.env,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def pollers() -> list[str]:
        ps = subprocess.run(["ps", "-A", "-ww", "-o", "stat=,args="], capture_output=True, text=True).stdout
        return [ln for ln in ps.splitlines() if "tmuxkit-logs long" in ln and not ln.startswith("Z")]

    assert p.stdout is not None
    p.stdout.readline()
    wait_until(lambda: bool(pollers()), what="the host-side poller")
    p.kill()  # the laptop side goes away (a closed lid, a killed terminal)
    p.communicate()
    kill_ssh_links(tk, clients=True)
    wait_until(lambda: not pollers(), timeout=10, what=f"no poller left ({pollers()})")
    assert tk.status("long")["state"] == "running"
