"""One lifecycle, four host kinds (issue 28): a local tmux host, a tmux host over ssh (the loopback
sshd), a local Slurm (tests/slurm.py) and a Slurm behind an ssh login node (the same sshd in front
of the same cluster). The same scenarios run on all four, side by side in one tmuxkit.toml (one run
per kind, each scenario's four runs at once): the same verbs, states, messages and `status --json`
keys. Where the design makes a kind differ (a Slurm run starts `pending`; its start line names the
job), the difference is asserted, not skipped. Without a real Slurm (not root, no packages) the two
tmux kinds still run and the Slurm ones are named as skipped in the test's output.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import slurm as slurm_mod
from conftest import SHELL, Env, wait_until

ROOT = Path(__file__).resolve().parent.parent
TRAINER = ROOT / "tests" / "fakes" / "trainer.py"

pytestmark = pytest.mark.timeout(180)


@dataclass(frozen=True)
class Kind:
    id: str  # the kind, as the runs' names end
    host: str  # its host in tmuxkit.toml ("local": no host line)
    slurm: bool


KINDS: tuple[Kind, ...] = (Kind("local", "local", False), Kind("ssh", "box", False), Kind("slurm", "cluster", True),
         Kind("slurm-ssh", "login", True))


@dataclass
class Hosts:
    tk: Env
    kinds: tuple[Kind, ...]
    results: Path  # every run's results under it, by run name

    def add(self, scenario: str, command: str) -> dict[Kind, str]:
        """One run of SCENARIO on each kind: {kind: run name}."""
        names = {}
        for k in self.kinds:
            name = f"{scenario}-{k.id}"
            host = "" if k.host == "local" else f'host = "{k.host}"\n'
            self.tk.add_run(name, command, f'{host}cwd = "{self.results.parent}"\nresults = "{self.results / name}"')
            names[k] = name
        return names

    def log(self, run: str) -> Path:
        return self.results / run / "tmuxkit" / f"{run}.log"

    def log_text(self, run: str) -> str:
        p = self.log(run)
        return p.read_text(errors="replace") if p.exists() else ""

    def row(self, run: str) -> dict[str, Any]:
        (row,) = json.loads(self.tk.cli("status", run, "--json").stdout)
        assert isinstance(row, dict)
        return row

    def until(self, runs: dict[Kind, str], ok: Callable[[Kind, dict[str, Any]], bool], what: str,
              timeout: float = 60) -> dict[Kind, dict[str, Any]]:
        """Each run's status row once OK holds for all of them (asked of all hosts in one status call)."""
        last: dict[Kind, dict[str, Any]] = {}

        def reached() -> bool:
            rows = {r["run"]: r for r in json.loads(self.tk.cli("status", "--json", *runs.values()).stdout)}
            last.clear()
            last.update({k: rows.get(n, {}) for k, n in runs.items()})
            return all(ok(k, r) for k, r in last.items())

        wait_until(reached, timeout=timeout, interval=0.3,
                   what=f"{what}: " + "; ".join(f"{k.id}: {r.get('state')} {r.get('progress')}"
                                                for k, r in last.items()))
        return dict(last)


def each(runs: dict[Any, str], fn: Callable[[Any, str], Any]) -> dict[Any, Any]:
    """FN on the four kinds at once (a Slurm stop waits for its job; the others need not wait for it)."""
    with ThreadPoolExecutor(len(runs)) as pool:
        futures = {k: pool.submit(fn, k, n) for k, n in runs.items()}
        return {k: f.result() for k, f in futures.items()}


def trainer(*args: str) -> str:
    return shlex.join([sys.executable, str(TRAINER), *args])


@pytest.fixture
def hosts(tk: Env, sshd: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Hosts]:
    # Both ssh hosts are this machine through the one sshd, so ssh gives them one ControlMaster (its
    # path hashes the address, port and user) and the first one's SetEnv: the same for both.
    remote_env = {"TMUXKIT_HOME": str(tmp_path / "remote-home")}
    kinds = KINDS
    cluster = None
    if slurm_mod.unavailable():
        kinds = tuple(k for k in KINDS if not k.slurm)
        print(f"Slurm kinds skipped: {slurm_mod.unavailable()}")
    else:
        cluster = request.getfixturevalue("cluster")
        tk.env.update(cluster.env())
        remote_env.update(cluster.env())
    box = sshd.client_config(tmp_path / "ssh_box", "tkbox", remote_env)
    conf = f'[hosts.box]\nssh = "tkbox"\nssh_config = "{box}"\n'
    if cluster is not None:
        login = sshd.client_config(tmp_path / "ssh_login", "tklogin", remote_env)
        conf += f'[hosts.cluster]\nkind = "slurm"\n[hosts.login]\nkind = "slurm"\nssh = "tklogin"\nssh_config = "{login}"\n'
    tk.write_config(conf)
    results = tmp_path / "res"
    results.mkdir()
    try:
        yield Hosts(tk=tk, kinds=kinds, results=results)
    finally:
        if cluster is not None:
            for home in (tk.home, tmp_path / "remote-home"):
                for d in (home / "slurm").glob("*"):
                    subprocess.run(["bash", str(SHELL / "tmuxkit-slurm"), "watch", d.name, "--off"],
                                   env={**tk.env, "TMUXKIT_HOME": str(home)}, capture_output=True, timeout=30)
            cluster.run("scancel", "--user=root", "--full", "--signal=KILL", check=False)
            wait_until(lambda: not cluster.run("squeue", "-h", "-o", "%i", check=False).stdout.strip(), timeout=30,
                       interval=0.2, what="every job gone")


def test_start_status_logs_events_stop_on_every_host_kind(hosts: Hosts) -> None:
    tk = hosts.tk
    runs = hosts.add("life", trainer("--steps", "1000", "--delay", "0.2"))
    started = each(runs, lambda k, n: tk.cli("start", n))
    for k, r in started.items():
        if k.slurm:  # the design's difference: a batch job, queued first
            assert f"submitted {runs[k]} to {k.host} as Slurm job" in r.stdout, (k, r.stdout)
        else:
            assert f"started {runs[k]} on {k.host}" in r.stdout, (k, r.stdout)
    first = {k: hosts.row(n) for k, n in runs.items()}
    for k, row in first.items():
        # a Slurm run is pending until the scheduler starts it (it may have by now); a tmux run runs at once
        assert row["state"] in (("pending", "running") if k.slurm else ("running",)), (k, row)
        assert row["host"] == k.host, (k, row)
    rows = hosts.until(runs, lambda k, r: r.get("state") == "running" and (r.get("progress") or {}).get("step", 0) >= 2
                       and r.get("uptime_s") is not None, "every run running with progress")
    for k, row in rows.items():
        assert row["last_line"].startswith("step "), (k, row)
        assert row["exit_code"] is None and row["stop_rung"] == "" and row["restarts"] == 0, (k, row)
        assert row["log_path"] == str(hosts.log(runs[k])), (k, row)
    # the same --json schema on every kind
    keys = {k: sorted(row) for k, row in rows.items()}
    assert all(v == keys[KINDS[0]] for v in keys.values()), {k.id: set(v) ^ set(keys[KINDS[0]]) for k, v in keys.items()}
    # the table: the same columns, one row a run
    table = tk.cli("status", *runs.values()).stdout
    for k, n in runs.items():
        assert any(ln.split()[:3] == [n, k.host, "running"] for ln in table.splitlines()), (k, table)
    for k, n in runs.items():
        out = tk.cli("logs", n, "-n", "3").stdout
        assert len(out.splitlines()) == 3 and all(ln.startswith("step ") for ln in out.splitlines()), (k, out)
    # the watchdog on each, and its events through the same verb
    each(runs, lambda k, n: tk.cli("watch", n, "--every", "1"))
    def watching(run: str) -> Callable[[], bool]:
        return lambda: "started" in tk.cli("events", run).stdout

    for k, n in runs.items():
        wait_until(watching(n), timeout=30, interval=0.3, what=f"{k.id}: the watchdog's started event")
    stops = each(runs, lambda k, n: tk.cli("stop", n, "--grace", "20"))
    for k, r in stops.items():
        n = runs[k]
        assert r.stdout.startswith(f"stopped {n} on {k.host} ") and " at rung sigint (" in r.stdout, (k, r.stdout)
        assert "it exited cleanly (0)" in r.stdout and "its watchdog was ended too" in r.stdout, (k, r.stdout)
        assert "interrupted" in hosts.log_text(n), k  # the trainer's Ctrl-C handler ran: it saved
    rows = {k: hosts.row(n) for k, n in runs.items()}
    for k, row in rows.items():
        assert (row["state"], row["stop_rung"], row["exit_code"]) == ("stopped", "sigint", 0), (k, row)
        assert row["uptime_s"] is None, (k, row)
    assert all(sorted(row) == keys[KINDS[0]] for row in rows.values()), {k.id: sorted(r) for k, r in rows.items()}
    table = tk.cli("status", *runs.values()).stdout
    for k, n in runs.items():
        assert any(ln.startswith(n) and "stopped (0) [sigint]" in ln for ln in table.splitlines()), (k, table)
    for k, n in runs.items():
        r = tk.cli("stop", n)
        assert r.stdout.startswith(f"{n} is not running on {k.host} (") and "nothing to stop" in r.stdout, (k, r.stdout)
        assert "step 2\n" in tk.cli("logs", n, "-n", "100000").stdout, k


def test_a_clean_end_and_a_crash_on_every_host_kind(hosts: Hosts) -> None:
    tk = hosts.tk
    ok = hosts.add("done", trainer("--steps", "3", "--delay", "0.1"))
    bad = hosts.add("crash", "echo boom; exit 3")
    each({**{("ok", k): n for k, n in ok.items()}, **{("bad", k): n for k, n in bad.items()}},
         lambda k, n: tk.cli("start", n))
    ended = ("exited", "failed", "stopped", "timeout", "dead")
    rows = hosts.until(ok, lambda k, r: r.get("state") in ended, "the clean runs' end")
    for k, row in rows.items():
        assert (row["state"], row["exit_code"], row["cause"]) == ("exited", 0, ""), (k, row)
        assert row["last_line"] == "training done" and (row["progress"] or {}).get("step") == 3, (k, row)
    crashed = hosts.until(bad, lambda k, r: r.get("state") in ended, "the crashes' end")
    for k, row in crashed.items():
        # The same meaning on every kind: the trainer's own non-zero exit reads "exited (3)", a Slurm
        # job's too (Slurm calls it FAILED: that stays in slurm_state; failed is tmuxkit's word for
        # a spent budget, out of memory, a node failure).
        assert (row["state"], row["exit_code"]) == ("exited", 3), (k, row)
        assert row["last_line"] == "boom", (k, row)
    keys = {k: sorted(r) for k, r in [*rows.items(), *crashed.items()]}
    assert len({tuple(v) for v in keys.values()}) == 1, keys
    table = tk.cli("status", *ok.values(), *bad.values()).stdout
    for k in hosts.kinds:
        assert any(ln.startswith(ok[k]) and "exited (0)" in ln for ln in table.splitlines()), (k, table)
        assert any(ln.startswith(bad[k]) and "exited (3)" in ln for ln in table.splitlines()), (k, table)
        assert "boom" in tk.cli("logs", bad[k]).stdout, k


# --- Slurm only: what a tmux host has no counterpart of -------------------------------------------


def slurm_kinds(hosts: Hosts) -> None:
    if not any(k.slurm for k in hosts.kinds):
        pytest.skip(f"no real Slurm here: {slurm_mod.unavailable()}")


def ctld_log(cluster: slurm_mod.Slurm, *words: str) -> str:
    """The controller's and the node's log lines that have any of WORDS (for a failure's message)."""
    out = []
    for name in ("slurmctld.log", "slurmd.log"):
        p = cluster.root / "log" / name
        out += [f"{name}: {ln}" for ln in (p.read_text(errors="replace") if p.exists() else "").splitlines()
                if any(w in ln for w in words)]
    return "\n".join(out)


def test_a_preempted_run_saves_in_its_grace_time_is_requeued_and_resumes(hosts: Hosts,
                                                                        request: pytest.FixtureRequest) -> None:
    """Partition high preempts debug (tests/slurm.py: GraceTime, preempt_send_user_signal): the
    trainer gets its Ctrl-C within the grace time and saves; the run is requeued ("by":"slurm",
    "reason":"preempted", not a time limit and not a crash) and resumes from that checkpoint. (The
    wrapper read the warning as the time limit's: events time_limit, requeued "by":"time_limit".)
    It failed now and then (the trainer never had its Ctrl-C): Slurm sends CONT, then USR1, to the
    wrapper, and the wrapper's CONT trap made bash lose the USR1 when both came within milliseconds
    (test_slurm.py: test_the_wrapper_gets_the_warning_that_comes_right_after_a_cont). A failure's
    message carries the daemons' log lines about signals and the preemption."""
    slurm_kinds(hosts)
    cluster = request.getfixturevalue("cluster")
    tk = hosts.tk
    run = "pre"
    tk.add_run(run, trainer("--steps", "1000", "--delay", "0.2"),
               f'host = "cluster"\ncwd = "{hosts.results.parent}"\nresults = "{hosts.results / run}"\n'
               f'checkpoints = "res/{run}/ckpt/step_*.pt"\nresume = "--resume {{checkpoint}}"')
    tk.cli("start", run)
    log = hosts.log(run)
    wait_until(lambda: "step 3\n" in hosts.log_text(run), timeout=30, interval=0.2, what="step 3")
    tk.cli("watch", run, "--every", "1")
    env = {**tk.env}
    high = subprocess.run(["sbatch", "--parsable", "-p", "high", "--exclusive", "-o", "/dev/null", "--wrap", "sleep 2"],
                          env=env, capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    wait_until(lambda: "resumed from" in hosts.log_text(run), timeout=90, interval=0.3,
               what=f"the resumed attempt (high job {high}): {hosts.log_text(run)[-400:]}")
    text = log.read_text()
    before, after = text[:text.index("resumed from")], text[text.index("resumed from"):]
    # Ctrl-C within the grace time: it saved
    assert "interrupted" in before, (before[-400:], ctld_log(cluster, "preempt", "signal", "Signal", "Requeu", "grace"))
    last = max(int(ln.split()[1]) for ln in before.splitlines() if ln.startswith("step "))
    assert after.startswith(f"resumed from {hosts.results / run}/ckpt/step_{last:06d}.pt at step {last}"), after[:200]
    st = hosts.until({KINDS[2]: run}, lambda k, r: r.get("state") == "running" and r.get("restarts") == 1,
                     "the resumed attempt running")[KINDS[2]]
    assert st["cause"] == "" and st["exit_code"] is None, st

    def events() -> list[dict[str, Any]]:
        return [json.loads(ln) for ln in tk.cli("events", run, "--json").stdout.splitlines() if ln.strip()]

    wait_until(lambda: "resumed" in [e["event"] for e in events()], timeout=30, interval=0.5, what="resumed event")
    evs = events()
    kinds = [e["event"] for e in evs]
    req = [e for e in evs if e["event"] == "requeued"]
    assert len(req) == 1 and req[0]["by"] == "slurm" and req[0]["reason"] == "preempted", evs
    assert "crashed" not in kinds and "time_limit" not in kinds, kinds
    assert kinds.index("requeued") < kinds.index("resumed"), kinds
    assert tk.cli("stop", run, "--grace", "20").stdout.count("at rung sigint") == 1


def test_a_controller_that_does_not_answer_is_one_line_naming_it(hosts: Hosts, request: pytest.FixtureRequest) -> None:
    """slurmctld stopped (the node and its jobs run on): on the local Slurm and behind the login node,
    `stop` is one line naming the controller, non-zero, never "unreachable" (the host answered), and
    stops nothing (it read the job as ended: "nothing to stop", exit 0); `doctor` has a clear ✗ row
    for the controller; `logs` still reads the run's log. Then the controller comes back, and stop works."""
    slurm_kinds(hosts)
    cluster = request.getfixturevalue("cluster")
    tk = hosts.tk
    runs = {k: n for k, n in hosts.add("down", trainer("--steps", "1000", "--delay", "0.2")).items() if k.slurm}
    each(runs, lambda k, n: tk.cli("start", n))
    hosts.until(runs, lambda k, r: r.get("state") == "running" and (r.get("progress") or {}).get("step", 0) >= 1,
                "both running")
    cluster.controller_down()
    try:
        def down(k: Kind, n: str) -> None:
            t = time.monotonic()
            r = tk.cli("stop", n, "--grace", "5", check=None)
            took = time.monotonic() - t
            assert r.returncode == 6 and took < 10, (k, r.returncode, took, r.stdout, r.stderr)
            lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
            assert len(lines) == 1 and "the Slurm controller does not answer" in lines[0], (k, r.stderr)
            assert f"{k.host}:" in lines[0] and "nothing was stopped" in lines[0] and "is DOWN" in lines[0], (k, lines)
            assert "unreachable" not in r.stdout + r.stderr and "nothing to stop" not in r.stdout, (k, r.stdout)
            d = tk.cli("doctor", k.host, check=None)
            assert d.returncode == 1 and "Traceback" not in d.stderr, (k, d.stdout, d.stderr)
            row = [ln for ln in d.stdout.splitlines() if "slurm controller" in ln]
            assert len(row) == 1 and row[0].lstrip().startswith("✗") and "scontrol ping" in row[0], (k, d.stdout)
            assert "is DOWN" in row[0] and "***" not in d.stdout and "unreachable" not in d.stdout, (k, d.stdout)
            t = time.monotonic()
            out = tk.cli("logs", n, "-n", "2").stdout
            assert [ln.split()[0] for ln in out.splitlines()] == ["step", "step"], (k, out)
            assert time.monotonic() - t < 10, (k, time.monotonic() - t)  # it asked nothing of Slurm

        each(runs, down)
    finally:
        cluster.controller_up()
    # the controller is back: the jobs ran on, and stop ends them as it should
    rows = hosts.until(runs, lambda k, r: r.get("state") == "running", "both still running")
    assert all(r["stop_rung"] == "" for r in rows.values()), rows
    stops = each(runs, lambda k, n: tk.cli("stop", n, "--grace", "20"))
    assert all("at rung sigint" in r.stdout and "it exited cleanly (0)" in r.stdout for r in stops.values()), stops
