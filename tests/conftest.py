"""Fixtures: every test gets its own tmux server (tmux -L), TMUXKIT_HOME and HOME.

Nothing here touches the user's tmux server, ~/.ssh or home. Waiting is done on
conditions with deadlines (wait_until), never with bare sleeps.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tmuxkit import cli

ROOT = Path(__file__).resolve().parent.parent
FAKES = Path(__file__).resolve().parent / "fakes"
SHELL = ROOT / "shell"


def wait_until(fn: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll fn until it returns something truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def path_with_only(bindir: Path, tools: list[str]) -> str:
    """A PATH of one directory holding links to just TOOLS (from this PATH): "TOOL is missing" tests."""
    bindir.mkdir(parents=True, exist_ok=True)
    for tool in tools:
        for d in [*os.environ["PATH"].split(os.pathsep), "/usr/local/bin", "/usr/bin", "/bin"]:
            if os.path.exists(os.path.join(d, tool)):
                (bindir / tool).symlink_to(os.path.join(d, tool))
                break
    return str(bindir)


def ssh_link_pids(tk: Env, clients: bool = False) -> list[int]:
    """The laptop's side of TK's ssh links: ControlMasters ("ssh: PATH [mux]"), and with
    clients=True the ssh client processes too. Killing them is how a test drops the link.
    Only this test's: they name its ControlMaster directory (other test runs on the machine,
    in other checkouts, keep theirs)."""
    from tmuxkit.hosts.ssh import control_dir

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TMUXKIT_HOME", str(tk.home))
        ours = str(control_dir()) + "/"
    out = subprocess.run(["ps", "-A", "-ww", "-o", "pid=,args="], capture_output=True, text=True).stdout
    pids = []
    for ln in out.splitlines():
        pid, _, args = ln.strip().partition(" ")
        args = args.strip()
        if ours not in args:
            continue
        if (args.startswith("ssh: ") and args.endswith("[mux]")) or (
                clients and args.split(" ", 1)[0] in ("ssh", "/usr/bin/ssh")):
            pids.append(int(pid))
    return pids


def kill_ssh_links(tk: Env, clients: bool = False) -> list[int]:
    """Drop TK's ssh links (SIGKILL), as a dead network would; returns whom it killed."""
    killed = []
    for pid in ssh_link_pids(tk, clients):
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except ProcessLookupError:
            pass
    return killed


def writer_pid(log: Path) -> int | None:
    """The pane log writer of LOG. It works from inside the log's folder, by the log's name: python3
    has the name in its argv, awk in its environment; its cwd is the folder."""
    out = subprocess.run(["ps", "-A", "e", "-ww", "-o", "pid=,args="], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if f"tmuxkit-logwriter.py {log.name} " in line or (f"TK_LOG={log.name} " in line + " " and "awk" in line):
            pid = int(line.split()[0])
            try:
                if os.readlink(f"/proc/{pid}/cwd") == os.path.realpath(log.parent):
                    return pid
            except OSError:
                continue
    return None


def pid_alive(pid: int) -> bool:
    """Alive and not a zombie."""
    out = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()
    return bool(out) and not out.startswith("Z")


def socket_pids(socket: str) -> list[int]:
    """Live (not zombie) processes that carry tmux socket SOCKET in their environment (ps itself
    runs without it, so it never lists itself)."""
    env = {k: v for k, v in os.environ.items() if k != "TMUXKIT_SOCKET"}
    out = subprocess.run(["ps", "-A", "e", "-ww", "-o", "pid=,stat=,args="], capture_output=True, text=True,
                         env=env).stdout
    pids = []
    for ln in out.splitlines():
        parts = ln.split(None, 2)
        if (len(parts) == 3 and not parts[1].startswith("Z") and int(parts[0]) != os.getpid()
                and f" TMUXKIT_SOCKET={socket} " in f" {parts[2]} "):
            pids.append(int(parts[0]))
    return pids


@dataclass
class Env:
    home: Path  # TMUXKIT_HOME
    socket: str
    work: Path  # a cwd for runs
    env: dict[str, str]

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, env=self.env)

    def write_config(self, body: str) -> None:
        """tmuxkit.toml in the work dir, replaced whole."""
        (self.work / "tmuxkit.toml").write_text(body)

    def add_run(self, run: str, command: str, extra: str = "") -> None:
        """Append a [runs.RUN] table to the work dir's tmuxkit.toml."""
        with (self.work / "tmuxkit.toml").open("a") as f:
            f.write(f"\n[runs.{run}]\ncommand = {json.dumps(command)}\n{extra}\n")

    def sessions(self) -> list[str]:
        r = self.tmux("list-sessions", "-F", "#{session_name}")
        return r.stdout.split() if r.returncode == 0 else []

    def cli(self, *args: str, check: int | None = 0, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """tmuxkit in a subprocess, as a user runs it."""
        r = subprocess.run([sys.executable, "-m", "tmuxkit", *args], capture_output=True, text=True,
                           env=self.env, cwd=self.work, timeout=timeout)
        if check is not None:
            assert r.returncode == check, f"tmuxkit {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    def script(self, name: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(SHELL / name), *args], capture_output=True, text=True,
                              env=self.env, cwd=self.work, timeout=timeout)

    def run_dir(self, run: str) -> Path:
        return self.home / "runs" / run

    def log(self, run: str) -> Path:
        return self.work / "results" / run / "tmuxkit" / f"{run}.log" if not (self.run_dir(run) / "meta").exists() \
            else Path(next(ln[4:] for ln in (self.run_dir(run) / "meta").read_text().splitlines()
                           if ln.startswith("log=")))

    def log_text(self, run: str) -> str:
        p = self.log(run)
        return p.read_text(errors="replace") if p.exists() else ""

    def status(self, run: str) -> dict[str, Any]:
        import json

        r = self.cli("status", run, "--json")
        (row,) = json.loads(r.stdout)
        assert isinstance(row, dict)
        return row

    def events(self, run: str) -> list[dict[str, Any]]:
        """The run's events.jsonl on this (local) host."""
        p = self.run_dir(run) / "events.jsonl"
        return [json.loads(ln) for ln in p.read_text().splitlines()] if p.exists() else []

    def kinds(self, run: str) -> list[str]:
        return [e["event"] for e in self.events(run)]

    def socket_pids(self) -> list[int]:
        """Live (not zombie) processes that carry this test's tmux socket in their environment."""
        return socket_pids(self.socket)

    def marked_pids(self, run: str) -> list[int]:
        out = subprocess.run(["ps", "-A", "e", "-ww", "-o", "pid=,stat=,args="], capture_output=True, text=True).stdout
        pids = []
        for line in out.splitlines():
            parts = line.split(None, 2)
            if (len(parts) == 3 and not parts[1].startswith("Z") and f" TMUXKIT_RUN={run} " in f" {parts[2]} "
                    and f" TMUXKIT_SOCKET={self.socket} " in f" {parts[2]} "):
                pids.append(int(parts[0]))
        return pids


@pytest.fixture
def tk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    home = tmp_path / "tkhome"
    work = tmp_path / "work"
    work.mkdir()
    fake_home = tmp_path / "home"
    fake_home.mkdir()
    socket = f"tkt-{uuid.uuid4().hex[:10]}"
    # TMUXKIT_EARLY_WAIT=0: start does not watch for an early exit (tests that want it set it back).
    # The built-in demo's steps take 0.12 s here (40 s for a person by default): its runs inherit it.
    values = {"TMUXKIT_HOME": str(home), "TMUXKIT_SOCKET": socket, "HOME": str(fake_home), "NO_COLOR": "1",
              "TMUXKIT_EARLY_WAIT": "0", "TMUXKIT_DEMO_DELAY": "0.12"}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("TMUX", raising=False)
    monkeypatch.delenv("TMUXKIT_CONFIG", raising=False)
    monkeypatch.chdir(work)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    e = Env(home=home, socket=socket, work=work, env=env)
    yield e
    # Teardown: the server on our socket, and every process of our runs, local or "remote"
    # (their runners export TMUXKIT_SOCKET, so the socket name marks them all).
    # Killed in rounds: a process that forked between the reading of the table and its kill leaves a
    # child the round did not see (a start still going on the host can even bring up a new server).
    def kill_round() -> bool:
        e.tmux("kill-server")
        pids = e.socket_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return not pids

    wait_until(kill_round, timeout=5, interval=0.1, what="the test's processes killed")
    # ... and prove it: nothing of this test's runs is left.
    wait_until(lambda: not e.socket_pids(), timeout=5, what=f"no process left behind ({e.socket_pids()})")
    # The ssh control directory tmuxkit made in /tmp for this test's home (its path is too long
    # for a socket's): nothing of a test is left outside its temp dir either.
    if (ctl := ssh_control_dir(home)) is not None and ctl.is_dir():
        shutil.rmtree(ctl, ignore_errors=True)


def ssh_control_dir(home: Path) -> Path | None:
    """Where tmuxkit puts HOME's ssh ControlMaster sockets when that is outside HOME, else None."""
    from tmuxkit.hosts import ssh as ssh_mod

    d = ssh_mod.control_dir_path(home)
    return None if d.is_relative_to(home) else d


@pytest.fixture
def run_cli(tk: Env, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """tmuxkit in-process (fast): returns (exit code, stdout, stderr)."""

    def call(*args: str) -> tuple[int, str, str]:
        code = cli.main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return call


# --- SSH: one real sshd for the session; each test its own client config and remote home ---------
@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from testkit.sshd import start_sshd

    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@dataclass
class Remote:
    alias: str
    config: Path  # tmuxkit.toml naming the host
    ssh_config: Path
    home: Path  # the remote TMUXKIT_HOME

    def results(self, name: str) -> Path:
        """Run NAME's results folder: the test's own (beside the remote home, removed with the test's
        temp dir), never a shared /tmp path that a later test with a reused PID would find full."""
        return self.home.parent / "remote-results" / name

    def add_run(self, name: str, command: str, extra: str = "") -> None:
        """A run on host 'box' (the remote side of this same machine), working in /tmp, its results
        in the test's own temp dir."""
        with self.config.open("a") as f:
            f.write(f'\n[runs.{name}]\nhost = "box"\ncommand = {json.dumps(command)}\ncwd = "/tmp"\n'
                    f'results = {json.dumps(str(self.results(name)))}\n{extra}')


@pytest.fixture
def remote(tk: Env, sshd: Any, tmp_path: Path) -> Remote:
    """Host 'box' over the loopback sshd: tmuxkit.toml in the test's work dir."""
    rhome = tmp_path / "remote-home"
    ssh_config = sshd.client_config(tmp_path / "ssh_config", "tkbox", {"TMUXKIT_HOME": str(rhome)})
    conf = tk.work / "tmuxkit.toml"
    conf.write_text(f'[hosts.box]\nssh = "tkbox"\nssh_config = "{ssh_config}"\n')
    return Remote(alias="tkbox", config=conf, ssh_config=ssh_config, home=rhome)


def pytest_configure(config: pytest.Config) -> None:
    """The suite's processes get the signals' default actions. A suite started under nohup, or as a
    non-interactive shell's background job, would pass SIG_IGN for HUP, INT or QUIT on to every
    trainer, runner and tmuxkit it starts: the Ctrl-C and hang-up tests then fail (a rehearsal
    started that way failed six), and no real user's run is like that. (Bash cannot undo a
    signal ignored at its start; a process started from here with the default can.)"""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGHUP, signal.SIGQUIT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2):
        if signal.getsignal(sig) is signal.SIG_IGN:
            signal.signal(sig, signal.SIG_DFL)


# --- Slurm: each test module that asks for it gets its own real single-node cluster (tests/slurm.py) ---
@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A private munged + slurmctld + slurmd for this module (skipped, with the reason, where a
    real Slurm cannot start: not root, packages missing); stopped, every job cancelled, at its end."""
    import slurm as slurm_mod

    why = slurm_mod.unavailable()
    if why:
        pytest.skip(why)
    s = slurm_mod.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    """A failed test that used a real Slurm says what Slurm saw: every job's state and reason, and
    the daemons' last log lines (a job that never started leaves nothing else to go on)."""
    outcome: Any = yield
    rep = outcome.get_result()
    s = getattr(item, "funcargs", {}).get("cluster")
    if rep.when != "call" or not rep.failed or s is None:
        return
    try:
        q = s.run("squeue", "-a", "-h", "-o", "%i %j %P %T %r %M %l %N", check=False)
        tails = [f"--- squeue (id name partition state reason time limit node):\n{q.stdout}{q.stderr}"]
        for name in ("slurmctld.log", "slurmd.log"):
            p = s.root / "log" / name
            if p.exists():
                tails.append(f"--- {name} (last 40 lines):\n" + "\n".join(p.read_text(errors="replace").splitlines()[-40:]))
        rep.sections.append(("what Slurm saw", "\n".join(tails)))
    except Exception as e:  # a report's extra, never a second failure
        rep.sections.append(("what Slurm saw", f"could not ask: {e}"))


class Sink(BaseHTTPRequestHandler):
    """A local HTTP endpoint standing in for a notification service: it keeps each JSON body."""

    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Sink.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def sink() -> Iterator[int]:
    """A Sink on 127.0.0.1; yields its port."""
    server = HTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Sink.received = []
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
