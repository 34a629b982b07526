"""The host scripts' layout: each entry point (shell/tmuxkit-*) sources the libraries it needs.

A function an entry point calls, itself or through the libraries it sources, must be defined by
them. bash finds a missing one only when the line runs: `if sr_preempted` then reads "command not
found" as false (the Slurm wrapper took every preemption for a time limit when sr_preempted had
moved into a library the wrapper does not source)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

SHELL = Path(__file__).resolve().parent.parent / "shell"

# A word where bash looks for a command: at a line's start, after ; & | ( { ! $( or a keyword.
_KEYWORD = re.compile(r"\b(?:then|do|else|if|elif|while|until|time)\s")
_COMMAND = re.compile(r"(?:^|[;&|({!`]|\$\()\s*([A-Za-z_][A-Za-z0-9_]*)\b")


def _lib_functions() -> dict[str, str]:
    defs: dict[str, str] = {}
    for f in sorted((SHELL / "lib").glob("*.bash")):
        for m in re.finditer(r"^([A-Za-z_][A-Za-z0-9_]*)\(\)", f.read_text(), re.M):
            defs.setdefault(m.group(1), f.name)
    return defs


def _called(text: str) -> set[str]:
    out: set[str] = set()
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        out |= {m.group(1) for m in _COMMAND.finditer(_KEYWORD.sub(";", line))}
    return out


def _sourced(text: str) -> list[str]:
    return re.findall(r'^\. "\$TK_BIN/lib/([a-z_]+\.bash)"', text, re.M)


def _defined_after(libs: list[str]) -> set[str]:
    script = 'TK_BIN="$1"; shift; for l; do . "$TK_BIN/lib/$l" || exit 1; done; declare -F'
    r = subprocess.run(["bash", "-c", script, "_", str(SHELL), *libs], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return {ln.split()[-1] for ln in r.stdout.splitlines()}


def _missing(own: str, libs: list[str]) -> list[tuple[str, str]]:
    defs = _lib_functions()
    have = _defined_after(libs) | set(re.findall(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\(\)", own, re.M))
    called = _called(own)
    for lib in libs:
        called |= _called((SHELL / "lib" / lib).read_text())
    return sorted((f, defs[f]) for f in called if f in defs and f not in have)


def test_every_entry_point_sources_the_libraries_of_the_functions_it_calls() -> None:
    checked = 0
    for ep in sorted(SHELL.glob("tmuxkit-*")):
        text = ep.read_text()
        if ep.suffix or "bash" not in text.splitlines()[0]:
            continue
        libs = _sourced(text)
        if not libs:
            continue
        assert _missing(text, libs) == [], f"{ep.name} sources {libs}"
        checked += 1
    assert checked >= 15, checked


def test_the_slurm_probe_on_the_compute_node_sources_what_it_runs() -> None:
    """The watchdog's probes run on the compute node in a bash that sources the libraries named in
    w_on_node: the sn_* functions and what they call must be defined there."""
    watch = (SHELL / "lib" / "slurm_watch.bash").read_text()
    m = re.search(r"bash -c '([^']*)' tmuxkit-slurm-probe", watch)
    assert m, "w_on_node's probe line not found"
    libs = re.findall(r'\. "\$1/lib/([a-z_]+\.bash)"', m.group(1))
    assert "slurm_watch.bash" in libs, libs
    have = _defined_after(libs)
    probes = set(re.findall(r"w_on_node \S+ (sn_[a-z_]+)", watch))
    assert probes and probes <= have, (probes, libs)


def test_the_check_finds_a_function_whose_library_is_not_sourced(tmp_path: Path) -> None:
    """The check can fail: a wrapper that calls sr_preempted with only tmuxkit.bash sourced."""
    missing = _missing('. "$TK_BIN/lib/tmuxkit.bash"\nif sr_preempted; then w_send x; fi\n', ["tmuxkit.bash"])
    assert ("sr_preempted", "slurm.bash") in missing and ("w_send", "slurm_watch.bash") in missing, missing
