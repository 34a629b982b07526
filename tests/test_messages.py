"""Messages that help (issue 29.4): one "tmuxkit:" prefix, "did you mean" for a mistyped verb, option,
run name, host name and config key, the "--" form for a run command given without it, and what stop
says of a trainer that saved on Ctrl-C and exited 130."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import Env, wait_until

Cli = Callable[..., tuple[int, str, str]]


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tmuxkit: ") and not lines[0].startswith("tmuxkit: tmuxkit:"), err
    return lines[0]


def test_a_mistyped_verb_has_one_prefix_and_the_closest_verb(run_cli: Cli) -> None:
    code, _, err = run_cli("statsu")
    assert code == 2
    assert _one_line(err) == "tmuxkit: unknown command 'statsu'; did you mean 'status'?"
    code, _, err = run_cli("blorp")
    assert code == 2 and "did you mean" not in err and "(choose from start, " in _one_line(err)


def test_a_mistyped_option_names_the_closest_option_of_that_verb(run_cli: Cli) -> None:
    code, _, err = run_cli("start", "x", "--hots", "studio", "--", "true")
    assert code == 2
    assert _one_line(err) == "tmuxkit: start: unknown option '--hots'; did you mean '--host'?"
    code, _, err = run_cli("status", "--jsno")
    assert code == 2 and _one_line(err) == "tmuxkit: status: unknown option '--jsno'; did you mean '--json'?"


def test_a_run_command_without_dashdash_gets_the_dashdash_form(run_cli: Cli, tk: Env) -> None:
    code, _, err = run_cli("start", "x", "--host", "local", "python", "train.py", "--lr", "3")
    assert code == 2
    assert _one_line(err) == ("tmuxkit: start: the run's command goes after --: "
                              "tmuxkit start x --host local -- python train.py --lr 3")
    # Its first word an option of the command's, not of tmuxkit's (and not close to one of them).
    code, _, err = run_cli("start", "x", "--lr", "3e-4")
    assert code == 2
    line = _one_line(err)
    assert "--lr is not an option of tmuxkit start" in line and line.endswith("tmuxkit start x -- --lr 3e-4"), line
    assert not tk.sessions() and not (tk.home / "runs" / "x").exists()  # nothing half-created


def test_a_mistyped_config_key_and_host_name_have_the_closest(run_cli: Cli, tk: Env) -> None:
    tk.write_config('[hosts.studio]\nssh = "studio"\n[runs.a]\ncomand = "x"\n')
    code, _, err = run_cli("status")
    assert code == 2 and _one_line(err).endswith("runs.a.comand: unknown key; did you mean 'command'?"), err
    tk.write_config('[hosts.studio]\nssh = "studio"\n[runs.a]\ncommand = "x"\nhost = "studoi"\n')
    code, _, err = run_cli("status")
    assert code == 2 and _one_line(err).endswith("unknown host 'studoi' (did you mean 'studio'?)"), err
    tk.write_config('[hosts.studio]\nssh = "studio"\n')
    code, _, err = run_cli("start", "x", "--host", "studoi", "--", "true")
    assert code == 2 and _one_line(err).endswith("or use 'local'; did you mean 'studio'?"), err


def test_a_mistyped_run_name_has_the_closest_run(tk: Env) -> None:
    tk.add_run("kssm_v3", "echo hi")
    for verb in ("status", "stop", "events"):
        r = tk.cli(verb, "kssm_v4", check=4)
        line = _one_line(r.stderr)
        assert "no run named 'kssm_v4'" in line and line.endswith("; did you mean 'kssm_v3'?"), (verb, line)
    r = tk.cli("logs", "kssm_v4", check=4)
    assert "did you mean 'kssm_v3'?" in r.stderr and "tmuxkit: tmuxkit:" not in r.stderr, r.stderr
    r = tk.cli("status", "zzz", check=4)
    assert "did you mean" not in r.stderr, r.stderr


@pytest.mark.timeout(120)
def test_stop_of_a_trainer_that_saved_and_exited_130_claims_no_lost_save(tk: Env) -> None:
    """It saved on Ctrl-C and exited 130 (as many trainers do): stop says the code and what it is,
    and nothing about a save it cannot see."""
    trainer = ("import signal, sys, time\n"
               "def save(*_):\n    print('saved checkpoint step_12.pt', flush=True)\n    sys.exit(130)\n"
               "signal.signal(signal.SIGINT, save)\nprint('ready', flush=True)\ntime.sleep(60)\n")
    (tk.work / "saver.py").write_text(trainer)
    tk.cli("start", "saver", "--", "python3", str(tk.work / "saver.py"))
    wait_until(lambda: "ready" in tk.log_text("saver"), timeout=30, what="saver ready")
    r = tk.cli("stop", "saver", "--grace", "20")
    assert "it exited with code 130 (the Ctrl-C code)" in r.stdout, r.stdout
    assert "may not have saved" not in r.stdout and "without handling" not in r.stdout, r.stdout
    wait_until(lambda: "saved checkpoint step_12.pt" in tk.log_text("saver"), timeout=15, what="the save in the log")


@pytest.mark.timeout(120)
def test_a_notification_says_the_runs_own_duration_not_the_lag_of_its_sender(tk: Env, sink: int) -> None:
    """The run took 42 s and ended an hour ago; its end is notified now (a watchdog's late tick, or
    start finding an end its targets missed): "after 42s", never "after 1h00m"."""
    import re
    import subprocess
    import time

    from conftest import SHELL, Sink

    tk.cli("start", "lagged", "--", "true")
    d = tk.run_dir("lagged")
    wait_until(lambda: (d / "exit").exists(), timeout=30, what="the run's end")
    started = int(time.time()) - 3600
    meta = (d / "meta").read_text()
    (d / "meta").write_text(re.sub(r"started_at=\d+", f"started_at={started}", meta))
    (d / "exit").write_text(f"0 {started + 42}\n")
    r = subprocess.run(["bash", str(SHELL / "tmuxkit-watch"), "lagged", "--notify-end", "--notify-stdin"],
                       input=f"json http://127.0.0.1:{sink}/\n", capture_output=True, text=True, env=tk.env,
                       cwd=tk.work, timeout=60)
    assert r.returncode == 0, r.stderr
    wait_until(lambda: Sink.received, timeout=30, what="the notification")
    message = str(Sink.received[0].get("message"))
    assert "finished lagged after 42s" in message and "1h" not in message, message


def _unknown_key_host(tk: Env, sshd: Any, tmp_path: Path, known: str = "") -> None:
    """Host 'box' over the loopback sshd, with a known_hosts that does not hold its key, and ssh's
    own defaults otherwise (StrictHostKeyChecking ask, LogLevel INFO: its wall of text)."""
    kh = tmp_path / "known_hosts"
    kh.write_text(known)
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"Host tkbox\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User {getpass.getuser()}\n"
                   f"  IdentityFile {sshd.user_key}\n  IdentitiesOnly yes\n  UserKnownHostsFile {kh}\n"
                   "  GlobalKnownHostsFile /dev/null\n")
    tk.write_config(f'[hosts.box]\nssh = "tkbox"\nssh_config = "{cfg}"\n'
                    '[runs.far]\nhost = "box"\ncommand = "true"\n')


@pytest.mark.timeout(180)
def test_an_unknown_ssh_host_key_is_one_line_that_says_how_to_accept_it(tk: Env, sshd: Any, tmp_path: Path) -> None:
    _unknown_key_host(tk, sshd, tmp_path)
    for args in (["status", "--host", "box"], ["logs", "far"], ["start", "far"]):
        r = tk.cli(*args, check=None)
        assert r.returncode == 6, (args, r.returncode, r.stderr)
        line = _one_line(r.stderr)
        assert line.endswith(f"its host key is not known here yet; accept it once with: ssh -F {tmp_path}/ssh_config tkbox "
                             "(tmuxkit keeps host-key checking on and never accepts a key itself)"), (args, line)


@pytest.mark.timeout(180)
def test_a_changed_ssh_host_key_is_one_line_too(tk: Env, sshd: Any, tmp_path: Path) -> None:
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True,
                   capture_output=True, timeout=60)
    other = (tmp_path / "other.pub").read_text().split()
    _unknown_key_host(tk, sshd, tmp_path, known=f"[127.0.0.1]:{sshd.port} {other[0]} {other[1]}\n")
    r = tk.cli("status", "--host", "box", check=6)
    line = _one_line(r.stderr)
    assert "its host key has CHANGED" in line and "ssh-keygen -R" in line and "@@@" not in r.stderr, line
