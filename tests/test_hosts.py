"""One host interface: no module outside tmuxkit/hosts/ (config parsing aside) imports the Slurm
host or asks which kind of host it has. Each such branch belongs behind a method of
tmuxkit.hosts.base.Host, implemented by the tmux hosts and the Slurm host (issue 28, item 1)."""

from __future__ import annotations

import ast
from pathlib import Path

from tmuxkit.config import HOST_KINDS
from tmuxkit.hosts.base import Host

PKG = Path(__file__).resolve().parent.parent / "tmuxkit"
ALLOWED = {PKG / "config.py"}  # config parsing: where a host's kind is read and checked
KIND_NAMES = {"SlurmHost", "KIND_SLURM", "KIND_TMUX", "HOST_KINDS", "is_slurm", "Submitted"}


def kind_questions(path: Path) -> list[str]:
    """Each line of PATH that imports the Slurm host or asks a host's kind, as "FILE:LINE what"."""
    tree = ast.parse(path.read_text(), str(path))
    rel = path.relative_to(PKG.parent) if path.is_relative_to(PKG.parent) else path.name
    out: list[str] = []
    for node in ast.walk(tree):
        what = ""
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if mod == "tmuxkit.hosts.slurm" or (mod == "tmuxkit.hosts" and any(a.name == "slurm" for a in node.names)):
                what = f"imports {mod}"
            elif any(a.name in KIND_NAMES for a in node.names):
                what = f"imports {', '.join(a.name for a in node.names)} from {mod}"
        elif isinstance(node, ast.Import) and any(a.name.startswith("tmuxkit.hosts.slurm") for a in node.names):
            what = "imports tmuxkit.hosts.slurm"
        elif isinstance(node, ast.Name) and node.id in KIND_NAMES:
            what = f"names {node.id}"
        elif isinstance(node, ast.Attribute) and node.attr in KIND_NAMES:
            what = f"asks .{node.attr}"
        elif isinstance(node, ast.Compare):
            consts = [c.value for c in [node.left, *node.comparators] if isinstance(c, ast.Constant)]
            for c in [node.left, *node.comparators]:
                if isinstance(c, (ast.Tuple, ast.List, ast.Set)):
                    consts += [e.value for e in c.elts if isinstance(e, ast.Constant)]
            if any(v in HOST_KINDS for v in consts):
                what = f"compares with a host kind {sorted(str(v) for v in consts if v in HOST_KINDS)}"
        if what:
            out.append(f"{rel}:{getattr(node, 'lineno', '?')} {what}")
    return out


def test_no_module_outside_hosts_imports_the_slurm_host_or_asks_a_host_kind() -> None:
    found: list[str] = []
    for path in sorted(PKG.rglob("*.py")):
        if path.is_relative_to(PKG / "hosts") or path in ALLOWED:
            continue
        found += kind_questions(path)
    assert not found, "ask the Host interface (tmuxkit/hosts/base.py) instead:\n" + "\n".join(found)


def test_the_checker_sees_each_way_of_asking(tmp_path: Path) -> None:
    """The checker itself: each form it must catch is caught (else the test above proves nothing)."""
    src = tmp_path / "probe.py"
    forms = [
        "from tmuxkit.hosts.slurm import SlurmHost",
        "import tmuxkit.hosts.slurm",
        "from tmuxkit.hosts import slurm",
        "x = isinstance(h, SlurmHost)",
        "x = spec.is_slurm",
        "x = r.extra.get('kind') == 'slurm'",
        "x = spec.kind in ('tmux',)",
    ]
    for form in forms:
        src.write_text(form + "\n")
        assert kind_questions(src), form
    src.write_text("x = r['kind'] not in ('stuck', 'headless')\nx = h.sends_notifications\n")
    assert kind_questions(src) == []


def test_the_slurm_host_implements_every_run_method_of_the_interface() -> None:
    """Each verb's branch lives in a Host method; the Slurm host answers each one itself (a batch
    job is no tmux session), rather than inheriting the tmux host's by accident."""
    from tmuxkit.hosts.slurm import SlurmHost

    runs_methods = ["start_run", "run_statuses", "stop_run", "rung_text", "stop_tail", "stop_outcome",
                    "start_lines", "log_args", "events_args", "attach_argv", "watch_run", "cleanup_runs",
                    "forget_runs", "doctor_args", "check_start"]
    for m in runs_methods:
        assert hasattr(Host, m), m
        assert m in vars(SlurmHost), f"SlurmHost does not implement {m}"
    assert "link" in vars(SlurmHost)
