"""tmuxkit doctor: what this machine and a host have of what tmuxkit needs, each check with its fix.

The host's own checks are the host script tmuxkit-doctor (tmux, bash, python3 and the log writer,
rsync, nvidia-smi under a time limit, free disk, its clock); this side adds what only the laptop
can see: its own ssh and rsync, the ssh options tmuxkit will use (`ssh -G`), whether a login shell
prints a banner, the clock skew, and whether the host's installed scripts are this version's.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tmuxkit.config import LOCAL, Config, expand_home
from tmuxkit.hosts import Host, connect
from tmuxkit.hosts.base import Result
from tmuxkit.hosts.ssh import SshHost

LAPTOP, HOST = "laptop", "host"
SKEW_LIMIT = 5.0  # seconds: ages and "stuck" are measured on the host, but sync and events compare clocks
INSTALL = "apt-get install {0}, dnf install {0}, or on a Mac brew install {0}"


@dataclass(frozen=True)
class Check:
    where: str  # "laptop" or "host"
    check: str
    ok: bool
    value: str
    fix: str = ""
    note: bool = False  # worth knowing, not a failure (a login banner tmuxkit reads past)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Report:
    host: str
    reachable: bool
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return self.reachable and all(c.ok for c in self.checks)

    def to_json(self) -> dict[str, object]:
        return {"host": self.host, "ok": self.ok, "reachable": self.reachable,
                "checks": [c.to_json() for c in self.checks]}


def _tool(name: str, argv: list[str], why: str) -> Check:
    if not shutil.which(name):
        return Check(LAPTOP, name, False, f"not found on this machine: {why}", INSTALL.format(name))
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return Check(LAPTOP, name, False, f"{argv[0]} failed: {e}", INSTALL.format(name))
    first = (p.stdout or p.stderr).strip().splitlines()
    return Check(LAPTOP, name, True, first[0] if first else name)


def _ssh_config(host: SshHost) -> list[Check]:
    """The options tmuxkit's ssh will run with, resolved by ssh itself (ssh -G)."""
    from tmuxkit.hosts.ssh import control_dir

    try:
        cdir = control_dir()
    except Exception as e:
        return [Check(LAPTOP, "ssh config", False, str(e), "remove it, or set $TMUXKIT_HOME to a directory you own")]
    opts = host.ssh_options()
    try:
        p = subprocess.run(["ssh", *opts, "-G", host.spec.ssh], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return [Check(LAPTOP, "ssh config", False, f"ssh -G failed: {e}", "check ssh and the host's ssh_config")]
    if p.returncode != 0:
        line = (p.stderr.strip().splitlines() or ["ssh -G failed"])[-1]
        return [Check(LAPTOP, "ssh config", False, line, "fix the ssh config file named above")]
    g = dict(ln.split(" ", 1) for ln in p.stdout.splitlines() if " " in ln)
    value = (f"{g.get('user', '?')}@{g.get('hostname', '?')}:{g.get('port', '?')}, BatchMode {g.get('batchmode')}, "
             f"ControlMaster {g.get('controlmaster')} in {cdir} (0700), "
             f"StrictHostKeyChecking {g.get('stricthostkeychecking')}")
    checks = [Check(LAPTOP, "ssh config", g.get("batchmode") == "yes", value,
                    "" if g.get("batchmode") == "yes" else "BatchMode must be yes: remove it from ssh_options")]
    if g.get("stricthostkeychecking") in ("false", "no", "off"):
        checks.append(Check(LAPTOP, "host keys", False, "StrictHostKeyChecking is off in your ssh config",
                            "turn host-key checking back on (accept-new is the safe way to learn a new host)"))
    return checks


def _reach(host: SshHost, alias: str) -> tuple[Check, Check | None]:
    """One unframed exchange through the login shell, with tmuxkit's own ssh options (its
    ControlMaster, BatchMode): reachability, and the bytes a login shell prints on stdout before
    the command's own output (a banner: host.run() cuts it off, so it is counted here)."""
    from tmuxkit.errors import HostError
    from tmuxkit.hosts.ssh import MARK

    argv = ["ssh", *host.ssh_options(), "-T", "--", host.spec.ssh, f"printf %s {MARK}"]
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=20, start_new_session=True)
        res = Result(p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))
        host._check_transport(res, argv)
    except subprocess.TimeoutExpired:
        return Check(LAPTOP, "reach", False, f"{host.name}: no answer within 20s", "ssh -v HOST shows more"), None
    except OSError as e:
        return Check(LAPTOP, "reach", False, f"ssh: {e.strerror}", INSTALL.format("openssh-client")), None
    except HostError as e:
        return Check(LAPTOP, "reach", False, str(e), "see the reason above; ssh -v HOST shows more"), None
    if res.rc != 0 or MARK not in res.out:
        return Check(LAPTOP, "reach", False, res.error_line() or f"exit {res.rc}", "ssh -v HOST shows more"), None
    return Check(LAPTOP, "reach", True, f"ssh {alias} answers"), _banner(res.out[: res.out.index(MARK)])


def _banner(noise: str) -> Check:
    if not noise:
        return Check(HOST, "login banner", True, "a login shell prints nothing")
    shown = noise.strip().splitlines()[0][:60] if noise.strip() else noise[:60]
    # tmuxkit reads every reply from its own marker on (rsync's too), so a banner breaks nothing of
    # tmuxkit's: a note, not a failure. Other tools over ssh (plain rsync, scp) still trip on it.
    return Check(HOST, "login banner", True,
                 f"a non-interactive login shell prints {len(noise.encode())} bytes on stdout: {shown!r} "
                 "(tmuxkit reads past it)",
                 "for other tools (plain rsync, scp): remove the echo from ~/.bashrc (or ~/.zshenv, ~/.profile), "
                 "or guard it with [ -t 1 ] or case $- in *i*) ... ;; esac", note=True)


def _installed(host: Host) -> Check:
    from tmuxkit.hosts.ssh import NOT_INSTALLED, scripts_bundle

    version, _ = scripts_bundle()
    res = host.run(host.script_argv("tmuxkit-doctor", ["--help"]), timeout=20)
    if res.rc == NOT_INSTALLED:
        return Check(HOST, "host scripts", False, f"not installed, or not this version ({version})",
                     f"tmuxkit install {host.name} (the next tmuxkit command there does it too)")
    return Check(HOST, "host scripts", res.rc == 0, f"version {version}" if res.rc == 0 else res.error_line(),
                 "" if res.rc == 0 else f"tmuxkit install {host.name}")


def _dirs(conf: Config, host_name: str) -> list[str]:
    """The results dirs of the runs configured on this host, where they can be named from here."""
    return [d for d, _ in _dirs_min(conf, host_name)]


def _dirs_min(conf: Config, host_name: str) -> list[tuple[str, str]]:
    """The results dirs of the runs configured on this host, where they can be named from here,
    each with its run's disk_min_free (the first run's, for a dir that two share)."""
    out: dict[str, str] = {}
    for spec in conf.runs.values():
        if spec.host != host_name or not spec.results:
            continue
        if _rooted(spec.results):
            d = spec.results
        elif spec.cwd and _rooted(spec.cwd):
            d = f"{spec.cwd.rstrip('/')}/{spec.results}"
        elif host_name == LOCAL:
            d = str(conf.base_dir / (spec.cwd or "") / spec.results)
        else:
            continue
        # "~" and "~/": the host's home; tmuxkit-doctor makes it so there, as tmuxkit-start does.
        out.setdefault(expand_home(d) if host_name == LOCAL else d, spec.disk_min_free)
    return sorted(out.items())


def _rooted(path: str) -> bool:
    """Absolute, or under the home: what start, too, does not read relative to the cwd."""
    return path.startswith("/") or path == "~" or path.startswith("~/")


def _host_checks(host: Host, dirs: list[str] | list[tuple[str, str]]) -> tuple[list[Check], float | None]:
    """The host script's checks (with the host's own: a Slurm host's client tools too), and the
    host's clock less this machine's (seconds) at the call's midpoint. A dir may come with its run's
    disk_min_free (checked there too)."""
    args: list[str] = []
    for d in dirs:
        if isinstance(d, tuple):
            args += ["--disk-min-free", d[1], "--dir", d[0]]
        else:
            args += ["--dir", d]
    args += host.doctor_args()
    t0 = time.time()
    res = host.script("tmuxkit-doctor", *args, timeout=60)
    mid = (t0 + time.time()) / 2
    checks, skew = [], None
    for row in res.kv_lines():
        if "check" not in row:
            continue
        if row["check"] == "clock":
            try:
                skew = float(row.get("value", "")) - mid
            except ValueError:
                pass
            continue
        checks.append(Check(HOST, row["check"], row.get("ok") == "1", row.get("value", ""), row.get("fix", "")))
    if not checks:
        checks.append(Check(HOST, "host scripts", False, res.error_line() or f"tmuxkit-doctor: exit {res.rc}",
                            f"tmuxkit install {host.name}"))
    return checks, skew


def diagnose(conf: Config, host_name: str) -> Report:
    spec = conf.host(host_name)
    host = connect(spec)
    # A host is reached through its transport: this machine, or (its login node) over ssh.
    transport = host.link
    remote = isinstance(transport, SshHost)
    checks: list[Check] = []
    try:
        if remote:
            checks.append(_tool("ssh", ["ssh", "-V"], "tmuxkit reaches hosts with it"))
        checks.append(_tool("rsync", ["rsync", "--version"], "tmuxkit sync pulls results with it"))
        if not isinstance(transport, SshHost):
            checks.append(Check(HOST, "host scripts", True, f"this tmuxkit's own ({Path(__file__).parent})"))
        else:
            checks += _ssh_config(transport)
            reach, banner = _reach(transport, spec.ssh)
            checks.append(reach)
            if banner is None:
                return Report(host_name, False, checks)
            checks.append(banner)
            checks.append(_installed(transport))
        host_checks, skew = _host_checks(host, _dirs_min(conf, host_name))
        checks += host_checks
        # the host's own checks of the config (a Slurm host's: sbatch --test-only of each run's resources)
        checks += [Check(HOST, r["check"], r.get("ok") == "1", r.get("value", ""), r.get("fix", ""))
                   for r in host.doctor_rows(conf, {c.check for c in host_checks if c.ok})]
        if skew is not None and remote:
            ok = abs(skew) <= SKEW_LIMIT
            checks.append(Check(HOST, "clock skew", ok, f"{skew:+.1f} s from this machine",
                                "" if ok else "turn on NTP on both (timedatectl set-ntp true; on a Mac: "
                                              "System Settings > Date & Time)"))
        return Report(host_name, True, checks)
    finally:
        host.close()
