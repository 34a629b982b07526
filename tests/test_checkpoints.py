"""Checkpoints as first-class objects (issue 10): units, completeness, order, and the watchdog's
choice of what to resume from, on real layouts written in the order real tools write them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import FAKES, Env, wait_until

CKPT = f"{sys.executable} {FAKES / 'ckpt_trainer.py'}"
FAST = "--backoff 1 --grace 3 --settle 2"


def _first(tk: Env, run: str, kind: str) -> dict[str, Any]:
    return next(e for e in tk.events(run) if e["event"] == kind)


def _watch(tk: Env, run: str, config: str) -> None:
    tk.add_run(run, config.split("\n", 1)[0], config.split("\n", 1)[1] if "\n" in config else "")
    tk.env["TMUXKIT_WATCH_OPTS"] = FAST
    tk.cli("start", run)
    tk.cli("watch", run, "--auto-resume", "--every", "1")


def test_listing_orders_by_completion_and_says_why_each_is_incomplete(tk: Env) -> None:
    tk.add_run("lay", f"{CKPT} --layout hf --steps 12 --every 3 --delay 0.02")
    tk.cli("start", "lay")
    wait_until(lambda: tk.status("lay")["state"] == "exited", timeout=20, what="the trainer to finish")
    res = tk.work / "results" / "lay"
    (res / "checkpoint-99").mkdir()
    (res / "checkpoint-99" / "optimizer.pt").write_bytes(b"half")  # no trainer_state.json yet
    (res / "x-step00000050-state").mkdir()
    (res / "x-step00000050-state" / "model.safetensors").write_bytes(b"w")  # no random_states_0.pkl yet
    (res / "a&b_step_7.pt").write_bytes(b"w")
    (res / "nl\nstep_8.pt").write_bytes(b"w")
    (res / "step_9.pt.tmp").write_bytes(b"w")
    (res / "empty_step_6.pt").write_bytes(b"")
    os.symlink("/etc/hostname", res / "link_step_70.pt")
    units = json.loads(tk.cli("checkpoints", "lay", "--json").stdout)
    by_name = {Path(u["path"]).name: u for u in units}
    complete = [Path(u["path"]).name for u in units if u["complete"]]
    # Newest first is the one completed last: a&b_step_7.pt was written after the run had ended.
    assert complete == ["a&b_step_7.pt", "checkpoint-12", "checkpoint-9", "checkpoint-6", "checkpoint-3"]
    assert "trainer_state.json" in by_name["checkpoint-99"]["reason"]
    assert "random_states" in by_name["x-step00000050-state"]["reason"]
    assert by_name["checkpoint-12"]["kind"] == "hf" and by_name["checkpoint-12"]["step"] == 12
    assert "newline" in by_name["nl?step_8.pt"]["reason"]
    assert by_name["empty_step_6.pt"]["reason"] == "empty"
    assert "step_9.pt.tmp" not in by_name  # not a checkpoint's name at all
    assert "link_step_70.pt" not in complete
    text = tk.cli("checkpoints", "lay").stdout
    assert "checkpoint-12" in text and "no: no trainer_state.json yet" in text


def test_resume_uses_the_checkpoint_the_ctrl_c_rung_just_saved(tk: Env) -> None:
    """Issue 10.5: stuck at step 130, the SIGINT handler saves step 130; resume from it, not 100."""
    _watch(tk, "sigsave", f'{CKPT} --steps 140 --every 100 --hang-at 130 --delay 0.005\n'
                          'stuck_after = 3\nresume = "--resume {checkpoint}"')
    wait_until(lambda: "finished" in tk.kinds("sigsave"), timeout=60, what="finished after resume")
    resumed = _first(tk, "sigsave", "resumed")
    assert resumed["checkpoint"].endswith("step_000130.pt"), resumed
    assert "at step 130" in tk.log_text("sigsave")
    # Evidence for a post-mortem, saved before the stop.
    ev = Path(_first(tk, "sigsave", "evidence_saved")["path"]).read_text()
    for part in ("== the pane's screen", "== the run's processes", "== py-spy dump", "== nvidia-smi",
                 "== df of the results directory", "== unavailable:"):
        assert part in ev, part
    assert "step 130" in ev.split("== the pane's screen")[1]


def test_a_torn_checkpoint_from_a_hung_writer_is_rejected_and_an_older_one_used(tk: Env) -> None:
    """Issue 10.3: the writer hangs half-way through step 10 (deaf to Ctrl-C); the torn file settles,
    the resume from it dies at once, so it is rejected and the resume falls back to step 5."""
    _watch(tk, "torn", f'{CKPT} --steps 12 --every 5 --hang-save-at 10 --delay 0.02\n'
                       'stuck_after = 3\nresume = "--resume {checkpoint}"\nmax_restarts = 5')
    wait_until(lambda: "finished" in tk.kinds("torn"), timeout=90, what="finished after the fallback")
    rejected = _first(tk, "torn", "checkpoint_rejected")
    assert rejected["checkpoint"].endswith("step_000010.pt")
    resumes = [e["checkpoint"] for e in tk.events("torn") if e["event"] == "resumed"]
    assert resumes[-1].endswith("step_000005.pt"), resumes
    # The rejection holds the torn file as it was (mtime, size, path): the resumed trainer went on
    # to write step 10 again, whole, and that rewrite of the same path is complete, not rejected.
    (line,) = (tk.run_dir("torn") / "rejected_checkpoints").read_text().splitlines()
    mtime, size, path = line.split("\t")
    assert path == rejected["checkpoint"]
    units = json.loads(tk.cli("checkpoints", "torn", "--json").stdout)
    whole = next(u for u in units if u["path"] == path)
    assert whole["complete"] and whole["reason"] is None, whole
    assert (whole["mtime"], whole["size"]) != (int(mtime), int(size))
    # A fresh start begins a new life: the rejections and the last attempt are forgotten.
    tk.cli("start", "torn")
    assert not (tk.run_dir("torn") / "rejected_checkpoints").exists()
    assert not (tk.run_dir("torn") / "attempt").exists()
    tk.cli("stop", "torn", "--grace", "1")  # the trainer is deaf to Ctrl-C at step 10: no 30 s wait


def test_a_half_written_hf_checkpoint_is_never_picked(tk: Env) -> None:
    """HF writes trainer_state.json last: checkpoint-10 without it is incomplete, so checkpoint-5 is used."""
    _watch(tk, "hfhang", f'{CKPT} --layout hf --steps 12 --every 5 --hang-save-at 10 --delay 0.02\n'
                         'stuck_after = 3\nresume = "--resume {checkpoint}"')
    wait_until(lambda: "finished" in tk.kinds("hfhang"), timeout=60, what="finished after resume")
    assert _first(tk, "hfhang", "resumed")["checkpoint"].endswith("checkpoint-5")
    assert "checkpoint_rejected" not in tk.kinds("hfhang")


def test_a_crash_right_after_a_save_resumes_from_that_save(tk: Env) -> None:
    """Issue 10.8: once the run's processes are gone a checkpoint needs no settling."""
    _watch(tk, "quick", f'{CKPT} --steps 8 --every 2 --crash-after-save-at 4 --delay 0.05\n'
                        'resume = "--resume {checkpoint}"')
    wait_until(lambda: "finished" in tk.kinds("quick"), timeout=60, what="finished after resume")
    assert _first(tk, "quick", "resumed")["checkpoint"].endswith("step_000004.pt")


def test_a_name_with_an_ampersand_reaches_the_command_exactly(tk: Env) -> None:
    """Issue 10.7: {checkpoint} is replaced literally (bash 5.2's patsub_replacement reads '&')."""
    _watch(tk, "amp", f'{CKPT} --steps 6 --every 1 --hang-at 3 --delay 0.02\n'
                      'stuck_after = 3\nresults = "results/a&b \'x\'"\nresume = "--resume {checkpoint}"')
    wait_until(lambda: "finished" in tk.kinds("amp"), timeout=60, what="finished after resume")
    want = str(tk.work / "results" / "a&b 'x'" / "step_000003.pt")
    assert _first(tk, "amp", "resumed")["checkpoint"] == want
    assert f"resumed from {want} at step 3" in tk.log_text("amp")


def test_the_restart_budget_belongs_to_the_run_across_watchdogs(tk: Env) -> None:
    """Issue 10.10: a second `watch` goes on counting; no-progress restarts weigh double."""
    _watch(tk, "budget", "exit 3\nmax_restarts = 3")
    wait_until(lambda: "restarted" in tk.kinds("budget"), timeout=30, what="a first restart")
    tk.cli("watch", "budget", "--auto-resume", "--every", "1")  # replaces the first watchdog
    wait_until(lambda: "budget_spent" in tk.kinds("budget"), timeout=60, what="budget spent")
    assert tk.kinds("budget").count("restarted") == 2  # as with one watchdog: 1 + 2 (no progress) ... spent
    first = _first(tk, "budget", "restarted")
    assert first["from"] == "scratch" and first["why"] == "no resume template"


def test_checkpoint_check_keeps_a_torn_file_from_ever_being_picked(tk: Env) -> None:
    """Issue 10.4: the run's own check (here: the file ends with its END marker, as a torch.load
    would insist) runs on the host with the path as one argument; exit 0 means usable."""
    check = f"{sys.executable} -c \\\"import sys; sys.exit(open(sys.argv[1], 'rb').read().endswith(b'END\\\\n') is False)\\\""
    _watch(tk, "checked", f'{CKPT} --steps 12 --every 5 --hang-save-at 10 --delay 0.02\n'
                          f'stuck_after = 3\nresume = "--resume {{checkpoint}}"\ncheckpoint_check = "{check}"')
    wait_until(lambda: "finished" in tk.kinds("checked"), timeout=60, what="finished after resume")
    assert _first(tk, "checked", "resumed")["checkpoint"].endswith("step_000005.pt")
    # Without the check the torn step 10 would be tried first, and rejected only after its resume died.
    assert "checkpoint_rejected" not in tk.kinds("checked")
    assert [e["event"] for e in tk.events("checked")].count("resumed") == 1


def test_a_name_with_a_tab_or_cr_is_never_complete_so_never_resumed_from(tk: Env) -> None:
    """Audit: a TAB or CR in a name was listed complete with its path changed ('?' for the TAB), so
    a resume would have used a path that does not exist. Any control character is like a newline."""
    tk.add_run("ctl", f"{CKPT} --steps 4 --every 2 --delay 0.02")
    tk.cli("start", "ctl")
    wait_until(lambda: tk.status("ctl")["state"] == "exited", timeout=20, what="the trainer to finish")
    res = tk.work / "results" / "ctl"
    for name in ("tab\tx_step_3000.pt", "cr\rx_step_3001.pt", "esc\x1bx_step_3002.pt", "del\x7fx_step_3003.pt"):
        (res / name).write_bytes(b"w")
        os.utime(res / name, (1, 1))  # long settled
    newest = json.loads(tk.script("tmuxkit-checkpoints", "ctl", "--newest", "1", "--json").stdout)
    assert [u["path"] for u in newest] == [str(res / "step_000004.pt")]
    assert Path(newest[0]["path"]).exists()
    units = {Path(u["path"]).name: u for u in json.loads(tk.cli("checkpoints", "ctl", "--json").stdout)}
    for shown in ("tab?x_step_3000.pt", "cr?x_step_3001.pt", "esc?x_step_3002.pt", "del?x_step_3003.pt"):
        assert not units[shown]["complete"] and "control character" in units[shown]["reason"], units[shown]


def test_a_name_with_a_newline_or_tab_is_skipped_with_an_event_and_not_used(tk: Env) -> None:
    """Issue 10.7: such a name is never passed on; the watchdog says so (checkpoint_skipped)."""
    _watch(tk, "nlskip", f'{CKPT} --steps 6 --every 1 --hang-at 3 --delay 0.02\n'
                         'stuck_after = 3\nresume = "--resume {checkpoint}"')
    res = tk.work / "results" / "nlskip"
    wait_until(lambda: (res / "step_000003.pt").exists(), timeout=20, what="step 3 saved")
    for name in ("nl\nstep_999.pt", "tab\tstep_998.pt"):
        (res / name).write_bytes(b"TORCH step 999\nEND\n")
        os.utime(res / name, (1, 1))
    wait_until(lambda: "finished" in tk.kinds("nlskip"), timeout=60, what="finished after resume")
    skipped = {e["checkpoint"]: e["why"] for e in tk.events("nlskip") if e["event"] == "checkpoint_skipped"}
    assert skipped == {str(res / "nl?step_999.pt"): "a newline in its name",
                       str(res / "tab?step_998.pt"): "a control character (tab, CR, ...) in its name, shown as ?"}
    assert _first(tk, "nlskip", "resumed")["checkpoint"] == str(res / "step_000003.pt")
    assert f"resumed from {res / 'step_000003.pt'} at step 3" in tk.log_text("nlskip")


def test_a_resume_that_only_loads_the_model_then_dies_made_no_progress(tk: Env) -> None:
    """Issue 10.10 / audit: a "Loading checkpoint shards 1/3 ... 3/3" bar before the crash is no
    step advance. The resume from step 4 made no progress: step 4 is rejected, that restart counts
    double, and the next resume falls back to step 2 (and, from there, goes on to the end)."""
    _watch(tk, "shards", f'{CKPT} --steps 8 --every 2 --crash-after-save-at 4 --crash-resuming-from 4 --delay 0.05\n'
                         'resume = "--resume {checkpoint}"\nmax_restarts = 3')
    wait_until(lambda: {"finished", "budget_spent"} & set(tk.kinds("shards")), timeout=90, what="the end")
    assert "Loading checkpoint shards: 100%" in tk.log_text("shards")
    rejected = _first(tk, "shards", "checkpoint_rejected")
    assert rejected["checkpoint"].endswith("step_000004.pt"), rejected
    resumes = [e["checkpoint"] for e in tk.events("shards") if e["event"] == "resumed"]
    assert [Path(r).name for r in resumes] == ["step_000004.pt", "step_000002.pt"], resumes
    weights = [w.split(":")[1] for w in (tk.run_dir("shards") / "restarts").read_text().split()]
    assert weights == ["2", "1"]  # the resume that made no progress counts double
    assert tk.kinds("shards")[-1] == "finished"


def test_a_resume_that_dies_at_once_is_a_crash_to_the_watchdog_not_a_failed_start(tk: Env) -> None:
    """A start watches its command for TMUXKIT_EARLY_WAIT (2 s) and fails when it dies: the
    watchdog's own restarts must not, or a resume from a torn checkpoint ends the watchdog
    (resume_failed) instead of being rejected. Here the watchdog runs with the default wait."""
    tk.add_run("early", f"{CKPT} --steps 6 --every 2 --crash-after-save-at 2 --crash-resuming-from 2 --delay 0.05",
               'resume = "--resume {checkpoint}"\nmax_restarts = 3')
    tk.env["TMUXKIT_WATCH_OPTS"] = FAST
    tk.cli("start", "early")
    tk.tmux("set-environment", "-g", "TMUXKIT_EARLY_WAIT", "2")  # the watchdog's session gets the default
    tk.cli("watch", "early", "--auto-resume", "--every", "1")
    wait_until(lambda: {"finished", "budget_spent", "resume_failed"} & set(tk.kinds("early")), timeout=90,
               what="the end")
    kinds = tk.kinds("early")
    assert "resume_failed" not in kinds, tk.events("early")
    assert _first(tk, "early", "checkpoint_rejected")["checkpoint"].endswith("step_000002.pt")


def test_lightning_best_plus_last_resumes_from_last_ckpt(tk: Env) -> None:
    """Issue 27: save_top_k=1 + save_last=True: last.ckpt (completed after every stepped one) is the
    newest, not the stale best epoch=0-step=3.ckpt."""
    _watch(tk, "lbest", f'{CKPT} --layout lightning --steps 12 --every 3 --hang-at 10 --delay 0.05\n'
                        'stuck_after = 3\nresume = "--resume {checkpoint}"')
    wait_until(lambda: "finished" in tk.kinds("lbest"), timeout=60, what="finished after resume")
    resumed = _first(tk, "lbest", "resumed")
    assert resumed["checkpoint"].endswith("checkpoints/last.ckpt"), resumed
    assert "at step 10" in tk.log_text("lbest")


@pytest.mark.parametrize("layout", ["torch", "hf", "lightning", "detectron"])
def test_sync_keeps_the_final_model_whose_name_has_no_step(tk: Env, layout: str) -> None:
    """Issue 22.1: with --checkpoints 1 the final model (completed last, no step in its name) reaches
    the laptop, not the newest stepped checkpoint."""
    tk.add_run("fin", "sleep 60")
    tk.cli("start", "fin")
    res = tk.work / "results" / "fin"
    t = time.time() - 600
    units: list[Path] = []
    if layout == "torch":
        units = [res / "ckpt" / "step_000100.pt", res / "ckpt" / "step_000200.pt", res / "ckpt" / "final.pt"]
    elif layout == "hf":
        for s in (100, 200):
            (res / f"checkpoint-{s}").mkdir(parents=True)
            (res / f"checkpoint-{s}" / "trainer_state.json").write_text(json.dumps({"global_step": s}))
            units.append(res / f"checkpoint-{s}")
        units.append(res / "model.safetensors")
    elif layout == "lightning":
        units = [res / "checkpoints" / "epoch=0-step=40.ckpt", res / "checkpoints" / "epoch=3-step=200.ckpt",
                 res / "checkpoints" / "last.ckpt"]
    else:
        units = [res / "model_0000099.pth", res / "model_0000199.pth", res / "model_final.pth"]
    for i, u in enumerate(units):
        if not u.is_dir():
            u.parent.mkdir(parents=True, exist_ok=True)
            u.write_bytes(b"weights %d" % i)
        for f in [u, *u.iterdir()] if u.is_dir() else [u]:
            os.utime(f, (t + 60 * i, t + 60 * i))
    tk.cli("sync", "fin", "--once", "--checkpoints", "1")
    dest = tk.work / "runs" / "fin"
    final = dest / units[-1].relative_to(res)
    assert final.is_file(), sorted(str(p.relative_to(dest)) for p in dest.rglob("*"))
    assert not (dest / units[-2].relative_to(res)).exists()
    tk.cli("stop", "fin", "--grace", "1")


def test_start_resume_resumes_from_the_newest_complete_checkpoint_and_a_plain_start_says_they_are_there(tk: Env) -> None:
    """Issue 27.6: `start RUN --resume` resumes with the run's resume template; a plain start on a
    results folder that holds checkpoints says so in one line, and starts from step 0."""
    tk.add_run("rs", f"{CKPT} --steps 6 --every 2 --delay 0.02", 'resume = "--resume {checkpoint}"')
    first = tk.cli("start", "rs")
    assert "holds checkpoints" not in first.stdout + first.stderr  # nothing there yet
    wait_until(lambda: tk.status("rs")["state"] == "exited", timeout=20, what="the trainer to finish")
    res = (tk.work / "results" / "rs").resolve()
    plain = tk.cli("start", "rs")
    (hint,) = [ln for ln in (plain.stdout + plain.stderr).splitlines() if "holds checkpoints" in ln]
    assert f"newest {res}/step_000006.pt (step 6)" in hint and "tmuxkit start rs --resume" in hint, hint
    wait_until(lambda: tk.status("rs")["state"] == "exited", timeout=20, what="the plain start to finish")
    assert "resumed from" not in tk.log_text("rs")
    (res / "step_000008.pt.tmp").write_bytes(b"torn")  # not a checkpoint's name: never chosen
    r = tk.cli("start", "rs", "--resume")
    assert f"resuming from {res}/step_000006.pt (step 6)" in r.stdout, r.stdout
    wait_until(lambda: f"resumed from {res}/step_000006.pt at step 6" in tk.log_text("rs"), timeout=20,
               what="the trainer to resume from step 6")
    wait_until(lambda: tk.status("rs")["state"] == "exited", timeout=20, what="the resumed run to finish")
    # No template: one clear line, exit 2, nothing started.
    tk.add_run("nt", f"{CKPT} --steps 2", "")
    bad = tk.cli("start", "nt", "--resume", check=2)
    assert "no resume template" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "nt" not in tk.sessions()


def test_a_zip_torn_by_kill_9_is_never_the_newest_to_sync(tk: Env) -> None:
    """Issue 27.4: torch.save writes straight to the final name; killed with -9 half-way, the file has
    no end-of-central-directory record: not complete, so the sync keeps the older whole one."""
    tk.add_run("tz", "sleep 60")
    tk.cli("start", "tz")
    ck = tk.work / "results" / "tz" / "ckpt"
    ck.mkdir(parents=True)
    writer = [sys.executable, str(FAKES / "ckpt_writer.py"), "zip"]
    subprocess.run([*writer, str(ck / "step_000100.pt")], check=True, capture_output=True, timeout=60)
    p = subprocess.Popen([*writer, str(ck / "final.pt"), "--hang"], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "half"
    finally:
        p.kill()  # SIGKILL, mid-file
        p.wait(timeout=10)
    t = time.time() - 600
    os.utime(ck / "step_000100.pt", (t, t))
    os.utime(ck / "final.pt", (t + 60, t + 60))
    units = {Path(u["path"]).name: u for u in json.loads(tk.cli("checkpoints", "tz", "--json").stdout)}
    assert not units["final.pt"]["complete"] and "end-of-central-directory" in units["final.pt"]["reason"]
    assert units["step_000100.pt"]["complete"]
    tk.cli("sync", "tz", "--once", "--checkpoints", "1")
    dest = tk.work / "runs" / "tz" / "ckpt"
    assert sorted(f.name for f in dest.iterdir()) == ["step_000100.pt"]
    tk.cli("stop", "tz", "--grace", "1")


def test_results_inside_a_folder_named_checkpoints_are_not_all_checkpoints(tk: Env) -> None:
    """Attack: results at checkpoints/RUN (a common layout: /workspace/checkpoints/myrun). The rule
    "each entry of a ckpt/ or checkpoints/ folder" matched the results' own path, so every entry of
    the results was a unit: plots/ was "the newest checkpoint" (what a resume or a sync would take)
    and the real ckpt/step_200.pt was never listed."""
    res = tk.work / "checkpoints" / "inr"
    (res / "ckpt").mkdir(parents=True)
    (res / "plots").mkdir()
    for step in (100, 200):
        (res / "ckpt" / f"step_{step}.pt").write_bytes(os.urandom(100))
        t = time.time() - 300 + step
        os.utime(res / "ckpt" / f"step_{step}.pt", (t, t))
    (res / "plots" / "a.png").write_text("png")
    tk.cli("start", "inr", "--results", str(res), "--", "sleep", "60")
    rows = json.loads(tk.cli("checkpoints", "inr", "--json").stdout)
    assert [Path(r["path"]).relative_to(res).as_posix() for r in rows] == ["ckpt/step_200.pt", "ckpt/step_100.pt"], rows


def test_start_resume_finds_the_checkpoints_of_a_results_folder_that_is_a_link(tk: Env) -> None:
    """Attack: results/RUN a link to a bigger disk. The run lists its checkpoints (its results are
    the link's target), but start --resume looked through the link with find, which does not enter
    a link it starts at: "nothing to resume from"."""
    real = tk.work / "bigdisk" / "lnk"
    (real / "ckpt").mkdir(parents=True)
    (real / "ckpt" / "step_7.pt").write_bytes(os.urandom(100))
    (tk.work / "results").mkdir()
    (tk.work / "results" / "lnk").symlink_to(real)
    tk.add_run("lnk", "bash -c 'echo ARGS \"$@\"; sleep 60' x", 'resume = "--resume {checkpoint}"')
    r = tk.cli("start", "lnk", "--resume")
    assert "resuming from" in r.stdout and "step_7.pt" in r.stdout, r.stdout
    wait_until(lambda: "ARGS --resume" in tk.log_text("lnk"), timeout=20, what="the resumed command")
    assert "step_7.pt" in tk.log_text("lnk")


def test_tensorboard_logs_in_a_checkpoints_folder_are_not_the_newest_checkpoint(tk: Env) -> None:
    """Attack: an HF Trainer with output_dir="checkpoints" logs TensorBoard into checkpoints/runs/,
    written until the end. Each entry of a checkpoints/ folder is a unit, and runs/ (no weights:
    nothing against it) was the newest complete checkpoint: what a resume and a sync would take."""
    out = tk.work / "results" / "tbr" / "checkpoints"
    unit = out / "checkpoint-500"
    unit.mkdir(parents=True)
    for name in ("model.safetensors", "optimizer.pt"):
        (unit / name).write_bytes(os.urandom(100))
    (unit / "trainer_state.json").write_text('{"global_step": 500}')
    logs = out / "runs" / "Dec05_host"
    logs.mkdir(parents=True)
    (logs / "events.out.tfevents.1796500000.host.123.0").write_bytes(os.urandom(300))
    for f, age in ((*unit.iterdir(), unit), 200), ((*logs.iterdir(),), 100):
        for p in f:
            os.utime(p, (time.time() - age, time.time() - age))
    tk.cli("start", "tbr", "--", "sleep", "60")
    rows = json.loads(tk.cli("checkpoints", "tbr", "--json", "--complete").stdout)
    assert [Path(r["path"]).name for r in rows] == ["checkpoint-500"], rows


def test_hfs_training_args_beside_the_final_model_is_not_the_newest_checkpoint(tk: Env) -> None:
    """Attack: trainer.save_model() into an output_dir named checkpoints writes model.safetensors,
    then training_args.bin (a torch zip of the arguments) last. That was the newest complete
    checkpoint: a resume took it, and `sync --checkpoints 1` kept it instead of the final model."""
    out = tk.work / "results" / "hfa" / "checkpoints"
    out.mkdir(parents=True)
    import zipfile

    (out / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"__metadata__\":{}}")
    with zipfile.ZipFile(out / "training_args.bin", "w") as z:
        z.writestr("archive/data.pkl", b"args")
    (out / "tokenizer.model").write_bytes(os.urandom(50))
    for name, age in (("model.safetensors", 100), ("tokenizer.model", 99), ("training_args.bin", 98)):
        os.utime(out / name, (time.time() - age, time.time() - age))
    tk.cli("start", "hfa", "--", "sleep", "60")
    rows = json.loads(tk.cli("checkpoints", "hfa", "--json").stdout)
    assert [Path(r["path"]).name for r in rows] == ["model.safetensors"], rows
    tk.cli("sync", "hfa", "--once", "--checkpoints", "1")
    assert (tk.work / "runs" / "hfa" / "checkpoints" / "model.safetensors").exists()
