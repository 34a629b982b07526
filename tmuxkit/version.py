"""`tmuxkit --version`: the package's version and the host scripts' version, with nothing else imported.

The host scripts' version is the hash that `tmuxkit install` and every SSH call name (hosts.ssh's
scripts_bundle: each file of shell/ and shell/lib, by name and bytes); doctor prints the same one.
"""

from __future__ import annotations

import os

from tmuxkit import __version__


def shell_dir() -> str | None:
    """shell/ inside an installed wheel (tmuxkit/shell) or beside a source checkout (as hosts.base.shell_dir)."""
    pkg = os.path.dirname(os.path.abspath(os.path.realpath(__file__)))
    for d in (os.path.join(pkg, "shell"), os.path.join(os.path.dirname(pkg), "shell")):
        if os.path.isfile(os.path.join(d, "check_training_status.sh")):
            return d
    return None


def scripts_version() -> str:
    """The 16-hex hash of the host scripts, or "missing" when this install has none."""
    import hashlib

    d = shell_dir()
    if d is None:
        return "missing"
    files = []
    for sub in (d, os.path.join(d, "lib")):
        with os.scandir(sub) as it:
            files += [e.path for e in it if e.is_file() and not e.name.startswith(".")]
    h = hashlib.sha256()
    for p in sorted(files):
        with open(p, "rb") as f:
            data = f.read()
        h.update(os.path.relpath(p, d).replace(os.sep, "/").encode() + b"\0" + data + b"\0")
    return h.hexdigest()[:16]


def version_line() -> str:
    return f"tmuxkit {__version__} (host scripts {scripts_version()})"
