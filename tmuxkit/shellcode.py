"""The shell completion scripts that `tmuxkit completion SHELL` prints, with nothing else imported:
`eval "$(tmuxkit completion bash)"` runs at every shell start (issue 29.8). tmuxkit/__main__.py calls
this before the CLI is imported; cli/completion.py's run prints the same."""

from __future__ import annotations

SHELLS = ("bash", "zsh", "fish")


def script(shell: str) -> str:
    from argcomplete.shell_integration import shellcode

    return shellcode(["tmuxkit"], shell=shell).rstrip("\n")
