"""tmuxkit.toml: validation in one line with exit 2, flags over config, init."""

from __future__ import annotations

import sys

import pytest
from conftest import Env, wait_until

from tmuxkit import config

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


@pytest.mark.parametrize(("body", "needle"), [
    ('[runs.a]\ncommand = "x"\ncolour = 1\n', "runs.a.colour: unknown key"),
    ('[runs.a]\ncommand = 5\n', "runs.a.command: expected a command string"),
    ('[runs.a]\ncwd = "/tmp"\n', "runs.a.command: missing"),
    ('[runs.a]\ncommand = "x"\nlog_keep = "five"\n', "runs.a.log_keep: expected a positive integer"),
    ('[runs.a]\ncommand = "x"\nstuck_after = "soon"\n', "runs.a.stuck_after: expected a duration"),
    ('[runs.a]\ncommand = "x"\nenv = { "BAD-NAME" = "1" }\n', "runs.a.env: bad variable name"),
    ('[runs.a]\ncommand = "x"\nhost = "nowhere"\n', "runs.a.host: unknown host 'nowhere'"),
    ('[runs."a.b"]\ncommand = "x"\n', "invalid run name"),
    ('[hosts.h]\nport = 22\n', "hosts.h.ssh: missing"),
    ('[hosts.h]\nssh = "h"\nport = "22"\n', "hosts.h.port: expected a positive integer"),
    ('[wat]\n', "wat: unknown key"),
    ('[runs.a\n', "not valid TOML"),
    ('[runs.a]\ncommand = "x"\nresume = "--resume"\n', "runs.a.resume: the template '--resume' lacks {checkpoint}"),
    ('[runs.a]\ncommand = "x"\nresume = "--resume {checkpoint}\\n--x"\n', "runs.a.resume: expected a one-line template"),
    ('[runs.a]\ncommand = "x"\non_nan = "panic"\n', 'runs.a.on_nan: expected "notify", "stop" or "ignore"'),
    ('[runs.a]\ncommand = "x"\ndisk_min_free = "lots"\n', 'runs.a.disk_min_free: expected a size like "20G"'),
    ('[runs.a]\ncommand = "x"\ndisk_min_free = "150%"\n', 'runs.a.disk_min_free: expected a size like "20G"'),
    ('[runs.a]\ncommand = "x"\non_done = ""\n', "runs.a.on_done: expected a non-empty command string"),
    ('[runs.a]\ncommand = "x"\non_done_wait = "later"\n', "runs.a.on_done_wait: expected a duration"),
])
def test_bad_config_is_one_line_exit_2(tk: Env, body: str, needle: str) -> None:
    (tk.work / "tmuxkit.toml").write_text(body)
    r = tk.cli("start", "a", check=2)
    assert needle in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert tk.sessions() == []


def test_a_broken_config_here_does_not_stop_an_ad_hoc_run(tk: Env) -> None:
    """Issue 15.5: ./tmuxkit.toml broken: commands about an ad hoc run warn once and go on; a
    configured run, or a config named with --config, still fails on it."""
    (tk.work / "tmuxkit.toml").write_text("[runs.a\n")
    r = tk.cli("start", "adhoc", "--", "bash", "-c", "echo hello-adhoc; sleep 60")
    assert r.stderr.count("warning: ignoring") == 1 and "not valid TOML" in r.stderr, r.stderr
    wait_until(lambda: "hello-adhoc" in tk.log_text("adhoc"), what="output")
    for verb in (["status", "adhoc"], ["logs", "adhoc"], ["stop", "adhoc", "--grace", "5"]):
        r = tk.cli(*verb)
        assert r.stderr.count("warning: ignoring") == 1, (verb, r.stderr)
    assert "hello-adhoc" in tk.cli("logs", "adhoc").stdout
    r = tk.cli("start", "a", check=2)
    assert "not valid TOML" in r.stderr and "warning" not in r.stderr
    r = tk.cli("--config", str(tk.work / "tmuxkit.toml"), "status", "adhoc", check=2)
    assert "not valid TOML" in r.stderr and "warning" not in r.stderr


def test_a_command_or_env_too_large_to_pass_is_one_line_and_nothing_starts(tk: Env) -> None:
    """Issue 11.7: a 140 kB command or env value is refused before anything is created."""
    tk.add_run("bigcmd", "echo " + "a" * 140_000)
    tk.add_run("bigenv", "true", 'env = { X = "' + "b" * 140_000 + '" }')
    r = tk.cli("start", "bigcmd", check=2)
    assert "the command is 140005 bytes" in r.stderr and len(r.stderr.splitlines()) == 1
    r = tk.cli("start", "bigenv", check=2)
    assert "its env is 140003 bytes" in r.stderr and len(r.stderr.splitlines()) == 1
    assert (tk.sessions() == [] and not (tk.home / "runs").exists()) or list((tk.home / "runs").iterdir()) == []


def test_config_path_from_flag_and_env(tk: Env) -> None:
    other = tk.work / "other.toml"
    other.write_text('[runs.viaflag]\ncommand = "echo from-flag"\n')
    tk.cli("--config", str(other), "start", "viaflag")
    wait_until(lambda: "from-flag" in tk.log_text("viaflag"), what="output")
    r = tk.cli("--config", str(tk.work / "missing.toml"), "status", check=2)
    assert "config file not found" in r.stderr


def test_flags_override_config(tk: Env) -> None:
    (tk.work / "tmuxkit.toml").write_text(
        '[runs.ov]\ncommand = "echo $WHO; pwd"\nresults = "from-config"\nenv = { WHO = "config" }\n')
    sub = tk.work / "sub"
    sub.mkdir()
    tk.cli("start", "ov", "--results", "from-flag", "--cwd", str(sub), "--env", "WHO=flag")
    wait_until(lambda: "exited" in tk.log_text("ov"), what="exit")
    assert "flag" in tk.log_text("ov").splitlines() and str(sub) in tk.log_text("ov")
    assert (sub / "from-flag").is_dir() and not (tk.work / "from-config").exists()


def test_unconfigured_run_without_command_is_usage_error(tk: Env) -> None:
    r = tk.cli("start", "mystery", check=2)
    assert "not configured" in r.stderr and "tmuxkit start mystery -- CMD" in r.stderr


def test_init_writes_a_valid_example_and_refuses_to_overwrite(tk: Env) -> None:
    tk.cli("init")
    conf = config.load(tk.work / "tmuxkit.toml")
    assert "kssm_v3" in conf.runs and conf.runs["kssm_v3"].results == "results/kssm_v3"
    r = tk.cli("init", check=1)
    assert "already exists" in r.stderr


def test_init_example_names_every_key_and_its_defaults_hold() -> None:
    """Issue 15.6: every key is in the example, commented out; uncommented, the file is valid and
    each value shown as a default is the default."""
    import re

    example = config.EXAMPLE
    for key in [*config.RUN_KEYS, *config.HOST_KEYS, *config.STATUS_KEYS]:
        assert re.search(rf"^#? ?{key} = ", example, re.M), key
    uncommented = re.sub(r"^# (?=\[hosts\.|\[status\]|[a-z_]+ = )", "", example, flags=re.M)
    conf = config.parse(tomllib.loads(uncommented))
    run, default = conf.runs["kssm_v3"], config.RunSpec(name="kssm_v3")
    for key in ("log_max_bytes", "log_keep", "stuck_after", "sync_every", "sync_checkpoints", "max_restarts",
                "restart_window", "restart_on", "gpu_idle_for", "notify_from", "on_nan", "disk_min_free", "on_done_wait"):
        assert getattr(run, key) == getattr(default, key), key
    assert run.resume == "--resume {checkpoint}" and conf.hosts["studio"].ssh == "studio"
    assert conf.show_ended == config.Config().show_ended


@pytest.mark.parametrize(("value", "seconds"), [(300, 300), ("300", 300), ("90s", 90), ("5m", 300), ("1h", 3600),
                                                ("1.5m", 90)])
def test_durations(value: object, seconds: int) -> None:
    assert config.parse_duration(value) == seconds


@pytest.mark.parametrize("value", [0, -1, "", "5x", True, [5], 10**9 + 1, "99999999999999999999999", "40000d"])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError):
        config.parse_duration(value)


@pytest.mark.parametrize("args,needle", [
    (["status", "--timeout", "nan"], "--timeout: expected seconds"),
    (["status", "--timeout", "inf"], "--timeout: expected seconds"),
    (["init", ""], "the path is empty"),
    (["init", "nodir/x.toml"], "cannot write nodir/x.toml"),
    (["--config", "/dev/zero", "status"], "larger than"),
    (["stop", "x", "--grace", "1e20"], "--grace: expected a whole number"),
    (["stop", "x", "--grace", "100000000000000000000"], "--grace: expected a number <= 1000000000"),
    (["logs", "x", "-n", "99999999999999999999999"], "expected a number <= 1000000000"),
    # Before: reported "started", with the early-exit check silently off (an overflow on the host).
    (["start", "ew", "--early-wait", "99999999999999999999", "--", "false"], "--early-wait: expected a duration of at most"),
    # Before: started, and the host saw two variables, A=x and B=injected.
    (["start", "nl", "--env", "A=x\nB=injected", "--", "true"], "bad --env: A: expected a one-line string"),
    (["start", "nm", "--env", "1A=x", "--", "true"], "bad --env: bad variable name '1A'"),
    (["start", "cf", "--cwd", "/etc/passwd", "--", "true"], "cwd is not a directory: /etc/passwd"),  # not "does not exist"
])
def test_bad_input_is_one_line_and_exit_2_not_a_traceback(tk: Env, args: list[str], needle: str) -> None:
    r = tk.cli(*args, check=2, timeout=20)
    assert needle in r.stderr and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("content,needle", [
    (b'[runs.a]\ncommand = "x\\u0000y"\n', "runs.a.command: contains a NUL"),
    (b"\xff\xfe[runs.a]\n", "not UTF-8"),
])
def test_a_config_with_nul_or_not_utf8_is_named(tk: Env, content: bytes, needle: str) -> None:
    (tk.work / "bad.toml").write_bytes(content)
    r = tk.cli("--config", "bad.toml", "start", "a", check=2)
    assert needle in r.stderr and "Traceback" not in r.stderr


def test_a_broken_config_is_the_error_for_a_start_that_needs_it_even_for_a_run_remembered_here(tk: Env) -> None:
    """It said "warning: ignoring ..." and then "run 'r' is not configured (no tmuxkit.toml here)"."""
    tk.cli("start", "r", "--", "true")  # remembered as a run of this machine
    wait_until(lambda: tk.status("r")["state"] == "exited", what="the ad hoc run to end")
    (tk.work / "tmuxkit.toml").write_text('[runs.r]\ncommand = "sleep 1"\nstuck_after = "5 minutes"\n')
    r = tk.cli("start", "r", check=2)
    assert "runs.r.stuck_after" in r.stderr and "not configured" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert tk.cli("status", "r").returncode == 0  # what needs no config still answers, with a warning


def test_every_verbs_usage_line_names_tmuxkit_and_the_verb_once(tk: Env) -> None:
    for verb in ("stop", "logs", "status", "events", "checkpoints"):
        first = tk.cli(verb, "--help").stdout.splitlines()[0]
        assert first.startswith(f"usage: tmuxkit [--config PATH] {verb} "), first
        assert "COMMAND" not in first, first


@pytest.mark.parametrize(("given", "sent"), [("5%", "5%"), ("20G", "20971520"), ("500MB", "512000"), ("1.5TiB", "1610612736"),
                                             (0, "0"), ("0", "0"), (1048576, "1024"), ("10 %", "10%")])
def test_disk_min_free_is_a_percentage_or_kib_for_the_watchdog(given: object, sent: str) -> None:
    assert config.parse_disk_min(given) == sent
