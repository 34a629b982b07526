"""The contract is written once (tmuxkit/contract.py); shell/lib/contract.bash is generated from it."""

from __future__ import annotations

import subprocess

import pytest
from conftest import SHELL

from tmuxkit import contract
from tmuxkit.contract import ContractError, ExitCode, RunStatus, StartInfo, State, StopResult


def test_committed_bash_contract_is_generated_from_contract_py() -> None:
    committed = (SHELL / "lib" / "contract.bash").read_text()
    assert committed == contract.render_bash(), (
        "shell/lib/contract.bash is stale: run `python -m tmuxkit.contract > shell/lib/contract.bash`")


def test_bash_sees_the_same_values() -> None:
    """Source the generated file in bash and read the values back: bash parses what Python wrote."""
    names = [f"EX_{c.name}" for c in ExitCode] + [f"ST_{s.name}" for s in State] + ["TK_RUN_NAME_RULE", "TK_LOCK_NAME"]
    script = f"source {SHELL / 'lib' / 'contract.bash'}; " + "; ".join(f'printf "%s\\n" "${n}"' for n in names)
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout.splitlines()
    want = [str(int(c)) for c in ExitCode] + [s.value for s in State] + [contract.RUN_NAME_RULE, contract.LOCK_NAME]
    assert out == want


@pytest.mark.parametrize("name,ok", [("kssm_v3", True), ("_x", True), ("a" * 64, True), ("a" * 65, False),
                                     ("-x", False), ("", False), ("a b", False), ("é", False), ("a\n", False)])
def test_run_name_rule(name: str, ok: bool) -> None:
    assert contract.valid_run_name(name) is ok


def test_run_status_parses_known_keeps_unknown_and_rejects_garbage() -> None:
    r = RunStatus.parse({"run": "a", "state": "running", "pid": "12", "exit_code": None, "new_field": 1}, host="box")
    assert (r.run, r.state, r.pid, r.exit_code, r.host, r.alive) == ("a", "running", 12, None, "box", True)
    assert r.extra == {"new_field": 1} and r.to_json()["new_field"] == 1
    for bad in ({"state": "running"}, {"run": "a", "state": "x", "pid": "twelve"}, ["not", "a", "dict"]):
        with pytest.raises(ContractError):
            RunStatus.parse(bad)  # type: ignore[arg-type]


def test_start_info_and_stop_result_read_the_scripts_lines() -> None:
    i = StartInfo.parse("noise\nrun=a\tsession=a\tpid=5\trunner_pid=4\tlog=/l\tlock=/k\tresults=/r\tsocket=\tnote=\n")
    assert (i.run, i.pid, i.log) == ("a", "5", "/l")
    with pytest.raises(ContractError, match="lacks"):
        StartInfo.parse("run=a\n")
    s = StopResult.parse("state=stopped\trun=a\trung=sigterm\tsurvivors=0\n")
    assert (s.state, s.rung) == ("stopped", "sigterm")
    with pytest.raises(ContractError):
        StopResult.parse("")
