"""LocalHost: this machine. argv runs as is, through subprocess (no import cost on the status path)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from tmuxkit.config import LOCAL
from tmuxkit.hosts.base import Host, InstallInfo, log_writer_for, shell_dir


class LocalHost(Host):
    name = LOCAL

    def _argv_for(self, argv: Sequence[str], *, tty: bool = False) -> list[str]:
        return list(argv)

    def script_argv(self, script: str, args: Sequence[str]) -> list[str]:
        return ["bash", str(shell_dir() / script), *args]

    def install(self) -> InstallInfo:
        """Nothing to copy: the scripts run from the package."""
        try:
            ok = subprocess.run(["python3", "-c", "import sys; sys.exit(sys.version_info < (3, 6))"],
                                capture_output=True, timeout=10, check=False).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        import shutil

        return InstallInfo(where=str(shell_dir()), log_writer=log_writer_for(ok), tmux=shutil.which("tmux") or "")
