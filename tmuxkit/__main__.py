"""`python -m tmuxkit` and the `tmuxkit` command. `tmuxkit --version`, `tmuxkit completion SHELL`
and the common Tab presses (tmuxkit.tab) answer here, before the CLI is imported (issue 29.8: each
pays for nothing it does not need)."""

from __future__ import annotations

import sys


def _say(text: str) -> int:
    try:
        print(text, flush=True)
    except BrokenPipeError:  # `tmuxkit completion bash | head -1`: as the CLI, no traceback
        sys.stdout = None  # nothing more to flush at exit
    return 0


def main() -> int:
    import os

    if "_ARGCOMPLETE" in os.environ:  # a Tab press: answered here and ended, or left to argcomplete
        from tmuxkit import tab

        tab.answer()
    if sys.argv[1:] == ["--version"]:
        from tmuxkit.version import version_line

        return _say(version_line())
    if len(sys.argv) == 3 and sys.argv[1] == "completion":
        from tmuxkit import shellcode

        if sys.argv[2] in shellcode.SHELLS:
            return _say(shellcode.script(sys.argv[2]))
    from tmuxkit.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
