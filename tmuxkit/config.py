"""tmuxkit.toml: hosts and runs, validated up front.

Every problem is one line naming the file and the key, with exit code 2.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tmuxkit.errors import ConfigError, UsageError
from tmuxkit.resources import RESOURCE_KEYS, check_sbatch_args, split_resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LOCAL = "local"
KIND_TMUX = "tmux"  # a run is a tmux session on the host (this machine, or over ssh)
KIND_SLURM = "slurm"  # a run is a Slurm batch job, submitted on the host (this machine, or a login node over ssh)
HOST_KINDS = (KIND_TMUX, KIND_SLURM)
DEFAULT_CONFIG = "tmuxkit.toml"
_RUN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}\Z")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*\Z")
_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def expand_home(path: str) -> str:
    """A leading "~" or "~/" made this machine's home, as the host scripts do with theirs
    (tk_tilde_v); "~user" and any other "~" stay as they are (os.path.expanduser would look a
    user up, and Path.expanduser raise, for "~0")."""
    return os.path.expanduser(path) if path == "~" or path.startswith("~/") else path


def check_run_name(name: str) -> str:
    if not isinstance(name, str) or not _RUN_NAME.match(name):
        raise UsageError(f"invalid run name {name!r}: use 1-64 of A-Z a-z 0-9 _ - (not starting with -)")
    return name


MAX_SECONDS = 10**9  # about 31 years: past it, the host's arithmetic and sleep would overflow
MAX_COUNT = 10**15  # bytes, counts: far inside a 64-bit shell integer


class DurationTooLong(ValueError):
    """A well-formed duration past MAX_SECONDS: its own message, whatever the caller's wording."""


def parse_duration(value: object) -> int:
    """300, "300", "90s", "5m", "1h" -> seconds (at most MAX_SECONDS)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 300 or \"5m\", got {value!r}")
    secs = None
    if isinstance(value, int) and value > 0:
        secs = value
    elif isinstance(value, str):
        m = _DURATION.match(value)
        if m and float(m.group(1)) > 0:
            secs = max(1, round(float(m.group(1)) * _UNITS[m.group(2)]))
    if secs is None:
        raise ValueError(f"expected a duration like 300 or \"5m\", got {value!r}")
    if secs > MAX_SECONDS:
        raise DurationTooLong(f"expected a duration of at most {MAX_SECONDS} seconds, got {value!r}")
    return secs


@dataclass(frozen=True)
class HostSpec:
    name: str
    ssh: str = ""
    port: int | None = None
    identity: str | None = None
    ssh_config: str | None = None
    ssh_options: tuple[str, ...] = ()
    kind: str = KIND_TMUX
    sbatch_args: tuple[str, ...] = ()  # kind = "slurm": passed through to sbatch
    max_runs: int = 0  # runs live at once on it; more wait in its queue (0: no limit)
    resources: Mapping[str, Any] = field(default_factory=dict)  # kind = "slurm": its runs' defaults (tmuxkit.resources)
    gpus_ignore_foreign: bool = False  # only tmuxkit's claims make a GPU busy (a container's memory rule off)

    @property
    def is_local(self) -> bool:
        return self.name == LOCAL

    @property
    def is_slurm(self) -> bool:
        return self.kind == KIND_SLURM

    @property
    def on_this_machine(self) -> bool:
        """Its runs start from this machine (no ssh): paths relative to the config are resolved here."""
        return self.is_local or not self.ssh

    @property
    def one_ssh_box(self) -> bool:
        """A tmux host over ssh: its runs are on that one box (two entries may name the same box)."""
        return bool(self.ssh) and not self.is_slurm and not self.is_local


@dataclass(frozen=True)
class RunSpec:
    name: str
    command: str | tuple[str, ...] = ""
    host: str = LOCAL
    cwd: str | None = None
    results: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    log_max_bytes: int = 50_000_000
    log_keep: int = 5
    stuck_after: int = 300
    quiet_max: int | None = None  # seconds; None: 4 times stuck_after (silent but working is quiet until then)
    early_exit_wait: int | None = None  # seconds; None: $TMUXKIT_EARLY_WAIT on this machine, else 2
    checkpoints: str | None = None  # glob relative to cwd
    sync_to: str | None = None  # default ./runs/RUN
    sync_include: tuple[str, ...] = ()
    sync_every: int = 60
    sync_checkpoints: int = 0
    gpu_idle_below: int | None = None  # percent; GPU checks off unless set
    gpu_idle_for: int = 300
    resume: str | None = None  # appended on resume, e.g. "--resume {checkpoint}"
    checkpoint_check: str | None = None  # run on the host with a candidate's path; exit 0 = usable
    max_restarts: int = 3
    restart_window: int = 3600
    restart_on: str = "both"
    notify: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()  # what the log writer reads as metrics (default loss, val_loss, acc, lr)
    notify_from: str = "host"  # "host" (the watchdog sends, laptop closed or not), "laptop" or "both"
    gpus: int = 0  # free GPUs it gets (CUDA_VISIBLE_DEVICES); 0: no allocation. It waits in the host's queue for them
    after: str | None = None  # waits in the host's queue until this run exited 0
    max_runs: int = 0  # from its host's max_runs (not a run key)
    resources: Mapping[str, Any] = field(default_factory=dict)  # partition, time, mem, ... (tmuxkit.resources)
    on_nan: str = "notify"  # a NaN/inf loss (or other metric) seen by the watchdog: "notify", "stop" or "ignore"
    disk_min_free: str = "5%"  # disk_low below this much free where the results are: "N%" or KiB as digits; "0": off
    on_done: str | None = None  # a command run on the host once the run ended for good and its results are safe
    on_done_wait: int = 3600  # seconds: on_done runs this long after the end when no sync acknowledged its final pass
    gpus_ignore_foreign: bool | None = None  # from its host's gpus_ignore_foreign (not a run key)

    def command_line(self) -> str:
        """The command as one shell line (an argv list is quoted word by word)."""
        if isinstance(self.command, str):
            return self.command
        return shlex.join(self.command)

    def with_overrides(self, **changes: Any) -> RunSpec:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


# Validators: each takes the raw TOML value and returns the clean one, or raises ValueError.
def _bool(v: object) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"expected true or false, got {v!r}")
    return v


def _str(v: object) -> str:
    if not isinstance(v, str) or not v:
        raise ValueError(f"expected a non-empty string, got {type(v).__name__}")
    return v


def _int_pos(v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0 or v > MAX_COUNT:
        raise ValueError(f"expected a positive integer up to {MAX_COUNT}, got {v!r}")
    return v


def _int_nonneg(v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v > MAX_COUNT:
        raise ValueError(f"expected a whole number from 0 to {MAX_COUNT}, got {v!r}")
    return v


def parse_wait(value: object) -> int:
    """A duration that may be 0 (off): 0, "0s", 2, "2s", "1m" -> seconds."""
    if isinstance(value, int) and not isinstance(value, bool) and value == 0:
        return 0
    if isinstance(value, str) and value.strip() in ("0", "0s", "0m", "0h"):
        return 0
    try:
        return parse_duration(value)
    except DurationTooLong:
        raise
    except ValueError:
        raise ValueError(f"expected a duration like 2 or \"2s\" (0: off), got {value!r}") from None


def _percent(v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 100:
        raise ValueError(f"expected a percentage 0-100, got {v!r}")
    return v


def _restart_on(v: object) -> str:
    if isinstance(v, str) and v in ("stuck", "crash", "both"):
        return v
    if isinstance(v, list) and v and set(v) <= {"stuck", "crash"}:
        return "both" if set(v) == {"stuck", "crash"} else v[0]
    raise ValueError(f'expected "stuck", "crash" or "both" (or a list of them), got {v!r}')


def _metrics(v: object) -> tuple[str, ...]:
    names = _str_list(v)
    bad = [n for n in names if not n or not all(c.isalnum() or c in "_." for c in n)]
    if bad:
        raise ValueError(f"metric names are letters, digits, _ and . only, got {bad[0]!r}")
    return tuple(names)


def _on_nan(v: object) -> str:
    if isinstance(v, str) and v in ("notify", "stop", "ignore"):
        return v
    raise ValueError(f'expected "notify", "stop" or "ignore", got {v!r}')


_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(%|[KMGT]i?B?|B)?\s*\Z", re.I)
_SIZE_KIB = {"": 1 / 1024, "B": 1 / 1024, "K": 1, "M": 1024, "G": 1024**2, "T": 1024**3}


def parse_disk_min(v: object) -> str:
    """disk_min_free: "10%", "20G", "500MB", "1.5TiB", a number of bytes, or 0 (off) -> "N%" or a
    whole number of KiB as digits (what tmuxkit-watch --disk-min-free takes). Sizes are binary (G = GiB)."""
    if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
        return str(v // 1024)
    m = _SIZE.match(v) if isinstance(v, str) else None
    if m:
        n, unit = float(m.group(1)), (m.group(2) or "").upper()
        if unit == "%":
            if n <= 100:
                return f"{int(n)}%"
        else:
            return str(int(n * _SIZE_KIB[unit[:1] if unit != "B" else "B"]))
    raise ValueError(f'expected a size like "20G" or "500M", a percentage like "5%" (0-100), or 0 for off, got {v!r}')


def _command_text(v: object) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError(f"expected a non-empty command string, got {v!r}")
    if "\0" in v:
        raise ValueError("the command holds a NUL character")
    return v


def _notify_from(v: object) -> str:
    if isinstance(v, str) and v in ("host", "laptop", "both"):
        return v
    raise ValueError(f'expected "host", "laptop" or "both", got {v!r}')


def _port(v: object) -> int:
    p = _int_pos(v)
    if p > 65535:
        raise ValueError(f"expected a port number, got {v!r}")
    return p


def _command(v: object) -> str | tuple[str, ...]:
    """A shell command (bash runs it; it may span lines) or an argv list (passed byte for byte,
    newlines included: ["python", "-c", "import os\\nprint(1)"])."""
    if isinstance(v, str) and v.strip():
        return v
    if isinstance(v, list) and v and all(isinstance(x, str) for x in v):
        return tuple(v)
    raise ValueError("expected a command string or a non-empty list of strings")


def _resume(v: object) -> str:
    """The arguments appended on a resume: one line, and it must say where the checkpoint goes
    (a template without {checkpoint} would restart from scratch while the events say resumed)."""
    if not isinstance(v, str) or not v.strip():
        raise ValueError("expected a template string such as \"--resume {checkpoint}\"")
    if "\n" in v or "\r" in v:
        raise ValueError("expected a one-line template (it is appended to the command; a line break would run "
                         "the rest as a command of its own)")
    if "{checkpoint}" not in v:
        raise ValueError(f"the template {v!r} lacks {{checkpoint}}, where the checkpoint's path goes "
                         "(e.g. \"--resume {checkpoint}\")")
    return v


def check_env(v: object) -> dict[str, str]:
    """An env table: NAME = "one-line value" (a newline would split it into two on the host)."""
    if not isinstance(v, dict):
        raise ValueError(f"expected a table of NAME = \"value\", got {type(v).__name__}")
    out = {}
    for k, val in v.items():
        if not _ENV_NAME.match(k):
            raise ValueError(f"bad variable name {k!r}")
        if not isinstance(val, (str, int, float)) or isinstance(val, bool) or "\n" in str(val):
            raise ValueError(f"{k}: expected a one-line string")
        out[k] = str(val)
    return out


def _str_list(v: object) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ValueError("expected a list of strings")
    return tuple(v)


def _kind(v: object) -> str:
    if isinstance(v, str) and v in HOST_KINDS:
        return v
    raise ValueError(f"expected {' or '.join(repr(k) for k in HOST_KINDS)}, got {v!r}")


def _sbatch_args(v: object) -> tuple[str, ...]:
    """sbatch options, each one word starting with '-' (a bare word would be taken for the batch script)."""
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ValueError('expected a list of sbatch options, like ["--gres=gpu:1", "--time=24:00:00"]')
    for x in v:
        if not x.startswith("-") or x in ("-", "--") or any(c in x for c in "\n\r\0"):
            raise ValueError(f"expected sbatch options starting with '-' (one option a string, as --time=1:00:00), got {x!r}")
    check_sbatch_args(v)  # --output, --job-name, ...: tmuxkit's own
    return tuple(v)


RUN_KEYS: dict[str, Callable[[object], Any]] = {
    "host": _str,
    "cwd": _str,
    "command": _command,
    "results": _str,
    "env": check_env,
    "log_max_bytes": _int_pos,
    "log_keep": _int_pos,
    "stuck_after": parse_duration,
    "quiet_max": parse_duration,
    "early_exit_wait": parse_wait,
    "checkpoints": _str,
    "sync_to": _str,
    "sync_include": _str_list,
    "sync_every": parse_duration,
    "sync_checkpoints": _int_nonneg,
    "gpu_idle_below": _percent,
    "gpu_idle_for": parse_duration,
    "resume": _resume,
    "checkpoint_check": _str,
    "max_restarts": _int_nonneg,
    "restart_window": parse_duration,
    "restart_on": _restart_on,
    "notify": _str_list,
    "metrics": _metrics,
    "notify_from": _notify_from,
    "gpus": lambda v: _gpus(v),
    "after": lambda v: _after(v),
    "on_nan": _on_nan,
    "disk_min_free": parse_disk_min,
    "on_done": _command_text,
    "on_done_wait": parse_duration,
}


def _gpus(v: object) -> int:
    n = _int_nonneg(v)
    if n > 999:
        raise ValueError(f"expected a number of GPUs from 0 to 999, got {v!r}")
    return n


def _after(v: object) -> str:
    s = _str(v)
    try:
        return check_run_name(s)
    except UsageError:
        raise ValueError(f"expected a run name, got {v!r}") from None

STATUS_KEYS: dict[str, Callable[[object], Any]] = {
    "show_ended": parse_duration,  # status lists runs that ended within this window (status --all: every run)
}

HOST_KEYS: dict[str, Callable[[object], Any]] = {
    "ssh": _str,
    "port": _port,
    "identity": _str,
    "ssh_config": _str,
    "ssh_options": _str_list,
    "kind": _kind,
    "sbatch_args": _sbatch_args,
    "max_runs": _int_nonneg,
    "gpus_ignore_foreign": _bool,
}
# A run's cluster resources (partition, time, mem, ..., sbatch_args), with a Slurm host's defaults.
RUN_KEYS.update(RESOURCE_KEYS)
HOST_KEYS.update({k: v for k, v in RESOURCE_KEYS.items() if k not in HOST_KEYS})


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    hosts: Mapping[str, HostSpec] = field(default_factory=dict)
    runs: Mapping[str, RunSpec] = field(default_factory=dict)
    show_ended: int = 3 * 86400  # [status] show_ended: seconds

    def host(self, name: str) -> HostSpec:
        if name == LOCAL:
            return HostSpec(LOCAL)
        try:
            return self.hosts[name]
        except KeyError:
            where = f" in {self.path}" if self.path else ""
            raise ConfigError(f"unknown host {name!r}: add [hosts.{name}]{where}, or use 'local'") from None

    def all_hosts(self) -> list[HostSpec]:
        return [HostSpec(LOCAL), *self.hosts.values()]

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()


def _close(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to a mistyped WORD (difflib, as git and uv suggest), or None."""
    import difflib

    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.75)
    return close[0] if close else None


def _check_table(where: str, table: object, keys: Mapping[str, Callable[[object], Any]]) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    clean = {}
    for key, value in table.items():
        if key not in keys:
            close = _close(key, keys)
            raise ConfigError(f"{where}.{key}: unknown key" + (f"; did you mean '{close}'?" if close else
                                                               f" (known: {', '.join(sorted(keys))})"))
        try:
            clean[key] = keys[key](value)
        except ValueError as e:
            raise ConfigError(f"{where}.{key}: {e}") from None
    return clean


def parse(data: Mapping[str, Any], path: Path | None = None) -> Config:
    src = str(path) if path else "config"
    for top in data:
        if top not in ("hosts", "runs", "status"):
            close = _close(top, ("hosts", "runs", "status"))
            raise ConfigError(f"{src}: {top}: unknown key" + (f"; did you mean '{close}'?" if close else
                                                              " (known: hosts, runs, status)"))
    status = _check_table(f"{src}: status", data.get("status", {}), STATUS_KEYS)
    hosts = {}
    raw_hosts = data.get("hosts", {})
    if not isinstance(raw_hosts, dict):
        raise ConfigError(f"{src}: hosts: expected a table")
    for name, table in raw_hosts.items():
        if name == LOCAL:
            raise ConfigError(f"{src}: hosts.local: 'local' is this machine and cannot be configured")
        clean = _check_table(f"{src}: hosts.{name}", table, HOST_KEYS)
        slurm = clean.get("kind") == KIND_SLURM
        res = split_resources(clean, keep=("sbatch_args",))  # the host's own field, as before
        if res and not slurm:
            raise ConfigError(f'{src}: hosts.{name}.{next(iter(res))}: only for a Slurm host (kind = "slurm"); set it on the run')
        if "sbatch_args" in clean and not slurm:
            raise ConfigError(f'{src}: hosts.{name}.sbatch_args: only for a Slurm host (kind = "slurm")')
        if "ssh" not in clean and not slurm:
            raise ConfigError(f"{src}: hosts.{name}.ssh: missing (an ssh destination such as user@host)")
        if "ssh" not in clean:
            ssh_only = sorted(k for k in ("port", "identity", "ssh_config", "ssh_options") if k in clean)
            if ssh_only:
                raise ConfigError(f"{src}: hosts.{name}.{ssh_only[0]}: only with ssh = \"LOGIN-NODE\" "
                                  "(without ssh, jobs are submitted from this machine)")
        elif clean["ssh"].startswith("-") or any(c.isspace() for c in clean["ssh"]):
            raise ConfigError(f"{src}: hosts.{name}.ssh: {clean['ssh']!r} is not an ssh destination")
        hosts[name] = HostSpec(name=name, resources=res, **clean)
    runs = {}
    raw_runs = data.get("runs", {})
    if not isinstance(raw_runs, dict):
        raise ConfigError(f"{src}: runs: expected a table")
    for name, table in raw_runs.items():
        try:
            check_run_name(name)
        except UsageError as e:
            raise ConfigError(f"{src}: runs.{name}: {e}") from None
        clean = _check_table(f"{src}: runs.{name}", table, RUN_KEYS)
        if "command" not in clean:
            raise ConfigError(f"{src}: runs.{name}.command: missing (the command that starts the run)")
        host = clean.get("host", LOCAL)
        if host != LOCAL and host not in hosts:
            close = _close(host, [LOCAL, *hosts])
            raise ConfigError(f"{src}: runs.{name}.host: unknown host {host!r} "
                              + (f"(did you mean '{close}'?)" if close else f"(add [hosts.{host}])"))
        runs[name] = RunSpec(name=name, resources=split_resources(clean), **clean)
    return Config(path=path, hosts=hosts, runs=runs, **status)


def load(path: str | os.PathLike[str] | None = None) -> Config:
    """--config PATH, else $TMUXKIT_CONFIG, else ./tmuxkit.toml when present, else empty."""
    explicit = path or os.environ.get("TMUXKIT_CONFIG")
    p = Path(explicit) if explicit else Path(DEFAULT_CONFIG)
    try:
        if not p.exists():
            if explicit:
                raise ConfigError(f"config file not found: {p}")
            return Config()
        with p.open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)  # never read forever (--config /dev/zero)
        if len(raw) > MAX_CONFIG_BYTES:
            raise ConfigError(f"{p}: larger than {MAX_CONFIG_BYTES // 1024} KiB; is this a tmuxkit.toml?")
        if b"\0" in raw:
            raise ConfigError(f"{p}: contains a NUL byte; is this a tmuxkit.toml?")
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not UTF-8 text (byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    except (OSError, ValueError) as e:
        raise ConfigError(f"{str(p)[:200]}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    _refuse_nul(data, p)
    return parse(data, p.resolve())


MAX_CONFIG_BYTES = 1 << 20


def _refuse_nul(value: object, p: Path, key: str = "") -> None:
    """A NUL inside a value (TOML's \\u0000) cannot cross into a command, a path or a shell."""
    if isinstance(value, str) and "\0" in value:
        raise ConfigError(f"{p}: {key or 'a value'}: contains a NUL character")
    if isinstance(value, dict):
        for k, v in value.items():
            _refuse_nul(v, p, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list):
        for v in value:
            _refuse_nul(v, p, key)


def __getattr__(name: str) -> str:
    """EXAMPLE, the file `tmuxkit init` writes, made from the one table of documented keys
    (tmuxkit/configdoc.py, which also makes docs/config.md's tables)."""
    if name == "EXAMPLE":
        from tmuxkit.configdoc import example

        return example()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
