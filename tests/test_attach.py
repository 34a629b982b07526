"""attach: from inside any tmux, and a clear line when there is nothing to attach to."""

from __future__ import annotations

import subprocess
import sys
import uuid

from conftest import Env, wait_until


def test_attach_from_inside_another_tmux_server_nests(tk: Env) -> None:
    tk.cli("start", "inner", "--", "bash", "-c", "while :; do echo INNER-MARKER; sleep 0.3; done")
    outer = f"tkt-outer-{uuid.uuid4().hex[:8]}"
    cmd = f"cd {tk.work} && {sys.executable} -m tmuxkit attach inner; echo ATTACH-RC=$?; sleep 30"
    env = dict(tk.env)
    try:
        subprocess.run(["tmux", "-L", outer, "new-session", "-d", "-x", "120", "-y", "30", cmd], env=env, check=True)

        def screen() -> str:
            return subprocess.run(["tmux", "-L", outer, "capture-pane", "-p"], capture_output=True, text=True).stdout

        # The outer pane (TMUX set to the outer server) shows the run's output: a nested attach,
        # not tmux's raw "no current client".
        wait_until(lambda: "INNER-MARKER" in screen(), timeout=15, what="the run inside the outer pane")
        assert "no current client" not in screen()
    finally:
        subprocess.run(["tmux", "-L", outer, "kill-server"], capture_output=True)


def test_attach_to_a_finished_run_whose_session_is_gone_says_so(tk: Env) -> None:
    tk.cli("start", "gone", "--", "bash", "-c", "exit 3")
    wait_until(lambda: tk.status("gone")["state"] == "exited", what="exit")
    tk.tmux("kill-session", "-t", "=gone")
    r = tk.cli("attach", "gone", check=4)
    assert "no tmux session to attach to" in r.stderr and "exit code 3" in r.stderr and "tmuxkit logs gone" in r.stderr
    assert "no sessions" not in r.stderr
