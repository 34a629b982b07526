"""SshHost: the Host interface over the ssh binary.

Going through `ssh` keeps the user's ~/.ssh/config, ProxyJump, agent and keys
working. Every call shares one multiplexed connection (ControlMaster, socket in
a 0700 directory, ControlPersist kept short), so a call costs a channel, not a
handshake. BatchMode=yes: never a password prompt. Host-key checking is left to
the user's ssh config. Every argument that crosses is single-quoted for the
remote login shell (bash, zsh and dash read such words the same way).

The shell/ scripts are copied once to $TMUXKIT_HOME/bin on the host and checked
by hash on every call (the same round trip), so nothing else is installed there.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import secrets
import shlex
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from tmuxkit.config import HostSpec
from tmuxkit.errors import HostError, UnreachableError
from tmuxkit.hosts.base import (
    _LIVE,
    SCRIPT_TIMEOUT,
    Host,
    InstallInfo,
    LinkSilent,
    Result,
    _end_group,
    shell_dir,
    spawn,
)

# A ControlMaster left from before (a laptop that slept and woke on another network) may sit on a
# black-holed TCP connection: `ssh -O check` still says it runs, and a command through it waited for
# ServerAlive to give up (15 s) and then failed. So the first call of a process to a host, when a
# master may be there, must see its reply begin within FIRST_BYTE seconds; if it does not, that
# master is told to exit (-O exit, answered by the master itself, not over the link) and the call
# is made once more, over a new connection. The reply's first bytes are the marker, printed before
# the command runs, so a call ended here had not begun on the host.
FIRST_BYTE = 4.0
NOT_INSTALLED = 86  # the bootstrap's answer when $TMUXKIT_HOME/bin is missing or stale
CONTROL_PERSIST = "30s"

# Every remote command begins with `echo MARK`: whatever the user's login shell prints before it
# (a banner in .bashrc or .zshenv, conda init) is dropped on this side, so a reply is read from the
# marker on. A fresh random mark per process: no banner can contain it.
MARK = f"tmuxkit-begin-{secrets.token_hex(8)}"
FRAME = Path(__file__).with_name("frame.py")


def unframe(text: str) -> str:
    """What the remote command printed: everything after the first MARK line ("" when the command
    never ran, e.g. ssh could not connect)."""
    i = text.find(MARK + "\n")
    return text[i + len(MARK) + 1 :] if i >= 0 else ""


def unframe_err(text: str) -> str:
    """What the remote command (and ssh, after it) wrote on stderr: everything after the first MARK
    line there, so a login shell's stderr (a .bashrc line) is never taken for the cause of a
    failure; all of it when the command never ran (then it is ssh's own complaint)."""
    i = text.find(MARK + "\n")
    return text[i + len(MARK) + 1 :] if i >= 0 else text

# Runs on the host under /bin/sh: the installed scripts, if their hash matches.
_BOOTSTRAP = (
    'd="${TMUXKIT_HOME:-$HOME/.tmuxkit}/bin"; '
    '[ "$(cat "$d/.version" 2>/dev/null)" = "$0" ] || exit 86; '
    's=$1; shift; '
    # tmuxkit's own bash never reads a BASH_ENV (one that prints breaks every reply); the run's
    # command gets it back from TMUXKIT_USER_BASH_ENV (tmuxkit-runner). Kept in step with
    # TK_NO_BASH_ENV in shell/lib/core.bash.
    'if [ -n "${BASH_ENV+x}" ]; then TMUXKIT_USER_BASH_ENV=$BASH_ENV; export TMUXKIT_USER_BASH_ENV; unset BASH_ENV; fi; '
    'exec bash "$d/$s" "$@"'
)
_INSTALL = (
    'h="${TMUXKIT_HOME:-$HOME/.tmuxkit}"; d="$h/bin"; umask 077; '
    'mkdir -p "$d" && chmod 700 "$h" "$d" && tar -xf - -C "$d" && '
    'chmod 755 "$d"/tmuxkit-* "$d"/*.sh && printf "%s\\n" "$0" > "$d/.version" && echo "$d" && '
    '{ python3 -c "import sys; sys.exit(sys.version_info < (3, 6))" 2>/dev/null && echo python3 || echo awk; } && '
    '{ command -v tmux || echo -; }'
)


@functools.lru_cache(maxsize=1)
def scripts_bundle() -> tuple[str, bytes]:
    """(hash, tar bytes) of shell/'s scripts; built once per process (every remote call names the hash)."""
    d = shell_dir()
    # The entry points, the built check_training_status.sh and the libraries they source.
    files = sorted(p for p in [*d.iterdir(), *(d / "lib").iterdir()] if p.is_file() and not p.name.startswith("."))
    h = hashlib.sha256()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for p in files:
            data = p.read_bytes()
            name = p.relative_to(d).as_posix()
            h.update(name.encode() + b"\0" + data + b"\0")
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755 if p.parent == d else 0o644
            tar.addfile(info, io.BytesIO(data))
    return h.hexdigest()[:16], buf.getvalue()


def control_dir_path(home: Path) -> Path:
    """HOME/ssh, or a short /tmp path named by its hash when HOME/ssh is too long for a socket's."""
    d = home / "ssh"
    # A socket's path holds 103 bytes on macOS (104 with its NUL; 108 on Linux): d, "/", %C's 40
    # characters, and the 17 of ssh's own temporary name (".XXXXXXXXXXXXXXXX") while it binds.
    if len(os.fsencode(d)) > 103 - 1 - 40 - 17:
        tag = hashlib.sha256(str(d).encode()).hexdigest()[:10]
        d = Path(tempfile.gettempdir()) / f"tmuxkit-{os.getuid()}-{tag}"
    return d


def control_dir() -> Path:
    """A 0700 directory for ControlMaster sockets, short enough for a unix socket path."""
    d = control_dir_path(Path(os.environ.get("TMUXKIT_HOME") or Path.home() / ".tmuxkit"))
    try:
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
    except FileExistsError:
        pass
    st = d.lstat()
    if d.is_symlink() or st.st_uid != os.getuid():
        raise HostError(f"refusing ssh control directory {d}: not a directory owned by you", host="local")
    if st.st_mode & 0o077:
        d.chmod(0o700)
    return d


def _pass_stderr(fd: int, held: list[bytes] | None = None) -> None:
    """FD's bytes to our stderr from the first MARK line on; all of them at the end when no mark
    came (ssh never ran the command: its own complaint), or into HELD, for the caller to say in
    one line."""
    mark = MARK.encode() + b"\n"
    buf, found = b"", False
    while chunk := os.read(fd, 65536):
        if not found:
            buf += chunk
            i = buf.find(mark)
            if i < 0:
                continue
            chunk, found, buf = buf[i + len(mark) :], True, b""
        os.write(2, chunk)
    if not found and buf:
        if held is not None:
            held.append(buf)
        else:
            os.write(2, buf)


def _q(word: str) -> str:
    return shlex.quote(word)


class SshHost(Host):
    def __init__(self, spec: HostSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self._installed = False
        self._link_ok = False  # a call has answered in this process
        self._no_mux = False  # this host's master did not answer: calls go past it

    # --- ssh argv --------------------------------------------------------------
    def ssh_options(self, mux: bool = True) -> list[str]:
        """Options for ssh (also rsync -e): the user's first, so they win, then ours. MUX False: a
        connection of its own, past a master that does not answer."""
        s = self.spec
        opts: list[str] = []
        if s.ssh_config:
            opts += ["-F", os.path.expanduser(s.ssh_config)]
        opts += ["-o", "BatchMode=yes"]
        for o in s.ssh_options:
            opts += ["-o", o]
        if s.port:
            opts += ["-p", str(s.port)]
        if s.identity:
            opts += ["-i", os.path.expanduser(s.identity)]
        opts += [
            "-o", f"ControlPath={control_dir()}/%C" if mux else "ControlPath=none",
            "-o", "ControlMaster=auto" if mux else "ControlMaster=no",
            "-o", f"ControlPersist={CONTROL_PERSIST}" if mux else "ControlPersist=no",
            "-o", "ServerAliveInterval=5",
            "-o", "ServerAliveCountMax=3",
            "-o", "ConnectTimeout=8",
        ]
        return opts

    def _remote_line(self, argv: Sequence[str], *, framed: bool = True) -> str:
        env = [f"TMUXKIT_SOCKET={_q(os.environ['TMUXKIT_SOCKET'])}"] if os.environ.get("TMUXKIT_SOCKET") else []
        line = " ".join(["exec", "env", *env, *(_q(a) for a in argv)])
        return f"echo {MARK}; echo {MARK} >&2; {line}" if framed else line

    def _argv_for(self, argv: Sequence[str], *, tty: bool = False) -> list[str]:
        """ssh running ARGV on the host; its reply framed (MARK first), except on a terminal (attach)."""
        return ["ssh", *self.ssh_options(mux=not self._no_mux), "-t" if tty else "-T", "--", self.spec.ssh,
                self._remote_line(argv, framed=not tty)]

    def _unframe(self, out: str) -> str:
        return unframe(out)

    def _unframe_err(self, err: str) -> str:
        return unframe_err(err)

    # --- a master that may be dead ---------------------------------------------------------------
    def _answered(self, partial_out: bytes) -> bool:
        return (MARK + "\n").encode() in partial_out

    def _maybe_master(self) -> bool:
        """A master may serve this host (any socket in the control directory): the first call checks it."""
        if self._link_ok:
            return False
        try:
            return any(control_dir().iterdir())
        except OSError:
            return False

    def drop_master(self) -> None:
        """Tell this host's ControlMaster to exit (locally, over its socket: the link need not work).
        A master that does not answer even that (stopped, wedged) is left alone, and this process's
        later calls go past it, each over a connection of its own."""
        try:
            p = subprocess.run(["ssh", *self.ssh_options(), "-O", "exit", "--", self.spec.ssh],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=2, check=False,
                               start_new_session=True)
            self._no_mux = p.returncode != 0 and b"no such file" not in p.stderr.lower() \
                and b"no master" not in p.stderr.lower() and b"connection refused" not in p.stderr.lower()
        except (OSError, subprocess.TimeoutExpired):
            self._no_mux = True

    def run(self, argv: Sequence[str], *, timeout: float | None = SCRIPT_TIMEOUT, input: bytes | None = None) -> Result:
        if self._maybe_master():
            try:
                res = self._run(argv, timeout=timeout, input=input, first_byte=FIRST_BYTE)
            except LinkSilent:
                self.drop_master()
                res = super().run(argv, timeout=timeout, input=input)
        else:
            res = super().run(argv, timeout=timeout, input=input)
        self._link_ok = True
        return res

    def script_argv(self, script: str, args: Sequence[str]) -> list[str]:
        version, _ = scripts_bundle()
        return ["/bin/sh", "-c", _BOOTSTRAP, version, script, *args]

    def accept_command(self) -> str:
        """The ssh command a person runs once to see and accept this host's key: the host's own
        ssh_config, port and key, and nothing of tmuxkit's (no BatchMode, no master)."""
        import shlex

        s = self.spec
        argv = ["ssh"]
        if s.ssh_config:
            argv += ["-F", os.path.expanduser(s.ssh_config)]
        if s.port:
            argv += ["-p", str(s.port)]
        if s.identity:
            argv += ["-i", os.path.expanduser(s.identity)]
        return shlex.join([*argv, s.ssh])

    # --- transport errors ----------------------------------------------------------
    def _check_transport(self, res: Result, argv: Sequence[str]) -> None:
        if res.rc != 255:
            return
        err = res.err.lower()
        where = f"{self.name} ({self.spec.ssh})"
        if "could not resolve hostname" in err or "name or service not known" in err:
            why = "unknown host: ssh cannot resolve it"
        elif "connection refused" in err:
            why = "connection refused (is sshd running there, on that port?)"
        elif "permission denied" in err:
            why = "ssh authentication failed; tmuxkit never prompts for a password (BatchMode): set up a key"
        elif "remote host identification has changed" in err:
            why = (f"its host key has CHANGED since it was accepted (a reinstalled box, or someone in between); "
                   f"if you expect that, remove the old key with ssh-keygen -R, then accept the new one once "
                   f"with: {self.accept_command()}")
        elif "host key verification failed" in err or "host key is known for" in err:
            why = (f"its host key is not known here yet; accept it once with: {self.accept_command()} "
                   "(tmuxkit keeps host-key checking on and never accepts a key itself)")
        elif "timed out" in err or "timeout" in err:
            why = "connection timed out"
        else:
            lines = [ln for ln in res.err.splitlines() if ln.strip()]
            why = f"ssh failed: {lines[-1] if lines else 'exit 255'}"
        raise UnreachableError(f"{where}: {why}", host=self.name, argv=argv, rc=255, stderr=res.err)

    # --- scripts: installed once, checked by hash on each call -----------------------
    def install(self) -> InstallInfo:
        version, bundle = scripts_bundle()
        res = self.run(["/bin/sh", "-c", _INSTALL, version], input=bundle)
        if res.rc != 0:
            raise HostError(f"could not install tmuxkit's scripts: {res.error_line()}", host=self.name,
                            rc=res.rc, stderr=res.err)
        self._installed = True
        where, writer, tmux = [*res.out.strip().split("\n"), "", "", ""][:3]
        return InstallInfo(where=where, log_writer=writer, tmux="" if tmux == "-" else tmux)

    def script(self, script: str, *args: str, timeout: float | None = SCRIPT_TIMEOUT,
               input: bytes | None = None) -> Result:
        res = super().script(script, *args, timeout=timeout, input=input)
        if res.rc == NOT_INSTALLED and not self._installed:
            self.install()
            res = super().script(script, *args, timeout=timeout, input=input)
        return res

    def stream(self, script: str, *args: str) -> int:
        """The script's stdout and stderr to ours as they come, each from its marker on (the login
        shell's noise dropped). One exchange: the scripts are installed (and the call made again)
        only when the host answers that they are missing."""
        rc, wrote = self._stream_once(script, args)
        if rc == NOT_INSTALLED and not wrote and not self._installed:
            self.install()
            rc, _ = self._stream_once(script, args)
        return rc

    def _stream_once(self, script: str, args: Sequence[str]) -> tuple[int, bool]:
        full = self._argv_for(self.script_argv(script, args))
        out = sys.stdout.buffer
        p = spawn(full, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert p.stdout is not None and p.stderr is not None
        held: list[bytes] = []
        errs = threading.Thread(target=_pass_stderr, args=(p.stderr.fileno(), held), daemon=True)
        errs.start()
        wrote = False
        try:
            buf, found = b"", False
            while chunk := os.read(p.stdout.fileno(), 65536):
                if not found:
                    buf += chunk
                    i = buf.find(MARK.encode() + b"\n")
                    if i < 0:
                        continue
                    chunk, found = buf[i + len(MARK) + 1 :], True
                wrote = wrote or bool(chunk)
                out.write(chunk)
                out.flush()
            rc = p.wait()
            errs.join(5)
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM/SIGHUP (tmuxkit.signals)
            _end_group(p)
            return 130, wrote
        except BaseException:
            _end_group(p)
            raise
        _LIVE.discard(p)
        p.stdout.close()
        p.stderr.close()
        if held:
            # ssh never ran the command: its complaint (an unknown host key's wall of text) as the
            # one line the other verbs give; anything else as it came.
            if rc == 255:
                self._check_transport(Result(rc=rc, out="", err=b"".join(held).decode(errors="replace")), full)
            os.write(2, b"".join(held))
        return rc, wrote

    def lines(self, script: str, *args: str) -> Iterator[str]:
        """As Host.lines, from the marker on. One exchange, as stream()."""
        got = False
        try:
            for line in self._lines_once(script, args):
                got = True
                yield line
        except HostError as e:
            if got or e.rc != NOT_INSTALLED or self._installed:
                raise
            self.install()
            yield from self._lines_once(script, args)

    def _lines_once(self, script: str, args: Sequence[str]) -> Iterator[str]:
        found = False
        for line in super().lines(script, *args):
            if not found:
                found = line.endswith(MARK)  # a banner without a newline shares the marker's line
                continue
            yield line

    def rsync_path(self, path: str) -> str:
        return f"{self.spec.ssh}:{path}"

    def rsync_options(self, pre_shell: str = "") -> list[str]:
        """ssh with this host's options; `pre_shell` runs in --rsync-path, in the same exchange,
        and the host side runs under nice (and ionice where there is one)."""
        rsync_path = "$(command -v ionice >/dev/null 2>&1 && echo ionice -c3) nice -n 19 rsync"
        if pre_shell:
            rsync_path = f"{{ {pre_shell}; }} 2>/dev/null; {rsync_path}"
        # The login shell may print before rsync starts, which would break rsync's protocol: the
        # remote side echoes the marker first, and frame.py drops everything up to it.
        rsync_path = f"echo {MARK}; echo {MARK} >&2; {rsync_path}"
        ssh = [sys.executable, "-I", str(FRAME), MARK, "ssh", *self.ssh_options()]
        return ["-e", shlex.join(ssh), f"--rsync-path={rsync_path}"]

    def close(self) -> None:
        pass

