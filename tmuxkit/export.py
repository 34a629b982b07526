"""tmuxkit export RUN --to sbatch|skypilot: a run of tmuxkit.toml, whatever its host, as a
standalone Slurm batch script (bash alone; no tmuxkit on the cluster) or a SkyPilot task YAML.

Neither ever holds a value of the run's env: any of them may be a secret. The script reads them
at run time from the environment (sbatch passes the submitter's on) or from a 0600 file.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from tmuxkit import __version__
from tmuxkit.config import Config, RunSpec
from tmuxkit.contract import Defaults
from tmuxkit.hosts import slurm_args
from tmuxkit.resources import time_seconds

LEAD = 300  # seconds of warning before the time limit (at most a third of it): the trainer saves
FORMATS = ("sbatch", "skypilot")


def _q(s: str) -> str:
    return shlex.quote(s)


def _resources(conf: Config, run: RunSpec) -> dict[str, Any]:
    return slurm_args.run_resources(conf.host(run.host), run)


def sbatch_script(conf: Config, run: RunSpec, lead: int | None = None) -> str:
    """The batch script (see _BODY for what it does)."""
    res = _resources(conf, run)
    # --lead, else the run's time_limit_lead, else LEAD; at most a third of the time limit
    lead = slurm_args.signal_lead(res, lead if lead is not None else int(res.get("time_limit_lead") or LEAD))
    sbatch = [f"--job-name={run.name}", "--output=slurm-%x-%j.out", "--open-mode=append", "--requeue",
              f"--signal=B:INT@{lead}", *slurm_args.options(res)]
    # A local run's cwd is a path on this machine: the cluster has its own (sbatch's directory).
    cwd = run.cwd if run.cwd and conf.host(run.host).name != "local" else ""
    vars_ = {
        "RUN": run.name,
        "CMD": run.command_line(),
        "RESULTS": run.results or f"results/{run.name}",
        "WORKDIR": cwd,
        "RESUME": run.resume or "",
        "CKPT_GLOB": run.checkpoints or "",
        "CKPT_CHECK": run.checkpoint_check or "",
        "LEAD": str(lead),
        "GRACE": str(Defaults.GRACE),
        "RANKS": "1" if slurm_args.ranks(res) else "0",
    }
    lines = [
        "#!/usr/bin/env bash",
        "# shellcheck disable=SC2016  # the run's command is kept as written, for bash -c",
        f"# {run.name}: written by `tmuxkit export {run.name} --to sbatch` (tmuxkit {__version__}).",
        "# Standalone: bash and the Slurm client only. Submit it with `sbatch FILE` from the directory",
        "# the run's paths are relative to; `bash FILE` runs it here in the foreground (no Slurm, no requeue).",
        "# The log is RESULTS/tmuxkit/RUN.log; Slurm's own messages go to slurm-RUN-JOBID.out.",
        "# Secrets: no value of the run's env is written here. Each name in ENV_NAMES is read at run time",
        "# from the environment (sbatch passes yours on), else from $TMUXKIT_ENV_FILE (default",
        f"# ~/.config/tmuxkit/{run.name}.env): NAME=VALUE lines, a file of yours with mode 0600.",
        *(f"#SBATCH {a}" for a in sbatch),
        "",
        *(f"{k}={_q(v)}" for k, v in vars_.items()),
        "ENV_NAMES=(" + " ".join(_q(k) for k in run.env) + ")",
        _BODY,
    ]
    return "\n".join(lines)


_BODY = r'''
set -u
ME=tmuxkit-export
die() { # die CODE MESSAGE: one line on stderr, and the exit code
  printf '%s: %s: %s\n' "$ME" "$RUN" "$2" >&2
  exit "$1"
}
# shellcheck disable=SC2088  # a literal "~" is what is matched
tilde() { case $1 in "~") printf '%s' "$HOME" ;; "~/"*) printf '%s/%s' "$HOME" "${1#"~/"}" ;; *) printf '%s' "$1" ;; esac; }
pstart() { ps -o lstart= -p "$1" 2>/dev/null | awk '{ $1 = $1; print }'; }
if [ -n "$WORKDIR" ]; then
  WORKDIR=$(tilde "$WORKDIR")
  cd "$WORKDIR" 2>/dev/null || die 2 "working directory does not exist: $WORKDIR"
fi

# --- the run's environment: from the environment, else the 0600 file; never from this script ---
load_env() {
  local f=${TMUXKIT_ENV_FILE:-$HOME/.config/tmuxkit/$RUN.env} name line need=0 missing='' mode
  for name in ${ENV_NAMES[@]+"${ENV_NAMES[@]}"}; do [ -n "${!name+x}" ] || need=1; done
  if [ "$need" = 1 ] && { [ -e "$f" ] || [ -L "$f" ]; }; then
    [ ! -L "$f" ] || die 2 "env file is a symlink, not read: $f"
    if [ ! -f "$f" ] || [ ! -O "$f" ]; then die 2 "env file is not a file of yours: $f"; fi
    # shellcheck disable=SC2012  # the mode of one named file
    mode=$(ls -ln "$f" | cut -c 1-10)
    case $mode in -rw------- | -r--------) ;; *) die 2 "env file $f is $mode; it holds secrets: chmod 600 $f" ;; esac
    while IFS= read -r line || [ -n "$line" ]; do
      case $line in '' | '#'*) continue ;; *=*) ;; *) die 2 "env file $f: a line without NAME=" ;; esac
      name=${line%%=*}
      case $name in '' | [0-9]* | *[!A-Za-z0-9_]*) die 2 "env file $f: bad variable name: $name" ;; esac
      [ -n "${!name+x}" ] || export "$name=${line#*=}"
    done <"$f"
  fi
  for name in ${ENV_NAMES[@]+"${ENV_NAMES[@]}"}; do
    if [ -n "${!name+x}" ]; then export "${name?}"; else missing="$missing $name"; fi
  done
  [ -z "$missing" ] || die 2 "not set:$missing (export it before sbatch, or put NAME=VALUE lines in $f, mode 0600)"
}
load_env

# --- the results directory, its lock (one run per results directory) and the log ---
RESULTS=$(tilde "$RESULTS")
case $RESULTS in /*) ;; *) RESULTS=$PWD/$RESULTS ;; esac
mkdir -p "$RESULTS/tmuxkit" 2>/dev/null || die 2 "cannot create $RESULTS/tmuxkit"
[ ! -L "$RESULTS/tmuxkit" ] || die 5 "$RESULTS/tmuxkit is a symlink; refusing"
LOCK=$RESULTS/.tmuxkit.lock LOG=$RESULTS/tmuxkit/$RUN.log EXITF=$RESULTS/tmuxkit/$RUN.exit
RESUMED=$RESULTS/tmuxkit/$RUN.resumed
# Never through a link: a symlink (or anything but a file) at the lock, the log or a state file is
# refused before anything is written, and each state file is written whole beside itself, then
# renamed over the path (a rename replaces a link planted since, never writes where it points).
NL=$'\n'
no_link() { # PATH...: each is absent or a regular file, not a symlink
  local f
  for f in "$@"; do
    [ ! -L "$f" ] || die 5 "$f is a symlink; refusing to write through it"
    [ ! -e "$f" ] || [ -f "$f" ] || die 5 "$f is not a regular file; refusing it"
  done
}
put() { # FILE TEXT: FILE holds TEXT, written whole (a temp file beside it, renamed over it)
  local t
  no_link "$1"
  t=$(mktemp "$RESULTS/tmuxkit/.tmuxkit-put.XXXXXX") || die 1 "cannot write in $RESULTS/tmuxkit"
  if printf '%s' "$2" >"$t" && mv -f "$t" "$1"; then return 0; fi
  rm -f "$t"
  die 1 "cannot write $1"
}
no_link "$LOCK" "$LOG" "$EXITF" "$RESUMED"
HOST=$(hostname 2>/dev/null || uname -n)
SESSION=slurm:${SLURM_JOB_ID:-} START=$(pstart $$)
[ -n "${SLURM_JOB_ID:-}" ] || SESSION=export:$$
lock_field() { sed -n "s/^$1=//p" "$LOCK" 2>/dev/null | head -n 1; }
lock_stale() { # the lock's owner is gone: our own job's earlier attempt, a dead pid here, an ended job
  local pid host session job out
  pid=$(lock_field pid) host=$(lock_field host) session=$(lock_field session)
  [ -n "$pid" ] || return 1
  if [ -n "${SLURM_JOB_ID:-}" ] && [ "$session" = "slurm:$SLURM_JOB_ID" ]; then return 0; fi
  if [ "$host" = "$HOST" ]; then
    kill -0 "$pid" 2>/dev/null || return 0
    # tmuxkit's own locks record the start as t:TICKS or u:UTC-DATE, which this script cannot
    # compare: their owner lives, so the lock is live (never taken from a live run).
    case $(lock_field start) in t:* | u:*) return 1 ;; esac
    [ "$(pstart "$pid")" = "$(lock_field start)" ] || return 0
    return 1
  fi
  case $session in slurm:[0-9]*) job=${session#slurm:} ;; *) return 1 ;; esac
  case $job in *[!0-9_]*) return 1 ;; esac
  command -v squeue >/dev/null 2>&1 || return 1
  out=$(squeue -h -j "$job" -o %T 2>&1) || { case $out in *"Invalid job id"*) return 0 ;; esac; return 1; }
  [ -z "$out" ]
}
take_lock() {
  local tries=0
  while :; do
    no_link "$LOCK"
    if (set -C && printf 'pid=%s\nstart=%s\nhost=%s\nrun=%s\nsession=%s\nrun_id=%s\ncreated=%s\n' \
      "$$" "$START" "$HOST" "$RUN" "$SESSION" "${SLURM_JOB_ID:-$$}" "$(date +%s)" >"$LOCK") 2>/dev/null; then
      return 0
    fi
    [ ! -L "$LOCK" ] || die 5 "the results lock is a symlink; refusing: $LOCK"
    [ -f "$LOCK" ] || die 5 "the results lock is not a file: $LOCK"
    if [ "$tries" -lt 3 ] && lock_stale; then
      if mkdir "$LOCK.reclaim" 2>/dev/null; then
        ! lock_stale || rm -f "$LOCK"
        rmdir "$LOCK.reclaim"
      fi
      tries=$((tries + 1))
      continue
    fi
    die 3 "results directory $RESULTS is locked by run $(lock_field run) (pid $(lock_field pid) on $(lock_field host), $(lock_field session)); one run per results directory"
  done
}
# shellcheck disable=SC2317  # called from a trap
release() { [ "$(lock_field pid)" = "$$" ] && [ "$(lock_field session)" = "$SESSION" ] && rm -f "$LOCK"; }
take_lock
trap 'release || true' EXIT
no_link "$LOCK" "$LOG"
exec >>"$LOG" 2>&1

# --- resume: the newest complete checkpoint (a simpler form of tmuxkit's rules) ---
candidates() { # NUL-separated: the run's checkpoints glob, else the usual layouts under RESULTS
  local p
  if [ -n "$CKPT_GLOB" ]; then
    # shellcheck disable=SC2086  # the glob is meant to expand
    for p in $CKPT_GLOB; do [ -e "$p" ] && printf '%s\0' "$p"; done
  else
    find "$RESULTS" -maxdepth 4 \( -path '*/ckpt/*' -o -path '*/checkpoints/*' -o -name 'checkpoint-*' \
      -o -name '*-state' -o -name '*.ckpt' \) -prune -print0 2>/dev/null
  fi
}
complete() { # a finished checkpoint: not a temp or hidden name, not empty, an HF one written out
  local p=$1 b=${1##*/}
  case $b in .* | *.tmp | *.partial | *.incomplete | *~) return 1 ;; esac
  if [ -d "$p" ]; then
    [ -n "$(ls -A "$p" 2>/dev/null)" ] || return 1
    case $b in checkpoint-[0-9]*) [ -f "$p/trainer_state.json" ] || return 1 ;; esac
  else
    [ -s "$p" ] || return 1
  fi
  [ -z "$CKPT_CHECK" ] || sh -c "$CKPT_CHECK \"\$1\"" sh "$p" >/dev/null 2>&1
}
newest_checkpoint() {
  local p
  local -a all=()
  set -f
  while IFS= read -r -d '' p; do
    case $p in *$'\n'*) continue ;; esac
    all+=("$p")
  done < <(set +f && candidates)
  set +f
  [ ${#all[@]} -gt 0 ] || return 0
  # shellcheck disable=SC2012  # names with a newline were left out above
  ls -dt -- "${all[@]}" 2>/dev/null | while IFS= read -r p; do
    if complete "$p"; then printf '%s\n' "$p"; break; fi
  done
}
RESTARTS=${SLURM_RESTART_COUNT:-0}
case $RESTARTS in '' | *[!0-9]*) RESTARTS=0 ;; esac
FROM=''
if [ "$RESTARTS" -gt 0 ] && [ -n "$RESUME" ]; then
  FROM=$(newest_checkpoint)
  if [ -n "$FROM" ]; then
    q="'$(printf '%s' "$FROM" | sed "s/'/'\\\\''/g")'" t=$RESUME add=''
    while :; do
      case $t in
      *"{checkpoint}"*) add=$add${t%%"{checkpoint}"*}$q t=${t#*"{checkpoint}"} ;;
      *) add=$add$t && break ;;
      esac
    done
    CMD="$CMD $add"
    echo "$ME: restart $RESTARTS of job ${SLURM_JOB_ID:-?}: resuming from $FROM"
  else
    echo "$ME: restart $RESTARTS of job ${SLURM_JOB_ID:-?}: no complete checkpoint; starting afresh"
  fi
fi
put "$RESUMED" "$FROM$NL"
export TMUXKIT_RUN=$RUN TMUXKIT_RUN_ID=${SLURM_JOB_ID:-$$} TMUXKIT_RESULTS=$RESULTS PYTHONUNBUFFERED=1

# --- the trainer, with every signal forwarded; Ctrl-C (B:INT) before the time limit ---
CHILD='' GOT=''
# shellcheck disable=SC2317  # called from traps
forward() {
  GOT=$1
  [ -n "$CHILD" ] || return 0
  if [ "$RANKS" = 1 ] && [ -n "${SLURM_JOB_ID:-}" ]; then
    scancel --signal="$1" "$SLURM_JOB_ID" 2>/dev/null || true # every rank's step, not this shell
  else
    kill -s "$1" -- "-$CHILD" 2>/dev/null || kill -s "$1" "$CHILD" 2>/dev/null || true
  fi
}
for s in INT TERM USR1 USR2 HUP; do
  # shellcheck disable=SC2064  # the signal's name, now
  trap "forward $s" "$s"
done
set -m
if [ "$RANKS" = 1 ] && [ -n "${SLURM_JOB_ID:-}" ]; then
  srun --kill-on-bad-exit=1 bash -c "$CMD" &
else
  bash -c "$CMD" &
fi
CHILD=$!
set +m
while :; do
  rc=0
  wait "$CHILD" || rc=$?
  kill -0 "$CHILD" 2>/dev/null || break
done
put "$EXITF" "$rc $(date +%s)$NL"

# --- requeue at the time limit (not at a user's stop, not when finished, never in a loop) ---
seconds() { # Slurm's [D-][HH:]MM:SS -> seconds; nothing for UNLIMITED
  local t=$1 d=0 h=0 m=0 s=0
  case $t in *-*) d=${t%%-*} t=${t#*-} ;; esac
  case $t in *:*:*) h=${t%%:*} t=${t#*:} ;; esac
  case $t in *:*) m=${t%%:*} s=${t#*:} ;; *) return 0 ;; esac
  case $d$h$m$s in *[!0-9]*) return 0 ;; esac
  echo $((10#$d * 86400 + 10#$h * 3600 + 10#$m * 60 + 10#$s))
}
if [ "$GOT" = INT ] && [ -n "${SLURM_JOB_ID:-}" ]; then
  left=$(seconds "$(squeue -h -j "$SLURM_JOB_ID" -o %L 2>/dev/null | head -n 1)")
  if [ -n "$left" ] && [ "$left" -le $((LEAD + GRACE)) ]; then
    now=$(newest_checkpoint)
    if [ -z "$RESUME" ]; then
      echo "$ME: time limit: the run has no resume command; not requeued"
    elif [ "$RESTARTS" -gt 0 ] && [ "$now" = "$FROM" ]; then
      echo "$ME: time limit: no newer complete checkpoint than the last resume (${FROM:-none}); not requeued, it would loop"
      exit 1
    elif scontrol requeue "$SLURM_JOB_ID"; then
      echo "$ME: time limit: requeued job $SLURM_JOB_ID; it resumes from ${now:-the start}"
      exit 0
    else
      echo "$ME: time limit: scontrol requeue $SLURM_JOB_ID failed"
    fi
  fi
fi
exit "$rc"
'''


def skypilot_yaml(conf: Config, run: RunSpec, accelerator: str = "A100") -> str:
    """A SkyPilot task: resources and accelerators, setup, run (with resume), workdir, env names
    (values never: SkyPilot asks for each at launch, --env NAME or --env-file), recovery."""
    res = _resources(conf, run)
    resources: dict[str, Any] = {}
    if res.get("gpus"):
        resources["accelerators"] = f"{accelerator}:{res['gpus']}"
    if res.get("cpus"):
        resources["cpus"] = f"{res['cpus']}+"
    if res.get("mem"):
        resources["memory"] = f"{_gigabytes(str(res['mem']))}+"
    resources["job_recovery"] = {"strategy": "FAILOVER", "max_restarts_on_errors": run.max_restarts}
    results = run.results or f"results/{run.name}"
    resume = ""
    if run.resume:
        pick = (f"ls -dt {run.checkpoints} 2>/dev/null | head -n 1" if run.checkpoints else
                f"ls -dt {_q(results)}/ckpt/* {_q(results)}/checkpoints/* {_q(results)}/checkpoint-* "
                "2>/dev/null | grep -v -e '\\.tmp$' -e '/\\.' | head -n 1")
        resume = (f"CKPT=$({pick})\n"
                  f'if [ -n "$CKPT" ]; then set -- {run.resume.replace("{checkpoint}", chr(34) + "$CKPT" + chr(34))}; '
                  'else set --; fi\n')
    command = f"{run.command_line()} \"$@\"" if resume else run.command_line()
    task: dict[str, Any] = {
        "name": run.name,
        "resources": resources,
        "envs": {k: None for k in run.env},
        "setup": "# what the cluster's machines need first (pip install -r requirements.txt, ...)\ntrue\n",
        "run": (f"mkdir -p {_q(results)}/tmuxkit\n"
                f"export TMUXKIT_RUN={_q(run.name)} TMUXKIT_RESULTS={_q(results)} PYTHONUNBUFFERED=1\n"
                f"{resume}{command} 2>&1 | tee -a {_q(results)}/tmuxkit/{run.name}.log\n"
                "exit ${PIPESTATUS[0]}\n"),
    }
    if res.get("nodes"):
        task["num_nodes"] = int(str(res["nodes"]).split("-")[0])
    if run.cwd and conf.host(run.host).name == "local":
        task["workdir"] = run.cwd
    elif conf.host(run.host).name == "local":
        task["workdir"] = "."
    if not task["envs"]:
        del task["envs"]
    header = (f"# {run.name}: written by `tmuxkit export {run.name} --to skypilot` (tmuxkit {__version__}).\n"
              "# sky jobs launch THIS.yaml (recovery on failure) or sky launch THIS.yaml. Env values are never\n"
              "# written here: give each at launch (--env NAME, or --env-file FILE of mode 0600).\n")
    if res.get("time"):
        header += f"# The run's time limit ({res['time']}) has no SkyPilot key; it is not enforced here.\n"
    return header + _yaml(task)


def _gigabytes(mem: str) -> int:
    n, unit = int(mem.rstrip("KMGTkmgt")), (mem[-1].upper() if mem[-1].isalpha() else "M")
    return max(1, -(-n * {"K": 1, "M": 1024, "G": 1024**2, "T": 1024**3}[unit] // 1024**2))


def _yaml(data: dict[str, Any], indent: int = 0) -> str:
    """A small YAML writer: JSON strings are YAML scalars; multi-line strings as literal blocks."""
    pad = "  " * indent
    out = []
    for k, v in data.items():
        if isinstance(v, dict):
            out.append(f"{pad}{k}:" + (" {}" if not v else ""))
            if v:
                out.append(_yaml(v, indent + 1).rstrip("\n"))
        elif isinstance(v, str) and "\n" in v:
            body = "".join(f"{pad}  {line}\n" if line else "\n" for line in v.rstrip("\n").split("\n"))
            out.append(f"{pad}{k}: |\n{body.rstrip(chr(10))}")
        elif v is None:
            out.append(f"{pad}{k}: null")
        else:
            out.append(f"{pad}{k}: {json.dumps(v)}")
    return "\n".join(out) + "\n"


def time_limit_seconds(conf: Config, run: RunSpec) -> int | None:
    t = _resources(conf, run).get("time")
    return time_seconds(t) if t else None
