"""The documentation stays true (issue 29 item 2 and 7).

1. Every config key, verb and option the code accepts is documented in docs/, and nothing documented is
   unknown to the code: the keys come from tmuxkit/config.py's tables, the verbs and options from the
   argparse parsers of tmuxkit/cli, so a key or option added to the code fails here until documented.
2. Every ```console runnable block of README.md and docs/*.md runs as written, in an empty HOME and
   TMUXKIT_HOME with a private tmux server, and prints what the block shows (`...` elides).
3. tmuxkit init's comments and docs/config.md's key tables come from one table (tmuxkit/configdoc.py),
   and the generated part of docs/config.md is fresh.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from conftest import socket_pids

from tmuxkit import config, configdoc
from tmuxkit.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CLI_MD = DOCS / "cli.md"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
REGEN = ".venv/bin/python -m tmuxkit.configdoc --write"

# Where a new config key's story belongs, besides its row in docs/config.md (by words in its name).
TOPICS = (("sync", "docs/sync.md"), ("notify", "docs/alerts.md"), ("on_", "docs/alerts.md"),
          ("disk", "docs/alerts.md"), ("gpu", "docs/gpus.md"), ("sbatch", "docs/slurm.md"),
          ("partition", "docs/slurm.md"), ("qos", "docs/slurm.md"), ("account", "docs/slurm.md"),
          ("constraint", "docs/slurm.md"), ("ntasks", "docs/slurm.md"), ("nodes", "docs/slurm.md"),
          ("mem", "docs/slurm.md"), ("cpus", "docs/slurm.md"), ("time", "docs/slurm.md"),
          ("checkpoint", "docs/checkpoints.md"), ("resume", "docs/checkpoints.md"),
          ("restart", "docs/watchdog.md"), ("stuck", "docs/watchdog.md"), ("quiet", "docs/watchdog.md"),
          ("ssh", "docs/hosts.md"))


def topic(key: str) -> str:
    return next((page for word, page in TOPICS if word in key), "docs/runs.md")


# ---------------------------------------------------------------- config keys


def code_keys() -> set[tuple[str, str]]:
    return ({("status", k) for k in config.STATUS_KEYS} | {("hosts", k) for k in config.HOST_KEYS}
            | {("runs", k) for k in config.RUN_KEYS})


def key_problems(accepted: set[tuple[str, str]]) -> list[str]:
    documented = {(k.table, k.name) for k in configdoc.KEYS}
    missing = sorted(accepted - documented)
    unknown = sorted(documented - accepted)
    problems = [f"config key [{t}] {k}: accepted by tmuxkit/config.py but not documented: add a Key(\"{t}\", "
                f"\"{k}\", example, default, doc, block) to KEYS in tmuxkit/configdoc.py (it becomes its row in "
                f"docs/config.md and its line in tmuxkit init's file; then run {REGEN}); its story belongs in "
                f"{topic(k)}" for t, k in missing]
    problems += [f"config key [{t}] {k}: documented in tmuxkit/configdoc.py (docs/config.md) but the code does "
                 f"not accept it: remove it" for t, k in unknown]
    return problems


def test_every_config_key_is_documented_and_nothing_documented_is_unknown() -> None:
    problems = key_problems(code_keys())
    assert not problems, "\n".join(problems)
    assert len(configdoc.KEYS) == len({(k.table, k.name) for k in configdoc.KEYS}), "a key is documented twice in tmuxkit/configdoc.py"


def test_a_new_key_fails_naming_itself_and_where_it_belongs() -> None:
    """A key another lane adds to config.py (say [runs] on_nan) fails until documented, and the message says
    exactly which key, where its row comes from and which page tells its story; a key dropped from the
    code fails too."""
    problems = key_problems(code_keys() | {("runs", "on_frobnicate")})
    assert len(problems) == 1 and "[runs] on_frobnicate" in problems[0] and "tmuxkit/configdoc.py" in problems[0]
    assert "docs/alerts.md" in problems[0] and REGEN in problems[0]
    problems = key_problems(code_keys() - {("hosts", "port")})
    assert problems == ["config key [hosts] port: documented in tmuxkit/configdoc.py (docs/config.md) but the "
                        "code does not accept it: remove it"]


def test_config_md_generated_part_is_fresh() -> None:
    text = (DOCS / "config.md").read_text()
    part = configdoc.generated_part(text)
    assert part, f"docs/config.md lost its generated part (the {configdoc.BEGIN!r} ... {configdoc.END!r} lines)"
    assert part == configdoc.markdown(), f"docs/config.md's key tables are stale: run {REGEN}"


def test_init_writes_comments_that_docs_config_md_shows_word_for_word(tmp_path: Path) -> None:
    """One source: each key line tmuxkit init writes carries the same words as that key's row in
    docs/config.md (both made from tmuxkit/configdoc.py), and the file it writes is valid."""
    r = subprocess.run([sys.executable, "-m", "tmuxkit", "init"], cwd=tmp_path, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert r.returncode == 0, r.stderr
    written = (tmp_path / "tmuxkit.toml").read_text()
    assert written == configdoc.example()
    config.load(tmp_path / "tmuxkit.toml")
    rows: dict[str, tuple[str, str]] = {}
    for row in re.finditer(r"^\| `([a-z_]+)` \| (.*?) \| `(.*?)` \| (.*) \|$", (DOCS / "config.md").read_text(), re.M):
        # A key of both a host and a run (Slurm's partition, time...): its first row, as init writes it first.
        rows.setdefault(row.group(1), (row.group(3).replace("\\|", "|"), row.group(4).replace("\\|", "|")))
    lines = [ln for ln in written.splitlines() if re.match(r"^(# )?[a-z_]+ = ", ln)]
    seen = set()
    for ln in lines:
        m = re.match(r"^(?:# )?([a-z_]+) = (.*?)\s+# (.*)$", ln)
        assert m, f"tmuxkit init wrote a key line without its comment: {ln!r}"
        key, value, comment = m.groups()
        if key not in rows or key in seen:  # a part's intro (the cluster's ssh line), not the key's own line
            continue
        seen.add(key)
        assert value == rows[key][0], f"{key}: init writes {value!r}, docs/config.md shows {rows[key][0]!r}"
        assert comment.startswith(rows[key][1]), f"{key}: init says {comment!r}, docs/config.md {rows[key][1]!r}"
    assert seen == {k.name for k in configdoc.KEYS}


def test_toml_examples_use_only_keys_the_code_knows() -> None:
    """Nothing documented is unknown: every ```toml block of README.md and docs/ parses, and names only
    tables and keys that tmuxkit/config.py accepts."""
    tables = {"status": config.STATUS_KEYS, "hosts": config.HOST_KEYS, "runs": config.RUN_KEYS}
    problems, blocks = [], 0
    for page in PAGES:
        for block in re.findall(r"^```toml\n(.*?)^```", page.read_text(), re.M | re.S):
            blocks += 1
            where = f"{page.relative_to(ROOT)}: toml block {block.splitlines()[0]!r}"
            try:
                data = tomllib.loads(block)
            except tomllib.TOMLDecodeError as e:
                problems.append(f"{where}: not valid TOML: {e}")
                continue
            for top, value in data.items():
                if top not in tables:
                    problems.append(f"{where}: [{top}] is no table of tmuxkit.toml")
                    continue
                entries = [value] if top == "status" else list(value.values())
                for entry in entries:
                    problems += [f"{where}: [{top}] has no key {k!r}" for k in entry if k not in tables[top]]
    assert not problems, "\n".join(problems)
    assert blocks >= 5


def test_the_readme_comments_a_key_in_the_words_of_init_and_docs_config_md() -> None:
    """The README's tmuxkit.toml lines say of a key what tmuxkit init and docs/config.md say (one source)."""
    docs = {k.name: k.doc for k in configdoc.KEYS}
    text = (ROOT / "README.md").read_text()
    problems, checked = [], 0
    for block in re.findall(r"^```toml\n(.*?)^```", text, re.M | re.S):
        for m in re.finditer(r"^([a-z_]+) = .*?\s# (.*)$", block, re.M):
            key, comment = m.groups()
            if key in docs:
                checked += 1
                if comment != docs[key]:
                    problems.append(f"README.md: {key}: {comment!r}, but tmuxkit/configdoc.py says {docs[key]!r}")
    assert not problems, "\n".join(problems)
    assert checked, "README.md comments no config key"


# ---------------------------------------------------------------- verbs and options


def code_verbs() -> dict[str, set[str]]:
    """Each verb and the options its parser accepts (-h/--help left out); "" is the top level."""
    parser = build_parser()
    verbs: dict[str, set[str]] = {"": set()}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                verbs[name] = {o for a in sub._actions for o in a.option_strings if o not in ("-h", "--help")}
        else:
            verbs[""] |= {o for o in action.option_strings if o not in ("-h", "--help")}
    return verbs


def cli_sections() -> dict[str, str]:
    """docs/cli.md's '## tmuxkit VERB' sections by verb; '## Options of every verb' as ""."""
    sections: dict[str, str] = {}
    current: str | None = None
    for line in CLI_MD.read_text().splitlines():
        m = re.match(r"^## (?:tmuxkit (\S+)|(Options of every verb))\s*$", line)
        if m:
            current = m.group(1) or ""
            sections[current] = ""
        elif line.startswith("## "):
            current = None
        elif current is not None:
            sections[current] += line + "\n"
    return sections


def option_problems(verbs: dict[str, set[str]], sections: dict[str, str]) -> list[str]:
    problems = []
    for verb, options in sorted(verbs.items()):
        where = f"'## tmuxkit {verb}'" if verb else "'## Options of every verb'"
        if verb not in sections:
            problems.append(f"tmuxkit {verb}: a verb of the code with no {where} section in docs/cli.md: add one "
                            f"(its options as '- `--opt`: what it does (default: ...)')")
            continue
        body = sections[verb]
        for opt in sorted(options):
            if not re.search(rf"`{re.escape(opt)}[` =,\]]", body):
                problems.append(f"tmuxkit {verb} {opt}: an option of the code, not documented: add "
                                f"'- `{opt}`: what it does (default: ...)' under {where} in docs/cli.md".replace(
                                    "tmuxkit  ", "tmuxkit "))
        listed = re.findall(r"^- (`-[^\n:]*):", body, re.M)
        for item in listed:
            for opt in re.findall(r"`(-[-\w]*)", item):
                if opt not in options | {"-h", "--help"}:
                    problems.append(f"tmuxkit {verb} {opt}: documented under {where} in docs/cli.md, but the "
                                    f"code does not accept it: remove it".replace("tmuxkit  ", "tmuxkit "))
    for verb in sorted(set(sections) - set(verbs)):
        problems.append(f"tmuxkit {verb}: docs/cli.md has a section for it, but the code has no such verb: remove it")
    return problems


def test_every_verb_and_option_is_documented_and_nothing_documented_is_unknown() -> None:
    problems = option_problems(code_verbs(), cli_sections())
    assert not problems, "\n".join(problems)


def test_a_new_verb_or_option_fails_naming_itself_and_where_it_belongs() -> None:
    verbs = code_verbs()
    verbs["start"] = verbs["start"] | {"--on-nan"}
    verbs["frobnicate"] = {"--to"}
    del verbs["gpus"]
    assert option_problems(verbs, cli_sections()) == [
        "tmuxkit frobnicate: a verb of the code with no '## tmuxkit frobnicate' section in docs/cli.md: add one (its "
        "options as '- `--opt`: what it does (default: ...)')",
        "tmuxkit start --on-nan: an option of the code, not documented: add '- `--on-nan`: what it does "
        "(default: ...)' under '## tmuxkit start' in docs/cli.md",
        "tmuxkit gpus: docs/cli.md has a section for it, but the code has no such verb: remove it"]


def console_blocks(page: Path) -> list[tuple[int, str, str]]:
    """(line number, info string, body) of each ```console block of PAGE."""
    blocks = []
    for m in re.finditer(r"^```(console[^\n]*)\n(.*?)^```\s*$", page.read_text(), re.M | re.S):
        blocks.append((page.read_text()[:m.start()].count("\n") + 1, m.group(1).strip(), m.group(2)))
    return blocks


def test_console_examples_use_only_verbs_and_options_the_code_knows() -> None:
    """Nothing documented is unknown: every `$ tmuxkit ...` line of every console block (runnable or not)
    names a real verb and real options of it."""
    verbs = code_verbs()
    problems = []
    for page in PAGES:
        for lineno, _info, body in console_blocks(page):
            for i, line in enumerate(body.splitlines()):
                if not line.startswith("$ tmuxkit"):
                    continue
                words = shlex.split(line[2:], comments=True)
                if "--" in words:
                    words = words[:words.index("--")]
                verb = next((w for w in words[1:] if not w.startswith("-")), "")
                if verb and verb not in verbs:
                    problems.append(f"{page.relative_to(ROOT)}:{lineno + 1 + i}: no verb {verb!r}: {line}")
                    continue
                for w in words[1:]:
                    opt = w.split("=", 1)[0]
                    if opt.startswith("-") and opt not in verbs[verb] | verbs[""] | {"-h", "--help"}:
                        problems.append(f"{page.relative_to(ROOT)}:{lineno + 1 + i}: tmuxkit {verb} has no "
                                        f"option {opt}: {line}")
    assert not problems, "\n".join(problems)


def test_links_between_the_pages_and_pictures_resolve() -> None:
    problems = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target:
                continue
            if not (page.parent / target).exists():
                problems.append(f"{page.relative_to(ROOT)}: link to {target}, which does not exist")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- runnable console blocks

RUNNABLE = "console runnable"


@dataclass
class Step:
    command: str
    expected: list[str]
    exit_code: int


def steps(body: str) -> list[Step]:
    """A block's commands ('$ ' lines) and the output shown under each; a last shown line '[exit N]'
    is the exit code it must end with (else 0)."""
    out: list[Step] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            out.append(Step(line[2:], [], 0))
        elif out:
            out[-1].expected.append(line)
    for s in out:
        while s.expected and not s.expected[-1].strip():
            s.expected.pop()
        m = re.fullmatch(r"\[exit (\d+)\]", s.expected[-1]) if s.expected else None
        if m:
            s.exit_code = int(m.group(1))
            s.expected.pop()
    return out


def _norm(line: str) -> str:
    return " ".join(line.split())


def matches(expected: list[str], actual: list[str]) -> bool:
    """ACTUAL shows what EXPECTED shows: a line '...' stands for any lines (none too), and '...' in a
    line for any text; runs of spaces count as one (table columns may widen)."""
    pats = [None if _norm(e) == "..." else re.compile(".*".join(re.escape(p) for p in _norm(e).split("...")))
            for e in expected]
    got = [_norm(a) for a in actual]
    memo: dict[tuple[int, int], bool] = {}

    def go(i: int, j: int) -> bool:
        if (i, j) not in memo:
            if i == len(pats):
                ok = j == len(got)
            elif pats[i] is None:
                ok = go(i + 1, j) or (j < len(got) and go(i, j + 1))
            else:
                pat = pats[i]
                ok = j < len(got) and pat is not None and bool(pat.fullmatch(got[j])) and go(i + 1, j + 1)
            memo[(i, j)] = ok
        return memo[(i, j)]

    return go(0, 0)


def test_the_matcher_elides_and_fails() -> None:
    assert matches(["started demo on local", "..."], ["started demo on local", "  a", "  b"])
    assert matches(["demo local running ..."], ["demo  local  running  9080  5s"])
    assert not matches(["demo local running ..."], ["demo  local  exited (0)"])
    assert not matches(["a", "b"], ["a"])
    assert [s.exit_code for s in steps("$ x\n[exit 3]\n$ y\nout\n")] == [3, 0]


def runnable_blocks() -> list[tuple[str, str]]:
    return [(f"{page.relative_to(ROOT)}:{lineno}", body) for page in PAGES
            for lineno, info, body in console_blocks(page) if info == RUNNABLE]


def runnable_pages() -> list[tuple[str, list[tuple[str, str]]]]:
    """Each page with runnable blocks, and its blocks in order: a page's blocks run one after the other
    in one sandbox, as a reader follows them (start in one block, stop in a later one)."""
    pages: dict[str, list[tuple[str, str]]] = {}
    for where, body in runnable_blocks():
        pages.setdefault(where.split(":")[0], []).append((where, body))
    return list(pages.items())


def test_there_are_runnable_blocks() -> None:
    assert any(where.startswith("README.md") for where, _ in runnable_blocks()), "README.md has no runnable block"


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("page", "blocks"), runnable_pages(), ids=[p for p, _ in runnable_pages()])
def test_runnable_console_blocks(page: str, blocks: list[tuple[str, str]], tmp_path: Path) -> None:
    home, work, bindir = tmp_path / "home", tmp_path / "work", tmp_path / "bin"
    for d in (home, work, bindir):
        d.mkdir()
    # `tmuxkit` as a user types it: this checkout's code, whichever python runs the tests.
    (bindir / "tmuxkit").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m tmuxkit "$@"\n')
    (bindir / "tmuxkit").chmod(0o755)
    socket = f"tkdoc-{uuid.uuid4().hex[:10]}"
    drop = ("TMUX", "TMUX_PANE", "TMUXKIT_CONFIG", "TMUXKIT_EARLY_WAIT", "TMUXKIT_HOME", "XDG_CONFIG_HOME",
            "TMUXKIT_DEMO_DELAY", "TMUXKIT_DEMO_STEPS")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(HOME=str(home), TMUXKIT_HOME=str(home / ".tmuxkit"), TMUXKIT_SOCKET=socket, NO_COLOR="1",
               PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}", PYTHONPATH=str(ROOT), COLUMNS="200")
    where = page
    try:
        for where, body in blocks:
            for s in steps(body):
                r = subprocess.run(["bash", "-c", s.command], cwd=work, env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
                actual = r.stdout.rstrip("\n").splitlines()
                assert r.returncode == s.exit_code and matches(s.expected, actual), (
                    f"{where}: $ {s.command}\nexit {r.returncode} (the block wants {s.exit_code})\n"
                    "--- the block shows:\n" + "\n".join(s.expected) + "\n--- it printed:\n" + "\n".join(actual))
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, env=env)
        for pid in socket_pids(socket):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while socket_pids(socket) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not socket_pids(socket), f"{where}: processes left behind: {socket_pids(socket)}"


@pytest.mark.timeout(180)
def test_the_pictures_script_makes_them_from_the_demo(tmp_path: Path) -> None:
    """docs/make-pictures still works (so the README's pictures can always be made again): status as a
    terminal shows the demo, with its progress and loss sparkline, as SVG; the loss plot as PNG."""
    pytest.importorskip("matplotlib", reason="the plot extra is not installed (pip install 'tmuxkit[plot]')")
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUXKIT_SOCKET")}
    env["TMUXKIT_DEMO_DELAY"] = "0.25"  # the demo in 10 s, not 40 (its steps and pictures are the same)
    r = subprocess.run([sys.executable, str(DOCS / "make-pictures"), "--out", str(tmp_path)], env=env,
                       capture_output=True, text=True, timeout=170)
    assert r.returncode == 0, r.stdout + r.stderr
    svg = (tmp_path / "status.svg").read_text()
    assert "<svg" in svg and "demo" in svg and "loss" in svg
    assert any(c in svg for c in "▁▂▃▄▅▆▇█"), "no loss sparkline in the status picture"
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("status.svg", "plot.png"):
        assert (DOCS / "pictures" / name).stat().st_size > 0, f"docs/pictures/{name}: run docs/make-pictures"
