"""GPUs and the host queue from the laptop's side: config keys, start --gpus/--after, the queued answer."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import FAKES, Env, wait_until

from tmuxkit.config import RUN_KEYS


def gpu_box(tk: Env, tmp_path: Path, n: int) -> Path:
    d = tmp_path / "gpubin"
    d.mkdir()
    shutil.copy(FAKES / "nvidia-smi", d / "nvidia-smi")
    (d / "gpus").write_text("".join(f"{i} GPU-{i:08d}-fake 81559\n" for i in range(n)))
    tk.env["PATH"] = f"{d}:{tk.env['PATH']}"
    tk.env["TMUXKIT_QUEUE_POLL"] = "1"
    return d


def test_config_gpus_and_after_are_checked() -> None:
    assert RUN_KEYS["gpus"](2) == 2
    assert RUN_KEYS["after"]("prep") == "prep"
    for bad in (-1, "2", True, 1000):
        with pytest.raises(ValueError):
            RUN_KEYS["gpus"](bad)
    with pytest.raises(ValueError):
        RUN_KEYS["after"]("no/such")


def test_start_gpus_from_config_then_queued_with_its_position_and_blocker(tk: Env, tmp_path: Path) -> None:
    gpu_box(tk, tmp_path, 1)
    cmd = f"export FAKE_GPU_MIB=1000; echo seen=$CUDA_VISIBLE_DEVICES,$CUDA_DEVICE_ORDER >{tmp_path}/seen.$TMUXKIT_RUN; exec sleep 300"
    tk.add_run("a", cmd, "gpus = 1")
    tk.add_run("b", cmd, "gpus = 1")
    tk.cli("start", "a")
    wait_until(lambda: (tmp_path / "seen.a").exists(), what="run a's command")
    assert (tmp_path / "seen.a").read_text().strip() == "seen=0,PCI_BUS_ID"
    r = tk.cli("start", "b")
    assert "queued (1st): needs 1 GPU; GPU 0 held by run a" in r.stdout + r.stderr
    assert not (tmp_path / "seen.b").exists()
    tk.cli("stop", "a")
    wait_until(lambda: (tmp_path / "seen.b").exists(), timeout=15, what="b dispatched when a ended")
    assert (tmp_path / "seen.b").read_text().strip() == "seen=0,PCI_BUS_ID"


def test_env_cuda_visible_devices_with_gpus_is_one_line_exit_2(tk: Env, tmp_path: Path) -> None:
    gpu_box(tk, tmp_path, 2)
    tk.add_run("c", "sleep 300", 'gpus = 1\nenv = { CUDA_VISIBLE_DEVICES = "1" }')
    r = tk.cli("start", "c", check=2)
    assert "sets CUDA_VISIBLE_DEVICES while gpus = 1" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_status_json_shows_gpus_of_a_live_run_and_the_queued_run_within_the_schema(tk: Env, tmp_path: Path) -> None:
    import json

    import jsonschema

    import tmuxkit

    box = gpu_box(tk, tmp_path, 1)
    cmd = "export FAKE_GPU_MIB=1234; exec sleep 300"
    tk.add_run("a", cmd, "gpus = 1")
    tk.add_run("b", cmd, "gpus = 1")
    tk.cli("start", "a")
    wait_until(lambda: (tk.status("a").get("gpus") or [{}])[0].get("run_mem_mib") == 1234, what="a's GPU memory")
    n = len((box / "argv.log").read_text().splitlines())
    tk.cli("status", "--json")
    assert len((box / "argv.log").read_text().splitlines()) - n == 2  # one inventory (its two queries) per status
    tk.cli("start", "b")
    rows = json.loads(tk.cli("status", "--json").stdout)
    schema = json.loads((Path(tmuxkit.__file__).parent / "schemas" / "status.schema.json").read_text())
    jsonschema.validate(rows, schema, cls=jsonschema.Draft202012Validator)
    by = {r["run"]: r for r in rows}
    assert by["a"]["gpus"] == [{"index": 0, "uuid": "GPU-00000000-fake", "util_pct": 97, "run_mem_mib": 1234,
                                "mem_used_mib": 1234, "mem_total_mib": 81559}]
    assert by["b"]["state"] == "queued" and by["b"]["queue_position"] == 1
    assert by["b"]["waiting_for"] == "needs 1 GPU; GPU 0 held by run a"
    (box / "hang").write_text("")  # a crashed driver: status waits no more than its limit, and says why
    t0 = time.monotonic()
    a = tk.status("a")
    assert time.monotonic() - t0 < 6
    assert a["state"] == "running" and "no answer within 2 s" in a["gpus_error"] and a["gpus"][0]["util_pct"] is None


def test_status_table_shows_gpu_use_and_what_a_queued_run_waits_for(tk: Env, tmp_path: Path) -> None:
    gpu_box(tk, tmp_path, 1)
    tk.add_run("a", "export FAKE_GPU_MIB=2048; exec sleep 300", "gpus = 1")
    tk.add_run("b", "sleep 300", "gpus = 1")
    tk.cli("start", "a")
    tk.cli("start", "b")
    wait_until(lambda: "GPU 0 97% 2.0 GiB" in tk.cli("status").stdout, what="a's GPU in the table")
    out = tk.cli("status").stdout
    assert "queued" in out and "#1 in the host's queue: needs 1 GPU; GPU 0 held by run a" in out


def test_gpus_verb_names_the_run_and_the_foreign_process_holding_each_gpu(tk: Env, tmp_path: Path) -> None:
    import json
    import subprocess

    gpu_box(tk, tmp_path, 2)
    tk.add_run("a", "export FAKE_GPU_MIB=2048; exec sleep 300", "gpus = 1")
    tk.cli("start", "a")
    env = {**tk.env, "FAKE_GPU_MIB": "30720", "CUDA_VISIBLE_DEVICES": "1", "TMUXKIT_HOME": str(tmp_path / "other")}
    foreign = subprocess.Popen(["sleep", "300"], env=env)
    try:
        wait_until(lambda: json.loads(tk.cli("gpus", "--json").stdout)["gpus"][1]["state"] == "busy", what="foreign seen")
        data = json.loads(tk.cli("gpus", "--json").stdout)
        g0, g1 = data["gpus"]
        assert (g0["state"], g0["holder"], g0["run_mem_mib"]) == ("claimed", "run a", 2048)
        assert g1["holder"] == f"used by PID {foreign.pid} (sleep, 30.0 GiB, not tmuxkit's)" and g1["pid"] == foreign.pid
        assert isinstance(g0["held_s"], int) and isinstance(g1["held_s"], int)
        out = tk.cli("gpus").stdout
        assert "run a" in out and f"PID {foreign.pid}" in out and "2.0 GiB / 79.6 GiB" in out
    finally:
        foreign.kill()
        foreign.wait()


def test_host_max_runs_goes_to_start_and_queues_by_count(tk: Env, tmp_path: Path) -> None:
    from tmuxkit.config import HOST_KEYS
    from tmuxkit.runs import StartArgs

    assert HOST_KEYS["max_runs"](2) == 2
    with pytest.raises(ValueError):
        HOST_KEYS["max_runs"](-1)
    assert StartArgs(run="r", command="true", max_runs=2, gpus=1, after="o").argv()[-6:] == [
        "--gpus", "1", "--after", "o", "--max-runs", "2"]
    # the container override: a host key, passed to start only for a run that asks for GPUs
    assert HOST_KEYS["gpus_ignore_foreign"](True) is True
    with pytest.raises(ValueError):
        HOST_KEYS["gpus_ignore_foreign"]("yes")
    assert StartArgs(run="r", command="true", gpus=1, gpus_ignore_foreign=True).argv()[-1] == "--gpus-ignore-foreign"
    assert "--gpus-ignore-foreign" not in StartArgs(run="r", command="true", gpus_ignore_foreign=True).argv()
    tk.env["TMUXKIT_MAX_RUNS"] = "1"  # the host's own limit (local has no [hosts] table)
    tk.add_run("one", "sleep 300")
    tk.add_run("two", "echo two ran")
    tk.cli("start", "one")
    r = tk.cli("start", "two")
    assert "queued (1st): waits for a run slot: 1 of max_runs 1 live" in r.stdout + r.stderr
    tk.cli("stop", "one")
    wait_until(lambda: "two ran" in tk.log_text("two") if tk.log("two").exists() else False, timeout=15, what="two")


def test_stop_of_a_queued_run_takes_it_out_of_the_queue(tk: Env, tmp_path: Path) -> None:
    import json

    gpu_box(tk, tmp_path, 1)
    tk.add_run("a", "sleep 300", "gpus = 1")
    tk.add_run("b", "sleep 300", "gpus = 1")
    tk.cli("start", "a")
    tk.cli("start", "b")
    assert "taken out, it will not start" in tk.cli("stop", "b").stdout
    rows = json.loads(tk.cli("status", "--json").stdout)
    assert [r["run"] for r in rows] == ["a"]
    tk.cli("stop", "a")
    assert not tk.run_dir("b").joinpath("meta").exists()  # it never started


def _titles() -> list[str]:
    from conftest import Sink

    return [str(m.get("title", "")) for m in Sink.received]


def test_a_run_blocked_by_its_failed_after_run_is_notified_from_the_host(tk: Env, sink: int) -> None:
    """blocked is a notification, not only an event: the host's queue sends it (no laptop process
    is left running once start returned); the targets were kept on the host when the run was queued."""
    from conftest import Sink

    tk.env["TMUXKIT_QUEUE_POLL"] = "1"
    go = tk.work / "go"
    tk.add_run("c", f"while [ ! -f {go} ]; do sleep 0.1; done; exit 3")
    tk.add_run("d", "echo d ran", f'after = "c"\nnotify = ["json://127.0.0.1:{sink}/"]')
    tk.cli("start", "c")
    r = tk.cli("start", "d")
    assert "queued (1st): waits for run c to exit 0" in r.stdout + r.stderr
    assert "why the host's queue never started it" in r.stdout
    go.write_text("")
    wait_until(lambda: "tmuxkit: d blocked" in _titles(), timeout=20, what="the blocked notification")
    msg = next(m for m in Sink.received if m.get("title") == "tmuxkit: d blocked")
    assert "never started: run c failed (exit 3)" in str(msg.get("message"))
    assert "after" not in str(msg.get("message")).split(",")[0]  # no earlier life's duration
    assert not tk.run_dir("d").joinpath("meta").exists()  # it never started
    time.sleep(1.5)  # the dispatcher's next passes send it no second time
    assert _titles() == ["tmuxkit: d blocked"]


def test_a_queued_run_refused_at_its_turn_is_notified_from_the_host(tk: Env, tmp_path: Path, sink: int) -> None:
    from conftest import Sink

    gpu_box(tk, tmp_path, 1)
    shared = tmp_path / "shared"
    go = tmp_path / "h-may-end"
    # h holds the GPU until the hand-made lock is in place (on a loaded box q's start alone can take
    # longer than a fixed 2 s: q then started before the lock came, and nothing was refused).
    tk.add_run("h", f"export FAKE_GPU_MIB=100; while [ ! -e {go} ]; do sleep 0.1; done", "gpus = 1")
    tk.add_run("q", "sleep 300", f'gpus = 1\nresults = "{shared}"\nnotify = ["json://127.0.0.1:{sink}/"]')
    tk.cli("start", "h")
    r = tk.cli("start", "q")
    assert "queued (1st)" in r.stdout + r.stderr
    holder = subprocess.Popen(["sleep", "300"])
    try:
        (shared / "training.lock").write_text(f"{holder.pid}\n")  # a hand-made lock: a trainer writes here now
        go.touch()
        # h's end (its runner's tail waits up to 15 s for its log writer), the dispatch, q's refused start
        # and the send: a minute on a loaded box.
        wait_until(lambda: "tmuxkit: q queue_refused" in _titles(), timeout=60, what="the refusal notified")
        msg = next(m for m in Sink.received if m.get("title") == "tmuxkit: q queue_refused")
        assert f"not started at its turn: locked by PID {holder.pid}" in str(msg.get("message"))
    finally:
        holder.kill()
        holder.wait()


def test_cleanup_never_drops_a_queued_run(tk: Env, tmp_path: Path) -> None:
    """cleanup (zombies, dead sessions, stale locks) and cleanup --older-than (ended runs) leave the
    host's queue alone: a queued run whose earlier life ended (and is old enough to forget) stays
    queued, and starts at its turn."""
    import json

    gpu_box(tk, tmp_path, 1)
    tk.add_run("a", "sleep 300", "gpus = 1")
    tk.add_run("b", "sleep 300", "gpus = 1")
    tk.cli("start", "b", "--gpus", "0", "--early-wait", "0")  # an earlier life of b, ended at once
    tk.cli("stop", "b")
    tk.cli("start", "a")
    assert "queued" in tk.cli("start", "b").stdout
    time.sleep(1.1)  # --older-than 1s below: b's earlier life ended over a second ago
    tk.cli("cleanup")
    tk.cli("cleanup", "--older-than", "1s")
    rows = {r["run"]: r for r in json.loads(tk.cli("status", "--json").stdout)}
    assert rows["b"]["state"] == "queued" and rows["b"]["queue_position"] == 1
    tk.cli("stop", "a")
    wait_until(lambda: tk.status("b").get("state") == "running", timeout=15, what="b dispatched after the cleanups")


def test_gpus_on_a_host_with_no_gpu_is_one_line_exit_2_and_nothing_queued(tk: Env) -> None:
    tk.add_run("x", "sleep 300", "gpus = 1")  # this machine has no nvidia-smi and no ioreg
    r = tk.cli("start", "x", check=2)
    assert r.stderr.startswith("tmuxkit: ") and "asks for 1 GPU(s), but this host has none" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tk.home / "queue").exists() or not [p for p in (tk.home / "queue").iterdir() if p.name[0].isdigit()]
    assert not tk.run_dir("x").exists()


def test_start_watch_of_a_queued_run_starts_its_watchdog_when_the_queue_starts_it(tk: Env, tmp_path: Path) -> None:
    gpu_box(tk, tmp_path, 1)
    tk.add_run("a", "sleep 300", "gpus = 1")
    tk.add_run("b", "sleep 300", "gpus = 1")
    tk.cli("start", "a")
    r = tk.cli("start", "b", "--watch")
    assert "queued (1st)" in r.stdout + r.stderr
    assert "once the host's queue starts it: its watchdog starts with it" in r.stdout
    assert not tk.run_dir("b").joinpath("watchdog").exists()
    tk.cli("stop", "a")
    wait_until(lambda: tk.status("b").get("state") == "running", timeout=15, what="b dispatched")
    wait_until(lambda: tk.run_dir("b").joinpath("watchdog").exists(), timeout=15, what="b's watchdog")
    wait_until(lambda: "b+watch" in tk.tmux("list-sessions", "-F", "#{session_name}").stdout.split(),
               timeout=10, what="b's watchdog session")
