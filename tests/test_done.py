"""A run's end and its sync: `start --sync` of a run queued on its host (issue 25), the sync loop
waiting through the queue and following the run to its real end (its final pass, the ack that lets
the host's on_done run)."""

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


def test_start_sync_of_a_queued_run_waits_for_it_and_syncs_it_to_its_end(tk: Env, tmp_path: Path) -> None:
    """It dropped the sync silently (the queued branch of start returned first), and the sync loop
    took a queued run for an ended one (its final pass and ack at once, on_done after on_done_wait
    with nothing synced); with no results folder in a queued run's status, it pulled from "/"."""
    tk.env["TMUXKIT_DONE_POLL"] = "1"
    tk.add_run("a", "until [ -e gate ]; do sleep 0.1; done; echo a done")
    here = tk.work / "runs" / "q" / "ckpt" / "step_3.pt"
    mark = tmp_path / "on_done"
    train = ("mkdir -p results/q/ckpt; for i in 1 2 3; do sleep 1; echo \"step $i\"; "
             "echo w$i > results/q/ckpt/.t; mv results/q/ckpt/.t results/q/ckpt/step_$i.pt; done")
    on_done = f"if test -f {here}; then echo landed >> {mark}; else echo early >> {mark}; fi"
    tk.add_run("q", train, f'after = "a"\nsync_every = 1\nsync_checkpoints = 1\non_done = "{on_done}"\n'
                           'on_done_wait = "1h"\n')
    tk.cli("start", "a")
    r = tk.cli("start", "q", "--sync")
    assert "queued" in r.stdout or "waits" in r.stdout, r.stdout
    assert "sync:    once it leaves the queue, every 1s into" in r.stdout, r.stdout
    assert "q+sync" in tk.sessions()
    st = tk.work / "runs" / "q" / "STATUS.json"
    wait_until(lambda: _status(st).get("state") == "queued", timeout=30, what="the loop saw it queued")
    # Two more rounds of the loop while it waits: nothing pulled, no final pass, no ack, loop alive.
    wait_until(lambda: "q is queued on local" in "".join(tk.tmux("capture-pane", "-p", "-t", "=q+sync:").stdout),
               timeout=20, what="the loop said it waits")
    seen = _status(st)
    assert seen.get("final") is not True and isinstance(seen.get("pid"), int), seen
    assert not (tk.run_dir("q") / "done_ack").exists()
    assert "synced" not in tk.kinds("q")
    (tk.work / "gate").touch()  # a ends (exit 0): the host's queue starts q
    wait_until(lambda: _status(st).get("state") == "exited", timeout=90, what="the loop's final pass of q")
    final = _status(st)
    assert final.get("exit_code") == 0 and final.get("final") is True, final
    assert here.read_text() == "w3\n"
    assert "step 3" in (tk.work / "runs" / "q" / "tmuxkit" / "q.log").read_text()
    # The final pass landed here and was acknowledged: on_done ran after it, not on_done_wait (1h) later.
    wait_until(mark.exists, timeout=30, what="on_done ran")
    assert mark.read_text() == "landed\n"
    wait_until(lambda: "on_done" in tk.kinds("q"), timeout=30, what="its on_done event")
    ev = [e for e in tk.events("q") if e["event"] == "on_done"]
    assert len(ev) == 1 and "the laptop's sync acknowledged its final pass" in ev[0]["reason"], ev
    def loop_gone() -> bool:
        r = tk.tmux("list-panes", "-t", "=q+sync:", "-F", "#{pane_dead}")
        return r.returncode != 0 or r.stdout.strip() == "1"

    wait_until(loop_gone, timeout=20, what="the loop ended after its final pass")


def test_the_exported_sbatch_script_never_writes_through_a_link_at_its_lock_or_state_files(tk: Env,
                                                                                         tmp_path: Path) -> None:
    """It wrote RUN.resumed and RUN.exit through a symlink planted at their paths (another user's
    file, a file of the user's elsewhere), and took a lock through a link to a non-file (/dev/null)."""
    import subprocess

    tk.add_run("lx", "echo trained")
    script = tk.work / "lx.sbatch"
    tk.cli("export", "lx", "--to", "sbatch", "-o", str(script))
    env = {k: v for k, v in tk.env.items() if not k.startswith("SLURM_")}
    state = tk.work / "results" / "lx" / "tmuxkit"
    state.mkdir(parents=True)

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(script)], cwd=tk.work, env=env, capture_output=True, text=True, timeout=60)

    for name in ("lx.resumed", "lx.exit"):
        victim = tmp_path / f"victim-{name}"
        victim.write_text("precious\n")
        (state / name).symlink_to(victim)
        p = run()
        assert p.returncode == 5 and f"{state / name} is a symlink; refusing to write through it" in p.stderr, p
        assert len(p.stderr.splitlines()) == 1, p.stderr
        assert victim.read_text() == "precious\n"
        assert (state / name).is_symlink()  # left as it is
        assert not (state / "lx.log").exists()  # refused before anything ran
        (state / name).unlink()
    lock = tk.work / "results" / "lx" / ".tmuxkit.lock"
    lock.symlink_to("/dev/null")
    p = run()
    assert p.returncode == 5 and "is a symlink; refusing" in p.stderr, p
    assert lock.is_symlink() and not (state / "lx.log").exists()
    lock.unlink()
    p = run()  # with nothing planted, it runs, and writes its state files whole
    assert p.returncode == 0, p.stderr
    assert "trained" in (state / "lx.log").read_text()
    assert (state / "lx.exit").read_text().split()[0] == "0" and (state / "lx.resumed").read_text() == "\n"
    assert not lock.exists() and not list(state.glob(".tmuxkit-put.*"))


def test_sync_of_a_queued_run_that_can_never_start_ends_and_says_why(tk: Env) -> None:
    """A queued run whose --after run failed is blocked: it never starts. Its sync loop says so in
    STATUS.json (state blocked, its final word) and ends, with nothing pulled and no ack sent."""
    tk.add_run("a", "until [ -e gate ]; do sleep 0.1; done; exit 3")
    tk.add_run("b", "echo never", 'after = "a"\nsync_every = 1\n')
    tk.cli("start", "a")
    tk.cli("start", "b", "--sync")
    st = tk.work / "runs" / "b" / "STATUS.json"
    wait_until(lambda: _status(st).get("state") == "queued", timeout=30, what="the loop saw it queued")
    (tk.work / "gate").touch()  # a fails: b will never start
    wait_until(lambda: _status(st).get("state") == "blocked", timeout=60, what="the loop saw it blocked")
    final = _status(st)
    assert final.get("final") is True and final.get("pid") is None and final.get("next_pass") is None, final
    assert "sync loop done" in (tk.work / "runs" / "b" / "STATUS.txt").read_text()
    assert sorted(p.name for p in (tk.work / "runs" / "b").iterdir()) == ["STATUS.json", "STATUS.txt"]  # nothing pulled
    assert not (tk.run_dir("b") / "done_ack").exists()
    pane = tk.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "=b+sync:").stdout.replace("\n", "")
    assert "b is blocked on local: never started: " in pane and "; sync loop done" in pane, pane
