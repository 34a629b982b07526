"""Hosts: one interface (hosts.base.Host) for this machine (LocalHost), SSH hosts (SshHost) and
Slurm clusters (SlurmHost, over either transport)."""

from __future__ import annotations

from tmuxkit.config import Config, HostSpec
from tmuxkit.hosts.base import SCRIPT_TIMEOUT, Host, InstallInfo, Result, shell_dir
from tmuxkit.hosts.local import LocalHost

__all__ = ["SCRIPT_TIMEOUT", "Host", "InstallInfo", "LocalHost", "Result", "connect", "for_name", "shell_dir"]


def connect(spec: HostSpec) -> Host:
    """The host a config entry names; the ssh and slurm modules are imported only when needed."""
    if spec.is_slurm:
        from tmuxkit.hosts.slurm import SlurmHost

        return SlurmHost(spec)
    if spec.is_local:
        return LocalHost()
    from tmuxkit.hosts.ssh import SshHost

    return SshHost(spec)


def for_name(config: Config, name: str) -> Host:
    return connect(config.host(name))
