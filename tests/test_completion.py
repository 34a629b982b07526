"""Shell completion as a person meets it (issue 29.5): the README's one line in an otherwise empty rc
file, a real interactive bash, zsh or fish in a pane of a private tmux server, Tab pressed, and the
completed text read back from the pane. A shell that is not installed is skipped, with the reason."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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
