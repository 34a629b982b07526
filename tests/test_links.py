"""The laptop's side of a link: signals to tmuxkit, a login shell's stderr, dead ControlMasters,
resuming `logs -f` by position, and the cost of a call in ssh exchanges (issue 23)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, Env, pid_alive, wait_until


def _descendants(root: int) -> dict[int, str]:
    """ROOT's descendants now: pid -> args."""
    out = subprocess.run(["ps", "-A", "-ww", "-o", "pid=,ppid=,args="], capture_output=True, text=True).stdout
    kids: dict[int, list[int]] = {}
    args: dict[int, str] = {}
    for ln in out.splitlines():
        parts = ln.split(None, 2)
        if len(parts) < 2:
            continue
        pid, ppid = int(parts[0]), int(parts[1])
        kids.setdefault(ppid, []).append(pid)
        args[pid] = parts[2] if len(parts) > 2 else ""
    found: dict[int, str] = {}
    todo = [root]
    while todo:
        for k in kids.get(todo.pop(), []):
            if k not in found:
                found[k] = args[k]
                todo.append(k)
    return found


def _slow_host(tk: Env, sshd: Any, tmp_path: Path, delay: float = 30.0) -> None:
    """Host 'box' behind a proxy that holds every byte DELAY seconds: a call to it hangs."""
    cfg = sshd.client_config(tmp_path / "slow_ssh_config", "slowbox", {"TMUXKIT_HOME": str(tmp_path / "rhome")})
    with cfg.open("a") as f:
        f.write(f"  ProxyCommand {sys.executable} {ROOT / 'bench' / 'delayproxy.py'} {sshd.port} {delay}\n")
    tk.write_config(f'[hosts.box]\nssh = "slowbox"\nssh_config = "{cfg}"\n')


# --- item 8: SIGTERM and SIGHUP clean up as Ctrl-C does ------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
@pytest.mark.parametrize("verb", [["logs", "r1", "--host", "box", "-f"], ["status", "--host", "box"]],
                         ids=["logs-f", "status"])
def test_a_signal_to_tmuxkit_leaves_no_host_call_running(tk: Env, sshd: Any, tmp_path: Path, verb: list[str],
                                                         sig: int) -> None:
    _slow_host(tk, sshd, tmp_path)
    p = subprocess.Popen([sys.executable, "-m", "tmuxkit", *verb], env=tk.env, cwd=tk.work,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    kids: dict[int, str] = {}
    try:
        # The host call is under way: ssh, and the proxy it talks through.
        kids = wait_until(lambda: (lambda d: d if any("delayproxy" in a for a in d.values()) else None)(
            _descendants(p.pid)), timeout=30, what="the host call's ssh")
        os.kill(p.pid, sig)
        rc = p.wait(30)
        assert rc == 128 + sig, (rc, p.stderr.read() if p.stderr else "")
        wait_until(lambda: not [k for k in kids if pid_alive(k)], timeout=5,
                   what=f"no process of the host call left ({kids})")
    finally:
        p.kill()
        p.wait()
        for k in kids:
            try:
                os.kill(k, signal.SIGKILL)
            except ProcessLookupError:
                pass
