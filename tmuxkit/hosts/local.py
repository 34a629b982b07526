"""LocalHost: this machine. argv runs as is, through subprocess (no import cost on the status path)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence

from tmuxkit.config import LOCAL
from tmuxkit.hosts.base import Host, InstallInfo, log_writer_for, shell_dir


def _own_bash() -> list[str]:
    """bash for tmuxkit's own scripts, without the user's BASH_ENV (one that prints would break
    every answer); the run's command gets it back from TMUXKIT_USER_BASH_ENV (tmuxkit-runner)."""
    v = os.environ.get("BASH_ENV")
    return ["bash"] if v is None else ["env", "-u", "BASH_ENV", f"TMUXKIT_USER_BASH_ENV={v}", "bash"]


class LocalHost(Host):
    name = LOCAL

    def _argv_for(self, argv: Sequence[str], *, tty: bool = False) -> list[str]:
        return list(argv)

    def script_argv(self, script: str, args: Sequence[str]) -> list[str]:
        return [*_own_bash(), str(shell_dir() / script), *args]

    def install(self) -> InstallInfo:
        """Nothing to copy: the scripts run from the package."""
        try:
            ok = subprocess.run(["python3", "-c", "import sys; sys.exit(sys.version_info < (3, 6))"],
                                capture_output=True, timeout=10, check=False).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        import shutil

        return InstallInfo(where=str(shell_dir()), log_writer=log_writer_for(ok), tmux=shutil.which("tmux") or "")
