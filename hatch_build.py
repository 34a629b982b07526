"""Package build hook: build shell/check_training_status.sh from shell/lib and shell/report first,
so a wheel or sdist always carries the standalone report that matches its libraries."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):  # type: ignore[misc]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        build = Path(self.root) / "shell" / "build"
        bash = shutil.which("bash")
        if build.exists() and bash:
            subprocess.run([bash, str(build)], check=True)
