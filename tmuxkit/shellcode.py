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


# zsh: `eval "$(tmuxkit completion zsh)"` in a .zshrc that holds only that line runs before any
# compinit, so compdef does not exist yet ("command not found: compdef" at every start, and no
# completion). When the script is eval'ed (not autoloaded from $fpath) and compdef is missing, it
# loads the completion system itself first, as gh's and uv's scripts ask the user to; -i skips
# directories compaudit finds insecure instead of asking at every shell start.
ZSH_COMPINIT = """\
if [[ $zsh_eval_context != *func ]] && (( ! ${+functions[compdef]} )); then
    autoload -Uz compinit && compinit -i
fi
"""


def script(shell: str) -> str:
    code = _argcomplete_shellcode()(["tmuxkit"], shell=shell).rstrip("\n")
    if shell == "zsh":
        first, _, rest = code.partition("\n")  # keep "#compdef tmuxkit" first: the file may go into $fpath
        code = f"{first}\n{ZSH_COMPINIT}{rest}"
    return code
