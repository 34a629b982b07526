"""One user-facing error type; the CLI prints it as one line and exits with its code."""

from __future__ import annotations

from collections.abc import Sequence

from tmuxkit.contract import ExitCode


class TmuxkitError(Exception):
    """An error the user should see as one clear line, with an exit code."""

    code: ExitCode = ExitCode.FAIL

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            try:
                self.code = ExitCode(code)
            except ValueError:
                self.code = ExitCode.FAIL


class UsageError(TmuxkitError):
    code = ExitCode.USAGE


class ConfigError(UsageError):
    """The config file is missing, malformed, or has an unknown key or wrong type."""


class HostError(TmuxkitError):
    """A command on a host failed; carries what ran, where, and how it ended."""

    def __init__(
        self,
        message: str,
        *,
        host: str,
        argv: Sequence[str] = (),
        rc: int | None = None,
        stderr: str = "",
        code: int | None = None,
    ) -> None:
        super().__init__(message, code)
        self.host = host
        self.argv = list(argv)
        self.rc = rc
        self.stderr = stderr


class UnreachableError(HostError):
    code = ExitCode.UNREACHABLE


def user_message(e: TmuxkitError) -> str:
    """The one line the user reads: a host's error names the host (unless it already does)."""
    if isinstance(e, HostError) and e.host and e.host != "local" and not e.message.startswith(e.host):
        return f"{e.host}: {e.message}"
    return e.message
