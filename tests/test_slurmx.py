"""Issue 28 items 4 and 7: a run's cluster resources as sbatch options, the options tmuxkit owns
refused in config, sbatch --test-only before a submit and in doctor, and tmuxkit export
(a standalone sbatch script, a SkyPilot task)."""

from __future__ import annotations

from typing import Any

import pytest

from tmuxkit import config
from tmuxkit.errors import ConfigError
from tmuxkit.hosts import slurm_args
from tmuxkit.resources import OWNED, slurm_time, time_seconds

pytestmark = pytest.mark.timeout(120)


def parse(data: dict[str, Any]) -> config.Config:
    return config.parse(data)


def test_resources_become_sbatch_options_with_host_defaults() -> None:
    conf = parse({
        "hosts": {"c": {"kind": "slurm", "partition": "gpu", "time": "24h", "account": "lab",
                        "sbatch_args": ["--exclusive"]}},
        "runs": {"big": {"host": "c", "command": "python t.py", "gpus": 8, "mem": "64GB", "cpus": 16,
                         "time": "1:30:00", "qos": "high", "constraint": "a100|h100", "nodes": 2,
                         "ntasks_per_node": 4, "sbatch_args": ["--mail-type=END"]},
                 "debug": {"host": "c", "command": "python t.py", "gpus": 1}},
    })
    big = slurm_args.sbatch_args(conf.host("c"), conf.runs["big"])
    assert big == ["--partition=gpu", "--time=0-01:30:00", "--mem=64G", "--cpus-per-task=16",
                   "--account=lab", "--qos=high", "--constraint=a100|h100", "--nodes=2",
                   "--ntasks-per-node=4", "--gres=gpu:8", "--exclusive", "--mail-type=END"]
    # one host, two sizes: the 1-GPU debug run keeps the host's defaults
    assert slurm_args.sbatch_args(conf.host("c"), conf.runs["debug"]) == [
        "--partition=gpu", "--time=1-00:00:00", "--account=lab", "--gres=gpu:1", "--exclusive"]
    assert slurm_args.ranks(slurm_args.resources(conf.host("c"), conf.runs["big"]))
    assert not slurm_args.ranks(slurm_args.resources(conf.host("c"), conf.runs["debug"]))


@pytest.mark.parametrize("opt", [*(f"{o}=x" for o in OWNED if o not in ("--no-requeue",)), "--no-requeue",
                                 "-o", "-oslurm.log", "-J", "--out=x.log", "--sig=B:USR1@100", "-a1-4"])
@pytest.mark.parametrize("where", ["host", "run"])
def test_options_tmuxkit_owns_are_refused_in_config_one_line_naming_the_key(opt: str, where: str) -> None:
    host: dict[str, Any] = {"kind": "slurm"}
    run: dict[str, Any] = {"host": "c", "command": "x"}
    (host if where == "host" else run)["sbatch_args"] = ["--exclusive", opt]
    with pytest.raises(ConfigError) as e:
        parse({"hosts": {"c": host}, "runs": {"r": run}})
    msg = str(e.value)
    assert "\n" not in msg
    assert ("hosts.c.sbatch_args" if where == "host" else "runs.r.sbatch_args") in msg
    assert "tmuxkit sets --" in msg and repr(opt) in msg


@pytest.mark.parametrize("ok", ["--exclusive", "--mail-type=END", "--nodes=2", "--oversubscribe", "--requeue",
                                "--export=ALL", "--exclude=n1"])
def test_other_sbatch_options_pass(ok: str) -> None:
    conf = parse({"runs": {"r": {"command": "x", "sbatch_args": [ok]}}})
    assert slurm_args.options(slurm_args.resources(None, conf.runs["r"])) == [ok]


@pytest.mark.parametrize(("key", "bad"), [("time", 30), ("time", "30"), ("time", "soon"), ("mem", "lots"),
                                          ("cpus", 0), ("nodes", "2-"), ("partition", "gpu debug"),
                                          ("account", "a;rm -rf"), ("constraint", "a b"),
                                          ("ntasks_per_node", True)])
def test_bad_resource_values_are_one_line_naming_the_key(key: str, bad: object) -> None:
    with pytest.raises(ConfigError) as e:
        parse({"runs": {"r": {"command": "x", key: bad}}})
    assert f"runs.r.{key}:" in str(e.value) and "\n" not in str(e.value)


def test_resources_on_a_tmux_host_are_refused_but_allowed_on_any_run() -> None:
    with pytest.raises(ConfigError, match=r"hosts.h.partition: only for a Slurm host"):
        parse({"hosts": {"h": {"ssh": "h", "partition": "gpu"}}})
    # a run on a tmux host may carry them: tmuxkit export reads them
    conf = parse({"hosts": {"h": {"ssh": "h"}}, "runs": {"r": {"host": "h", "command": "x", "time": "2h"}}})
    assert conf.runs["r"].resources == {"time": "0-02:00:00"}


@pytest.mark.parametrize(("text", "secs"), [("90m", 5400), ("24h", 86400), ("2d", 172800), ("1:30:00", 5400),
                                            ("45:00", 2700), ("2-12", 216000), ("1-00:30", 88200),
                                            ("0-01:30:00", 5400)])
def test_time_limits_in_both_spellings(text: str, secs: int) -> None:
    assert time_seconds(text) == secs
    assert time_seconds(slurm_time(secs)) == secs


def test_the_warning_signal_lead_is_never_more_than_a_third_of_the_limit() -> None:
    assert slurm_args.signal_lead({"time": "0-00:03:00"}, 120) == 60
    assert slurm_args.signal_lead({"time": "1-00:00:00"}, 120) == 120
    assert slurm_args.signal_lead({}, 120) == 120
