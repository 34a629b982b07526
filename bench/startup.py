"""CLI start-up (issue 29 item 8): `tmuxkit --version`, `tmuxkit completion bash` and one Tab
completion (`_ARGCOMPLETE`, as the shell asks), each against a bare `python -c pass` of the same
interpreter, measured side by side (alternately, so a slow spell of the machine falls on both).
Goal: <= 3x for each. Also lists the heavy modules each path imports (there should be none). The
common Tab presses are answered by tmuxkit.tab; the last row times a line it leaves to argcomplete.

    .venv/bin/python -m bench.startup [N [TMUXKIT]]   # N pairs of runs per row (default 40);
                                                     # TMUXKIT: another tmuxkit command to time (an old build)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench import TMUXKIT, median_times, row

GOAL = 3.0
# What none of the three paths needs: the tmux client library, the terminal tables, the notifier,
# the run and host logic, subprocess pipes to tmux.
HEAVY = ("libtmux", "rich", "apprise", "tmuxkit.runs", "tmuxkit.hosts", "tmuxkit.sync", "tmuxkit.watch",
         "tmuxkit.plot", "tmuxkit.doctor", "matplotlib", "plotext", "jsonschema")


def _env(tmp: Path) -> dict[str, str]:
    (tmp / "home").mkdir(mode=0o700, exist_ok=True)  # as after tmuxkit's first use (the Tab caches names there)
    env = dict(os.environ, TMUXKIT_HOME=str(tmp / "home"), HOME=str(tmp), NO_COLOR="1")
    # An installed tmuxkit runs from its .pyc files (pip compiles them): the first run writes them.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _tab_env(env: dict[str, str], line: str) -> dict[str, str]:
    """What bash's argcomplete hook sets for one Tab press at the end of LINE."""
    return dict(env, _ARGCOMPLETE="1", _ARGCOMPLETE_SHELL="bash", COMP_LINE=line, COMP_POINT=str(len(line)),
                _ARGCOMPLETE_IFS="\013", _ARGCOMPLETE_SUPPRESS_SPACE="1")


# name: (argv, the Tab's line or None, run in a folder with a tmuxkit.toml of CONFIG_RUNS runs)
PATHS: dict[str, tuple[list[str], str | None, bool | str]] = {
    "`tmuxkit --version`": (["--version"], None, False),
    "`tmuxkit completion bash`": (["completion", "bash"], None, False),
    "Tab after `tmuxkit st`": ([], "tmuxkit st", False),
    "Tab after `tmuxkit stop ` (no config)": ([], "tmuxkit stop ", False),
    "Tab after `tmuxkit stop ` (a config of 20 runs)": ([], "tmuxkit stop ", True),
    # The first Tab after an edit reads the config with tomllib (a config changed in the last 2 s: each time).
    "Tab after `tmuxkit stop ` (that config just edited)": ([], "tmuxkit stop ", "edited"),
    "Tab after `tmuxkit logs run07 -f --l`": ([], "tmuxkit logs run07 -f --l", True),
    # A line tmuxkit.tab leaves to argcomplete (an option before the verb): argparse, argcomplete, stop's module.
    "Tab after `tmuxkit --config tmuxkit.toml stop r` (argcomplete)": ([], "tmuxkit --config tmuxkit.toml stop r",
                                                                         True),
}
CONFIG_RUNS = 20


def _project(tmp: Path, edited: bool) -> Path:
    """A folder with a tmuxkit.toml of CONFIG_RUNS runs on two hosts, as a user's project has: unchanged
    for a minute, or (EDITED) changed now (its mtime in the future, so that it stays just edited)."""
    d = tmp / ("edited" if edited else "project")
    d.mkdir(exist_ok=True)
    hosts = '[hosts.studio]\nssh = "studio"\n\n[hosts.box]\nssh = "ubuntu@box"\n'
    runs = "".join(f'\n[runs.run{i:02d}]\ncommand = "python train.py --seed {i}"\nhost = "studio"\n'
                   f'results = "results/run{i:02d}"\n' for i in range(CONFIG_RUNS))
    (d / "tmuxkit.toml").write_text(hosts + runs)
    when = time.time() + (3600 if edited else -60)
    os.utime(d / "tmuxkit.toml", (when, when))
    return d


# Runs tmuxkit's entry point and writes the names in sys.modules to $TK_MODULES when it ends, also
# when argcomplete ends the process with os._exit. (python -X importtime cannot tell: argcomplete
# mutes stderr while it parses.) It imports only os and sys, which every Python has loaded already.
_DUMP = """import os, sys
def _dump():
    with open(os.environ["TK_MODULES"], "w") as f:
        f.write("\\n".join(sorted(sys.modules)))
_exit = os._exit
def _dump_and_exit(code):
    _dump()
    _exit(code)
os._exit = _dump_and_exit
sys.argv = ["tmuxkit", *sys.argv[1:]]
from tmuxkit.__main__ import main
try:
    rc = main()
finally:
    _dump()
sys.exit(rc)
"""


def modules_loaded(argv: list[str], env: dict[str, str], cwd: Path, tab: str | None = None
                   ) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """The modules loaded by the time tmuxkit ARGV ends (with TAB: one Tab press at the end of that line)."""
    fd, path = tempfile.mkstemp(prefix="tk-modules-")
    os.close(fd)
    e = dict(_tab_env(env, tab) if tab else env, TK_MODULES=path)
    try:
        r = subprocess.run([sys.executable, "-c", _DUMP, *argv], env=e, cwd=cwd, capture_output=True, text=True,
                           timeout=60)
        return set(Path(path).read_text().split()), r
    finally:
        os.unlink(path)


def heavy_imports(argv: list[str], env: dict[str, str], tab: str | None, cwd: Path) -> list[str]:
    """The HEAVY modules loaded on this path."""
    if tab:
        env = dict(env, _ARGCOMPLETE_STDOUT_FILENAME=os.devnull)
    mods, _ = modules_loaded(argv, env, cwd, tab)
    return sorted(m for m in mods if any(m == h or m.startswith(h + ".") for h in HEAVY))


def measure(n: int = 40, tmuxkit: list[str] = TMUXKIT) -> tuple[list[str], list[float]]:
    tmp = Path(tempfile.mkdtemp(prefix="tk-bench-startup-"))
    env = _env(tmp)
    out = ["| measure | tmuxkit | `python -c pass` | ratio | target |", "| --- | --- | --- | --- | --- |"]
    ratios: list[float] = []
    bare = [sys.executable, "-c", "pass"]
    for name, (argv, tab, config) in PATHS.items():
        cwd = _project(tmp, config == "edited") if config else tmp
        e = _tab_env(env, tab) if tab else env
        if tab:
            e["_ARGCOMPLETE_STDOUT_FILENAME"] = str(tmp / "completions")
            subprocess.run([*tmuxkit, *argv], env=e, cwd=cwd, check=True)  # it answers, and as it should:
            runs = "".join(f" run{i:02d}" for i in range(CONFIG_RUNS) if config)
            want = {"tmuxkit st": "start status stop", "tmuxkit logs run07 -f --l": "--lines",
                    "tmuxkit --config tmuxkit.toml stop r": runs.strip()}.get(tab, "-h --help --host --grace" + runs)
            got = (tmp / "completions").read_text().replace("\013", " ")
            assert got == want, f"{name}: {got!r}, not {want!r}"
            e["_ARGCOMPLETE_STDOUT_FILENAME"] = os.devnull

        def ours(argv: list[str] = argv, e: dict[str, str] = e, cwd: Path = cwd) -> None:
            subprocess.run([*tmuxkit, *argv], env=e, cwd=cwd, stdout=subprocess.DEVNULL, check=not tab)

        def base() -> None:
            subprocess.run(bare, env=env, cwd=tmp, check=True)

        ours()  # warm the page cache and the .pyc files
        base()
        t_ours, t_base = median_times(ours, base, n)
        # (Only this checkout's tmuxkit can be asked what it imported.)
        heavy = ", ".join(heavy_imports(argv, env, tab, cwd)) or "none" if tmuxkit == TMUXKIT else "not asked"
        ratios.append(t_ours / t_base)
        out.append(row(f"{name} (median of {n}; heavy imports: {heavy})", t_ours, t_base,
                       f"<= {GOAL:g}x"))
    return out, ratios


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 40
    tmuxkit = argv[1:2] or TMUXKIT
    lines, ratios = measure(n, tmuxkit)
    print(f"tmuxkit: {' '.join(tmuxkit)}")
    print("\n".join(lines))
    return 0 if all(r <= GOAL for r in ratios) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
