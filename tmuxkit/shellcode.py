"""The shell completion scripts that `tmuxkit completion SHELL` prints, with nothing else imported:
`eval "$(tmuxkit completion bash)"` runs at every shell start (issue 29.8). tmuxkit/__main__.py calls
this before the CLI is imported; cli/completion.py's run prints the same."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SHELLS = ("bash", "zsh", "fish")


def _argcomplete_shellcode() -> Callable[..., str]:
    """argcomplete.shell_integration.shellcode. That module needs only shlex, but importing it runs
    argcomplete's __init__, which loads the whole completer (argparse, subprocess, threading...):
    the module's file is loaded alone, and the package import is the fallback should it ever stop
    standing alone."""
    try:
        import importlib.util
        import os

        pkg = importlib.util.find_spec("argcomplete")  # finds, does not run, the package
        assert pkg is not None and pkg.origin
        spec = importlib.util.spec_from_file_location(
            "_tmuxkit_argcomplete_shell_integration", os.path.join(os.path.dirname(pkg.origin), "shell_integration.py"))
        assert spec is not None and spec.loader is not None
        module: Any = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        fn: Callable[..., str] = module.shellcode
        return fn
    except Exception:
        from argcomplete.shell_integration import shellcode

        return shellcode


def script(shell: str) -> str:
    return _argcomplete_shellcode()(["tmuxkit"], shell=shell).rstrip("\n")
