"""Every read command's --json against its schema (tmuxkit/schemas/, described in README "JSON output")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from conftest import Env, wait_until

import tmuxkit
from tmuxkit.contract import State

SCHEMAS = Path(tmuxkit.__file__).parent / "schemas"


def _check(name: str, data: Any) -> None:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)


def test_the_schemas_know_every_state() -> None:
    schema = json.loads((SCHEMAS / "status.schema.json").read_text())
    assert set(schema["items"]["oneOf"][1]["properties"]["state"]["enum"]) == {s.value for s in State}


def test_a_schema_can_fail() -> None:
    """The check is real: a row without its state, or a wrong type, is refused."""
    import pytest

    with pytest.raises(jsonschema.ValidationError):
        _check("status", [{"run": "x", "host": "local"}])
    with pytest.raises(jsonschema.ValidationError):
        _check("doctor", {"host": "local", "ok": "yes", "reachable": True, "checks": []})


def test_status_events_checkpoints_and_doctor_json_match_their_schemas(tk: Env, tmp_path: Path) -> None:
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text("Host nowhere\n  HostName 127.0.0.1\n  Port 1\n  UserKnownHostsFile /dev/null\n")
    tk.write_config(f'[hosts.gone]\nssh = "nowhere"\nssh_config = "{ssh_config}"\n')
    bar = tmp_path / "bar.py"  # a tqdm-shaped bar that redraws with \r
    bar.write_text("import sys, time\nfor i in range(1, 50):\n"
                   "    sys.stdout.write(f'\\r 40%|##  | {i}/100 [00:01<00:02, loss=0.5]')\n"
                   "    sys.stdout.flush(); time.sleep(0.1)\ntime.sleep(60)\n")
    tk.cli("start", "live", "--", "python3", str(bar))
    tk.cli("start", "ended", "--", "bash", "-c", "mkdir -p results/ended/checkpoint-100 results/ended/checkpoint-200;"
           " echo '{}' > results/ended/checkpoint-100/trainer_state.json;"
           " echo w > results/ended/checkpoint-100/model.safetensors;"
           " echo w > results/ended/checkpoint-200/model.safetensors; echo done")
    wait_until(lambda: tk.status("ended")["state"] == "exited", what="the short run to end")
    wait_until(lambda: (tk.status("live").get("progress") or {}).get("step"), what="progress")
    r = tk.cli("status", "--json", check=None)
    rows = json.loads(r.stdout)
    assert {row.get("state") for row in rows} >= {"running", "exited", "unreachable"}, rows
    _check("status", rows)

    tk.script("tmuxkit-events", "live", "--add", "synced", "bytes=10", "passes=1")
    lines = [json.loads(ln) for ln in tk.cli("events", "live", "--json").stdout.splitlines()]
    assert [e["event"] for e in lines][-1] == "synced"
    for ev in lines:
        _check("event", ev)

    units = json.loads(tk.cli("checkpoints", "ended", "--json").stdout)
    assert [(u["step"], u["complete"]) for u in units] == [(200, False), (100, True)]
    _check("checkpoints", units)

    _check("doctor", json.loads(tk.cli("doctor", "--json").stdout))
    _check("doctor", json.loads(tk.cli("doctor", "gone", "--json", check=6).stdout))
