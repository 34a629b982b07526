"""Program output is shown as plain text in every view: never rich markup, never a terminal escape."""

from __future__ import annotations

import os
import pty
import select
import sys
import time

from conftest import Env, wait_until

from tmuxkit.cli._common import plain


def _on_a_terminal(tk: Env, *args: str) -> str:
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(tk.work)
        os.execvpe(sys.executable, [sys.executable, "-m", "tmuxkit", *args], dict(tk.env, TERM="xterm", COLUMNS="200"))
    out = b""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif os.waitpid(pid, os.WNOHANG)[0] == pid:
            break
    else:
        raise AssertionError("status on a terminal did not finish")
    return out.decode(errors="replace")


def test_markup_and_escapes_in_a_log_line_are_shown_as_written(tk: Env) -> None:
    line = "loss [/bold] [link=http://x]click[/link] \x1b]8;;http://evil\x07hidden\x1b]8;;\x07 [sigint] done"
    tk.cli("start", "marks", "--", "printf", line + "\\n")
    wait_until(lambda: "done" in tk.log_text("marks"), what="the line")
    wait_until(lambda: tk.status("marks")["state"] == "exited", what="exit")
    out = _on_a_terminal(tk, "status")
    assert "Traceback" not in out and "MarkupError" not in out
    assert "[/bold]" in out and "[link=http://x]click[/link]" in out and "[sigint]" in out
    assert "http://evil" not in out  # the OSC 8 hyperlink is not passed to the terminal


def test_plain_strips_controls_and_keeps_text() -> None:
    assert plain("a\x1b[31mred\x1b[0m\tb\x07\x1b]0;title\x07c") == "ared bc"
    assert plain("[bold]x[/bold]") == "[bold]x[/bold]"
