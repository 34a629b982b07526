"""The wheel carries shell/, so an installed tmuxkit finds its host scripts."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import ROOT, SHELL


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
