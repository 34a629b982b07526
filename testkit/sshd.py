"""A real OpenSSH sshd on 127.0.0.1 for tests: generated keys, its own config, its own known_hosts.

The user's ~/.ssh is never read: the client side gets a generated ssh_config
(IdentityFile, UserKnownHostsFile, GlobalKnownHostsFile /dev/null), and each
test can pass its own remote TMUXKIT_HOME with SetEnv (the server accepts
TMUXKIT_* and SLURM_CONF, for the Slurm tests' login node, only).
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"sshd did not listen on {port}")


@dataclass
class Sshd:
    dir: Path
    port: int
    proc: subprocess.Popen[bytes]
    user_key: Path
    host_pub: str

    def client_config(self, path: Path, alias: str, set_env: dict[str, str] | None = None,
                      user_key: Path | None = None, user: str | None = None) -> Path:
        known = self.dir / "known_hosts"
        lines = [
            f"Host {alias}",
            "  HostName 127.0.0.1",
            f"  Port {self.port}",
            f"  User {user or getpass.getuser()}",
            f"  IdentityFile {user_key or self.user_key}",
            "  IdentitiesOnly yes",
            f"  UserKnownHostsFile {known}",
            "  GlobalKnownHostsFile /dev/null",
            "  StrictHostKeyChecking yes",
            "  LogLevel ERROR",
        ]
        if set_env:
            lines.append("  SetEnv " + " ".join(f"{k}={v}" for k, v in set_env.items()))
        path.write_text("\n".join(lines) + "\n")
        return path

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tmuxkit-test", "-f", str(path)], check=True)


def start_sshd(base: Path, *, password_only: bool = False, path_env: str | None = None,
               set_env: dict[str, str] | None = None) -> Sshd:
    """An sshd on 127.0.0.1. SET_ENV: variables sshd sets for every session (HOME=... gives the
    remote user a home of the test's own, where a test may write shell startup files)."""
    base.mkdir(parents=True, exist_ok=True)
    host_key, user_key = base / "host_key", base / "user_key"
    if not host_key.exists():
        keygen(host_key)
    if not user_key.exists():
        keygen(user_key)
    (base / "authorized_keys").write_text(user_key.with_suffix(".pub").read_text())
    port = free_port()
    host_pub = " ".join(host_key.with_suffix(".pub").read_text().split()[:2])
    (base / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub}\n")
    conf = [
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        f"HostKey {host_key}",
        f"AuthorizedKeysFile {base / 'authorized_keys'}",
        f"PidFile {base / 'sshd.pid'}",
        "StrictModes no",
        "UsePAM no",
        "PermitRootLogin yes",
        "KbdInteractiveAuthentication no",
        "AcceptEnv TMUXKIT_* SLURM_CONF",
        "PrintMotd no",
        "LogLevel ERROR",
        "MaxSessions 64",
        "MaxStartups 64:30:128",
    ]
    if password_only:
        conf += ["PubkeyAuthentication no", "PasswordAuthentication yes"]
    else:
        conf += ["PubkeyAuthentication yes", "PasswordAuthentication no"]
    env = dict(set_env or {})
    if path_env:
        env["PATH"] = path_env
    if env:
        conf.append("SetEnv " + " ".join(f"{k}={v}" for k, v in env.items()))
    (base / "sshd_config").write_text("\n".join(conf) + "\n")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(base / "sshd_config")], stdout=subprocess.DEVNULL,
                            stderr=open(base / "sshd.log", "wb"))
    wait_port(port)
    return Sshd(dir=base, port=port, proc=proc, user_key=user_key, host_pub=host_pub)
