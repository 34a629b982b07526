"""The command line around the verbs: help, completion, doctor, JSON shapes (issue 15)."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Env, path_with_only

from tmuxkit.cli import GROUPS, VERBS, build_parser


def _subparsers(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_every_option_says_what_it_does_and_its_default() -> None:
    """Issue 15.1: each option of each verb has help text, and it names its default."""
    missing = []
    for name, sp in _subparsers(build_parser()).items():
        for action in sp._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            text = action.help or ""
            if not text or (action.option_strings and "default" not in text):
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}: {text!r}")
    assert missing == []


def test_top_help_lists_every_verb_once_grouped(tk: Env) -> None:
    out = tk.cli("--help").stdout
    assert [g for g in GROUPS] == ["run", "look", "fix", "set up"]
    grouped = [v for names in GROUPS.values() for v in names]
    assert sorted(grouped) == sorted(VERBS)
    lines = out.splitlines()
    for group, names in GROUPS.items():
        at = lines.index(f"{group}:")
        for i, verb in enumerate(names, start=1):
            assert lines[at + i].split(None, 1) == [verb, VERBS[verb].help], lines[at + i]
    assert "COMMAND" in lines[0]


def _complete(tk: Env, tmp_path: Path, line: str) -> list[str]:
    """Ask bash for the completions of LINE, with tmuxkit's bash completion script loaded."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    wrapper = bindir / "tmuxkit"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m tmuxkit "$@"\n')
    wrapper.chmod(0o755)
    script = tmp_path / "tmuxkit.bash"
    script.write_text(tk.cli("completion", "bash").stdout)
    words = line.split(" ")
    prog = (f'source {script}\nCOMP_LINE="{line}"\nCOMP_POINT=${{#COMP_LINE}}\n'
            f'COMP_WORDS=({" ".join(repr(w) for w in words)})\nCOMP_CWORD={len(words) - 1}\n'
            f'_python_argcomplete tmuxkit {words[-1]!r} {words[-2]!r}\nprintf "%s\\n" "${{COMPREPLY[@]}}"\n')
    env = {**tk.env, "PATH": f"{bindir}{os.pathsep}{tk.env['PATH']}"}
    r = subprocess.run(["bash", "-c", prog], capture_output=True, text=True, env=env, cwd=tk.work, timeout=60)
    assert r.returncode == 0, r.stderr
    return sorted(w.strip() for w in r.stdout.splitlines() if w.strip())


def test_bash_completion_of_verbs_runs_and_hosts(tk: Env, tmp_path: Path) -> None:
    """Issue 15.3: bash completes `tmuxkit st` to the verbs, a run name from the config, a host."""
    tk.write_config('[hosts.studio]\nssh = "studio"\n')
    tk.add_run("kssm_v3", "python train.py")
    assert _complete(tk, tmp_path, "tmuxkit st") == ["start", "status", "stop"]
    assert _complete(tk, tmp_path, "tmuxkit logs ks") == ["kssm_v3"]
    assert _complete(tk, tmp_path, "tmuxkit start kssm_v3 --host ") == ["local", "studio"]
    assert "--grace" in _complete(tk, tmp_path, "tmuxkit stop kssm_v3 --g")


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts(tk: Env, shell: str) -> None:
    out = tk.cli("completion", shell).stdout
    assert "tmuxkit" in out and "_ARGCOMPLETE" in out
    if shutil.which(shell):
        r = subprocess.run([shell, "-n"], input=out, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
    r = tk.cli("completion", "tcsh", check=2)
    assert "invalid choice" in r.stderr


@pytest.mark.skipif(not shutil.which("zsh"), reason="zsh is not installed (.ci/setup installs it)")
def test_zsh_completion_of_verbs_runs_and_hosts(tk: Env, tmp_path: Path) -> None:
    """The zsh script, loaded in a real zsh, asked as its completion system would ask it (BUFFER,
    CURSOR, words; _describe and compdef stand in for the completion system's own functions)."""
    tk.write_config('[hosts.studio]\nssh = "studio"\n')
    tk.add_run("kssm_v3", "python train.py")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "tmuxkit").write_text(f'#!/bin/sh\nexec {sys.executable} -m tmuxkit "$@"\n')
    (bindir / "tmuxkit").chmod(0o755)
    script = tmp_path / "tmuxkit.zsh"
    script.write_text(tk.cli("completion", "zsh").stdout)
    env = {**tk.env, "PATH": f"{bindir}{os.pathsep}{tk.env['PATH']}"}

    def complete(line: str) -> list[str]:
        prog = ("compdef() { :; }\n_describe() { print -rl -- \"${(@P)2}\"; }\n"
                f"source {script}\nBUFFER={line!r}\nCURSOR=${{#BUFFER}}\nwords=(${{=BUFFER}})\n"
                "_python_argcomplete\n")
        r = subprocess.run(["zsh", "-f", "-c", prog], capture_output=True, text=True, env=env, cwd=tk.work,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        # zsh's "value:description" entries (a ":" in a value comes escaped)
        return sorted(re.split(r"(?<!\\):", w, maxsplit=1)[0] for w in r.stdout.splitlines() if w.strip())

    assert complete("tmuxkit st") == ["start", "status", "stop"]
    assert complete("tmuxkit logs ks") == ["kssm_v3"]
    assert "studio" in complete("tmuxkit start kssm_v3 --host ")


def test_fish_completion_protocol_gives_verbs_runs_and_hosts(tk: Env) -> None:
    """What the fish script asks of tmuxkit (its function sets these variables and reads fd 8),
    asked the same way; fish itself need not be installed."""
    tk.write_config('[hosts.studio]\nssh = "studio"\n')
    tk.add_run("kssm_v3", "python train.py")

    def complete(line: str) -> list[str]:
        rfd, wfd = os.pipe()
        env = {**tk.env, "_ARGCOMPLETE": "1", "_ARGCOMPLETE_DFS": "\t", "_ARGCOMPLETE_IFS": "\n",
               "_ARGCOMPLETE_SUPPRESS_SPACE": "1", "_ARGCOMPLETE_SHELL": "fish", "COMP_LINE": line,
               "COMP_POINT": str(len(line)), "COMP_TYPE": ""}
        p = subprocess.Popen(["bash", "-c", f'exec "$0" -m tmuxkit 8>&{wfd}', sys.executable], env=env,
                             cwd=tk.work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(wfd,))
        os.close(wfd)
        with os.fdopen(rfd) as f:
            out = f.read()
        p.wait(timeout=60)
        return sorted(w.split("\t", 1)[0] for w in out.split("\n") if w.strip())

    assert complete("tmuxkit st") == ["start", "status", "stop"]
    assert complete("tmuxkit logs ks") == ["kssm_v3"]
    assert "studio" in complete("tmuxkit start kssm_v3 --host ")


def test_doctor_here_checks_each_tool_and_says_json(tk: Env) -> None:
    r = tk.cli("doctor")
    for check in ("tmux", "bash", "python3", "rsync", "nvidia-smi", "disk"):
        assert f"✓ host   {check}" in r.stdout, r.stdout
    data = json.loads(tk.cli("doctor", "--json").stdout)
    assert data["ok"] is True and data["host"] == "local"
    assert {c["check"] for c in data["checks"]} >= {"tmux", "bash", "python3", "rsync", "nvidia-smi"}


def test_doctor_over_ssh_names_a_missing_tool_and_the_fix(tk: Env, tmp_path: Path) -> None:
    """Issue 15.2: against a loopback sshd whose PATH lacks rsync."""
    from testkit.sshd import start_sshd

    path = path_with_only(tmp_path / "norsync-bin", [
        "bash", "sh", "env", "cat", "mkdir", "chmod", "tar", "ps", "awk", "sed", "date", "hostname", "dirname", "rm",
        "mv", "ln", "mktemp", "stat", "tr", "sleep", "tail", "wc", "head", "sort", "find", "grep", "python3", "id",
        "tmux", "df"])
    srv = start_sshd(tmp_path / "norsync", path_env=path)
    try:
        cfg = srv.client_config(tmp_path / "ssh_config", "norsync", {"TMUXKIT_HOME": str(tmp_path / "rh")})
        tk.write_config(f'[hosts.nr]\nssh = "norsync"\nssh_config = "{cfg}"\n')
        r = tk.cli("doctor", "nr", check=1)  # a fresh host: no scripts there yet
        assert "✗ host   host scripts   not installed, or not this version" in r.stdout, r.stdout
        assert "fix: tmuxkit install nr" in r.stdout
        tk.cli("install", "nr")
        r = tk.cli("doctor", "nr", check=1)
        assert "✗ host   rsync" in r.stdout and "apt-get install rsync" in r.stdout, r.stdout
        for ok in ("✓ laptop ssh config", "✓ host   tmux", "✓ host   login banner", "✓ host   clock skew",
                   "✓ host   host scripts"):
            assert ok in r.stdout, (ok, r.stdout)
        data = json.loads(tk.cli("doctor", "nr", "--json", check=1).stdout)
        assert data["ok"] is False and data["reachable"] is True
        assert [c["check"] for c in data["checks"] if not c["ok"]] == ["rsync"]
    finally:
        srv.stop()


def test_doctor_of_a_slurm_host_checks_the_slurm_tools(tk: Env, tmp_path: Path) -> None:
    """A kind = "slurm" host is reached through its transport (here: this machine), not as an ssh
    host; its Slurm client tools are checked, each missing one a ✗ with the fix."""
    tk.write_config('[hosts.cluster]\nkind = "slurm"\n')
    tk.env["PATH"] = path_with_only(tmp_path / "noslurm-bin", [
        "bash", "sh", "env", "cat", "mkdir", "awk", "sed", "date", "dirname", "rm", "mktemp", "stat", "tr", "sleep",
        "head", "grep", "python3", "id", "tmux", "df", "rsync"])
    r = tk.cli("doctor", "cluster", check=None)
    assert r.returncode == 1 and "Traceback" not in r.stderr, (r.returncode, r.stdout, r.stderr)
    for tool in ("sbatch", "scontrol", "scancel", "squeue"):
        assert f"✗ host   {tool}" in r.stdout and "not found on this host's PATH" in r.stdout, r.stdout
    assert "apt-get install slurm-client" in r.stdout
    assert "✓ host   tmux" in r.stdout and "ssh config" not in r.stdout
    data = json.loads(tk.cli("doctor", "cluster", "--json", check=1).stdout)
    assert data["reachable"] is True
    assert {c["check"] for c in data["checks"] if not c["ok"]} == {"sbatch", "scontrol", "scancel", "squeue"}


def test_doctor_of_an_unreachable_host_exits_6(tk: Env, tmp_path: Path) -> None:
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Host nowhere\n  HostName 127.0.0.1\n  Port 1\n  UserKnownHostsFile /dev/null\n")
    tk.write_config(f'[hosts.gone]\nssh = "nowhere"\nssh_config = "{cfg}"\n')
    r = tk.cli("doctor", "gone", check=6)
    assert "✗ laptop reach" in r.stdout and "connection refused" in r.stdout, r.stdout


def test_doctor_reports_the_hosts_locale_and_passes_without_one(tk: Env) -> None:
    """Issue 23.2: a host with no UTF-8 locale (docker boxes) is reported, never failed: tmuxkit's
    own tmux calls do not depend on it."""
    env = {k: v for k, v in tk.env.items() if k not in ("LANG", "LC_ALL", "LC_CTYPE")}
    p = subprocess.run([sys.executable, "-m", "tmuxkit", "doctor", "--json"], capture_output=True, text=True,
                       env={**env, "LC_ALL": "C"}, cwd=tk.work, timeout=120)
    data = json.loads(p.stdout)
    [loc] = [c for c in data["checks"] if c["check"] == "locale"]
    assert loc["ok"] is True and loc["where"] == "host", loc
    assert loc["value"].startswith("LC_ALL=C: not UTF-8"), loc
