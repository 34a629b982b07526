"""The command line: parse, call the core, print, map errors to exit codes."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

from tmuxkit import __version__
from tmuxkit.codes import ExitCode
from tmuxkit.config import check_run_name
from tmuxkit.errors import TmuxkitError, UsageError


def _say(msg: str) -> None:
    print(msg, flush=True)


def _err(msg: str) -> None:
    print(f"tmuxkit: {msg}", file=sys.stderr, flush=True)


def _ago(seconds: object) -> str:
    if not isinstance(seconds, int):
        return "-"
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """rich on a terminal (NO_COLOR respected by rich); plain aligned text otherwise."""
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        t = Table(title=title, title_justify="left", box=None, header_style="bold")
        for c in columns:
            t.add_column(c, overflow="fold" if c == "LAST LINE" else "ellipsis")
        for r in rows:
            t.add_row(*r)
        Console().print(t)
        return
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths[:-1]) + "  {}"
    print(fmt.format(*columns))
    for r in rows:
        print(fmt.format(*r))


def _attach_hint(info: dict[str, str], host: str) -> str:
    sock = info.get("socket") or ""
    tmux = f"tmux -L {sock}" if sock else "tmux"
    prefix = f"ssh -t {host} " if host != "local" else ""
    return f"{prefix}{tmux} attach -t {info.get('session', '')}"


# --- commands ------------------------------------------------------------------
def cmd_start(config_path: str | None, run: str, host: str | None, cwd: str | None, results: str | None,
              env: Sequence[str], command: Sequence[str], with_sync: bool = False, with_watch: bool = False) -> int:
    from tmuxkit import config as cfg
    from tmuxkit import runs
    from tmuxkit.hosts import connect

    conf = cfg.load(config_path)
    env_over = None
    if env:
        base = dict(conf.runs[run].env) if run in conf.runs else {}
        for kv in env:
            k, sep, v = kv.partition("=")
            if not sep or not k:
                raise UsageError(f"bad --env {kv!r}: want NAME=VALUE")
            base[k] = v
        env_over = base
    spec = runs.resolve(conf, run, command, host=host, cwd=cwd, results=results, env=env_over)
    h = connect(conf.host(spec.host))
    try:
        started = runs.start(h, spec)
    finally:
        h.close()
    i = started.info
    if i.get("note"):
        _say(f"note: {i['note']}")
    _say(f"started {i['run']} on {started.host}")
    _say(f"  session  {i['session']}")
    _say(f"  pid      {i.get('pid') or i.get('runner_pid')}")
    _say(f"  log      {i['log']}")
    _say(f"  results  {i['results']}")
    _say(f"  lock     {i['lock']}")
    _say(f"attach:  tmuxkit attach {run}    (or: {_attach_hint(i, started.host)})")
    _say(f"status:  tmuxkit status {run}    logs: tmuxkit logs {run} -f    stop: tmuxkit stop {run}")
    if with_watch:
        cmd_watch(config_path, run, True, None, None, None, 30)
    if with_sync:
        from tmuxkit import sync

        cfg_path = str(conf.path) if conf.path else None
        name = sync.start_loop_session(cfg_path, run, str(conf.base_dir))
        _say(f"sync:    every {spec.sync_every}s into {sync.sync_dir(conf, spec)} (local tmux session {name})")
    return 0


def cmd_sync(config_path: str | None, run: str, once: bool, every: int | None, to: str | None,
             include: Sequence[str], checkpoints: int | None) -> int:
    from tmuxkit import config as cfg
    from tmuxkit import runs, sync

    conf = cfg.load(config_path)
    spec = conf.runs.get(run) or cfg.RunSpec(name=cfg.check_run_name(run))
    h = runs.host_for_run(conf, run)
    return sync.run_loop(conf, spec, h, once=once, every=every, to=to, include=tuple(include), checkpoints=checkpoints,
                         say=_say)


def cmd_status(config_path: str | None, names: Sequence[str], as_json: bool, timeout: float) -> int:
    from tmuxkit import config as cfg
    from tmuxkit import runs, sync
    from tmuxkit.hosts import Host, connect

    conf = cfg.load(config_path)
    asks: list[tuple[Host, Sequence[str]]]
    if names:
        by_host: dict[str, list[str]] = {}
        for n in names:
            by_host.setdefault(runs.host_name_for_run(conf, n), []).append(n)
        asks = [(connect(conf.host(h)), ns) for h, ns in by_host.items()]
    else:
        asks = [(connect(spec), []) for spec in conf.all_hosts()]
    results = runs.status_all(asks, timeout)
    sync.add_health(conf, results)
    if as_json:
        out = [r for s in results for r in s.runs]
        out += [{"host": s.host, "state": "unreachable", "error": s.error} for s in results if s.error]
        print(json.dumps(out, indent=2))
        return 0
    rows = []
    for s in results:
        if s.error:
            rows.append(["-", s.host, f"unreachable ({s.error})", "", "", "", "", ""])
        for r in s.runs:
            state = str(r["state"])
            if state in ("exited", "stopped") and r.get("exit_code") is not None:
                state += f" ({r['exit_code']})"
            if r.get("stop_rung"):
                state += f" [{r['stop_rung']}]"
            if r.get("state") == "failed":
                state += " (restart budget spent)"
            if r.get("last_event"):
                state += f" [{r['last_event']}, {r.get('restarts', 0)} restarts]"
            if r.get("writer") in ("dead", "repiped"):
                state += " log writer re-attached"
            sync_info = r.get("sync")
            if isinstance(sync_info, dict):
                last = sync_info.get("last_success")
                state += f" sync:{_ago(int(time.time() - last)) + ' ago' if last else 'never'}"
                if sync_info.get("last_error"):
                    state += " (failing)"
            rows.append([str(r["run"]), s.host, state, str(r.get("pid") or "-"), _ago(r.get("uptime_s")),
                         _ago(r.get("log_age_s")), str(r.get("lock_state", "")), str(r.get("last_line") or "")[:100]])
    if not rows:
        _say("no runs")
        return 0
    _table("tmuxkit runs", ["RUN", "HOST", "STATE", "PID", "UPTIME", "LOG AGE", "LOCK", "LAST LINE"], rows)
    return 0


def cmd_watch(config_path: str | None, run: str, auto_resume: bool, stuck_after: int | None,
              gpu_idle_below: int | None, gpu_idle_for: int | None, every: int) -> int:
    from tmuxkit import config as cfg
    from tmuxkit import runs, watch

    conf = cfg.load(config_path)
    spec = conf.runs.get(run) or cfg.RunSpec(name=cfg.check_run_name(run))
    h = runs.host_for_run(conf, run)
    info = watch.start(h, spec, auto_resume=auto_resume, every=every, stuck_after=stuck_after,
                       gpu_idle_below=gpu_idle_below, gpu_idle_for=gpu_idle_for)
    mode = "watching and resuming" if auto_resume else "watching"
    _say(f"{mode} {run} on {h.name}: tmux session {info.get('session')} there; events: tmuxkit events {run} -f")
    if spec.notify:
        name = runs.start_helper_session(f"{run}-events", [*(["--config", str(conf.path)] if conf.path else []),
                                                          "events", run, "-f"], str(conf.base_dir))
        _say(f"notifications: {len(spec.notify)} target(s), sent from this machine (local tmux session {name})")
    return 0


def cmd_events(config_path: str | None, run: str, as_json: bool, follow: bool) -> int:
    from tmuxkit import config as cfg
    from tmuxkit import runs, watch

    conf = cfg.load(config_path)
    spec = conf.runs.get(run) or cfg.RunSpec(name=cfg.check_run_name(run))
    notify = watch.Notifier(run, spec.notify)
    for i, ev in enumerate(watch.events(runs.host_for_run(conf, run), run, follow)):
        _say(json.dumps(ev) if as_json else watch.describe(ev))
        notify(ev, i)
    return 0


def cmd_stop(config_path: str | None, run: str, grace: int) -> int:
    from tmuxkit import config as cfg
    from tmuxkit import runs

    conf = cfg.load(config_path)
    h = runs.host_for_run(conf, run)
    r = runs.stop(h, run, grace)
    if r.get("state") == "not_running":
        _say(f"{run} is not running on {h.name} ({r.get('detail', 'ended')}); nothing to stop")
        return 0
    _say(f"stopped {run} on {h.name} at rung {r.get('rung')} ({_RUNGS.get(r.get('rung', ''), '')}); lock released")
    return 0


_RUNGS = {"sigint": "Ctrl-C: it saved and exited", "sigterm": "SIGTERM after the grace period",
          "sigkill": "SIGKILL after SIGTERM was ignored"}


def cmd_cleanup(config_path: str | None, dry_run: bool) -> int:
    from tmuxkit import config as cfg
    from tmuxkit import runs
    from tmuxkit.hosts import connect

    conf = cfg.load(config_path)
    found = 0
    for spec in conf.all_hosts():
        for r in runs.cleanup(connect(spec), dry_run):
            found += 1
            action = "would fix" if dry_run and r["action"] == "reported" and r["kind"] != "stuck" else r["action"]
            _say(f"{r['host']}: {r['kind']:<12} {r['run']}: {r['detail']} -> {action}")
    if not found:
        _say("nothing to clean up")
    return 0


def cmd_logs(config_path: str | None, run: str, lines: int, follow: bool) -> int:
    from tmuxkit import config as cfg
    from tmuxkit import runs

    conf = cfg.load(config_path)
    return runs.logs(runs.host_for_run(conf, run), run, lines, follow)


def cmd_attach(config_path: str | None, run: str | None) -> int:
    from tmuxkit import config as cfg
    from tmuxkit import runs
    from tmuxkit.hosts import connect

    conf = cfg.load(config_path)
    if run:
        h = runs.host_for_run(conf, run)
        target = runs.status_on(h, [run]).runs[0]
    else:
        hosts = {spec.name: connect(spec) for spec in conf.all_hosts()}
        live = runs.alive_runs(runs.status_all([(h, ()) for h in hosts.values()]))
        if not live:
            raise TmuxkitError("no running run to attach to (see: tmuxkit status)", ExitCode.NOT_FOUND)
        if len(live) > 1:
            names = ", ".join(f"{r['run']} ({r['host']})" for r in live)
            raise UsageError(f"several runs are running: {names}; name one: tmuxkit attach RUN")
        target = live[0]
        h = hosts[str(target["host"])]
    h.exec_interactive(runs.attach_argv(h, target))
    return 0  # pragma: no cover


def cmd_install(config_path: str | None, host: str) -> int:
    from tmuxkit import config as cfg
    from tmuxkit.hosts import connect

    h = connect(cfg.load(config_path).host(host))
    if h.name == cfg.LOCAL:
        from tmuxkit.hosts import shell_dir

        _say(f"local: the scripts are in {shell_dir()}; nothing to install")
        return 0
    where = h.install()  # type: ignore[attr-defined]
    _say(f"installed tmuxkit's host scripts on {host} in {where}")
    writer = getattr(h, "log_writer", "")
    _say(f"pane log writer there: {writer}" + (" (batched writes)" if writer == "python3" else
                                                " (no python3 3.6+ on the host)"))
    _say(f"run by hand there: {where}/check_training_status.sh")
    return 0


def cmd_init(path: str) -> int:
    from tmuxkit.config import EXAMPLE

    if os.path.lexists(path):
        raise TmuxkitError(f"{path} already exists; not overwriting it")
    with open(path, "x") as f:
        f.write(EXAMPLE)
    _say(f"wrote {path}: edit [runs.kssm_v3], then: tmuxkit start kssm_v3")
    return 0


# --- parsing -------------------------------------------------------------------
def _positive(v: str) -> int:
    try:
        n = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {v!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {v!r}")
    return n


def _duration(v: str) -> int:
    from tmuxkit.config import parse_duration

    try:
        return parse_duration(v)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog.split()[-1]}: {message}")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="tmuxkit", description="Training runs in tmux sessions, on this machine or over SSH.")
    p.add_argument("--version", action="version", version=f"tmuxkit {__version__}")
    p.add_argument("--config", metavar="PATH", help="config file (default: $TMUXKIT_CONFIG, else ./tmuxkit.toml)")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    s = sub.add_parser("start", help="start a run in a detached tmux session",
                       usage="tmuxkit start RUN [--host H] [--cwd DIR] [--results DIR] [--env K=V]... [-- CMD ARG...]")
    s.add_argument("run")
    s.add_argument("--host")
    s.add_argument("--cwd")
    s.add_argument("--results")
    s.add_argument("--env", action="append", default=[], metavar="K=V")
    s.add_argument("--sync", action="store_true", help="also start the result sync loop (local tmux session RUN-sync)")
    s.add_argument("--watch", action="store_true", help="also start its watchdog with auto-resume (RUN-watch on the host)")

    w = sub.add_parser("watch", help="watch a run on its host: stuck, crashed, GPU idle; resume from a checkpoint")
    w.add_argument("run")
    w.add_argument("--auto-resume", action="store_true")
    w.add_argument("--stuck-after", type=_duration, metavar="DUR")
    w.add_argument("--gpu-idle-below", type=_positive, metavar="PCT")
    w.add_argument("--gpu-idle-for", type=_duration, metavar="DUR")
    w.add_argument("--every", type=_duration, default=30, metavar="DUR")

    ev = sub.add_parser("events", help="a run's watchdog events")
    ev.add_argument("run")
    ev.add_argument("--json", action="store_true")
    ev.add_argument("-f", action="store_true", dest="follow")

    sy = sub.add_parser("sync", help="pull a run's results, logs and checkpoints; repeat until it ends")
    sy.add_argument("run")
    sy.add_argument("--once", action="store_true")
    sy.add_argument("--every", type=_duration, metavar="SECONDS")
    sy.add_argument("--to", metavar="DIR")
    sy.add_argument("--include", action="append", default=[], metavar="PATTERN")
    sy.add_argument("--checkpoints", type=_positive, metavar="N")

    a = sub.add_parser("attach", help="attach to a run's tmux session")
    a.add_argument("run", nargs="?")

    st = sub.add_parser("status", help="state of runs on every host")
    st.add_argument("runs", nargs="*")
    st.add_argument("--json", action="store_true")
    st.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS", help="per host (default 10)")

    lg = sub.add_parser("logs", help="print (and follow) a run's log")
    lg.add_argument("run")
    lg.add_argument("-n", type=_positive, default=20, dest="lines")
    lg.add_argument("-f", action="store_true", dest="follow")

    sp = sub.add_parser("stop", help="stop a run: Ctrl-C, then SIGTERM, then SIGKILL")
    sp.add_argument("run")
    sp.add_argument("--grace", type=_positive, default=60, metavar="SECONDS")

    c = sub.add_parser("cleanup", help="fix stale locks, dead sessions, orphans, dead log writers")
    c.add_argument("--dry-run", action="store_true")

    ins = sub.add_parser("install", help="copy the host scripts to HOST's $TMUXKIT_HOME/bin")
    ins.add_argument("host")

    i = sub.add_parser("init", help="write a commented example tmuxkit.toml")
    i.add_argument("path", nargs="?", default="tmuxkit.toml")
    return p


def dispatch(args: argparse.Namespace) -> int:
    if args.cmd == "start":
        return cmd_start(args.config, args.run, args.host, args.cwd, args.results, args.env, args.command, args.sync,
                         args.watch)
    if args.cmd == "watch":
        return cmd_watch(args.config, args.run, args.auto_resume, args.stuck_after, args.gpu_idle_below,
                         args.gpu_idle_for, args.every)
    if args.cmd == "events":
        return cmd_events(args.config, args.run, args.json, args.follow)
    if args.cmd == "sync":
        return cmd_sync(args.config, args.run, args.once, args.every, args.to, args.include, args.checkpoints)
    if args.cmd == "status":
        return cmd_status(args.config, args.runs, args.json, args.timeout)
    if args.cmd == "stop":
        return cmd_stop(args.config, args.run, args.grace)
    if args.cmd == "cleanup":
        return cmd_cleanup(args.config, args.dry_run)
    if args.cmd == "logs":
        return cmd_logs(args.config, args.run, args.lines, args.follow)
    if args.cmd == "attach":
        return cmd_attach(args.config, args.run)
    if args.cmd == "install":
        return cmd_install(args.config, args.host)
    if args.cmd == "init":
        return cmd_init(args.path)
    raise UsageError(f"unknown command {args.cmd!r}")  # pragma: no cover


_START_FLAGS = {"-h", "--help", "--host", "--cwd", "--results", "--env", "--sync", "--watch"}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after the first "--" is the run's command, untouched by option parsing.
    command: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, command = argv[:cut], argv[cut + 1 :]
    try:
        if argv[:1] == ["start"] and len(argv) > 1 and argv[1].startswith("-") and argv[1] not in _START_FLAGS:
            check_run_name(argv[1])  # "-x" is a bad run name, not an unknown flag
        args = build_parser().parse_args(argv)
        if command and args.cmd != "start":
            raise UsageError(f"{args.cmd}: '--' is only for start's command")
        args.command = command
        return dispatch(args)
    except TmuxkitError as e:
        _err(e.message)
        return int(e.code)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
