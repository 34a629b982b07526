"""One Tab press, answered before argparse and argcomplete are imported (issue 29.8: a Tab costs at
most 3x `python -c pass`).

The shell's completion hook (`tmuxkit completion SHELL`, argcomplete's own scripts) runs tmuxkit
with _ARGCOMPLETE set and reads the completions from fd 8 (or _ARGCOMPLETE_STDOUT_FILENAME). For
the common lines this module writes exactly what argcomplete would, from tmuxkit/tabspec.py (the
parser's verbs, options and helps, generated from the parser: `python -m tmuxkit.cli.completion
--write`), and ends the process:

    tmuxkit PREFIX                  the verbs and tmuxkit's own options
    tmuxkit VERB PREFIX             that verb's options and its RUN, HOST or choice argument
    tmuxkit VERB --host PREFIX      an option's run or host name or choice
    tmuxkit VERB [OPTIONS] [RUN] PREFIX  the same after whole options and the argument

Anything else (quotes, `=`, paths, a word with a character the shell would need escaped, --config
before the verb, _ARC_DEBUG, ...) returns, and argcomplete answers as before. tests/test_completion.py
compares both answers line by line. Only os and sys are imported here (tomllib when a config is read
that is not in the cache of names, $TMUXKIT_HOME/tab-names).
"""

from __future__ import annotations

import os
import sys

CONFIG_FILE = "tmuxkit.toml"  # config.DEFAULT_CONFIG (a test checks)
MAX_CONFIG_BYTES = 1 << 20  # config.MAX_CONFIG_BYTES (a test checks)
LOCAL = "local"  # config.LOCAL
_RUN_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
RUN_NAME_MAX = 64  # contract.RUN_NAME_MAX (a test checks valid_run_name against contract's)
# The characters a word may hold for this module to answer: none the shell splits on, quotes or
# needs escaped (bash, zsh's ":"), none that makes a word a path or an "--option=value".
_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.,@+%")


def valid_run_name(name: str) -> bool:
    """contract.valid_run_name without its regular expression (re is not imported on a Tab)."""
    return 0 < len(name) <= RUN_NAME_MAX and name[0] != "-" and _RUN_NAME_CHARS.issuperset(name)


def _plain(word: str) -> bool:
    return _PLAIN.issuperset(word)


# --- the names a RUN or HOST argument completes (cli/completion.py's completers use these too) ---

def _home() -> str:
    return os.environ.get("TMUXKIT_HOME") or os.path.join(os.path.expanduser("~"), ".tmuxkit")


def _read_config(path: str) -> tuple[list[str], list[str]]:
    """The run and host names of the TOML file at PATH, read with tomllib only and not validated;
    none when it cannot be read (a Tab never fails loudly, and a config that tmuxkit would refuse
    for another reason still completes its names)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES or b"\0" in raw:
            return [], []
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover (3.10)
            import tomli as tomllib
        data = tomllib.loads(raw.decode("utf-8"))
    except (OSError, ValueError):  # UnicodeDecodeError and TOMLDecodeError are ValueErrors
        return [], []

    def names(key: str) -> list[str]:
        table = data.get(key)
        return [str(k) for k in table] if isinstance(table, dict) else []

    return names("runs"), names("hosts")


# The names of the last configs read, so that a Tab does not import tomllib (about 1.5x `python -c
# pass` with what it imports) while the config is unchanged: $TMUXKIT_HOME/tab-names, one line a
# config, "PATH<TAB>STAMP<TAB>RUNS<TAB>HOSTS" (names joined by \x1f), the newest first. The stamp is
# the file's device, inode, size, mtime and ctime: an edit, a rename over it or a new file is a miss.
CACHE = "tab-names"
CACHE_KEEP = 8
_SEP = "\x1f"


def _own_home(home: str) -> bool:
    """HOME is a directory of this user's that no one else can write (runs._own_state_dir's rule);
    a Tab never creates it."""
    import stat

    try:
        st = os.lstat(home)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def config_names(config: str | None) -> tuple[list[str], list[str]]:
    """The run and host names of the config (config.load's choice of file: --config, $TMUXKIT_CONFIG,
    ./tmuxkit.toml), from the cache while the file is unchanged."""
    import stat

    path = config or os.environ.get("TMUXKIT_CONFIG") or CONFIG_FILE
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return [], []
    if not stat.S_ISREG(st.st_mode):  # never open a FIFO or a device on a Tab press
        return [], []
    where = os.path.abspath(path)
    key = f"{where}\t{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"
    home = _home()
    cache = os.path.join(home, CACHE)
    own = _own_home(home)
    lines: list[str] = []
    if own:
        try:
            fd = os.open(cache, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            with open(fd, encoding="utf-8", errors="replace") as f:
                lines = f.read(1 << 20).splitlines()
        except OSError:
            pass
    for ln in lines:
        fields = ln.split("\t")
        if len(fields) == 4 and "\t".join(fields[:2]) == key:
            return [n for n in fields[2].split(_SEP) if n], [n for n in fields[3].split(_SEP) if n]
    runs, hosts = _read_config(path)
    import time

    # A file changed in the last seconds may change again within its timestamp's tick (a few ms on
    # Linux), its stamp the same: it is read each time until it has settled (git's "racy clean").
    if own and time.time() - st.st_mtime > SETTLED:
        _write_cache(home, cache, where, key, runs, hosts, lines)
    return runs, hosts


SETTLED = 2.0  # seconds


def _write_cache(home: str, cache: str, where: str, key: str, runs: list[str], hosts: list[str],
                 lines: list[str]) -> None:
    """Put the names of the config at WHERE first in the cache, in place of its older line (a new
    file renamed over the cache: never written through a link)."""
    if any(not n or c in n for n in (where, *runs, *hosts) for c in ("\t", "\n", "\r", _SEP)):
        return  # a name or path the line format cannot hold: read from the file each time
    keep = [ln for ln in lines if ln.split("\t", 1)[0] != where][: CACHE_KEEP - 1]
    text = "".join(f"{ln}\n" for ln in [f"{key}\t{_SEP.join(runs)}\t{_SEP.join(hosts)}", *keep])
    tmp = os.path.join(home, f".{CACHE}.{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            with open(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, cache)
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)
    except OSError:
        pass


def remembered_runs() -> list[str]:
    """runs.remembered_runs without importing tmuxkit.runs: the notes in $TMUXKIT_HOME/where
    (runs._where_dir; a test checks both agree)."""
    try:
        return sorted(n for n in os.listdir(os.path.join(_home(), "where")) if not n.startswith("."))
    except OSError:
        return []


def run_names(prefix: str, config: str | None) -> list[str]:
    """The runs of the config and those this machine started (remembered), valid names only, sorted."""
    names = set(config_names(config)[0]) | set(remembered_runs())
    return sorted(n for n in names if n.startswith(prefix) and valid_run_name(n))


def host_names(prefix: str, config: str | None) -> list[str]:
    """'local' and the config's hosts, sorted."""
    return sorted(n for n in {LOCAL, *config_names(config)[1]} if n.startswith(prefix))


# --- the answer ------------------------------------------------------------------------------

def _values(kind: object, prefix: str) -> list[tuple[str, str]] | None:
    """What argcomplete's completer for an argument of KIND gives for PREFIX, with each one's
    description; None: not answered here (files, anything else)."""
    if kind == "run":
        return [(n, "") for n in run_names(prefix, None)]
    if kind == "host":
        return [(n, "") for n in host_names(prefix, None)]
    if isinstance(kind, tuple) and kind[:1] == ("choices",):
        _, choices, help_ = kind
        return [(c, help_) for c in choices if c.startswith(prefix)]
    if kind == "none":
        return []
    return None


def _options(options: tuple[tuple[tuple[str, ...], str | None, object], ...], prefix: str) -> list[tuple[str, str]]:
    """argcomplete's option completions for PREFIX (all when it is empty), in the parser's order."""
    out = []
    for strings, help_, _ in options:
        if help_ is not None:  # None: help=SUPPRESS, never offered
            out += [(s, help_) for s in strings if s.startswith(prefix)]
    return out


def completions(words: list[str], prefix: str) -> list[tuple[str, str]] | None:
    """The completions (with their descriptions) of PREFIX after WORDS (the words after `tmuxkit`),
    or None where argcomplete must answer."""
    from tmuxkit import tabspec

    if not words:  # the verb, or tmuxkit's own options
        verbs = [(v, spec[0]) for v, spec in tabspec.VERBS.items() if v.startswith(prefix)]
        return _options(tabspec.TOP, prefix) + ([] if prefix.startswith("-") else verbs)
    spec = tabspec.VERBS.get(words[0])
    if spec is None or spec[2] == "other":
        return None
    _, options, positional, nargs = spec
    kinds = {s: kind for strings, _, kind in options for s in strings}
    # The words after the verb, as argparse takes them: options by their exact name (a flag, or one
    # value in the next word) and the verb's argument. An argument of nargs ?, * or + is matched
    # (empty) as soon as an option comes, which argcomplete follows: those verbs only here as they start.
    pending, given = None, 0
    for w in words[1:]:
        if pending is not None:
            if w.startswith("-"):
                return None
            pending = None
        elif w.startswith("-"):
            kind = kinds.get(w)
            if kind in (None, "other"):
                return None
            pending = None if kind == "flag" else w
        else:
            given += 1
    many = nargs in ("*", "+") and given == len(words) - 1  # `status RUN RUN PREFIX`: runs, no option yet
    if nargs is not None and len(words) > 1 and not (len(words) == 2 and pending is not None) and not many:
        return None  # an argument of nargs ?, * or +: `VERB PREFIX`, `VERB --option PREFIX`, `VERB RUN.. PREFIX`
    if given > (positional != "none") and not many:
        return None  # more arguments than the verb takes: argparse's error, argcomplete's answer
    if pending is not None:  # `--host PREFIX`: only the option's value
        return None if prefix.startswith("-") else _values(kinds[pending], prefix)
    found = _options(options, prefix)
    if prefix.startswith("-") or (given and not many):
        return found
    values = _values(positional, prefix)
    return None if values is None else found + values


def answer() -> None:
    """Write the completions argcomplete would write and end the process; return where it must answer."""
    env = os.environ
    try:
        if env.get("_ARGCOMPLETE") != "1" or "_ARC_DEBUG" in env:
            return
        shell = env.get("_ARGCOMPLETE_SHELL", "")
        ifs, dfs = env.get("_ARGCOMPLETE_IFS", "\013"), env.get("_ARGCOMPLETE_DFS", "")
        point = int(env["COMP_POINT"])
        if point < 0:  # no shell sets one; argcomplete's lexer then answers otherwise than a cut line
            return
        line = env["COMP_LINE"][:point]
        if len(ifs) != 1 or len(dfs) > 1 or shell not in ("bash", "zsh", "fish"):
            return
        wordbreaks = env.get("_ARGCOMPLETE_COMP_WORDBREAKS", "")
        *before, prefix = line.split(" ")  # only spaces between words: a tab or newline goes to argcomplete
        before = [w for w in before if w]
        if not before or not _PLAIN.union("/~").issuperset(before[0]) \
                or any(c in wordbreaks for w in [*before, prefix] for c in w):
            return
        words = before[1:]  # the words after the command's name
        if not all(map(_plain, [*words, prefix])):
            return
        found = completions(words, prefix)
        if found is None or not all(_plain(c) for c, _ in found):
            return
    except Exception:  # whatever went wrong here, argcomplete answers as before (a Tab never shows a traceback)
        return
    seen: dict[str, str] = {}
    for c, d in found:  # argcomplete keeps the first of twins, with the last one's description
        seen[c] = d
    out = list(seen)
    if env.get("_ARGCOMPLETE_SUPPRESS_SPACE") != "1" and len(out) == 1:
        out[0] += " "  # as argcomplete: one match gets its space (no match here ends in = / :)
    if dfs:
        out = [dfs.join((c, (seen.get(c) or "").replace(ifs, " "))) for c in out]
    if shell == "zsh":
        out = [f"{c}:{seen.get(c)}" for c in out]
    try:
        filename = env.get("_ARGCOMPLETE_STDOUT_FILENAME")
        stream = open(filename, "w") if filename is not None else os.fdopen(8, "w")
        stream.write(ifs.join(out))
        stream.flush()
    except OSError:
        os._exit(1)
    os._exit(0)
