"""Adversarial checks of what landed for issues 24, 25 and 29: each test is a defect that an attack
found (it failed on the code before its fix)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Env, wait_until


def _status(p: Path) -> dict[str, object]:
    try:
        got = json.loads(p.read_text())
    except (OSError, ValueError):
        return {}
    return got if isinstance(got, dict) else {}


def test_sync_loop_of_a_queued_run_that_is_stopped_in_the_queue_ends_with_its_final_word(tk: Env) -> None:
    """`start b --sync` of a queued run, then `stop b` while it waits: the loop died of "no run named
    'b'" (exit 4) and left STATUS.json saying queued, its pid (dead) and a next pass: a loop that
    seemed to wait for ever. It ends, saying why, with its final word written and nothing pulled."""
    tk.add_run("a", "until [ -e gate ]; do sleep 0.1; done; echo a done")
    tk.add_run("b", "echo ran b", 'after = "a"\nsync_every = 1\n')
    tk.cli("start", "a")
    tk.cli("start", "b", "--sync")
    st = tk.work / "runs" / "b" / "STATUS.json"
    wait_until(lambda: _status(st).get("state") == "queued", timeout=30, what="the loop saw it queued")
    r = tk.cli("stop", "b")
    assert "taken out" in r.stdout, r.stdout
    wait_until(lambda: _status(st).get("final") is True, timeout=30, what="the loop's final word")
    final = _status(st)
    assert final.get("pid") is None and final.get("next_pass") is None and final.get("state") == "stopped", final
    assert sorted(p.name for p in (tk.work / "runs" / "b").iterdir()) == ["STATUS.json", "STATUS.txt"]

    def pane() -> str:
        return "".join(tk.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "=b+sync:").stdout)

    wait_until(lambda: "sync loop done" in pane(), timeout=20, what="the loop said it is done")
    assert "no run named" not in pane(), pane()
    (tk.work / "gate").touch()


def _tab(tk: Env, line: str, point: str, *, slow: bool) -> str:
    import subprocess
    import sys

    out = tk.work / ("tab.slow" if slow else "tab.fast")
    env = dict(tk.env, _ARGCOMPLETE="1", _ARGCOMPLETE_SHELL="bash", _ARGCOMPLETE_SUPPRESS_SPACE="0",
               COMP_LINE=line, COMP_POINT=point, COMP_TYPE="9", _ARGCOMPLETE_STDOUT_FILENAME=str(out))
    if slow:
        env["_ARC_DEBUG"] = "1"  # the fast path never answers under _ARC_DEBUG: argcomplete does
    subprocess.run([sys.executable, "-m", "tmuxkit"], env=env, cwd=tk.work, capture_output=True, timeout=60)
    return out.read_text() if out.exists() else "<none>"


def test_tab_with_a_negative_comp_point_answers_as_argcomplete(tk: Env) -> None:
    """COMP_POINT=-3 cut the line from its end ("tmuxkit stop " -> "tmuxkit st"): the fast path
    offered the verbs start, status, stop where argcomplete offers nothing."""
    for line, point in (("tmuxkit stop ", "-3"), ("tmuxkit status --", "-1")):
        assert _tab(tk, line, point, slow=False) == _tab(tk, line, point, slow=True), (line, point)
