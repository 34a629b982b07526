"""Hardening: nobody else's files, no secrets on display (issue 11, items 1, 3, 4, 6)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import SHELL, Env, Remote, wait_until

from tmuxkit.contract import ExitCode


def _start(tk: Env, *args: str, umask: str | None = None, env: dict[str, str] | None = None,
           ) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "tmuxkit", "start", *args]
    if umask:
        cmd = ["bash", "-c", f'umask {umask}; exec "$@"', "_", *cmd]
    return subprocess.run(cmd, env=env or tk.env, cwd=tk.work, capture_output=True, text=True)


def test_a_symlink_planted_at_the_log_path_is_refused_not_followed(tk: Env, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    logdir = tk.work / "results" / "planted" / "tmuxkit"
    logdir.mkdir(parents=True)
    (logdir / "planted.log").symlink_to(victim)
    r = _start(tk, "planted", "--", "echo", "OUTPUT")
    assert r.returncode == 5 and "log path is a symlink" in r.stderr
    assert victim.read_text() == "precious\n"
    assert not (tk.work / "results" / "planted" / ".tmuxkit.lock").exists()  # nothing half-created


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a folder owned by another user")
def test_a_log_folder_owned_by_someone_else_is_refused_with_nothing_half_created(tk: Env) -> None:
    """Issue 11.1: its owner could plant a link in it at any time, after any check."""
    logdir = tk.work / "results" / "theirs" / "tmuxkit"
    logdir.mkdir(parents=True)
    os.chown(logdir, 65534, 65534)
    r = _start(tk, "theirs", "--", "echo", "OUTPUT")
    assert r.returncode == 5 and "not a directory owned by you" in r.stderr and str(logdir) in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert list(logdir.iterdir()) == [] and not (logdir.parent / ".tmuxkit.lock").exists()
    assert tk.tmux("has-session", "-t", "=theirs").returncode != 0


def test_a_log_folder_others_could_write_is_made_ours_alone_and_a_link_planted_before_is_refused(
        tk: Env, tmp_path: Path) -> None:
    """Issue 11.1: the folder is go-w before the log is opened, so no link can be planted after the
    check; one planted before it, at any of the run's names (a rotation, RUN.live), is refused."""
    logdir = tk.work / "results" / "open" / "tmuxkit"
    logdir.mkdir(parents=True)
    logdir.chmod(0o777)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (logdir / "open.log.2").symlink_to(victim)
    r = _start(tk, "open", "--", "echo", "OUTPUT")
    assert r.returncode == 5 and "log path is a symlink" in r.stderr and "open.log.2" in r.stderr, r.stderr
    assert stat.S_IMODE(logdir.stat().st_mode) == 0o755  # made go-w: it is ours
    (logdir / "open.log.2").unlink()
    logdir.chmod(0o777)
    r = _start(tk, "open", "--", "echo", "OUTPUT")
    assert r.returncode == 0, r.stderr
    wait_until(lambda: "OUTPUT" in tk.log("open").read_text() if tk.log("open").exists() else False, what="the log")
    assert stat.S_IMODE(logdir.stat().st_mode) == 0o755 and victim.read_text() == "precious\n"


@pytest.mark.parametrize("writer", ["python3", "awk"])
def test_a_log_folder_swapped_under_a_live_run_never_redirects_its_log(tk: Env, tmp_path: Path, writer: str) -> None:
    """Issue 11.1, in a results dir others can write: they rename the run's log folder away and put
    a folder of their own in its place, with RUN.log a link to a victim file. The writer works from
    inside the folder it was started in: the log goes on there, through rotations, and the victim is
    never opened."""
    tk.env["TMUXKIT_LOG_WRITER"] = writer
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    os.utime(victim, ns=(1_000_000_000, 1_000_000_000))
    go = tmp_path / "go"
    tk.add_run("swap", f"echo before; while [ ! -e {go} ]; do sleep 0.05; done; "
                       "i=0; while [ $i -lt 800 ]; do i=$((i + 1)); echo line $i; done; echo after; sleep 30",
               "log_max_bytes = 1000\nlog_keep = 50")
    tk.cli("start", "swap")
    results = tk.work / "results" / "swap"
    wait_until(lambda: (results / "tmuxkit" / "swap.log").exists()
               and "before" in (results / "tmuxkit" / "swap.log").read_text(), what="the first line logged")
    (results / "tmuxkit").rename(results / "moved")
    (results / "tmuxkit").mkdir()
    (results / "tmuxkit" / "swap.log").symlink_to(victim)
    go.touch()
    moved = results / "moved"
    wait_until(lambda: "after" in (moved / "swap.log").read_text() if (moved / "swap.log").exists() else False,
               what="the last line, in the folder the run started in")
    assert victim.read_text() == "precious\n" and victim.stat().st_mtime_ns == 1_000_000_000
    assert len(list(moved.glob("swap.log.*"))) >= 3  # it rotated, by names inside its own folder
    assert [p.name for p in (results / "tmuxkit").iterdir()] == ["swap.log"]  # nothing written in theirs
    tk.cli("stop", "swap")


def test_env_secrets_never_reach_a_command_line_and_the_env_file_is_0600(tk: Env, tmp_path: Path) -> None:
    """A bash and an env(1) on PATH that record every argv they are given: tmuxkit-start, the
    runner, the writer, and whatever the runner passes the run's env through."""
    spy = tmp_path / "spy"
    spy.mkdir()
    real = shutil.which("bash")
    for tool in ("bash", "env"):
        (spy / tool).write_text(f'#!{real}\nprintf "%s\\n" "$*" >> {tmp_path / "argv.log"}\nexec {shutil.which(tool)} "$@"\n')
        (spy / tool).chmod(0o755)
    env = dict(tk.env, PATH=f"{spy}:{tk.env['PATH']}")
    tk.add_run("secret", 'echo "key has ${#WANDB_API_KEY} chars"; sleep 30',
               'env = { WANDB_API_KEY = "s3cr3t-value-123" }')
    r = _start(tk, "secret", env=env)
    assert r.returncode == 0, r.stderr
    wait_until(lambda: "key has 16 chars" in tk.log_text("secret"), what="the command to see its env")
    argv = (tmp_path / "argv.log").read_text()
    assert "tmuxkit-start" in argv  # the spy saw the start
    assert "s3cr3t-value-123" not in argv and "s3cr3t-value-123" not in r.stdout + r.stderr
    mode = stat.S_IMODE((tk.home / "runs" / "secret" / "env").stat().st_mode)
    assert mode == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a home owned by another user")
def test_a_tmuxkit_home_owned_by_someone_else_is_refused(tk: Env) -> None:
    """Issue 11.4: nothing is written in it, not even this machine's note of where the run went
    (a symlink planted there by its owner would have made root write through it)."""
    victim = tk.work / "victim"
    victim.write_text("  root's own\n")
    os.utime(victim, ns=(1_000_000_000, 1_000_000_000))
    (tk.home / "where").mkdir(parents=True)
    (tk.home / "where" / "theirs").symlink_to(victim)
    for d in (tk.home, tk.home / "where"):
        os.chown(d, 65534, 65534)
    r = _start(tk, "theirs", "--", "true")
    assert r.returncode == 2 and "not a directory owned by you" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tk.home / "runs").exists()
    assert victim.read_text() == "  root's own\n" and victim.stat().st_mtime_ns == 1_000_000_000  # never opened to write
    assert os.readlink(tk.home / "where" / "theirs") == str(victim)


@pytest.mark.parametrize("which", ["home", "runs"])
def test_a_state_directory_others_can_write_is_refused_not_chmoded(tk: Env, which: str) -> None:
    """Issue 11.4: one's own home (or runs/) left writable by others may hold what they planted:
    refused with one line, by the laptop side and by the host scripts alike."""
    d = tk.home if which == "home" else tk.home / "runs"
    d.mkdir(parents=True)
    tk.home.chmod(0o700)
    d.chmod(0o777)
    r = _start(tk, "open", "--", "true")
    assert r.returncode == 2 and "others can write to it" in r.stderr and str(d) in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = subprocess.run(["bash", str(SHELL / "tmuxkit-start"), "open", "--cmd", "true"], env=tk.env, cwd=tk.work,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "others can write to it" in r.stderr, r.stderr
    assert stat.S_IMODE(d.stat().st_mode) == 0o777  # refused, not quietly chmod'ed
    assert not (tk.home / "runs" / "open").exists() and tk.tmux("has-session", "-t", "=open").returncode != 0


def test_the_note_of_a_runs_host_replaces_a_planted_symlink_and_never_writes_through_it(tk: Env) -> None:
    """Issue 11.4: state files are written whole (temp file, rename): a symlink at the note's path
    is replaced, and its target is untouched."""
    victim = tk.work / "victim"
    victim.write_text("keep me\n")
    (tk.home / "where").mkdir(parents=True)
    for d in (tk.home, tk.home / "where"):
        d.chmod(0o700)
    (tk.home / "where" / "noted").symlink_to(victim)
    r = _start(tk, "noted", "--", "sleep", "30")
    assert r.returncode == 0, r.stderr
    note = tk.home / "where" / "noted"
    assert not note.is_symlink() and note.read_text() == "local\n"
    assert victim.read_text() == "keep me\n"
    assert stat.S_IMODE((tk.home / "where").stat().st_mode) == 0o700


@pytest.mark.parametrize("umask,mode", [("077", 0o600), ("022", 0o644)])
def test_the_log_gets_the_starting_users_umask(tk: Env, umask: str, mode: int) -> None:
    name = f"um{umask}"
    # The tmux server already runs, with the other umask: the log must not inherit the server's.
    other = "022" if umask == "077" else "077"
    subprocess.run(["bash", "-c", f"umask {other}; exec tmux -L {tk.socket} new-session -d -s keep 'sleep 60'"],
                   env=tk.env, check=True)
    r = _start(tk, name, "--", "echo", "hi", umask=umask)
    assert r.returncode == 0, r.stderr
    log = tk.log(name)
    wait_until(lambda: log.exists() and "hi" in log.read_text(), what="the log")
    assert stat.S_IMODE(log.stat().st_mode) == mode


@pytest.mark.parametrize("where", ["results", "cwd", "config results"])
def test_a_newline_in_the_results_path_or_cwd_is_refused_with_nothing_half_created(tk: Env, where: str) -> None:
    """A newline in a path would inject lines into the run's meta file (key=value lines)."""
    odd = tk.work / "odd\nlock=x"
    odd.mkdir()
    if where == "results":
        r = _start(tk, "nlpath", "--results", "res\nlock=/tmp/x", "--", "echo", "hi")
    elif where == "cwd":
        r = _start(tk, "nlpath", "--cwd", str(odd), "--", "echo", "hi")
    else:
        tk.add_run("nlpath", "echo hi", 'results = "res\\nstarted_at=0"')
        r = _start(tk, "nlpath")
    assert r.returncode == 2, r.stderr
    assert "path contains a line break" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert tk.sessions() == []
    assert not (tk.home / "runs" / "nlpath").exists()
    assert sorted(p.name for p in tk.work.iterdir() if p.name != "tmuxkit.toml") == [odd.name]  # no results dir
    assert list(odd.iterdir()) == []


def _closed_host(tk: Env, sshd: Any, tmp_path: Path) -> str:
    """A [hosts.closed] table for a port where nothing listens (connection refused)."""
    from testkit.sshd import free_port

    cfg = sshd.client_config(tmp_path / "closed_config", "closedbox")
    cfg.write_text(cfg.read_text().replace(f"Port {sshd.port}", f"Port {free_port()}"))
    return f'\n[hosts.closed]\nssh = "closedbox"\nssh_config = "{cfg}"\n'


def test_status_with_one_host_unreachable_prints_every_row_names_the_host_and_exits_partial(
        tk: Env, remote: Remote, sshd: Any, tmp_path: Path) -> None:
    with remote.config.open("a") as f:
        f.write(_closed_host(tk, sshd, tmp_path))
    remote.add_run("rshown", "sleep 60")
    tk.cli("start", "rshown")
    tk.cli("start", "lshown", "--", "sleep", "60")
    r = tk.cli("status", check=None)
    assert r.returncode == ExitCode.PARTIAL, r.stderr
    assert "rshown" in r.stdout and "lshown" in r.stdout and "unreachable (" in r.stdout
    assert "host closed is unreachable" in r.stderr and "connection refused" in r.stderr
    r = tk.cli("status", "--json", check=None)
    assert r.returncode == ExitCode.PARTIAL
    rows = {(x["host"], x.get("run")) for x in json.loads(r.stdout)}
    assert {("box", "rshown"), ("local", "lshown"), ("closed", None)} <= rows
    # Only the unreachable host asked: nothing answered at all.
    with remote.config.open("a") as f:
        f.write('\n[runs.ronly]\nhost = "closed"\ncommand = "true"\n')
    r = tk.cli("status", "ronly", check=None)
    assert r.returncode == ExitCode.UNREACHABLE and "host closed is unreachable" in r.stderr


def test_cleanup_stops_at_an_unreachable_host_and_leaves_the_later_ones_alone(
        tk: Env, remote: Remote, sshd: Any, tmp_path: Path) -> None:
    box = remote.config.read_text()
    remote.config.write_text(_closed_host(tk, sshd, tmp_path) + box)  # closed comes before box
    remote.add_run("rended", "true")
    tk.cli("start", "rended")
    wait_until(lambda: tk.status("rended")["state"] == "exited", what="the run to end")
    r = tk.cli("cleanup", check=None)
    assert r.returncode == ExitCode.UNREACHABLE, r.stdout + r.stderr
    assert "connection refused" in r.stderr and "cleanup stopped at host closed, not touching box" in r.stderr
    assert "rended" not in r.stdout
    assert "rended" in tk.sessions()  # box's dead session is still there: cleanup never went on to box
    r = tk.cli("cleanup", "--dry-run", check=None)
    assert r.returncode == ExitCode.UNREACHABLE and "not touching box" in r.stderr


# --- a chatty login shell on the host (issue 11.10) ---------------------------------------------------
BANNER = ('echo "Welcome to box! Last login: yesterday"\n'
          'echo "conda: PATH=/opt/conda/bin:$PATH"\n'
          'echo \'{"not": "the reply"}\'\n'
          'printf "a banner line with no newline "\n')


@pytest.fixture
def chatty(tk: Env, tmp_path: Path) -> Iterator[Remote]:
    """Host 'chatty': its own sshd, whose user has a HOME of this test's with a .bashrc and .zshenv
    that print (as login banners and conda init do). The real ~ is never touched."""
    from testkit.sshd import start_sshd

    home = tmp_path / "chatty-user-home"
    home.mkdir()
    for rc in (".bashrc", ".zshenv"):
        (home / rc).write_text(BANNER)
    srv = start_sshd(tmp_path / "chatty-sshd", set_env={"HOME": str(home)})
    rhome = tmp_path / "chatty-tkhome"
    cfg = srv.client_config(tmp_path / "chatty_ssh_config", "chattybox", {"TMUXKIT_HOME": str(rhome)})
    conf = tk.work / "tmuxkit.toml"
    conf.write_text(f'[hosts.chatty]\nssh = "chattybox"\nssh_config = "{cfg}"\n')
    try:
        # The banner really reaches an ssh command's stdout on this host.
        out = subprocess.run(["ssh", "-F", str(cfg), "chattybox", "echo hi"], capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, timeout=20).stdout
        if not out.startswith("Welcome to box!"):
            pytest.skip("this host's bash does not read ~/.bashrc for an ssh command (no SSH_SOURCE_BASHRC)")
        assert out.endswith("hi\n"), out
        yield Remote(alias="chattybox", config=conf, ssh_config=cfg, home=rhome)
    finally:
        srv.stop()


def test_a_login_banner_on_the_host_breaks_no_reply(tk: Env, chatty: Remote) -> None:
    results = str(chatty.results("rchat"))
    with chatty.config.open("a") as f:
        f.write(f'\n[runs.rchat]\nhost = "chatty"\ncommand = "echo run-output; sleep 60"\ncwd = "/tmp"\n'
                f'results = "{results}"\n')
    try:
        r = tk.cli("start", "rchat")
        assert "started rchat on chatty" in r.stdout
        wait_until(lambda: "run-output" in tk.cli("logs", "rchat", "-n", "5").stdout, what="the run's output")
        logs = tk.cli("logs", "rchat", "-n", "5").stdout
        assert "Welcome" not in logs and "no newline" not in logs
        (row,) = json.loads(tk.cli("status", "rchat", "--json").stdout)
        assert row["host"] == "chatty" and row["state"] == "running"
        r = tk.cli("sync", "rchat", "--once", "--to", str(tk.work / "pulled"))
        assert "run-output" in (tk.work / "pulled" / "tmuxkit" / "rchat.log").read_text()
        assert "stopped rchat on chatty" in tk.cli("stop", "rchat", "--grace", "5").stdout
        assert "Welcome" not in tk.cli("cleanup", "--dry-run").stdout
    finally:
        shutil.rmtree(results, ignore_errors=True)


def test_doctor_sees_the_login_banner(tk: Env, chatty: Remote) -> None:
    """Issue 15.2: doctor counts what a login shell prints before the command's own output
    (the framing that keeps replies clean must not hide it from doctor)."""
    r = tk.cli("doctor", "chatty", check=None)
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stderr
    line = next((ln for ln in r.stdout.splitlines() if "login banner" in ln), "")
    assert line.lstrip().startswith("! host"), r.stdout  # a note: tmuxkit reads past it (issue 23.5)
    assert "Welcome to box!" in line and "bytes on stdout" in line, line
    assert "remove the echo from ~/.bashrc" in r.stdout and "[ -t 1 ]" in r.stdout, r.stdout
    data = json.loads(tk.cli("doctor", "chatty", "--json", check=None).stdout)
    (banner,) = [c for c in data["checks"] if c["check"] == "login banner"]
    assert banner["ok"] is True and banner["note"] is True


def test_one_hosts_garbage_never_blanks_the_other_hosts_rows(tk: Env, remote: Remote, tmp_path: Path) -> None:
    remote.add_run("rgood", "sleep 60")
    tk.cli("start", "rgood")
    tk.cli("start", "lgood", "--", "sleep", "60")
    # Host 'junk': an sshd of its own (a ControlMaster is per user@host:port), its own TMUXKIT_HOME,
    # where status answers garbage.
    from testkit.sshd import start_sshd

    srv = start_sshd(tmp_path / "junk-sshd")
    jhome = tmp_path / "junk-tkhome"
    cfg = srv.client_config(tmp_path / "junk_config", "tkjunk", {"TMUXKIT_HOME": str(jhome)})
    with remote.config.open("a") as f:
        f.write(f'\n[hosts.junk]\nssh = "tkjunk"\nssh_config = "{cfg}"\n')
    try:
        tk.cli("install", "junk")
        (jhome / "bin" / "check_training_status.sh").write_text("echo 'this is not JSON'\n")
        r = tk.cli("status", "--json", check=None)
    finally:
        srv.stop()
    assert r.returncode == ExitCode.PARTIAL, r.stdout + r.stderr
    rows = json.loads(r.stdout)
    assert {(x["host"], x.get("run")) for x in rows} == {("local", "lgood"), ("box", "rgood"), ("junk", None)}
    (junk,) = (x for x in rows if x["host"] == "junk")
    assert junk["state"] == "unreachable" and "not JSON" in junk["error"]
    assert "host junk is unreachable" in r.stderr


# --- argv byte for byte, newlines included (issue 11.9) ---------------------------------------------------
ARGV_CODE = "import json, sys\njson.dump(sys.argv[2:], open(sys.argv[1], 'w'))\n"
ODD_ARGS = ["two\nlines", "", " spaced ", "tab\there", "'single'", '"double"', "$HOME `id` $(id)", "back\\slash",
            "trailing newline\n", "é ünïcode", "--", "*", "a;b&&c|d"]


def test_argv_with_newlines_reaches_the_command_byte_for_byte_locally(tk: Env, tmp_path: Path) -> None:
    out = tmp_path / "argv.json"
    r = _start(tk, "nlargv", "--", "python3", "-c", ARGV_CODE, str(out), *ODD_ARGS)
    assert r.returncode == 0, r.stderr
    wait_until(lambda: out.exists() and out.read_text().endswith("]"), what="the command's argv")
    assert json.loads(out.read_text()) == ODD_ARGS


def test_argv_with_newlines_reaches_the_command_byte_for_byte_over_ssh(tk: Env, remote: Remote,
                                                                       tmp_path: Path) -> None:
    out = tmp_path / "argv-remote.json"
    r = tk.cli("start", "nlssh", "--host", "box", "--cwd", "/tmp", "--results", str(tmp_path / "nlssh-res"),
               "--", "python3", "-c", ARGV_CODE, str(out), *ODD_ARGS)
    assert "on box" in r.stdout
    wait_until(lambda: out.exists() and out.read_text().endswith("]"), what="the command's argv")
    assert json.loads(out.read_text()) == ODD_ARGS


def test_a_multi_line_command_in_the_config_runs_whole(tk: Env) -> None:
    tk.add_run("multiline", "echo first-line\necho second-line")
    assert _start(tk, "multiline").returncode == 0
    wait_until(lambda: "second-line" in tk.log_text("multiline"), what="both lines")
    assert "first-line" in tk.log_text("multiline")


def test_a_resume_template_with_a_line_break_is_refused_at_load(tk: Env) -> None:
    tk.add_run("badresume", "sleep 60", 'resume = "--resume {checkpoint}\\nrm -rf ~"')
    r = _start(tk, "badresume")
    assert r.returncode == 2 and "runs.badresume.resume: expected a one-line template" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and tk.sessions() == []
    r = tk.script("tmuxkit-watch", "badresume", "--resume", "a\nb")
    assert r.returncode == 2 and "must be one line" in r.stderr


def test_a_results_path_that_cannot_be_made_is_one_line_exit_2_and_leaves_nothing(tk: Env) -> None:
    """Issue 11.7: a 5000-character results path (and one under a file) is refused as bad input:
    one line, exit 2, no run state, no note of the run's host, no session."""
    (tk.work / "afile").write_text("x")
    for results in ("/" + "d" * 5000, str(tk.work / "afile" / "sub")):
        r = _start(tk, "longpath", "--results", results, "--", "true")
        assert r.returncode == 2, (r.returncode, r.stderr[:300])
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr[:300]
        assert not (tk.home / "runs" / "longpath").exists() and not (tk.home / "where" / "longpath").exists()
        assert tk.tmux("has-session", "-t", "=longpath").returncode != 0


@pytest.mark.parametrize("plant", ["fifo", "folder", "hard link", "not ours"])
def test_whatever_was_planted_at_the_runs_names_before_the_folder_was_made_ours_is_refused(
        tk: Env, tmp_path: Path, plant: str) -> None:
    """Issue 11.1: the log folder was open to others before this start made it go-w. A FIFO at a
    rotation's name could take the log, a folder there would swallow it at the rotation (mv), a hard
    link would write it into another file too, and someone else's file there could be read by them."""
    logdir = tk.work / "results" / "pl" / "tmuxkit"
    logdir.mkdir(parents=True)
    logdir.chmod(0o777)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    at = logdir / "pl.log.3"
    if plant == "fifo":
        os.mkfifo(at)
    elif plant == "folder":
        at.mkdir()
    elif plant == "hard link":
        os.link(victim, at)
    else:
        if os.geteuid() != 0:
            pytest.skip("needs root to make a file owned by another user")
        at.write_text("")
        os.chown(at, 65534, 65534)
    r = _start(tk, "pl", "--", "echo", "OUTPUT")
    assert r.returncode == 5 and ("pl.log.3" in r.stderr or "hard link" in r.stderr), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert victim.read_text() == "precious\n" and not (logdir.parent / ".tmuxkit.lock").exists()
    assert tk.tmux("has-session", "-t", "=pl").returncode != 0
