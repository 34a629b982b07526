"""Why a run ended, named once at its end from its log's tail (shell/lib/cause.bash): in status,
its JSON and the notification of the crash."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from conftest import Env, Sink, wait_until

CRASHES = Path(__file__).parent / "fakes" / "crashes"


def test_a_crash_is_named_in_status_and_its_notification(tk: Env, sink: int) -> None:
    # A PyTorch OOM traceback followed by W&B's closing lines (the last line is W&B's, not the error).
    tail = CRASHES / "oom_wandb.log"
    tk.add_run("oom", f"sed 1d {shlex.quote(str(tail))}; exit 1", f'notify = ["json://127.0.0.1:{sink}/"]')
    tk.add_run("ok", "echo done")
    tk.add_run("halt", "echo up; sleep 60")
    tk.cli("start", "oom")
    tk.cli("start", "ok")
    tk.cli("start", "halt")
    want = "CUDA out of memory (tried to allocate 2.00 GiB)"

    def crashed() -> dict[str, object] | None:
        return next((m for m in Sink.received if m.get("title") == "tmuxkit: oom crashed"), None)

    wait_until(lambda: crashed() is not None, timeout=40, what="the crash notified")
    wait_until(lambda: '"state":"exited"' in tk.cli("status", "ok", "--json").stdout.replace(" ", ""), timeout=30,
               what="ok ended")
    assert want in str(crashed()["message"]), crashed()  # type: ignore[index]
    rows = {r["run"]: r for r in json.loads(tk.cli("status", "--json", "--all").stdout)}
    assert rows["oom"]["cause"] == want, rows["oom"]
    assert not rows["ok"].get("cause"), rows["ok"]  # a clean end has no cause
    assert "wandb" in rows["oom"]["last_line"]  # the last line is W&B's; the cause is the traceback's
    text = tk.cli("status", "oom").stdout
    assert want in text, text
    # The user's own stop is no crash: no cause, though the run ended on a signal.
    tk.cli("stop", "halt", "--grace", "2")
    halt = next(r for r in json.loads(tk.cli("status", "--json", "--all").stdout) if r["run"] == "halt")
    assert halt["state"] == "stopped" and halt["exit_code"] and not halt.get("cause"), halt
