"""Issue 23.10: a BASH_ENV that prints (some HPC logins export one) breaks no reply from the host:
tmuxkit's own bash never reads it, and the run's command still does. Over this machine and over a
real loopback sshd."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Env, Remote, wait_until

RC = ('echo "NOISE from BASH_ENV on stdout"\n'
      'echo "NOISE from BASH_ENV on stderr" >&2\n'
      'export FROM_BASH_ENV=yes\n')
CMD = 'echo "run sees ${FROM_BASH_ENV:-nothing} be=${BASH_ENV:-unset}"; sleep 60'


def _check(tk: Env, run: str, host: str, log: Path, rc: Path) -> None:
    # Over ssh the login shell (bash -c, run by sshd) reads BASH_ENV itself, before tmuxkit's
    # marker: its stdout is cut off by the framing, its stderr is the laptop lane's (issue 23.5).
    err = "" if host != "local" else "NOISE"
    r = tk.cli("start", run)
    assert f"started {run}" in r.stdout and "NOISE" not in r.stdout and (not err or err not in r.stderr), r
    wait_until(lambda: log.exists() and "run sees" in log.read_text(errors="replace"), what="the run's output")
    text = log.read_text(errors="replace")
    # The command's bash read it (once): its variable and its value reach the run.
    assert f"run sees yes be={rc}" in text, text
    assert text.count("NOISE from BASH_ENV on stdout") == 1, text
    (row,) = json.loads(tk.cli("status", run, "--json").stdout)
    assert row["host"] == host and row["state"] == "running" and row["writer"] == "alive", row
    r = tk.cli("logs", run, "-n", "5")
    # The log as the run wrote it (its own bash's lines included), nothing more.
    assert "run sees yes" in r.stdout and r.stdout.count("NOISE") <= 2, r.stdout
    assert not err or err not in r.stderr, r.stderr
    r = tk.cli("cleanup", "--dry-run")
    assert "NOISE" not in r.stdout and (not err or err not in r.stderr), r
    assert f"stopped {run} on {host}" in tk.cli("stop", run, "--grace", "5").stdout


def test_a_printing_bash_env_on_this_machine(tk: Env, tmp_path: Path) -> None:
    rc = tmp_path / "bash_env.sh"
    rc.write_text(RC)
    tk.env["BASH_ENV"] = str(rc)
    tk.add_run("benv", CMD)
    _check(tk, "benv", "local", tk.work / "results" / "benv" / "tmuxkit" / "benv.log", rc)


@pytest.fixture
def noisy(tk: Env, tmp_path: Path) -> Iterator[tuple[Remote, Path]]:
    """Host 'noisy': its own sshd, whose sessions get a BASH_ENV that prints."""
    from testkit.sshd import start_sshd

    rc = tmp_path / "remote_bash_env.sh"
    rc.write_text(RC)
    srv = start_sshd(tmp_path / "noisy-sshd", set_env={"BASH_ENV": str(rc)})
    rhome = tmp_path / "noisy-tkhome"
    cfg = srv.client_config(tmp_path / "noisy_ssh_config", "noisybox", {"TMUXKIT_HOME": str(rhome)})
    conf = tk.work / "tmuxkit.toml"
    conf.write_text(f'[hosts.noisy]\nssh = "noisybox"\nssh_config = "{cfg}"\n')
    try:
        yield Remote(alias="noisybox", config=conf, ssh_config=cfg, home=rhome), rc
    finally:
        srv.stop()


def test_a_printing_bash_env_on_the_host_over_ssh(tk: Env, noisy: tuple[Remote, Path], tmp_path: Path) -> None:
    remote, rc = noisy
    results = tmp_path / "noisy-results"
    with remote.config.open("a") as f:
        f.write(f'\n[runs.rbenv]\nhost = "noisy"\ncommand = {json.dumps(CMD)}\ncwd = "/tmp"\nresults = "{results}"\n')
    try:
        _check(tk, "rbenv", "noisy", results / "tmuxkit" / "rbenv.log", rc)
    finally:
        shutil.rmtree(results, ignore_errors=True)


@pytest.mark.parametrize("relay", ["on", "off"])
def test_a_bash_env_given_with_env_wins_and_is_read_once_by_the_command(tk: Env, tmp_path: Path, relay: str) -> None:
    """--env BASH_ENV=... is the run's: it wins over the login's BASH_ENV, and only the command's
    bash reads it, through the relay as in the pane (the relay path read it in the bash that
    writes the pid, then gave the command the login's instead)."""
    login, given = tmp_path / "login.sh", tmp_path / "given.sh"
    login.write_text('echo "FROM-LOGIN"\n')
    given.write_text('echo "FROM-GIVEN"\n')
    tk.env["BASH_ENV"] = str(login)
    tk.env["TMUXKIT_RELAY"] = relay
    tk.add_run("bge", 'echo "be=$BASH_ENV"; sleep 60')
    tk.cli("start", "bge", "--env", f"BASH_ENV={given}")
    log = tk.work / "results" / "bge" / "tmuxkit" / "bge.log"
    wait_until(lambda: log.exists() and "be=" in log.read_text(errors="replace"), what="the run's output")
    text = log.read_text(errors="replace")
    assert f"be={given}" in text and text.count("FROM-GIVEN") == 1 and "FROM-LOGIN" not in text, text
    tk.cli("stop", "bge", "--grace", "5")
