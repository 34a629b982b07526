"""Every tmuxkit.toml key, documented once: the one source of `tmuxkit init`'s commented example and of
the key tables in docs/config.md.

A key the code accepts (tmuxkit/config.py: RUN_KEYS, HOST_KEYS, STATUS_KEYS) must have an entry here;
tests/test_docs.py fails, naming it, until it has. After editing this table, regenerate the docs:

    .venv/bin/python -m tmuxkit.configdoc --write      # rewrites docs/config.md's generated part
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Key:
    table: str  # "status", "hosts" or "runs": where the key goes in tmuxkit.toml
    name: str
    example: str  # its value as tmuxkit init writes it (TOML); the default itself where there is one
    default: str  # the default, in words, for docs/config.md
    doc: str  # one line: init's comment and the docs' "what it does", word for word
    block: str  # which part of init's file it is written in (BLOCKS)
    active: bool = False  # init writes it uncommented (the example run's command and results)


# The parts of the example file, in order: the lines before the part's keys (init) and a title (docs).
BLOCKS: dict[str, tuple[str, str]] = {
    "status": ("# [status]", "[status]: what `tmuxkit status` lists"),
    "studio": ("# A GPU box over SSH (tmuxkit install studio copies the host scripts there once).\n"
               "# [hosts.studio]", "[hosts.NAME]: a host over SSH (see [hosts.md](hosts.md))"),
    "cluster": ("# [hosts.cluster]                # a Slurm cluster: each run is one batch job\n"
                "# ssh = \"login-node\"             # leave out to submit from this machine",
                "[hosts.NAME] of kind \"slurm\": a cluster (see [slurm.md](slurm.md))"),
    "run": ("[runs.kssm_v3]", "[runs.NAME]: a run (see [runs.md](runs.md))"),
    "resources": ("# On a Slurm host (and in tmuxkit export): each key below is one sbatch option; gpus = N is --gres=gpu:N.",
                  "[runs.NAME]: cluster resources, on a Slurm host and in `tmuxkit export` (see [slurm.md](slurm.md))"),
    "sync": ("# Sync: tmuxkit sync kssm_v3 (or start --sync) pulls results, logs and checkpoints to this machine.",
             "[runs.NAME]: sync to this machine (see [sync.md](sync.md))"),
    "watchdog": ("# Watchdog: tmuxkit watch kssm_v3 --auto-resume (or start --watch).",
                 "[runs.NAME]: watchdog, checkpoints and resume (see [watchdog.md](watchdog.md), [checkpoints.md](checkpoints.md))"),
    "alerts": ("# Alerts from the host's watchdog (nan_loss, disk_low), and on_done: stop the paid box once the results are safe.",
               "[runs.NAME]: alerts and on_done (see [alerts.md](alerts.md))"),
    "notify": ("# Notifications: stuck, crashed, resumed, restarted, finished, budget_spent, nan_loss, disk_low, on_done...",
               "[runs.NAME]: notifications (see [alerts.md](alerts.md))"),
}

KEYS: tuple[Key, ...] = (
    Key("status", "show_ended", '"3d"', '"3d"',
        "status lists runs that ended within this window (status --all: every run)", "status"),

    Key("hosts", "ssh", '"studio"', "required; a Slurm host without it submits from this machine",
        "anything ssh accepts: an alias from ~/.ssh/config, or user@host", "studio"),
    Key("hosts", "port", "22", "ssh's own: 22, or the alias's Port", "the ssh port", "studio"),
    Key("hosts", "identity", '"~/.ssh/id_ed25519"', "ssh's own choice", "the ssh key (passed as -i)", "studio"),
    Key("hosts", "ssh_config", '"~/.ssh/config"', "ssh's own", "an ssh config file, passed as -F", "studio"),
    Key("hosts", "ssh_options", '["ServerAliveInterval=15"]', "none",
        "more -o options; host-key checking is never turned off", "studio"),
    Key("hosts", "max_runs", "4", "0: no limit", "runs live at once there; more wait in its queue", "studio"),
    Key("hosts", "gpus_ignore_foreign", "true", "false",
        "a GPU is busy only when a tmuxkit run claims it: other processes' use, and a container's unexplained memory, are ignored",
        "studio"),
    Key("hosts", "kind", '"slurm"', '"tmux": runs are tmux sessions', '"tmux" or "slurm" (each run is one batch job)',
        "cluster"),
    Key("hosts", "sbatch_args", '["--exclusive"]', "none",
        "more sbatch options (not --output, --error, --job-name, --array, --no-requeue, --signal, --open-mode: tmuxkit's)",
        "cluster"),
    Key("hosts", 'partition', '"gpu"', "the cluster's default partition", "the default of its runs' partition: --partition", "cluster"),
    Key("hosts", 'time', '"24h"', "the partition's limit", 'the default of its runs\' time: --time: "90m", "24h", "2d" or Slurm\'s "1-00:00:00" (a bare number is refused)', "cluster"),
    Key("hosts", 'mem', '"64G"', "the cluster's", "the default of its runs' mem: --mem; a bare number is megabytes", "cluster"),
    Key("hosts", 'cpus', '8', "the cluster's", "the default of its runs' cpus: --cpus-per-task", "cluster"),
    Key("hosts", 'account', '"my-lab"', 'your default account', "the default of its runs' account: --account", "cluster"),
    Key("hosts", 'qos', '"normal"', "the cluster's", "the default of its runs' qos: --qos", "cluster"),
    Key("hosts", 'constraint', '"a100|h100"', 'none', "the default of its runs' constraint: --constraint, a feature expression", "cluster"),
    Key("hosts", 'nodes', '1', '1', "the default of its runs' nodes: --nodes (a number or a range); more than 1 task: the command runs once per rank via srun", "cluster"),
    Key("hosts", 'ntasks_per_node', '1', '1', "the default of its runs' ntasks_per_node: --ntasks-per-node", "cluster"),
    Key("hosts", "time_limit_lead", '"5m"', '"60s"',
        "the default of its runs' time_limit_lead: how long before the time limit the trainer gets its Ctrl-C "
        "(never more than a third of the limit)", "cluster"),

    Key("runs", "command", '"python train.py --config configs/kssm_v3.yaml"', "required",
        'a shell command, or an argv list: ["python", "train.py"]', "run", active=True),
    Key("runs", "host", '"studio"', '"local"', 'a [hosts.NAME], or "local" (this machine)', "run"),
    Key("runs", "cwd", '"~/src/kssm"', "this file's directory (local runs), the login directory (remote)",
        "the run's working directory, on its host (~ is the host's home)", "run"),
    Key("runs", "results", '"results/kssm_v3"', "results/RUN",
        "relative to cwd; one run per results directory (locked)", "run", active=True),
    Key("runs", "env", '{ CUDA_VISIBLE_DEVICES = "0" }', "none",
        "environment of the command; never on a command line, stored 0600", "run"),
    Key("runs", "log_max_bytes", "50000000", "50000000", "the pane log is rotated at this size", "run"),
    Key("runs", "log_keep", "5", "5", "rotated log files kept", "run"),
    Key("runs", "stuck_after", '"5m"', '"5m"',
        'no output (a tqdm redraw counts) for this long: state "stuck" (seconds, or "90s", "5m", "1h")', "run"),
    Key("runs", "quiet_max", '"20m"', "4x stuck_after",
        'silent but working (CPU, GPU, writes) is "quiet", not stuck, up to this long', "run"),
    Key("runs", "early_exit_wait", '"2s"', '"2s" ($TMUXKIT_EARLY_WAIT on this machine, if set)',
        'start waits this long: a command that fails in it is an error, not "started"; 0: off', "run"),
    Key("runs", "metrics", '["loss", "val_loss", "acc", "lr"]',
        "loss, val_loss, eval_loss, acc, lr, learning_rate, grad_norm, train_runtime",
        "what the log writer reads as metrics", "run"),
    Key("runs", "gpus", "1", "0: no allocation",
        "free GPUs it gets as CUDA_VISIBLE_DEVICES; it waits in the host's queue for them", "run"),
    Key("runs", "after", '"prep"', "none", 'waits in the host\'s queue until run "prep" exited 0', "run"),

    Key("runs", 'partition', '"gpu"', "the cluster's default partition" + " (or its Slurm host's)", '--partition', "resources"),
    Key("runs", 'time', '"24h"', "the partition's limit" + " (or its Slurm host's)", '--time: "90m", "24h", "2d" or Slurm\'s "1-00:00:00" (a bare number is refused)', "resources"),
    Key("runs", 'mem', '"64G"', "the cluster's" + " (or its Slurm host's)", '--mem; a bare number is megabytes', "resources"),
    Key("runs", 'cpus', '8', "the cluster's" + " (or its Slurm host's)", '--cpus-per-task', "resources"),
    Key("runs", 'account', '"my-lab"', 'your default account' + " (or its Slurm host's)", '--account', "resources"),
    Key("runs", 'qos', '"normal"', "the cluster's" + " (or its Slurm host's)", '--qos', "resources"),
    Key("runs", 'constraint', '"a100|h100"', 'none' + " (or its Slurm host's)", '--constraint, a feature expression', "resources"),
    Key("runs", 'nodes', '1', '1' + " (or its Slurm host's)", '--nodes (a number or a range); more than 1 task: the command runs once per rank via srun', "resources"),
    Key("runs", 'ntasks_per_node', '1', '1' + " (or its Slurm host's)", '--ntasks-per-node', "resources"),
    Key("runs", "time_limit_lead", '"5m"', '"60s" (or its Slurm host\'s)',
        "Slurm: the trainer gets its Ctrl-C this long before the time limit, to save; then the job is requeued "
        "and resumes (never more than a third of the limit)", "resources"),
    Key("runs", "sbatch_args", '["--mail-type=END"]', "none (after its host's)",
        "more sbatch options, after the host's (the last one wins); tmuxkit's own are refused", "resources"),
    Key("runs", "sync_to", '"runs/kssm_v3"', "runs/RUN, beside this file", "where sync puts the results here",
        "sync"),
    Key("runs", "sync_include", '["*.npz", "plots/**"]', "none",
        "added to the default *.json *.png *.csv *.txt and the pane logs", "sync"),
    Key("runs", "sync_every", '"60s"', '"60s"', "between passes", "sync"),
    Key("runs", "sync_checkpoints", "0", "0: none",
        "bring the newest N complete checkpoints here (a backup: pruned only for newer ones)", "sync"),

    Key("runs", "checkpoints", '"results/kssm_v3/ckpt/step_*.pt"',
        "checkpoint-N/, *-state/, ckpt/ and checkpoints/ entries, and files named as checkpoints, in results",
        "glob relative to cwd: which files are the run's checkpoints (docs/checkpoints.md)", "watchdog"),
    Key("runs", "resume", '"--resume {checkpoint}"', "none: restart from scratch",
        "appended to command on resume; {checkpoint}: the checkpoint's path, quoted", "watchdog"),
    Key("runs", "checkpoint_check", "\"python -c 'import torch,sys; torch.load(sys.argv[1])'\"", "none",
        "run on the host with a checkpoint's path as $1; exit 0 = usable", "watchdog"),
    Key("runs", "max_restarts", "3", "3", "the restart budget ...", "watchdog"),
    Key("runs", "restart_window", '"1h"', '"1h"', "... within this window", "watchdog"),
    Key("runs", "restart_on", '"both"', '"both"', '"stuck", "crash" or "both"', "watchdog"),
    Key("runs", "gpu_idle_below", "5", "none: GPU checks off", "percent; the run's GPUs below it count as idle",
        "watchdog"),
    Key("runs", "gpu_idle_for", '"5m"', '"5m"', "idle this long flags the run stuck (gpu idle)", "watchdog"),

    Key("runs", "on_nan", '"notify"', '"notify"',
        'a NaN/inf loss (or other metric) seen by the watchdog: "notify", "stop" (the stop ladder) or "ignore"', "alerts"),
    Key("runs", "disk_min_free", '"5%"', '"5%"',
        'disk_low below this much free where the results are ("20G", "5%"; 0: off)', "alerts"),
    Key("runs", "on_done", '"sudo shutdown -h now"', "none",
        "run on the host once the run ended for good and its final sync landed (see alerts.md: stop a paid box)", "alerts"),
    Key("runs", "on_done_wait", '"1h"', '"1h"',
        "... or this long after the end when no sync acknowledged its final pass", "alerts"),
    Key("runs", "notify", '["ntfy://my-topic", "json://127.0.0.1:8080/"]', "none",
        "apprise URLs: ntfy, Slack, Discord and json from the host; others from the laptop", "notify"),
    Key("runs", "notify_from", '"host"', '"host"', '"host" (the watchdog sends them), "laptop" or "both"', "notify"),
)

HEADER = """\
# tmuxkit.toml: hosts and runs for `tmuxkit start RUN`.
# Every key is optional except a run's `command`. A commented-out key shows its default.
# Every key, its default and an example: docs/config.md.
"""

COMMENT_COLUMN = 33


def _line(k: Key) -> str:
    text = f"{'' if k.active else '# '}{k.name} = {k.example}"
    default = "" if k.default == k.example else f" ({'' if k.default.startswith('required') else 'default: '}{k.default})"
    return f"{text:<{COMMENT_COLUMN - 1}} # {k.doc}{default}"


def example() -> str:
    """The file `tmuxkit init` writes."""
    parts = [HEADER]
    for block, (intro, _title) in BLOCKS.items():
        keys = [k for k in KEYS if k.block == block]
        parts.append("\n".join([intro, *(_line(k) for k in keys)]) + "\n")
    return "\n".join(parts)


BEGIN = "<!-- BEGIN generated by: .venv/bin/python -m tmuxkit.configdoc --write (from tmuxkit/configdoc.py) -->"
END = "<!-- END generated -->"


def _cell(s: str) -> str:
    return s.replace("|", "\\|")


def markdown() -> str:
    """docs/config.md's generated part: one table per part of the file, every key."""
    out = [BEGIN, ""]
    for block, (_intro, title) in BLOCKS.items():
        out += [f"### {title}", "", "| key | default | example | what it does |", "| --- | --- | --- | --- |"]
        out += [f"| `{k.name}` | {_cell(k.default)} | `{_cell(k.example)}` | {_cell(k.doc)} |"
                for k in KEYS if k.block == block]
        out.append("")
    out.append(END)
    return "\n".join(out)


DOC = Path(__file__).resolve().parent.parent / "docs" / "config.md"


def generated_part(text: str) -> str:
    """The generated part of TEXT (docs/config.md), markers included; "" when the markers are missing."""
    start, end = text.find(BEGIN), text.find(END)
    return text[start:end + len(END)] if 0 <= start < end else ""


def main(argv: list[str]) -> int:
    if argv == ["--write"]:
        if not DOC.is_file():
            print(f"tmuxkit: {DOC}: not found (--write works in a clone of tmuxkit)", file=sys.stderr)
            return 1
        text = DOC.read_text()
        old = generated_part(text)
        if not old:
            print(f"tmuxkit: {DOC}: no generated part (the {BEGIN!r} and {END!r} lines)", file=sys.stderr)
            return 1
        DOC.write_text(text.replace(old, markdown()))
        return 0
    if argv == ["--example"]:
        sys.stdout.write(example())
        return 0
    if not argv:
        print(markdown())
        return 0
    print("usage: python -m tmuxkit.configdoc [--write | --example]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
