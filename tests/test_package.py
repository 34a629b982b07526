"""The wheel carries shell/, so an installed tmuxkit finds its host scripts."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import ROOT, SHELL, Env


def test_wheel_ships_every_host_script(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(ROOT),
                    "-w", str(tmp_path)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("tmuxkit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    scripts = {p.name for p in SHELL.iterdir() if p.is_file()}
    assert scripts and {f"tmuxkit/shell/{s}" for s in scripts} <= names
    libs = {p.name for p in (SHELL / "lib").iterdir()}
    assert "tmuxkit.bash" in libs and {f"tmuxkit/shell/lib/{s}" for s in libs} <= names
    assert "tmuxkit/demo.py" in names


# --- issue 29.1 and 29.8: --version, and the start-up paths that must stay light ------------------

def test_version_names_the_package_and_the_host_scripts(tk: Env) -> None:
    from tmuxkit import __version__
    from tmuxkit.hosts.ssh import scripts_bundle

    want = f"tmuxkit {__version__} (host scripts {scripts_bundle()[0]})"  # the hash install and doctor name
    assert tk.cli("--version").stdout.strip() == want
    assert tk.cli("--config", "nowhere.toml", "--version").stdout.strip() == want  # the parser's --version too


def _imports(tk: Env, *argv: str, tab: str | None = None) -> tuple[set[str], str]:
    """The modules `tmuxkit ARGV` loaded, and what it printed (for TAB: the completions of that line,
    as bash's argcomplete hook asks for them)."""
    from bench.startup import modules_loaded

    out = tk.work / "completions.txt"
    env = dict(tk.env, _ARGCOMPLETE_IFS=" ", _ARGCOMPLETE_STDOUT_FILENAME=str(out))
    mods, r = modules_loaded(list(argv), env, tk.work, tab)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "tmuxkit" in mods
    return mods, out.read_text() if tab is not None else r.stdout


HEAVY = {"libtmux", "rich", "apprise", "tmuxkit.runs", "tmuxkit.hosts", "tmuxkit.sync", "tmuxkit.watch",
         "tmuxkit.doctor", "tmuxkit.plot"}
OTHER_VERBS = {f"tmuxkit.cli.{v}" for v in ("start", "status", "sync", "watch", "logs", "doctor", "plot")}


def test_version_and_completion_import_nothing_they_do_not_need(tk: Env) -> None:
    mods, out = _imports(tk, "--version")
    assert out.startswith("tmuxkit ") and "host scripts" in out
    assert not mods & (HEAVY | {"tmuxkit.cli", "tmuxkit.contract", "tmuxkit.config", "argparse"})
    mods, out = _imports(tk, "completion", "bash")
    assert "_python_argcomplete" in out
    assert not mods & (HEAVY | {"tmuxkit.cli", "tmuxkit.contract", "tmuxkit.config", "dataclasses"})


def test_a_tab_press_imports_only_the_verb_it_completes(tk: Env) -> None:
    mods, out = _imports(tk, tab="tmuxkit st")
    assert out.split() == ["start", "status", "stop"]
    assert not mods & (HEAVY | OTHER_VERBS | {"tmuxkit.cli.stop", "tmuxkit.contract", "tmuxkit.config"})
    (tk.home / "where").mkdir(parents=True)
    (tk.home / "where" / "trainA").write_text("local\n")  # a run this machine started (runs.remember)
    mods, out = _imports(tk, tab="tmuxkit stop tr")
    assert out.split() == ["trainA"]
    assert "tmuxkit.cli.stop" in mods and not mods & (HEAVY | OTHER_VERBS)


def test_completion_reads_the_runs_that_runs_remembers(tk: Env) -> None:
    """cli.completion lists $TMUXKIT_HOME/where itself (no tmuxkit.runs on a Tab): the same names."""
    from tmuxkit.cli.completion import _remembered_runs
    from tmuxkit.runs import remembered_runs

    (tk.home / "where").mkdir(parents=True)
    for name in ("a", "b-2", ".note-being-written"):
        (tk.home / "where" / name).write_text("local\n")
    assert _remembered_runs() == remembered_runs() == ["a", "b-2"]
