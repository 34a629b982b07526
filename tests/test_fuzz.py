"""A small, bounded fuzz of tmuxkit's inputs (issue 11): run names, argv, env values, config values.

Every case runs the real CLI in a subprocess against a private tmux server. The properties: no
traceback, an exit code from the table, and for refused input nothing executed and nothing
half-created (no session, no run directory, no results, no lock); argv arrives byte for byte.
Few examples, no deadline per example (subprocesses), no example database: the suite stays well
under a minute and writes nothing into the checkout.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from conftest import Env, wait_until
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tmuxkit.contract import ExitCode, valid_run_name

CODES = {int(c) for c in ExitCode}
# 4 drawn examples each (was 8; each costs a real start, 2-4 s under load): every CI run draws new
# ones (no database), and the cases found once are kept as explicit @example()s.
FUZZ = settings(max_examples=4, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
_n = itertools.count()

# Text that can be an argument of a process: no NUL (the OS refuses it before tmuxkit sees it).
arg_text = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"]), max_size=20)


def _unique(prefix: str) -> str:
    return f"{prefix}{next(_n)}"


def _nothing_created(tk: Env, run: str, marker: Path) -> None:
    assert not marker.exists(), "the command ran"
    assert run not in tk.sessions()
    assert not (tk.home / "runs" / run).exists()
    assert not (tk.work / "results" / run).exists()


def _one_clean_line(err: str, code: int) -> None:
    assert code in CODES, (code, err)
    assert "Traceback" not in err, err
    if code:
        assert len(err.strip().splitlines()) == 1, err


@FUZZ
@given(name=arg_text)
def test_fuzz_run_names(tk: Env, name: str) -> None:
    marker = tk.work / _unique("ran")
    r = tk.cli("start", name, "--", "touch", str(marker), check=None, timeout=30)
    _one_clean_line(r.stderr, r.returncode)
    if not valid_run_name(name):
        assert r.returncode == ExitCode.USAGE, r.stderr
        assert not marker.exists(), "a refused start ran its command"
        assert name not in tk.sessions()
        if name and "/" not in name and name not in (".", ".."):
            assert not (tk.home / "runs" / name).exists()


@FUZZ
@given(args=st.lists(arg_text, max_size=5))
@example(args=["--results=--", "--cwd=--", "--"])  # tmuxkit's own "--results=--" rule stops at the command
def test_fuzz_argv_arrives_byte_for_byte(tk: Env, args: list[str]) -> None:
    run = _unique("argv")
    out = tk.work / f"{run}.json"
    code = "import json, sys\njson.dump(sys.argv[2:], open(sys.argv[1], 'w'))\n"
    r = tk.cli("start", run, "--", "python3", "-c", code, str(out), *args, check=None, timeout=30)
    _one_clean_line(r.stderr, r.returncode)
    assert r.returncode == 0, r.stderr
    wait_until(lambda: out.exists() and out.read_text().endswith("]"), what="the command's argv")
    assert json.loads(out.read_text()) == args


@FUZZ
@given(value=st.text(st.characters(blacklist_categories=["Cs"]), max_size=20))
def test_fuzz_env_values(tk: Env, value: str) -> None:
    run = _unique("env")
    marker = tk.work / f"{run}.ran"
    out = tk.work / f"{run}.env"
    cmd = f'touch {marker}; printf "%s" "$FUZZ_VALUE" > {out}'
    (tk.work / f"{run}.toml").write_text(
        f"[runs.{run}]\ncommand = {json.dumps(cmd)}\nenv = {{ FUZZ_VALUE = {json.dumps(value, ensure_ascii=False)} }}\n")
    r = tk.cli("--config", f"{run}.toml", "start", run, check=None, timeout=30)
    _one_clean_line(r.stderr, r.returncode)
    if "\n" in value or "\x00" in value or "\x7f" in value:
        assert r.returncode == ExitCode.USAGE, r.stderr
        _nothing_created(tk, run, marker)
    elif r.returncode == 0:
        wait_until(lambda: out.exists() and marker.exists(), what="the command")
        assert out.read_bytes() == value.encode()
    else:  # another control character TOML itself refuses
        assert r.returncode == ExitCode.USAGE, r.stderr
        _nothing_created(tk, run, marker)


toml_values = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda f: repr(f).lower()),
    st.booleans().map(lambda b: "true" if b else "false"),
    st.text(max_size=12).map(lambda t: json.dumps(t, ensure_ascii=False)),
    st.lists(st.text(max_size=5), max_size=3).map(lambda t: json.dumps(t, ensure_ascii=False)),
)
run_keys = st.sampled_from(["stuck_after", "log_keep", "log_max_bytes", "results", "cwd", "host", "resume",
                            "checkpoints", "metrics", "env", "command", "nonsense"])


@FUZZ
@given(key=run_keys, value=toml_values)
def test_fuzz_config_values(tk: Env, key: str, value: str) -> None:
    run = _unique("cfg")
    marker = tk.work / f"{run}.ran"
    body = f"[runs.{run}]\n"
    if key != "command":
        body += f"command = {json.dumps(f'touch {marker}; sleep 30')}\n"
    body += f"{key} = {value}\n"
    (tk.work / f"{run}.toml").write_text(body)
    r = tk.cli("--config", f"{run}.toml", "start", run, check=None, timeout=30)
    _one_clean_line(r.stderr, r.returncode)
    if r.returncode:
        assert not marker.exists(), "a refused start ran its command"
        assert run not in tk.sessions()
        assert not (tk.home / "runs" / run / "meta").exists()


# --- over ssh, with bash, dash and zsh as the login shell (issue 11.9) -------------------------------
@pytest.fixture(params=["bash", "dash", "zsh"])
def login_shell_host(request: pytest.FixtureRequest, tk: Env, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A user of this machine whose login shell is SHELL, reached over the loopback sshd as host
    'shellbox'; yields (host, a directory that user writes). The user is removed at the end, with
    every process it has."""
    import pwd
    import shutil
    import subprocess
    import tempfile

    from testkit.sshd import start_sshd

    shell = shutil.which(request.param)
    if os.geteuid() != 0 or not shutil.which("useradd") or not shell:
        pytest.skip(f"needs root, useradd and {request.param}")
    user = f"tkfz{request.param}{os.getpid() % 100000}"
    # Everything the user touches lives in a directory it can reach (pytest's tmp is root's, 0700).
    base = Path(tempfile.mkdtemp(prefix="tkfz-"))
    base.chmod(0o755)
    home = base / "login-home"
    # "*": no password, but not a locked account (sshd without PAM refuses a locked one).
    subprocess.run(["useradd", "-M", "-d", str(home), "-s", shell, "-p", "*", user], check=True, capture_output=True)
    # An sshd of its own whose authorized_keys that user can read (sshd reads it as the user).
    sshd = None
    try:
        sshd = start_sshd(base / "d")
        (base / "d").chmod(0o755)
        (base / "d" / "authorized_keys").chmod(0o644)
        pw = pwd.getpwnam(user)
        home.mkdir()
        work = base / "work"
        work.mkdir()
        for d in (home, work):
            os.chown(d, pw.pw_uid, pw.pw_gid)
        cfg = sshd.client_config(tmp_path / "ssh_config", "shellbox", {"TMUXKIT_HOME": str(home / "tk")}, user=user)
        tk.write_config(f'[hosts.shellbox]\nssh = "shellbox"\nssh_config = "{cfg}"\n')
        yield "shellbox", work
    finally:
        if sshd is not None:
            sshd.stop()
        shutil.rmtree(base, ignore_errors=True)
        subprocess.run(["pkill", "-KILL", "-u", user], capture_output=True)
        wait_until(lambda: subprocess.run(["pgrep", "-u", user], capture_output=True).returncode != 0,
                   what=f"{user}'s processes to end")
        subprocess.run(["userdel", user], capture_output=True)


@settings(max_examples=4, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(args=st.lists(arg_text, max_size=4))
def test_fuzz_argv_over_ssh_arrives_byte_for_byte_whatever_the_login_shell(
        tk: Env, login_shell_host: tuple[str, Path], args: list[str]) -> None:
    host, work = login_shell_host
    run = _unique("sharg")
    out = work / f"{run}.json"
    code = "import json, sys\njson.dump(sys.argv[2:], open(sys.argv[1], 'w'))\n"
    r = tk.cli("start", run, "--host", host, "--cwd", str(work), "--results", str(work / run), "--",
               "python3", "-c", code, str(out), *args, check=None, timeout=60)
    _one_clean_line(r.stderr, r.returncode)
    assert r.returncode == 0, r.stderr
    wait_until(lambda: out.exists() and out.read_text().endswith("]"), what="the command's argv")
    assert json.loads(out.read_text()) == args


# --- hostile --results and --cwd paths (issue 11.7; the audit found them unfuzzed) ------------------
# Path segments: shell metacharacters, quotes, spaces, a tab, a leading dash, non-ASCII, and a newline
# (which the meta file's key=value lines cannot hold: refused). Never "." or ".." alone: the path
# must stay inside the test's work dir.
_path_chars = st.sampled_from(list(" '\"$`;\\*?[]{}~!&|<>()#%^=,+@:\t\n-é日a0."))
path_segment = st.text(_path_chars, min_size=1, max_size=8).filter(lambda s: s.strip(".") != "")
hostile_path = st.lists(path_segment, min_size=1, max_size=3).map("/".join)


# What the fuzz found once, kept as examples: tmux read a cwd ending in ";" as the end of its command,
# "~0" was a traceback, tmux expands formats ("#") in -c and in pipe-pane's command, and then
# strftime ("%") in pipe-pane's.
PATH_EXAMPLES = ("x;", "~0", "~/in home", "$(touch pwned)/`id`", "a\nb", "#(touch pwned)", "a##b#{session_name}",
                 "%a%%", "--")  # argparse dropped --results=-- in silence
F = TypeVar("F", bound=Callable[..., None])


def _path_examples(f: F) -> F:
    for rel in reversed(PATH_EXAMPLES):
        f = example(rel=rel)(f)
    return f


def _refused_for_its_line_break(tk: Env, r: subprocess.CompletedProcess[str], run: str, marker: Path) -> None:
    assert r.returncode == ExitCode.USAGE and "line break" in r.stderr, r.stderr
    assert not marker.exists() and run not in tk.sessions() and not (tk.home / "runs" / run).exists()


def _nothing_ran(tk: Env) -> None:
    """No "#(touch pwned)" in a path was run by tmux (its jobs run in the client's cwd: the work dir)."""
    for d in (tk.work, Path(tk.env["HOME"])):
        assert not [p for p in d.rglob("pwned") if p.is_file()], d


def _where(tk: Env, rel: str) -> Path:
    """Where REL, relative to the work dir, is meant: a leading "~" or "~/" is the (test's) home."""
    if rel == "~" or rel.startswith("~/"):
        return Path(tk.env["HOME"]) / rel[2:]
    return tk.work / rel


@FUZZ
@given(rel=hostile_path)
@_path_examples
def test_fuzz_results_paths(tk: Env, rel: str) -> None:
    """A results path is used as given (relative to the run's cwd), whatever it holds: the command
    sees it whole in TMUXKIT_RESULTS and the log lands under it; or it is refused with one line and
    nothing half-created."""
    run = _unique("res")
    marker = tk.work / f"{run}.ran"
    want = _where(tk, rel)
    r = tk.cli("start", run, f"--results={rel}", "--", "sh", "-c", f'printf %s "$TMUXKIT_RESULTS" > "{marker}"',
               check=None, timeout=30)
    _one_clean_line(r.stderr, r.returncode)
    if "\n" in rel:
        _refused_for_its_line_break(tk, r, run, marker)
        return
    assert r.returncode == 0, r.stderr
    wait_until(lambda: marker.exists() and tk.status(run)["state"] == "exited", what="the run")
    assert marker.read_text() == os.path.realpath(want)
    assert (want / "tmuxkit" / f"{run}.log").is_file() and not (want / ".tmuxkit.lock").exists()
    _nothing_ran(tk)


@FUZZ
@given(rel=hostile_path)
@_path_examples
def test_fuzz_cwd_paths(tk: Env, rel: str) -> None:
    """The run's cwd is the directory given, whatever its name holds; or a refusal in one line."""
    run = _unique("cwd")
    marker = tk.work / f"{run}.ran"
    want = _where(tk, rel)
    want.mkdir(parents=True, exist_ok=True)
    r = tk.cli("start", run, f"--cwd={rel}", "--results", str(tk.work / "r" / run), "--",
               "sh", "-c", f'pwd -P > "{marker}"', check=None, timeout=30)
    _one_clean_line(r.stderr, r.returncode)
    if "\n" in rel:
        _refused_for_its_line_break(tk, r, run, marker)
        return
    assert r.returncode == 0, r.stderr
    wait_until(lambda: marker.exists() and marker.read_text().endswith("\n"), what="the run's pwd")
    assert marker.read_text() == os.path.realpath(want) + "\n"
    _nothing_ran(tk)
