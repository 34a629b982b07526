"""sync, continued (a file of its own so that two test workers share the sync tests): it keeps what is the
user's (checkpoints pruned only when newer ones of the same run replace them here, directories arriving whole,
nothing overwritten or deleted that it did not bring), the detached loop and its status, full and cut links."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Env, Remote, kill_ssh_links, pid_alive, wait_until
from test_sync import _files, _sha, _sync_proc, _units


def _hf_unit(results: Path, step: int, size: int = 1000, age: float = 100) -> Path:
    """An HF Trainer checkpoint-N/ as it writes one (trainer_state.json last), settled AGE seconds ago."""
    d = results / f"checkpoint-{step}"
    d.mkdir(parents=True)
    for name in ("model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth"):
        (d / name).write_bytes(os.urandom(size if name == "model.safetensors" else 100))
    (d / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    t = time.time() - age + step / 1000
    for f in [*d.iterdir(), d]:
        os.utime(f, (t, t))
    return d


def _settled(p: Path, age: float = 100) -> None:
    t = time.time() - age
    os.utime(p, (t, t))


def test_keep_n_prunes_only_when_newer_checkpoints_of_the_run_replace_them_here(tk: Env) -> None:
    """Issue 22.2: the laptop's copies are a backup. The user deleting them on the host (to free
    space), a renamed results folder or a failing checkpoint_check made the next pass delete them
    here; they go only when newer checkpoints of the same run are here to replace them."""
    res = tk.work / "results" / "bk"
    tk.cli("start", "bk", "--", "sleep", "60")
    for step in (100, 200):
        _hf_unit(res, step, age=100 - step / 10)
    tk.cli("sync", "bk", "--once", "--checkpoints", "2")
    dest = tk.work / "runs" / "bk"
    assert _units(dest) == ["checkpoint-100", "checkpoint-200"]
    # The user frees space on the host: the backups here stay.
    subprocess.run(["rm", "-rf", str(res / "checkpoint-100"), str(res / "checkpoint-200")], check=True)
    tk.cli("sync", "bk", "--once", "--checkpoints", "2")
    assert _units(dest) == ["checkpoint-100", "checkpoint-200"]
    # A newer one arrives: it replaces the oldest, and only that.
    _hf_unit(res, 300, age=50)
    tk.cli("sync", "bk", "--once", "--checkpoints", "2")
    assert _units(dest) == ["checkpoint-200", "checkpoint-300"]
    assert json.loads((dest / "checkpoint-300" / "trainer_state.json").read_text())["global_step"] == 300


def test_a_failing_checkpoint_check_prunes_nothing_here(tk: Env) -> None:
    """Issue 22.2: one failing checkpoint_check (the host lists nothing complete) deleted every copy."""
    flag = tk.work / "check-fails"
    check = f"{sys.executable} -c \\\"import os, sys; sys.exit(os.path.exists('{flag}'))\\\""
    tk.add_run("fc", "sleep 60", f'checkpoint_check = "{check}"\nsync_checkpoints = 1')
    tk.cli("start", "fc")
    ck = tk.work / "results" / "fc" / "checkpoints"  # Lightning's ModelCheckpoint
    ck.mkdir(parents=True)
    (ck / "epoch=0-step=500.ckpt").write_bytes(os.urandom(2000))
    _settled(ck / "epoch=0-step=500.ckpt")
    tk.cli("sync", "fc", "--once")
    local = tk.work / "runs" / "fc" / "checkpoints"
    assert sorted(p.name for p in local.iterdir()) == ["epoch=0-step=500.ckpt"]
    flag.touch()
    tk.cli("sync", "fc", "--once")
    assert sorted(p.name for p in local.iterdir()) == ["epoch=0-step=500.ckpt"]


def test_two_runs_syncing_into_one_folder_never_delete_each_others_checkpoints(tk: Env) -> None:
    """Issue 22.2: one manifest for the folder: each run's pass deleted the other's checkpoints."""
    for run, step in (("ka", 6), ("kb", 8)):  # kohya saves: the weights and their *-state/
        tk.cli("start", run, "--", "sleep", "60")
        res = tk.work / "results" / run
        st = res / f"{run}-step{step:08d}-state"
        st.mkdir(parents=True)
        (st / "model.safetensors").write_bytes(os.urandom(1000))
        (st / "random_states_0.pkl").write_bytes(b"rng")
        (res / f"{run}-step{step:08d}.safetensors").write_bytes(os.urandom(1000))
        for p in (*st.iterdir(), st, res / f"{run}-step{step:08d}.safetensors"):
            _settled(p)
    shared = tk.work / "shared"
    for run in ("ka", "kb", "ka", "kb"):
        tk.cli("sync", run, "--once", "--checkpoints", "1", "--to", str(shared))
    assert sorted(p.name for p in shared.iterdir() if not p.name.startswith((".", "STATUS", "tmuxkit"))) == [
        "ka-step00000006-state", "ka-step00000006.safetensors", "kb-step00000008-state", "kb-step00000008.safetensors"]


def test_a_checkpoint_directory_arrives_whole_and_a_killed_pass_leaves_no_temp_files(tk: Env) -> None:
    """Issue 22.3: over a slow link an HF checkpoint-N/ sat, empty then half-filled, at its final
    path; a pass killed mid-transfer (Ctrl-C) left it there and rsync's hidden temp files beside it."""
    res = tk.work / "results" / "cut"
    tk.cli("start", "cut", "--", "sleep", "120")
    unit = _hf_unit(res, 40, size=12 * 1024 * 1024)
    dest = tk.work / "runs" / "cut"
    env = dict(tk.env, TMUXKIT_RSYNC_OPTS="--bwlimit=1500")
    p = _sync_proc(tk, "cut", "--once", "--checkpoints", "1", env=env)
    final = dest / "checkpoint-40"
    seen_final: list[str] = []

    def moving() -> bool:  # the big file is on its way (wherever rsync keeps it)
        if final.exists():
            seen_final.append(str(sorted(q.name for q in final.iterdir())))
        return any(f.stat().st_size > 512 * 1024 for f in _files(dest)) if dest.exists() else False

    try:
        wait_until(moving, timeout=60, what="the transfer under way")
        p.send_signal(2)  # Ctrl-C
        out = p.communicate(timeout=30)[0]
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode != 0, out
    assert not seen_final and not final.exists(), seen_final
    hidden = [str(f.relative_to(dest)) for f in _files(dest)
              if re.fullmatch(r"\..+\.[A-Za-z0-9]{6}", f.name) or any(q.startswith(".tmuxkit-tmp") for q in f.parts)]
    assert hidden == [], hidden
    # The next pass completes it: whole, at its final path, and nothing of the staging left.
    tk.cli("sync", "cut", "--once", "--checkpoints", "1")
    assert {f.name: _sha(f) for f in final.iterdir()} == {f.name: _sha(f) for f in unit.iterdir()}
    assert not [q for q in dest.iterdir() if q.name.startswith((".tmuxkit-staging", ".tmuxkit-tmp", ".tmuxkit-partial"))]


def test_sync_to_a_folder_never_overwrites_a_file_it_did_not_bring(tk: Env) -> None:
    """Issue 22.4: `sync --to .` replaced the user's own metrics.json and notes.txt."""
    res = tk.work / "results" / "ow"
    res.mkdir(parents=True)
    (res / "metrics.json").write_text('{"loss": 1}')
    (res / "notes.txt").write_text("run notes")
    (res / "curve.png").write_text("png 1")
    tk.cli("start", "ow", "--", "sleep", "60")
    mine = tk.work / "mine"
    mine.mkdir()
    (mine / "metrics.json").write_text("the user's metrics")
    (mine / "notes.txt").write_text("the user's notes")
    r = tk.cli("sync", "ow", "--once", "--to", str(mine))
    assert (mine / "metrics.json").read_text() == "the user's metrics"
    assert (mine / "notes.txt").read_text() == "the user's notes"
    assert (mine / "curve.png").read_text() == "png 1"
    assert "metrics.json" in r.stdout and "notes.txt" in r.stdout and "not brought by this sync" in r.stdout
    # What it brought, it keeps up to date; what the user then changes here is the user's again.
    (res / "curve.png").write_text("png 2, longer")
    tk.cli("sync", "ow", "--once", "--to", str(mine))
    assert (mine / "curve.png").read_text() == "png 2, longer"
    (mine / "curve.png").write_text("edited here")
    (res / "curve.png").write_text("png 3, longer still")
    tk.cli("sync", "ow", "--once", "--to", str(mine))
    assert (mine / "curve.png").read_text() == "edited here"
    # A folder with the user's own STATUS.txt: the sync would write its own there; it refuses, in one line.
    theirs = tk.work / "theirs"
    theirs.mkdir()
    (theirs / "STATUS.txt").write_text("the user's status notes")
    r = tk.cli("sync", "ow", "--once", "--to", str(theirs), check=2)
    assert "STATUS.txt that tmuxkit did not write" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert (theirs / "STATUS.txt").read_text() == "the user's status notes"
    assert sorted(q.name for q in theirs.iterdir()) == ["STATUS.txt"]


def test_a_pass_never_removes_another_runs_partial_folder_in_a_nested_destination(tk: Env) -> None:
    """Issue 22.4: run a syncs into outer/, run b into outer/inner/: a's pass removed b's partial
    folder (the start of a resumable transfer of b's) along with its own."""
    res = tk.work / "results" / "na"
    res.mkdir(parents=True)
    (res / "a.txt").write_text("a")
    tk.cli("start", "na", "--", "sleep", "60")
    outer = tk.work / "outer"
    theirs = [outer / "inner" / ".tmuxkit-partial", outer / "inner" / ".tmuxkit-partial.nb"]
    for d in theirs:
        d.mkdir(parents=True)
        (d / "big.png").write_bytes(b"x" * 1000)
    tk.cli("sync", "na", "--once", "--to", str(outer))
    assert (outer / "a.txt").read_text() == "a"
    assert all((d / "big.png").exists() for d in theirs)


def test_include_adds_to_the_default_patterns(tk: Env) -> None:
    """Issue 22.5: the README's own `--include '*.npz'` stopped pulling the metrics."""
    res = tk.work / "results" / "inc"
    res.mkdir(parents=True)
    (res / "metrics.json").write_text("{}")
    (res / "emb.npz").write_text("npz")
    (res / "skip.bin").write_text("no")
    tk.cli("start", "inc", "--", "sleep", "60")
    tk.cli("sync", "inc", "--once", "--include", "*.npz")
    d = tk.work / "runs" / "inc"
    assert (d / "metrics.json").exists() and (d / "emb.npz").exists() and not (d / "skip.bin").exists()


def test_a_once_pass_beside_a_live_loop_keeps_the_loops_words(tk: Env) -> None:
    """Issue 22.5: `sync --once` wrote "no sync loop" into STATUS.txt while the loop ran."""
    tk.add_run("ol", "echo hi; sleep 60", "sync_every = 60")
    tk.cli("start", "ol")
    tk.cli("sync", "ol", "--detach")
    d = tk.work / "runs" / "ol"
    wait_until(lambda: (d / "STATUS.json").exists() and json.loads((d / "STATUS.json").read_text()).get("passes", 0) >= 1,
               timeout=20, what="the loop's first pass")
    pid = json.loads((d / "STATUS.json").read_text())["pid"]
    tk.cli("sync", "ol", "--once")
    text = (d / "STATUS.txt").read_text()
    assert f"sync loop pid {pid}, next pass" in text and "no sync loop" not in text, text
    assert json.loads((d / "STATUS.json").read_text())["pid"] == pid
    assert tk.status("ol")["sync"]["loop"] == "ok"


def test_the_final_pass_names_no_loop_and_a_run_started_again_shows_no_dead_loop(tk: Env) -> None:
    """Issue 22.5: after the loop's final pass STATUS.txt still named its pid and a next pass, and the
    run started again without --sync showed SYNC LOOP DEAD (the loop of its earlier start)."""
    tk.add_run("again", "echo hi; sleep 1")
    tk.cli("start", "again")
    p = _sync_proc(tk, "again", "--every", "1")
    out = p.communicate(timeout=60)[0]
    assert p.returncode == 0 and "final sync done" in out, out
    d = tk.work / "runs" / "again"
    text = (d / "STATUS.txt").read_text()
    assert "pid" not in text and "next pass" not in text and "final pass done" in text, text
    tk.cli("start", "again", "--", "sleep", "60")
    assert tk.status("again")["sync"]["loop"] is None
    assert "SYNC LOOP" not in tk.cli("status", "again").stdout


def test_sync_detach_carries_its_options_to_the_loop_and_status_finds_it_there(tk: Env) -> None:
    """Issue 22.6: the detached loop synced with defaults (into runs/RUN, no checkpoints), and
    status looked for its health in the default folder only."""
    res = tk.work / "results" / "dt"
    res.mkdir(parents=True)
    (res / "emb.npz").write_text("npz")
    (res / "-odd-1.csv").write_text("odd")
    (res / "metrics.json").write_text("{}")
    (res / "ckpt").mkdir()
    (res / "ckpt" / "last.ckpt").write_bytes(os.urandom(500))
    _settled(res / "ckpt" / "last.ckpt")
    tk.cli("start", "dt", "--", "sleep", "60")
    r = tk.cli("sync", "dt", "--detach", "--to", "elsewhere", "--every", "600", "--checkpoints", "1",
               "--include", "*.npz", "--include=-odd-*.csv")  # a pattern that starts with "-" too
    d = tk.work / "elsewhere"
    assert str(d) in r.stdout, r.stdout
    wait_until(lambda: (d / "STATUS.json").exists() and json.loads((d / "STATUS.json").read_text()).get("passes", 0) >= 1,
               timeout=30, what="the loop's first pass")
    st = json.loads((d / "STATUS.json").read_text())
    assert st["every"] == 600 and (d / "emb.npz").exists() and (d / "ckpt" / "last.ckpt").exists()
    assert (d / "-odd-1.csv").exists() and (d / "metrics.json").exists()
    assert not (tk.work / "runs" / "dt").exists()
    row = tk.status("dt")
    assert row["sync"]["dir"] == str(d) and row["sync"]["loop"] == "ok"
    # The loop wedges (a pass long overdue; every 600 s, it writes nothing meanwhile): the hint status
    # gives brings a live loop back.
    st["next_pass"] = time.time() - 3600
    (d / "STATUS.json").write_text(json.dumps(st))
    text = tk.cli("status", "dt").stdout
    m = re.search(r"SYNC LOOP WEDGED \(restart: kill (\d+); (tmuxkit sync .*--detach)\)", text.replace("\n", " "))
    assert m and int(m.group(1)) == st["pid"], text
    os.kill(st["pid"], 15)
    args = shlex.split(m.group(2))[1:]
    assert args[:2] == ["sync", "dt"] and f"--to={d}" in args and "--checkpoints=1" in args, args
    tk.cli(*args)
    wait_until(lambda: json.loads((d / "STATUS.json").read_text()).get("pid") not in (None, st["pid"]), timeout=30,
               what="the loop back")
    assert tk.status("dt")["sync"]["loop"] == "ok"


def test_sync_detach_of_a_run_that_is_not_there_is_one_line_and_starts_nothing(tk: Env) -> None:
    r = tk.cli("sync", "ghost", "--detach", check=4)
    assert "no run named 'ghost'" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "ghost+sync" not in tk.sessions()


def test_sync_detach_of_an_ad_hoc_run_on_another_host_syncs(tk: Env, remote: Remote) -> None:
    """Issue 22.6: it said "syncing" and the loop died at once with "no run named" (no --host)."""
    tk.cli("start", "adhoc", "--host", "box", "--cwd", "/tmp", "--", "bash", "-c", "echo hi; sleep 60")
    (tk.home / "where" / "adhoc").unlink()  # started from another laptop: only --host says where it is
    tk.cli("sync", "adhoc", "--host", "box", "--detach", "--every", "2")
    st = tk.work / "runs" / "adhoc" / "STATUS.json"
    wait_until(lambda: st.exists() and json.loads(st.read_text()).get("last_success"), timeout=40,
               what="the loop's first pass")
    assert json.loads(st.read_text())["state"] == "running"


def test_a_helper_session_does_not_inherit_its_parents_run_markers(tk: Env) -> None:
    """Issue 22.11: a run that starts another run with --sync: `stop parent` killed the child's loop
    (the loop carried the parent's TMUXKIT_RUN_ID)."""
    tk.add_run("child", "echo hi; sleep 60", "sync_every = 60")
    tk.cli("start", "parent", "--", "bash", "-c", f"{sys.executable} -m tmuxkit start child --sync; sleep 60")
    st = tk.work / "runs" / "child" / "STATUS.json"
    wait_until(lambda: st.exists() and isinstance(json.loads(st.read_text()).get("pid"), int), timeout=40,
               what="the child's sync loop")
    loop = json.loads(st.read_text())["pid"]
    tk.cli("stop", "parent", "--grace", "1")
    assert tk.status("child")["state"] == "running"
    assert pid_alive(loop) and tk.status("child")["sync"]["loop"] == "ok"


def test_a_full_sync_destination_is_said_cleaned_and_tried_again(tk: Env) -> None:
    """Issue 22.10: a full laptop disk ended the loop with a traceback and left temp files."""
    full = tk.work / "full"
    full.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(full)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs a small filesystem: mount -t tmpfs (root)")
    p = None
    try:
        res = tk.work / "results" / "fu"
        res.mkdir(parents=True)
        (res / "m.json").write_text("{}")
        (res / "big.png").write_bytes(os.urandom(3 * 1024 * 1024))
        tk.cli("start", "fu", "--", "sleep", "120")
        p = _sync_proc(tk, "fu", "--every", "1", "--to", str(full))
        stj = full / "STATUS.json"
        wait_until(lambda: stj.exists() and "full" in (json.loads(stj.read_text()).get("last_error") or ""),
                   timeout=40, what="the full disk said")
        assert "full" in (full / "STATUS.txt").read_text()
        assert p.poll() is None  # the loop goes on
        (res / "big.png").unlink()  # space enough now: a later pass succeeds
        wait_until(lambda: json.loads(stj.read_text()).get("last_error") is None, timeout=30, what="a pass again")
        assert (full / "m.json").exists()
        left = [str(f.relative_to(full)) for f in _files(full)
                if (f.name.startswith(".") and "tmuxkit-sync" not in f.name)
                or any(q.startswith((".tmuxkit-tmp", ".tmuxkit-partial")) for q in f.relative_to(full).parts)]
        assert left == [], left
    finally:
        out = ""
        if p is not None:
            p.terminate()
            out = p.communicate(timeout=20)[0]
        subprocess.run(["umount", "-l", str(full)], check=False)
    assert "Traceback" not in out and "retry" in out, out


def test_a_checkpoint_directory_of_ours_rewritten_on_the_host_is_replaced_whole(tk: Env) -> None:
    """Lightning with DeepSpeed saves last.ckpt/ as a directory, rewritten every epoch: the copy here
    follows it, swapped whole (never a mix of two epochs' files)."""
    last = tk.work / "results" / "ds" / "checkpoints" / "last.ckpt"
    (last / "checkpoint").mkdir(parents=True)
    tk.cli("start", "ds", "--", "sleep", "60")

    def save(epoch: int, age: float) -> None:
        (last / "checkpoint" / "mp_rank_00_model_states.pt").write_text(f"model {epoch}")
        (last / "checkpoint" / "zero_pp_rank_0_optim_states.pt").write_text(f"optim {epoch}")
        (last / "latest").write_text("checkpoint")
        for f in (*last.rglob("*"), last):
            _settled(f, age)

    save(1, 100)
    tk.cli("sync", "ds", "--once", "--checkpoints", "1")
    here = tk.work / "runs" / "ds" / "checkpoints" / "last.ckpt"
    assert (here / "checkpoint" / "mp_rank_00_model_states.pt").read_text() == "model 1"
    save(2, 50)
    tk.cli("sync", "ds", "--once", "--checkpoints", "1")
    assert (here / "checkpoint" / "mp_rank_00_model_states.pt").read_text() == "model 2"
    assert (here / "checkpoint" / "zero_pp_rank_0_optim_states.pt").read_text() == "optim 2"
    assert not [q for q in (tk.work / "runs" / "ds").iterdir() if q.name.startswith((".tmuxkit-old", ".tmuxkit-staging"))]


def test_a_link_cut_mid_transfer_leaves_no_checkpoint_directory_at_its_final_path(tk: Env, remote: Remote) -> None:
    """Issue 22.3 over ssh: a slow link cut while an HF checkpoint-N/ is in transfer left it, empty or
    half-filled, at its final path; the next pass brings it whole."""
    remote.add_run("slow", "sleep 120", "sync_checkpoints = 1\n")
    tk.cli("start", "slow")
    res = Path(tk.status("slow")["results"])
    unit = _hf_unit(res, 7, size=8 * 1024 * 1024)
    dest = tk.work / "runs" / "slow"
    final = dest / "checkpoint-7"
    env = dict(tk.env, TMUXKIT_RSYNC_OPTS="--bwlimit=1500")
    p = _sync_proc(tk, "slow", "--once", env=env)
    early: list[bool] = []

    def moving() -> bool:
        early.append(final.exists())
        return any(f.stat().st_size > 256 * 1024 for f in _files(dest)) if dest.exists() else False

    try:
        wait_until(moving, timeout=60, what="the transfer under way")
        kill_ssh_links(tk, clients=True)  # the link is cut
        out = p.communicate(timeout=60)[0]
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode != 0, out
    try:
        assert not any(early) and not final.exists()
        assert not [f for f in _files(dest) if re.fullmatch(r"\..+\.[A-Za-z0-9]{6}", f.name)]
        tk.cli("sync", "slow", "--once")
        assert {f.name: _sha(f) for f in final.iterdir()} == {f.name: _sha(f) for f in unit.iterdir()}
    finally:
        tk.cli("stop", "slow", "--grace", "1", check=None)
        shutil.rmtree(res, ignore_errors=True)


def test_a_pass_past_its_deadline_leaves_no_temp_files(tk: Env, monkeypatch: Any) -> None:
    """Issue 22.3: the pass deadline killed rsync mid-file and left its hidden temp file (GBs with
    real checkpoints) beside the user's files; the unit's directory sat at its final path."""
    from tmuxkit.config import RunSpec
    from tmuxkit.errors import UnreachableError
    from tmuxkit.hosts import LocalHost
    from tmuxkit.sync import pull

    res = tk.work / "results" / "dl"
    res.mkdir(parents=True)
    (res / "big.png").write_bytes(os.urandom(12 * 1024 * 1024))
    tk.cli("start", "dl", "--", "sleep", "60")
    monkeypatch.setenv("TMUXKIT_RSYNC_OPTS", "--bwlimit=1000")
    dest = tk.work / "dest"
    t0 = time.monotonic()
    with pytest.raises(UnreachableError, match="deadline"):
        pull(LocalHost(), RunSpec(name="dl"), str(res), dest, ("*.png",), 0, time.time() + 3)
    assert time.monotonic() - t0 < 30
    left = [str(f.relative_to(dest)) for f in _files(dest)
            if re.fullmatch(r"\..+\.[A-Za-z0-9]{6}", f.name) or any(q.startswith(".tmuxkit-tmp") for q in f.parts)]
    assert left == [] and not (dest / "big.png").exists(), left


def test_sync_detach_for_a_host_down_for_now_starts_the_loop_that_waits_for_it(tk: Env, tmp_path: Path) -> None:
    """The check that a run exists before --detach starts its loop must not turn a host that is down
    for now (a reboot) into a refusal: the loop is what waits for it."""
    cfg = tmp_path / "ssh_config_down"
    cfg.write_text("Host gone\n  HostName 127.0.0.1\n  Port 1\n  BatchMode yes\n  ConnectTimeout 5\n")
    tk.write_config(f'[hosts.gone]\nssh = "gone"\nssh_config = "{cfg}"\n'
                    f'[runs.far]\nhost = "gone"\ncommand = "sleep 60"\ncwd = "/tmp"\n')
    r = tk.cli("sync", "far", "--detach", "--every", "5")
    assert "far+sync" in tk.sessions() and "keeps trying" in r.stdout, r.stdout + r.stderr
    tk.tmux("kill-session", "-t", "=far+sync")


def test_a_loop_killed_during_an_earlier_start_is_no_dead_loop_of_the_run_started_again(tk: Env) -> None:
    """Issue 22.5: the loop of the run's earlier start was killed; the run, stopped and started again
    without --sync, showed SYNC LOOP DEAD (it never had a loop)."""
    tk.add_run("re", "echo hi; sleep 60", "sync_every = 60")
    tk.cli("start", "re")
    tk.cli("sync", "re", "--detach")
    d = tk.work / "runs" / "re"
    wait_until(lambda: (d / "STATUS.json").exists() and json.loads((d / "STATUS.json").read_text()).get("passes", 0) >= 1,
               timeout=20, what="the loop's first pass")
    pid = json.loads((d / "STATUS.json").read_text())["pid"]
    os.kill(pid, 9)
    wait_until(lambda: not pid_alive(pid), timeout=10, what="the loop gone")
    assert tk.status("re")["sync"]["loop"] == "dead"  # the same start: a dead loop, said
    tk.cli("stop", "re", "--grace", "1")
    wait_until(lambda: tk.status("re")["state"] not in ("running", "stopping"), timeout=20, what="the run stopped")
    tk.cli("start", "re")
    assert tk.status("re")["sync"]["loop"] is None
    assert "SYNC LOOP" not in tk.cli("status", "re").stdout


def test_a_link_planted_at_a_status_temp_name_is_never_written_through(tk: Env) -> None:
    """STATUS.json was written through a fixed temp name (.STATUS.json.tmp): a link planted there
    sent the write to wherever it pointed."""
    tk.cli("start", "pl", "--", "sleep", "60")
    d = tk.work / "runs" / "pl"
    d.mkdir(parents=True)
    victim = tk.work / "victim.txt"
    victim.write_text("the user's file")
    for name in (".STATUS.json.tmp", ".STATUS.txt.tmp", ".tmuxkit-sync.pl.json.tmp"):
        (d / name).symlink_to(victim)
    tk.cli("sync", "pl", "--once")
    assert victim.read_text() == "the user's file"
    assert json.loads((d / "STATUS.json").read_text())["state"] == "running"


def test_a_globbed_checkpoint_directory_with_a_json_inside_arrives_whole(tk: Env) -> None:
    """Attack: `checkpoints = "results/RUN/saves/*"` and save_pretrained() folders (config.json
    beside model.safetensors). The results pass brought the loose config.json first, and the
    checkpoint pass then took the folder for the user's own ("not brought by this sync"): the
    weights never arrived."""
    tk.add_run("gs", "sleep 60", 'checkpoints = "results/gs/saves/*"')
    tk.cli("start", "gs")
    res = tk.work / "results" / "gs" / "saves"
    for step in (100, 200):
        d = res / f"step_{step}"
        d.mkdir(parents=True)
        (d / "config.json").write_text('{"hidden": 8}')
        (d / "model.safetensors").write_bytes(os.urandom(1000))
        for f in (*d.iterdir(), d):
            _settled(f, 100 - step / 10)
    r = tk.cli("sync", "gs", "--once", "--checkpoints", "1")
    here = tk.work / "runs" / "gs" / "saves"
    assert "not brought by this sync" not in r.stdout, r.stdout
    assert _sha(here / "step_200" / "model.safetensors") == _sha(res / "step_200" / "model.safetensors")
    # A folder of the user's own by that name is still never touched.
    mine = tk.work / "mine" / "saves" / "step_200"
    mine.mkdir(parents=True)
    (mine / "config.json").write_text("the user's")
    r = tk.cli("sync", "gs", "--once", "--checkpoints", "1", "--to", str(tk.work / "mine"))
    assert sorted(q.name for q in mine.iterdir()) == ["config.json"] and (mine / "config.json").read_text() == "the user's"


def test_sync_to_a_folder_never_replaces_the_users_link_to_a_folder(tk: Env) -> None:
    """Attack: `sync --to .` in a project whose plots/ is the user's link to a folder elsewhere. rsync
    replaced the link with a folder of its own (the walk for files not ours never looked at a
    link to a folder): the user's link was gone."""
    res = tk.work / "results" / "lk"
    (res / "plots").mkdir(parents=True)
    (res / "plots" / "a.png").write_text("host png")
    (res / "m.json").write_text("{}")
    tk.cli("start", "lk", "--", "sleep", "60")
    elsewhere = tk.work / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "mine.png").write_text("the user's")
    mine = tk.work / "mine"
    mine.mkdir()
    (mine / "plots").symlink_to(elsewhere)
    r = tk.cli("sync", "lk", "--once", "--to", str(mine))
    assert (mine / "plots").is_symlink() and os.readlink(mine / "plots") == str(elsewhere)
    assert sorted(q.name for q in elsewhere.iterdir()) == ["mine.png"]
    assert (mine / "m.json").read_text() == "{}"
    assert "plots" in r.stdout and "not brought by this sync" in r.stdout, r.stdout


def test_sync_detach_beside_a_live_loop_with_other_options_says_so_and_changes_nothing(tk: Env) -> None:
    """Attack: with a loop syncing into A, `sync RUN --detach --to B` said "syncing RUN into B"
    (exit 0) and kept the loop into A: nothing ever came to B."""
    res = tk.work / "results" / "lv"
    res.mkdir(parents=True)
    (res / "m.json").write_text("{}")
    tk.cli("start", "lv", "--", "sleep", "60")
    a, b = tk.work / "A", tk.work / "B"
    tk.cli("sync", "lv", "--detach", "--to", str(a), "--every", "600")
    wait_until(lambda: (a / "m.json").exists(), timeout=30, what="the loop's first pass")
    r = tk.cli("sync", "lv", "--detach", "--to", str(b), check=2)
    assert "lv+sync" in r.stderr and str(a) in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert str(b) not in r.stdout and not b.exists()
    # The same options again: the live loop is the one asked for.
    r = tk.cli("sync", "lv", "--detach", "--to", str(a), "--every", "600")
    assert str(a) in r.stdout
    # A start --sync beside that loop (of an earlier start, asleep for its next pass) starts the run
    # and says the loop is kept.
    tk.cli("stop", "lv", "--grace", "1")
    r = tk.cli("start", "lv", "--sync", "--", "sleep", "60")
    assert "started lv" in r.stdout and "note:" in r.stdout and "lv+sync" in r.stdout, r.stdout


def test_two_runs_in_one_folder_never_take_each_others_sync_status(tk: Env) -> None:
    """Attack: runs a and b sync into one folder (the README allows it). b's --once pass read a's
    STATUS.json as its own: it named a's loop (pid, next pass) as b's, and counted on from a's
    passes and bytes; status of a then read b's."""
    for run in ("sa", "sb"):
        res = tk.work / "results" / run
        res.mkdir(parents=True)
        (res / f"{run}.json").write_text("{}")
        tk.cli("start", run, "--", "sleep", "60")
    shared = tk.work / "shared"
    tk.cli("sync", "sa", "--detach", "--to", str(shared), "--every", "600")
    wait_until(lambda: (shared / "sa.json").exists() and (shared / "STATUS.json").exists(), timeout=30,
               what="a's first pass")
    loop = json.loads((shared / "STATUS.json").read_text())["pid"]
    assert isinstance(loop, int)
    tk.cli("sync", "sb", "--once", "--to", str(shared))
    st = json.loads((shared / "STATUS.json").read_text())
    assert st["run"] == "sb" and st["pid"] is None and st["passes"] == 1, st
    assert "no sync loop" in (shared / "STATUS.txt").read_text()
    row = tk.status("sa")
    assert row.get("sync") is None or row["sync"].get("pid") in (None, loop), row.get("sync")


def test_a_checkpoint_the_user_added_to_here_is_never_pruned_with_their_files(tk: Env) -> None:
    """Attack: the user evaluates the backup checkpoint-100/ here (eval_results.json written into
    it). A newer checkpoint arrived and the prune removed checkpoint-100/ whole, the user's file
    with it. A unit changed here since the sync brought it is the user's again, as a file is."""
    res = tk.work / "results" / "ev"
    tk.cli("start", "ev", "--", "sleep", "60")
    _hf_unit(res, 100, age=100)
    ck = res / "ckpt"
    ck.mkdir()
    (ck / "step_5.pt").write_bytes(os.urandom(100))
    _settled(ck / "step_5.pt", 200)
    tk.cli("sync", "ev", "--once", "--checkpoints", "1")
    dest = tk.work / "runs" / "ev"
    assert _units(dest) == ["checkpoint-100"]
    (dest / "checkpoint-100" / "eval_results.json").write_text("the user's eval")
    _hf_unit(res, 200, age=50)
    r = tk.cli("sync", "ev", "--once", "--checkpoints", "1")
    assert _units(dest) == ["checkpoint-100", "checkpoint-200"], r.stdout
    assert (dest / "checkpoint-100" / "eval_results.json").read_text() == "the user's eval"
    # The user's copy is theirs from now on: a later prune leaves it too, and prunes what it brought.
    _hf_unit(res, 300, age=25)
    tk.cli("sync", "ev", "--once", "--checkpoints", "1")
    assert _units(dest) == ["checkpoint-100", "checkpoint-300"]


def test_lightnings_last_ckpt_rewritten_on_the_host_is_followed_here_pass_after_pass(tk: Env) -> None:
    """The unit's files noted as brought (to tell a user's change) never stop the sync from
    following a file of its own that the trainer rewrites."""
    ck = tk.work / "results" / "lf" / "checkpoints"
    ck.mkdir(parents=True)
    tk.cli("start", "lf", "--", "sleep", "60")
    here = tk.work / "runs" / "lf" / "checkpoints" / "last.ckpt"
    for epoch, age in ((1, 100), (2, 80), (3, 60)):
        (ck / "last.ckpt").write_bytes(os.urandom(100 * epoch))
        _settled(ck / "last.ckpt", age)
        tk.cli("sync", "lf", "--once", "--checkpoints", "1")
        assert _sha(here) == _sha(ck / "last.ckpt"), epoch
