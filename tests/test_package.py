"""The wheel carries shell/, so an installed tmuxkit finds its host scripts; installed as a tool into a
fresh virtualenv with nothing else, it runs the demo and doctor (issue 29.1); and the start-up paths
stay light (29.8)."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as md
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT, SHELL, Env, wait_until


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tmuxkit's wheel, built from this checkout (once for this file's tests)."""
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(ROOT),
                    "-w", str(dist)], check=True, capture_output=True, timeout=120)
    (built,) = dist.glob("tmuxkit-*.whl")
    return built


def test_wheel_ships_every_host_script(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    scripts = {p.name for p in SHELL.iterdir() if p.is_file()}
    assert scripts and {f"tmuxkit/shell/{s}" for s in scripts} <= names
    libs = {p.name for p in (SHELL / "lib").iterdir()}
    assert "tmuxkit.bash" in libs and {f"tmuxkit/shell/lib/{s}" for s in libs} <= names
    assert "tmuxkit/demo.py" in names


# --- installed as a tool, offline -------------------------------------------------------------------
# A wheelhouse of tmuxkit's dependencies, made without a network: each distribution that tmuxkit's
# wheel requires (its Requires-Dist, then theirs, markers evaluated for this interpreter) is packed
# back into a wheel from the files this test's own environment installed (its dist-info RECORD). pip
# then installs tmuxkit's wheel into an empty venv with --no-index from that folder alone: it resolves
# the wheel's own declared requirements, so a dependency missing from pyproject.toml is missing there.


def _wheel_tag(info: Path) -> str:
    tags = [ln.split(":", 1)[1].strip() for ln in (info / "WHEEL").read_text().splitlines() if ln.startswith("Tag:")]
    parts = [sorted({t.split("-")[i] for t in tags}) for i in range(3)]
    return "-".join(".".join(p) for p in parts)


def repack(dist: md.Distribution, out: Path) -> Path:
    """DIST, as installed, packed back into a wheel in OUT (its scripts are made again by pip)."""
    info = Path(str(dist._path))  # type: ignore[attr-defined]  # PathDistribution: the .dist-info dir
    site = info.parent
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"])
    wheel = out / f"{name}-{dist.version}-{_wheel_tag(info)}.whl"
    record_name = f"{info.name}/RECORD"
    rows = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        for f in dist.files or []:
            rel = f.as_posix()
            if rel.startswith("../") or "__pycache__" in rel or rel == record_name or \
                    rel.rsplit("/", 1)[-1] in ("INSTALLER", "REQUESTED", "direct_url.json"):
                continue
            data = (site / rel).read_bytes()
            z.writestr(rel, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            rows.append(f"{rel},sha256={digest},{len(data)}")
        z.writestr(record_name, "\n".join([*rows, f"{record_name},,"]) + "\n")
    return wheel


def dependency_closure(requires: list[str]) -> list[md.Distribution]:
    """The installed distributions that REQUIRES needs, transitively, on this interpreter."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: dict[str, md.Distribution] = {}
    todo = [(Requirement(r), "") for r in requires]
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        key = canonicalize_name(req.name)
        if key in seen:
            continue
        dist = md.distribution(req.name)  # not installed here: PackageNotFoundError, the test's error
        assert dist.version in req.specifier or not req.specifier, f"{req} but {dist.version} is installed"
        seen[key] = dist
        for r in dist.requires or []:
            todo += [(Requirement(r), e) for e in ["", *req.extras]]
    return sorted(seen.values(), key=lambda d: d.metadata["Name"].lower())


def test_the_wheel_installs_as_a_tool_and_runs_the_demo_and_doctor(tk: Env, tmp_path: Path, wheel: Path) -> None:
    house, tool = tmp_path / "wheelhouse", tmp_path / "tool"
    house.mkdir()
    with zipfile.ZipFile(wheel) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    requires = [ln.split(":", 1)[1].strip() for ln in meta.splitlines() if ln.startswith("Requires-Dist:")]
    deps = dependency_closure(requires)
    assert {"libtmux", "rich", "apprise", "argcomplete"} <= {d.metadata["Name"].lower() for d in deps}
    for d in deps:
        repack(d, house)
    # An empty venv (no pip in it, no system site-packages); this pip installs into it, offline.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tool)], check=True, timeout=60)
    py = tool / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", "--python", str(py)]
    # pip resolves the wheel's Requires-Dist from the wheelhouse alone (--no-compile: the .pyc files are
    # written on first import; byte-compiling every dependency here would double the install's time).
    r = subprocess.run([*pip, "install", "-q", "--no-index", "--no-compile", "--no-cache-dir", "--find-links", str(house),
                        str(wheel)], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    # Nothing of this checkout: no PYTHONPATH, a directory with no tmuxkit in it, the tool's own python.
    env = {k: v for k, v in tk.env.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{tool / 'bin'}{os.pathsep}{env['PATH']}"
    work = tmp_path / "elsewhere"
    work.mkdir()

    def tmuxkit(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([str(tool / "bin" / "tmuxkit"), *args], env=env, cwd=work, capture_output=True, text=True,
                           timeout=120)
        assert not check or r.returncode == 0, f"tmuxkit {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    where = subprocess.run([str(py), "-c", "import tmuxkit, sys; print(tmuxkit.__file__); print(sys.prefix)"],
                           env=env, cwd=work, capture_output=True, text=True, check=True).stdout.split()
    assert Path(where[0]).is_relative_to(tool) and Path(where[1]) == tool, where
    from tmuxkit.version import scripts_version

    assert tmuxkit("--version").stdout.strip().endswith(f"(host scripts {scripts_version()})")  # the same scripts
    assert "started demo on local" in tmuxkit("start", "demo").stdout

    def ended() -> dict[str, object] | None:
        (row,) = json.loads(tmuxkit("status", "demo", "--json").stdout)
        return row if row["state"] not in ("running", "stuck") else None

    row = wait_until(ended, timeout=60, what="the installed demo's end")
    assert row["exit_code"] == 0 and isinstance(row["progress"], dict) and row["progress"]["percent"] == 100.0, row
    assert Path(str(row["results"])).is_relative_to(work)
    r = tmuxkit("doctor", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    scripts_line = next(ln for ln in r.stdout.splitlines() if "host scripts" in ln)
    assert str(tool) in scripts_line and str(ROOT) not in r.stdout, scripts_line  # the wheel's own scripts


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
    assert not mods & (HEAVY | {"tmuxkit.cli", "tmuxkit.contract", "tmuxkit.config", "dataclasses", "argparse",
                                "argcomplete.finders"})


def test_completion_prints_argcomplete_s_own_scripts_zsh_s_with_its_compinit_guard() -> None:
    from argcomplete.shell_integration import shellcode as theirs

    from tmuxkit import shellcode

    for shell in shellcode.SHELLS:
        ours = shellcode.script(shell)
        if shell == "zsh":  # with the compinit guard after its first line (a .zshrc with only the eval)
            assert shellcode.ZSH_COMPINIT in ours
            ours = ours.replace(shellcode.ZSH_COMPINIT, "", 1)
        assert ours == theirs(["tmuxkit"], shell=shell).rstrip("\n")


def test_a_tab_press_imports_only_the_verb_it_completes(tk: Env) -> None:
    """The common Tab presses are answered by tmuxkit.tab: no argparse, no argcomplete, no verb module,
    no config module (its TOML read by tomllib alone, when there is one). Others: only their verb."""
    light = HEAVY | OTHER_VERBS | {"tmuxkit.cli", "tmuxkit.cli.stop", "tmuxkit.contract", "tmuxkit.config",
                                   "argparse", "argcomplete", "dataclasses", "typing", "re", "tomllib"}
    mods, out = _imports(tk, tab="tmuxkit st")
    assert out.split() == ["start", "status", "stop"]
    assert not mods & light, mods & light
    (tk.home / "where").mkdir(parents=True)
    (tk.home / "where" / "trainA").write_text("local\n")  # a run this machine started (runs.remember)
    mods, out = _imports(tk, tab="tmuxkit stop tr")
    assert out.split() == ["trainA"]
    assert not mods & light, mods & light
    tk.write_config('[runs.trainB]\ncommand = "sleep 1"\n')  # with a config, its runs too
    mods, out = _imports(tk, tab="tmuxkit stop tr")
    assert out.split() == ["trainA", "trainB"] and "tomllib" in mods
    assert not mods & (light - {"tomllib", "typing", "re"}), mods & light  # (tomllib imports typing and re)
    # Once the config has settled (its mtime 2 s past), its names are cached: no tomllib on the next Tab.
    past = time.time() - 60
    os.utime(tk.work / "tmuxkit.toml", (past, past))
    for _ in range(2):  # the first reads and caches it, the second reads the cache
        mods, out = _imports(tk, tab="tmuxkit stop tr")
        assert out.split() == ["trainA", "trainB"]
    assert not mods & light, mods & light
    mods, out = _imports(tk, tab="tmuxkit --config tmuxkit.toml stop trainA --gr")  # argcomplete's: stop's only
    assert out.split() == ["--grace"]
    assert "tmuxkit.cli.stop" in mods and "argcomplete" in mods and not mods & (HEAVY | OTHER_VERBS)


def test_tab_knows_the_config_s_file_name_size_limit_local_host_and_run_names() -> None:
    """tmuxkit.tab's copies of config's and contract's facts (it imports neither, to stay light)."""
    from tmuxkit import config, contract, tab

    assert (tab.CONFIG_FILE, tab.MAX_CONFIG_BYTES, tab.LOCAL) == \
        (config.DEFAULT_CONFIG, config.MAX_CONFIG_BYTES, config.LOCAL)
    names = ["a", "A-b_9", "-a", "_a", "", "a" * 64, "a" * 65, "a b", "a.b", "é", "a\n", "a/b", "a:b", "0"]
    assert [tab.valid_run_name(n) for n in names] == [contract.valid_run_name(n) for n in names]


def test_tab_reads_the_runs_that_runs_remembers(tk: Env) -> None:
    """tmuxkit.tab lists $TMUXKIT_HOME/where itself (no tmuxkit.runs on a Tab): the same names."""
    from tmuxkit.runs import remembered_runs
    from tmuxkit.tab import remembered_runs as tab_remembered

    (tk.home / "where").mkdir(parents=True)
    for name in ("a", "b-2", ".note-being-written"):
        (tk.home / "where" / name).write_text("local\n")
    assert tab_remembered() == remembered_runs() == ["a", "b-2"]
