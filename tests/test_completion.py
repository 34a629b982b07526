"""Shell completion as a person meets it (issue 29.5): the README's one line in an otherwise empty rc
file, a real interactive bash, zsh or fish in a pane of a private tmux server, Tab pressed, and the
completed text read back from the pane. A shell that is not installed is skipped, with the reason."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, Env, wait_until

# The rc line the README gives for each shell (fish: the command that writes its completions file).
RC_LINE = {
    "bash": 'eval "$(tmuxkit completion bash)"\n',
    "zsh": 'eval "$(tmuxkit completion zsh)"\n',
}


class Pane:
    """One interactive shell in its own tmux server (tmux -L), with a clean environment."""

    def __init__(self, tk: Env, argv: list[str], home: Path, bindir: Path) -> None:
        self.socket = f"tkc-{uuid.uuid4().hex[:10]}"
        env = {"HOME": str(home), "PATH": f"{bindir}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
               "TERM": "screen", "LANG": "C.UTF-8", "TMUXKIT_HOME": tk.env["TMUXKIT_HOME"],
               "TMUXKIT_SOCKET": tk.socket, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
        self.env = env
        # env -i: the shell sees only ENV, nothing of the test runner's (no inherited ZDOTDIR, BASH_ENV...).
        cmd = ["env", "-i", *(f"{k}={v}" for k, v in env.items()), *argv]
        self.tmux("-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "40", "-c", str(tk.work),
                  "-s", "c", " ".join(_q(c) for c in cmd))

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, env=self.env,
                           timeout=30)
        assert r.returncode == 0 or args[0] == "kill-server", f"tmux {args}: {r.stderr}"
        return r

    def text(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "c").stdout

    def type(self, keys: str) -> None:
        self.tmux("send-keys", "-t", "c", "-l", "--", keys)

    def key(self, *names: str) -> None:
        self.tmux("send-keys", "-t", "c", *names)

    def wait_for(self, what: str, timeout: float = 60) -> str:
        try:
            return str(wait_until(lambda: what in self.text() and self.text(), timeout=timeout, interval=0.1,
                                  what=repr(what)))
        except AssertionError as e:
            raise AssertionError(f"{e}; the pane shows:\n{self.text()}") from None

    def close(self) -> None:
        self.tmux("kill-server")


def _q(s: str) -> str:
    import shlex

    return shlex.quote(s)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "shellhome"
    h.mkdir()
    return h


@pytest.fixture
def bindir(tmp_path: Path) -> Path:
    """`tmuxkit` on PATH, this checkout's."""
    d = tmp_path / "bin"
    d.mkdir()
    (d / "tmuxkit").write_text(f'#!/bin/sh\nexec {_q(sys.executable)} -m tmuxkit "$@"\n')
    (d / "tmuxkit").chmod(0o755)
    return d


@pytest.fixture
def panes() -> Iterator[list[Pane]]:
    made: list[Pane] = []
    yield made
    for p in made:
        p.close()


def _shell(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.skip(f"{name} is not installed (command -v {name} finds nothing), so its completion is not tested")
    return path


def _drive(pane: Pane, ready: str = "echo ready-$((40+2))") -> None:
    """Tab completes a verb, a run name from ./tmuxkit.toml, and an option, as a person types them."""
    # The rc file ran and the shell reads input: a marker only an evaluated command prints.
    pane.type(ready)
    pane.key("Enter")
    pane.wait_for("ready-42")
    pane.type("tmuxkit checkp")
    pane.key("Tab")
    pane.wait_for("tmuxkit checkpoints")
    pane.type("ks")
    pane.key("Tab")
    pane.wait_for("tmuxkit checkpoints kssm_v3")
    pane.type("--js")
    pane.key("Tab")
    pane.wait_for("tmuxkit checkpoints kssm_v3 --json")
    assert "command not found" not in pane.text(), pane.text()


@pytest.fixture
def project(tk: Env) -> Env:
    tk.write_config('[hosts.studio]\nssh = "studio"\n')
    tk.add_run("kssm_v3", "python train.py")
    return tk


@pytest.mark.timeout(240)
def test_bash_with_only_the_readme_line_completes_on_tab(project: Env, home: Path, bindir: Path,
                                                          panes: list[Pane]) -> None:
    (home / ".bashrc").write_text(RC_LINE["bash"])
    panes.append(Pane(project, [_shell("bash"), "-i"], home, bindir))
    _drive(panes[0])


@pytest.mark.timeout(240)
def test_zsh_with_only_the_readme_line_completes_on_tab(project: Env, home: Path, bindir: Path,
                                                         panes: list[Pane]) -> None:
    """A .zshrc holding only the eval line (no compinit before it): no "command not found: compdef"
    at start, and Tab completes. -d: no global rc files, as on macOS and Debian (Ubuntu's
    /etc/zsh/zshrc runs compinit itself, which would hide the bug)."""
    (home / ".zshrc").write_text(RC_LINE["zsh"])
    panes.append(Pane(project, [_shell("zsh"), "-d", "-i"], home, bindir))
    _drive(panes[0])
    assert "compdef" not in panes[0].text(), panes[0].text()


@pytest.mark.timeout(240)
def test_fish_with_the_readme_completions_file_completes_on_tab(project: Env, home: Path, bindir: Path,
                                                                 panes: list[Pane]) -> None:
    fish = _shell("fish")
    target = home / ".config" / "fish" / "completions" / "tmuxkit.fish"
    target.parent.mkdir(parents=True)
    r = subprocess.run([str(bindir / "tmuxkit"), "completion", "fish"], capture_output=True, text=True,
                       env={**project.env, "HOME": str(home)}, timeout=60)
    assert r.returncode == 0, r.stderr
    target.write_text(r.stdout)
    panes.append(Pane(project, [fish, "-i"], home, bindir))
    _drive(panes[0], ready="echo ready-(math 40 + 2)")


# --- issue 29.8: tmuxkit.tab answers the common Tab presses before argparse is imported, with exactly
# what argcomplete writes (compared here line by line, in this process: both read the environment the
# shell's hook sets, and both end with os._exit, which raises here instead).

# What each shell's hook (argcomplete's scripts, `tmuxkit completion SHELL`) sets besides the line.
HOOK_ENV = {
    "bash": {"_ARGCOMPLETE_SHELL": "bash", "_ARGCOMPLETE_IFS": "\013", "_ARGCOMPLETE_SUPPRESS_SPACE": "1",
             "_ARGCOMPLETE_COMP_WORDBREAKS": "\"'><=;|&(: \t\n"},
    "bash3.2": {"_ARGCOMPLETE_SHELL": "bash", "_ARGCOMPLETE_IFS": "\013", "_ARGCOMPLETE_SUPPRESS_SPACE": "0",
                "_ARGCOMPLETE_COMP_WORDBREAKS": "\"'><=;|&(: \t\n"},  # no compopt: argcomplete adds the space
    "zsh": {"_ARGCOMPLETE_SHELL": "zsh", "_ARGCOMPLETE_IFS": "\013", "_ARGCOMPLETE_SUPPRESS_SPACE": "1"},
    "fish": {"_ARGCOMPLETE_SHELL": "fish", "_ARGCOMPLETE_IFS": "\n", "_ARGCOMPLETE_DFS": "\t",
             "_ARGCOMPLETE_SUPPRESS_SPACE": "1"},
}


class _Exited(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def _answers(monkeypatch: pytest.MonkeyPatch, out: Path, shell: str, line: str,
             point: int | None = None) -> tuple[str | None, str]:
    """(tmuxkit.tab's answer, None where it leaves the line to argcomplete; argcomplete's answer)."""
    import argcomplete
    from argcomplete.finders import CompletionFinder

    from tmuxkit import cli, tab

    for k in ("_ARGCOMPLETE_DFS", "_ARGCOMPLETE_COMP_WORDBREAKS", "_ARC_DEBUG"):
        monkeypatch.delenv(k, raising=False)
    env = {**HOOK_ENV[shell], "_ARGCOMPLETE": "1", "COMP_LINE": line,
           "COMP_POINT": str(len(line) if point is None else point), "_ARGCOMPLETE_STDOUT_FILENAME": str(out)}
    for k, v in env.items():
        monkeypatch.setenv(k, v)

    def exit_(code: int) -> None:
        raise _Exited(code)

    monkeypatch.setattr(os, "_exit", exit_)
    # argcomplete's exit (os._exit, bound when it was defined) raises here too; and its debug stream
    # is fd 9, which may be pytest's own here: left alone.
    finder = CompletionFinder()
    monkeypatch.setattr(argcomplete, "autocomplete", lambda parser: finder(parser, exit_method=exit_))
    monkeypatch.setattr(CompletionFinder, "_init_debug_stream", lambda self: None)
    answers: list[str | None] = []
    for answer in (tab.answer, cli.complete):
        out.write_text("(nothing written)")
        try:
            answer()
            answers.append(None)
        except _Exited as e:
            assert e.code == 0, (shell, line, answer)
            answers.append(out.read_text())
    assert answers[1] is not None, f"argcomplete did not answer {line!r}"
    return answers[0], answers[1]


# The config of the comparison: hosts and runs with names a shell must quote, a run name tmuxkit
# refuses, twin names (one in the config, one remembered), names that share a prefix.
ODD_CONFIG = """\
[hosts.studio]
ssh = "studio"
[hosts.stu-2]
ssh = "stu2"
[hosts."gpu box"]
ssh = "gpu"
[hosts."a:b"]
ssh = "ab"
[runs.kssm_v3]
command = "python train.py"
[runs.kssm-v4]
command = "python train.py"
[runs."bad name"]
command = "python train.py"
"""

LINES = ["tmuxkit ", "tmuxkit st", "tmuxkit -", "tmuxkit --", "tmuxkit --c", "tmuxkit x", "tmuxkit  sto",
         "tmuxkit stop  ", "tmuxkit completion ", "tmuxkit completion f", "tmuxkit export --to ",
         "tmuxkit export --to s", "tmuxkit install ", "tmuxkit doctor s", "tmuxkit gpus ",
         "tmuxkit cleanup ", "tmuxkit cleanup --host ", "tmuxkit status ", "tmuxkit status k",
         "tmuxkit forget ", "tmuxkit attach k", "tmuxkit stop kssm_v", "tmuxkit stop kssm_v3",
         "tmuxkit stop trainA", "tmuxkit logs -", "tmuxkit logs -f", "tmuxkit stop --host ",
         "tmuxkit stop --host s", "tmuxkit stop --host stu-", "tmuxkit stop --host g", "tmuxkit stop --host a",
         "tmuxkit start --host l", "tmuxkit install --host ", "/usr/local/bin/tmuxkit stop k",
         # the lines argcomplete answers: quotes, =, paths, a verb after --config, a second argument...
         "tmuxkit stop 'k", 'tmuxkit stop "k', "tmuxkit stop k\\", "tmuxkit stop --host=", "tmuxkit stop --host=s",
         "tmuxkit --config tmuxkit.toml stop ", "tmuxkit init ", "tmuxkit logs ./", "tmuxkit stop kssm_v3 ",
         "tmuxkit start kssm_v3 -- ", "tmuxkit stop --grace ", "tmuxkit events --json ", "tmuxkit stop -- ",
         "tmuxkit\tstop k", "tmuxkit stop ~", "tmuxkit stop gpu\\ b", "tmuxkit start k --env "]
# After whole options and the argument (as argparse takes them; * ? + arguments are taken early).
LINES += ["tmuxkit events --json ", "tmuxkit events --json k", "tmuxkit events -f --host studio k",
          "tmuxkit logs -n 5 ", "tmuxkit logs -n 5 k", "tmuxkit logs -n -5 k", "tmuxkit logs kssm_v3 -",
          "tmuxkit logs kssm_v3 -f ", "tmuxkit logs kssm_v3 -f --host ", "tmuxkit stop a b ", "tmuxkit stop a b --host ",
          "tmuxkit stop --grace 5 --host s", "tmuxkit stop --gr 5 ", "tmuxkit stop -h ", "tmuxkit status a ",
          "tmuxkit status --json ", "tmuxkit status --json k", "tmuxkit status a --host ", "tmuxkit status a b k",
          "tmuxkit status a -", "tmuxkit status a --json b ", "tmuxkit forget a b --dry-run ", "tmuxkit attach --host studio ", "tmuxkit attach k ", "tmuxkit forget a ", "tmuxkit forget --dry-run k",
          "tmuxkit cleanup x ", "tmuxkit cleanup --dry-run ", "tmuxkit cleanup --host studio --dry-run -",
          "tmuxkit start k --env A=1 ", "tmuxkit start k --gpus 2 --", "tmuxkit export k --to ",
          "tmuxkit export --to sbatch k", "tmuxkit completion bash ", "tmuxkit stop kssm_v3 --host --grace ",
          "tmuxkit install studio ", "tmuxkit doctor --json ", "tmuxkit gpus --json s"]
# Verb by verb: its options and its argument.
LINES += [f"tmuxkit {verb} {p}" for verb in ("start", "watch", "events", "sync", "attach", "status", "logs",
                                            "stop", "cleanup", "forget", "checkpoints", "plot", "install",
                                            "init", "doctor", "completion", "gpus", "export")
          for p in ("", "-", "--h", "k", "--host ")]
# Lines the fast path must answer itself (argparse not imported), in every shell.
# (Not "--host " here: the odd hosts' names go to argcomplete, which quotes them.)
FAST = ["tmuxkit ", "tmuxkit st", "tmuxkit -", "tmuxkit stop ", "tmuxkit stop k", "tmuxkit stop --host s",
        "tmuxkit stop --h", "tmuxkit completion ", "tmuxkit cleanup ", "tmuxkit status k", "tmuxkit install s",
        "tmuxkit events --json k", "tmuxkit logs kssm_v3 -f ", "tmuxkit stop --grace 5 --host s",
        "tmuxkit logs -n 5 ", "tmuxkit stop kssm_v3 --g", "tmuxkit export k --to ", "tmuxkit status a b k",
        "tmuxkit forget a "]


@pytest.fixture
def odd_project(tk: Env) -> Env:
    tk.write_config(ODD_CONFIG)
    (tk.home / "where").mkdir(parents=True)
    for name in ("trainA", "kssm_v3", "we ird", ".being-written"):
        (tk.home / "where" / name).write_text("local\n")
    return tk


@pytest.mark.parametrize("shell", sorted(HOOK_ENV))
def test_the_fast_tab_answers_as_argcomplete_does(odd_project: Env, monkeypatch: pytest.MonkeyPatch,
                                                  shell: str) -> None:
    out = odd_project.work.parent / "completions.out"
    answered = []
    for line in LINES:
        fast, slow = _answers(monkeypatch, out, shell, line)
        if fast is not None:
            answered.append(line)
            assert fast == slow, f"{shell}: {line!r}: tmuxkit.tab wrote {fast!r}, argcomplete {slow!r}"
    for line in FAST:
        fast, slow = _answers(monkeypatch, out, shell, line)
        assert fast is not None, f"{shell}: {line!r}: left to argcomplete"
        assert fast == slow, f"{shell}: {line!r}: tmuxkit.tab wrote {fast!r}, argcomplete {slow!r}"
    assert len(answered) > len(LINES) // 2, answered
    # The cursor before the line's end: only the words up to it count (as argcomplete's split_line).
    assert _answers(monkeypatch, out, shell, "tmuxkit st kssm", point=len("tmuxkit st"))[0] == \
        _answers(monkeypatch, out, shell, "tmuxkit st")[1]


def test_tabspec_is_generated_from_the_current_parser() -> None:
    from tmuxkit.cli.completion import spec_source

    assert (ROOT / "tmuxkit" / "tabspec.py").read_text() == spec_source(), \
        "tmuxkit/tabspec.py is stale: run .venv/bin/python -m tmuxkit.cli.completion --write and commit it"


def test_tab_reads_names_from_a_config_without_validating_it_and_never_blocks(tk: Env) -> None:
    """A config tmuxkit refuses for a bad key still completes its names (a Tab never fails loudly);
    a file that is not TOML, too big, or not a regular file (a FIFO would block the Tab) gives none."""
    from tmuxkit import tab

    tk.write_config('[runs.r1]\ncommand = "x"\nmistyped_key = 1\n[runs."r 2"]\ncommand = "x"\n'
                    '[hosts.h1]\nssh = "h"\n')
    assert tab.run_names("", None) == ["r1"] and tab.host_names("", None) == ["h1", "local"]
    (tk.work / "tmuxkit.toml").write_text("[runs.r1\n")
    assert tab.run_names("", None) == [] and tab.host_names("", None) == ["local"]
    (tk.work / "tmuxkit.toml").write_text("#" * (tab.MAX_CONFIG_BYTES + 1) + '\n[runs.r1]\n')
    assert tab.run_names("", None) == []
    (tk.work / "tmuxkit.toml").unlink()
    os.mkfifo(tk.work / "tmuxkit.toml")
    assert tab.run_names("", None) == []
    assert tab.run_names("", str(tk.work / "absent.toml")) == []


def _settle(path: Path) -> None:
    past = time.time() - 60
    os.utime(path, (past, past))


def test_tab_caches_a_settled_config_s_names_and_sees_every_edit(tk: Env) -> None:
    """The names come from $TMUXKIT_HOME/tab-names while the config is unchanged: an edit of the same
    size, a new file renamed over it, or a config changed in the last seconds is read again."""
    from tmuxkit import tab

    tk.home.mkdir(mode=0o700)
    cfg, cache = tk.work / "tmuxkit.toml", tk.home / tab.CACHE
    cfg.write_text('[runs.aaaa]\ncommand = "x"\n[hosts.h1]\nssh = "h"\n')
    assert tab.config_names(None) == (["aaaa"], ["h1"]) and not cache.exists()  # just written: not cached
    _settle(cfg)
    assert tab.config_names(None) == (["aaaa"], ["h1"]) and cache.exists()
    # The cache is what answers now: a forged entry for this file's stamp is believed...
    cache.write_text(cache.read_text().replace("aaaa", "cccc"))
    assert tab.config_names(None) == (["cccc"], ["h1"])
    cfg.write_text('[runs.bbbb]\ncommand = "x"\n[hosts.h1]\nssh = "h"\n')  # ...until the file changes
    _settle(cfg)  # the same size and mtime as before: its ctime differs
    assert tab.config_names(None) == (["bbbb"], ["h1"])
    new = tk.work / "new.toml"
    new.write_text('[runs.dddd]\ncommand = "x"\n[hosts.h1]\nssh = "h"\n')
    _settle(new)
    new.rename(cfg)  # an editor's save: another inode
    assert tab.config_names(None) == (["dddd"], ["h1"])
    other = tk.work / "other.toml"  # another config (--config): its own line, the first kept
    other.write_text('[runs.eeee]\ncommand = "x"\n')
    _settle(other)
    assert tab.config_names(str(other)) == (["eeee"], [])
    assert len(cache.read_text().splitlines()) == 2
    assert tab.run_names("", None) == ["dddd"] and tab.run_names("", str(other)) == ["eeee"]


def test_tab_s_cache_follows_no_link_and_trusts_no_shared_home(tk: Env) -> None:
    from tmuxkit import tab

    tk.home.mkdir(mode=0o700)
    cfg, cache = tk.work / "tmuxkit.toml", tk.home / tab.CACHE
    cfg.write_text('[runs.aaaa]\ncommand = "x"\n')
    _settle(cfg)
    victim = tk.work / "victim.txt"
    victim.write_text("the user's own\n")
    cache.symlink_to(victim)
    assert tab.config_names(None) == (["aaaa"], [])
    assert victim.read_text() == "the user's own\n"  # the link itself was replaced, the file kept
    assert not cache.is_symlink() and "aaaa" in cache.read_text()
    assert sorted(p.name for p in tk.home.iterdir()) == [tab.CACHE]  # no temp file left
    cache.unlink()
    tk.home.chmod(0o777)  # others could forge it: no cache, the file is read each time
    try:
        assert tab.config_names(None) == (["aaaa"], []) and not cache.exists()
    finally:
        tk.home.chmod(0o700)
    tk.home.rmdir()  # no home: a Tab creates none
    assert tab.config_names(None) == (["aaaa"], []) and not tk.home.exists()
