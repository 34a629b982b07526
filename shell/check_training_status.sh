#!/usr/bin/env bash
# Summary: Show training processes, lock files, log activity, tmux sessions and tmuxkit runs on this host.
# Usage: check_training_status.sh [--root DIR]... [--pattern REGEX] [--stale-after SECONDS] [--json]
#        check_training_status.sh --runs-only [--json] [--cache] [--ended-within SECONDS] [RUN...]
#
# Standalone: copy this one file to any Mac or Linux box that has bash and run it.
# tmuxkit need not be installed there. Sections, as in the SOP:
#   [1] running training processes (matching --pattern, plus tmuxkit-marked ones)
#   [2] lock files (tmuxkit locks and training.lock), alive or stale, with a removal hint
#   [3] recent log activity (age and last 3 lines)
#   [4] tmux sessions
#   [5] tmuxkit runs (state, pid, log age, last line)
#
#   --root DIR         where to look for locks and logs; repeatable
#                      (default: $TMUXKIT_HOME, or ~/.tmuxkit, and ./results)
#   --pattern REGEX    extended regex for training processes (default: train)
#   --stale-after S    flag logs silent for S seconds as stale (default: 300)
#   --runs-only        only section [5], for the given runs (all when none given)
#   --json             one JSON object instead of text
#   --ended-within S   with --runs-only and no RUN: leave out runs that ended more than S seconds ago
#   --deadline S       end this report and all it started after S seconds (the caller gave up)
#   --cache            with --runs-only --json (tmuxkit's own calls): keep an ended run's answer in
#                      $TMUXKIT_HOME/runs/RUN/status.cache and reuse it while nothing of the run
#                      changes, so the cost of a call does not grow with the runs of the past
#
# Exit codes: 0 ok, 2 usage, 4 a named run does not exist.
# Reads only: without --cache it never creates or changes a file on the box it inspects.

# Built by shell/build from shell/report/status.bash and shell/lib/*.bash; do not edit.
# shellcheck disable=SC2034  # the libraries define more than the report reads
if [ -z "${BASH_VERSION:-}" ]; then
  echo "check_training_status.sh: needs bash" >&2
  exit 1
fi
set -euo pipefail
[ -z "${TMUXKIT_DEBUG:-}" ] || { PS4='+ ${BASH_SOURCE##*/}:${LINENO}: ' && set -x; }
# --- lib/contract.bash ---
# Generated from tmuxkit/contract.py by `python -m tmuxkit.contract`; do not edit.
# The facts the host scripts share with the Python layer. Sourcing it only sets variables.
# shellcheck disable=SC2034

# exit codes
EX_OK=0
EX_FAIL=1
EX_USAGE=2
EX_LOCKED=3
EX_NOT_FOUND=4
EX_BAD_LOCK=5
EX_UNREACHABLE=6
EX_PARTIAL=7
EX_NO_TOOL=127

# run states
ST_RUNNING=running
ST_STUCK=stuck
ST_EXITED=exited
ST_STOPPED=stopped
ST_DEAD=dead
ST_FAILED=failed
ST_PENDING=pending
ST_QUEUED=queued
ST_BLOCKED=blocked
ST_TIMEOUT=timeout

# stop rungs
RUNG_SIGINT=sigint
RUNG_SIGTERM=sigterm
RUNG_SIGKILL=sigkill

# log writer states
WR_ALIVE=alive
WR_DEAD=dead
WR_NONE=none
WR_REPIPED=repiped

# lock states
LS_FREE=free
LS_ALIVE=alive
LS_STALE=stale
LS_SYMLINK=symlink
LS_NOTFILE=notfile
LS_GARBAGE=garbage

# events
EV_STARTED=started
EV_STUCK=stuck
EV_EVIDENCE_SAVED=evidence_saved
EV_STOP_RUNG=stop_rung
EV_RESUMED=resumed
EV_RESUME_FAILED=resume_failed
EV_FINISHED=finished
EV_CRASHED=crashed
EV_STOPPED=stopped
EV_BUDGET_SPENT=budget_spent
EV_GPU_CHECKS_OFF=gpu_checks_off
EV_SYNCED=synced
EV_WRITER_REPIPED=writer_repiped
EV_WATCHDOG_ENDED=watchdog_ended
EV_WATCHDOG_DEAD=watchdog_dead
EV_RESTARTED=restarted
EV_CHECKPOINT_REJECTED=checkpoint_rejected
EV_CHECKPOINT_SKIPPED=checkpoint_skipped
EV_QUIET=quiet
EV_HOME_FULL=home_full
EV_REQUEUED=requeued
EV_QUEUE_REFUSED=queue_refused
EV_BLOCKED=blocked
EV_NAN_LOSS=nan_loss
EV_DISK_LOW=disk_low
EV_DISK_OK=disk_ok
EV_WATCHDOG_GAVE_UP=watchdog_gave_up
EV_ON_DONE=on_done
EV_ON_DONE_SKIPPED=on_done_skipped
EV_CONTROLLER_DOWN=controller_down
EV_CONTROLLER_BACK=controller_back
EV_TIME_LIMIT=time_limit

# run names
TK_RUN_NAME_MAX=64
TK_RUN_NAME_CHARS='A-Za-z0-9_-'
TK_RUN_NAME_RULE='use 1-64 of A-Z a-z 0-9 _ - (not starting with -)'

# layout
TK_LOCK_NAME=.tmuxkit.lock
TK_FOREIGN_LOCK_NAME=training.lock
TK_LOG_DIR=tmuxkit
TK_LOG_SUFFIX=.log
TK_LIVE_SUFFIX=.live
TK_LAST_LINE_MAX=300
TK_PARTIAL_DIR=.tmuxkit-partial
TK_EVENTS_FILE=events.jsonl
TK_RUNS_DIR=runs
TK_HELPER_SEP='+'

# defaults
TK_DEF_STUCK_AFTER=300
TK_DEF_QUIET_MAX_FACTOR=4
TK_DEF_LOG_MAX_BYTES=50000000
TK_DEF_LOG_KEEP=5
TK_DEF_GRACE=60
TK_DEF_TERM_WAIT=10
TK_DEF_WATCH_EVERY=30
TK_DEF_MAX_RESTARTS=3
TK_DEF_RESTART_WINDOW=3600
TK_DEF_BACKOFF=10
TK_DEF_SETTLE=5
TK_DEF_GPU_IDLE_FOR=300
TK_DEF_SYNC_EVERY=60
TK_DEF_ON_NAN=notify
TK_DEF_DISK_MIN_FREE=5%
TK_DEF_ON_DONE_WAIT=3600
TK_DEF_EARLY_EXIT_WAIT=2

# tmuxkit-start options
OPT_CMD=--cmd
OPT_CWD=--cwd
OPT_RESULTS=--results
OPT_ENV=--env
OPT_LOG_MAX_BYTES=--log-max-bytes
OPT_LOG_KEEP=--log-keep
OPT_STUCK_AFTER=--stuck-after
OPT_METRICS=--metrics
OPT_ENV_STDIN=--env-stdin
OPT_AGAIN=--again
OPT_EARLY_WAIT=--early-wait
OPT_GPUS=--gpus
OPT_AFTER=--after
OPT_MAX_RUNS=--max-runs
OPT_FROM_QUEUE=--from-queue
OPT_GPUS_IGNORE_FOREIGN=--gpus-ignore-foreign

# events worth a notification
TK_NOTIFY_EVENTS='blocked budget_spent crashed disk_low finished nan_loss on_done queue_refused requeued restarted resume_failed resumed stuck time_limit watchdog_gave_up'
# --- lib/core.bash ---
# shellcheck disable=SC2034  # globals (TK_*, LK_*, R_*, S_*) are the results callers read
# Errors, help, tool checks, run names, $TMUXKIT_HOME and tmux.
# Sourced: defines functions only; no options set, nothing created, nothing run.

tk_die() {
  local code=$1
  shift
  printf 'tmuxkit: %s\n' "$*" >&2
  exit "$code"
}

# tk_write FILE TEXT: FILE holds TEXT, written whole (a temp file beside it, then renamed): never
# through a link planted at FILE, and a reader never sees half of it.
tk_write() {
  local tmp="$1.tmp.$$"
  rm -f "$tmp"
  { printf '%s' "$2" >"$tmp" && mv -f "$tmp" "$1"; } 2>/dev/null || {
    rm -f "$tmp"
    return 1
  }
}

# tk_append FILE TEXT: TEXT added at FILE's end; refused when FILE is a symlink (not followed).
tk_append() {
  [ ! -L "$1" ] || return 1
  printf '%s' "$2" >>"$1"
}

tk_warn() {
  printf 'tmuxkit: %s\n' "$*" >&2
}

# tk_usage FILE: print the header comment of FILE (an entry point passes "$0"): its help text.
tk_usage() {
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$1"
}

tk_need() {
  command -v "$1" >/dev/null 2>&1 ||
    tk_die "$EX_NO_TOOL" "$1: command not found on $(hostname 2>/dev/null || echo this host)${2:+; $2}"
}

TK_TMUX_HINT="install it with 'sudo apt-get install tmux' (Linux) or 'brew install tmux' (macOS)"

# Run names: 1-$TK_RUN_NAME_MAX of [$TK_RUN_NAME_CHARS], no leading '-' (contract.bash).
tk_valid_run() {
  local LC_ALL=C
  case $1 in
  '' | -* | *[!A-Za-z0-9_-]*) return 1 ;;
  esac
  [ "${#1}" -le "$TK_RUN_NAME_MAX" ]
}

tk_check_run() {
  tk_valid_run "$1" || tk_die "$EX_USAGE" "invalid run name '$1': $TK_RUN_NAME_RULE"
}

# $TMUXKIT_HOME (default ~/.tmuxkit). Reading never creates it.
tk_home() {
  case ${TMUXKIT_HOME:-} in -*) printf './%s\n' "$TMUXKIT_HOME" ;; *) printf '%s\n' "${TMUXKIT_HOME:-$HOME/.tmuxkit}" ;; esac
}

# tk_home_init: $TMUXKIT_HOME and its runs/, created 0700, for the scripts that write state.
# Refuses a home or runs/ that is a symlink or that someone else owns: state written there could be
# redirected through links planted by its owner.
tk_home_init() {
  local h d m
  h=$(tk_home)
  for d in "$h" "$h/$TK_RUNS_DIR"; do
    if [ -L "$d" ] || { [ -e "$d" ] && [ ! -O "$d" ]; }; then
      tk_die "$EX_USAGE" "refusing state directory $d: not a directory owned by you (uid $(id -u))"
    fi
    # One that others can write may hold what they planted there: refused, not just chmod'ed.
    [ -d "$d" ] || continue
    if tk_others_write "$d"; then
      m=$(ls -ld "$d" 2>/dev/null) || m=''
      tk_die "$EX_USAGE" "refusing state directory $d: others can write to it (${m%% *})"
    fi
  done
  if [ ! -d "$h/$TK_RUNS_DIR" ]; then
    (umask 077 && mkdir -p "$h/$TK_RUNS_DIR")
  fi
  chmod 700 "$h" "$h/$TK_RUNS_DIR" 2>/dev/null || true
  printf '%s\n' "$h"
}

# tk_home_deletable HOME: die (exit 2, one line) unless HOME's state can be deleted in without
# reaching outside it: HOME and its runs/ are real directories of this user (not symlinks), and no
# entry of runs/ is a symlink. For the scripts that delete run state (forget, cleanup): through a
# link, rm -rf of a run's folder removes whatever folder it leads to that holds a file named meta.
# A HOME that does not exist passes (there is nothing to delete).
tk_home_deletable() {
  local d
  for d in "$1" "$1/$TK_RUNS_DIR"; do
    if [ -L "$d" ]; then
      tk_die "$EX_USAGE" "refusing state directory $d: it is a symlink, and tmuxkit deletes run state in it; make it a real directory (or point TMUXKIT_HOME at where it leads)"
    fi
    if [ -e "$d" ] && { [ ! -d "$d" ] || [ ! -O "$d" ]; }; then
      tk_die "$EX_USAGE" "refusing state directory $d: not a directory owned by you (uid $(id -u))"
    fi
  done
  for d in "$1/$TK_RUNS_DIR"/*; do
    [ ! -L "$d" ] || tk_die "$EX_USAGE" "refusing state directory $1/$TK_RUNS_DIR: ${d##*/} in it is a symlink (to $(tk_readlink "$d" | tr -d '\n')), and tmuxkit deletes run folders there; move it out"
  done
}

# tk_readlink LINK: where LINK points (its text, not resolved), or "?".
tk_readlink() {
  readlink "$1" 2>/dev/null || printf '?'
}

# tk_others_write DIR: whether someone other than its owner may write to DIR (group or other
# write bit; ls, as BSD and GNU both print it).
tk_others_write() {
  local m
  m=$(ls -ld "$1" 2>/dev/null) || return 1
  case $m in ?????w* | ????????w*) return 0 ;; esac
  return 1
}

# tk_private_dir DIR [RUN]: DIR (made with mkdir -p; DIR as pwd -P gives it) as a directory that
# only this user can write, so that no one else can plant a link in it between a check and a use:
# a run's log folder, in a results directory others may share. A symlink, or a directory someone
# else owns, is refused (1, TK_ERR says why); a DIR that cannot be made or written (a read-only
# results folder, or permissions that do not let this user write) is 2, said as such. One of ours that others can write is made go-w, from
# inside it (never through a link swapped in meanwhile); where the filesystem ignores that (FAT,
# some network mounts), a warning says so. With RUN, what may have been planted before the go-w is
# refused: at any of the run's names (RUN.log and its rotations, RUN.live, RUN.progress...), a
# symlink, anything but a regular file of ours, or a file with another hard link.
tk_private_dir() {
  local f any=0 n p
  mkdir -p "$1" 2>/dev/null || true
  if [ ! -e "$1" ] && [ ! -L "$1" ]; then
    p=${1%/*}
    while [ -n "$p" ] && [ ! -e "$p" ]; do p=${p%/*}; done
    TK_ERR="cannot create the log folder $1: ${p:-/} is not writable by $(id -un 2>/dev/null || echo you) (read-only, or its permissions)"
    return 2
  fi
  if [ -d "$1" ] && [ ! -L "$1" ] && [ -O "$1" ] && [ ! -w "$1" ]; then
    TK_ERR="the log folder $1 is not writable by $(id -un 2>/dev/null || echo you) (read-only, or its permissions)"
    return 2
  fi
  if [ -L "$1" ] || [ ! -d "$1" ] || [ ! -O "$1" ]; then
    TK_ERR="refusing log folder $1: not a directory owned by you (uid $(id -u)), so a link planted in it could redirect the run's log; give the run a results directory of its own"
    return 1
  fi
  if tk_others_write "$1"; then
    (cd -P "$1" 2>/dev/null && [ "$(pwd -P)" = "$1" ] && chmod go-w .) 2>/dev/null || true
    if tk_others_write "$1"; then tk_warn "log folder $1 stays writable by others (chmod has no effect there)"; fi
  fi
  [ -n "${2:-}" ] || return 0
  for f in "$1/$2".*; do
    if [ -L "$f" ]; then
      TK_ERR="log path is a symlink; refusing to follow it: $f"
      return 1
    fi
    [ -e "$f" ] || continue
    if [ ! -f "$f" ] || [ ! -O "$f" ]; then
      TK_ERR="refusing $f: not a regular file of yours (someone else's, a folder or a FIFO could take or lose the run's log)"
      return 1
    fi
    any=1
  done
  [ "$any" = 1 ] || return 0
  n=$(find "$1" -maxdepth 1 -name "$2.*" -links +1 2>/dev/null | head -n 1)
  if [ -n "$n" ]; then
    TK_ERR="refusing the run's files in $1: one has another hard link, so the log would be written into another file too"
    return 1
  fi
}

# tk_die_private_dir RC: exit for tk_private_dir's answer RC: 2 (a folder that cannot be written)
# is bad input (exit 2), anything else a refused path (a link, someone else's file: exit 5).
tk_die_private_dir() {
  if [ "$1" = 2 ]; then tk_die "$EX_USAGE" "$TK_ERR"; fi
  tk_die "$EX_BAD_LOCK" "$TK_ERR"
}

# tk_tilde_v VAR: a leading "~" or "~/" in VAR's value made this host's $HOME, as a shell would
# have done had the path been typed unquoted (a config file's cwd = "~/proj"). "~user" and a "~"
# anywhere else are left as they are, and so is everything when HOME is unset.
tk_tilde_v() {
  local _tk_p
  eval "_tk_p=\${$1}"
  [ -n "${HOME:-}" ] || return 0
  # shellcheck disable=SC2088  # a literal "~" and "~/": that is what is matched and replaced
  case $_tk_p in
  "~") _tk_p=$HOME ;;
  "~/"*) _tk_p="${HOME%/}/${_tk_p#"~/"}" ;;
  *) return 0 ;;
  esac
  eval "$1=\$_tk_p"
}

# tk_path_v VAR: VAR's path made one that no tool takes for an option or a find expression: a
# relative path that starts with "-" ("-delete", "-", "--") gets "./" in front. Every path a script
# is given is passed through it where it comes in, before any find, rm, ls, stat, mv, cd, df... sees
# it ("--" alone would not do: find has no such end of options).
tk_path_v() {
  local _tk_p
  eval "_tk_p=\${$1}"
  case $_tk_p in -*) eval "$1=./\$_tk_p" ;; esac
}

# TK_NO_BASH_ENV: sh code that takes BASH_ENV out of the environment before tmuxkit's own bash
# starts (a BASH_ENV that prints, as some HPC logins export, would land in every answer, in the
# pane and so in the run's log), keeping its value in TMUXKIT_USER_BASH_ENV: the run's command
# gets it back (tmuxkit-runner). For the command strings tmux runs (a pane, a pipe).
# shellcheck disable=SC2016  # expanded by the shell that runs the snippet
TK_NO_BASH_ENV='if [ -n "${BASH_ENV+x}" ]; then TMUXKIT_USER_BASH_ENV=$BASH_ENV; export TMUXKIT_USER_BASH_ENV; unset BASH_ENV; fi; '

tk_here() {
  hostname 2>/dev/null || echo this host
}

# tmux on $TMUXKIT_SOCKET (tmux -L) when set, else the user's normal server. Always as a UTF-8
# client (-u): for a client whose locale is not UTF-8 (LC_ALL=C, no LANG at all, as in docker-based
# boxes), tmux prints a TAB or any non-ASCII byte in -F output as "_", and the scripts' fields (and
# the paths in them) would not be found. -u changes what tmux prints to this client only, never
# the locale a run's command sees.
tk_tmux() {
  if [ -n "${TMUXKIT_SOCKET:-}" ]; then
    tmux -u -L "$TMUXKIT_SOCKET" "$@"
  else
    tmux -u "$@"
  fi
}

tk_session_exists() {
  tk_tmux has-session -t "=$1" 2>/dev/null
}

# An event's id: its time, the writer's pid and a random part, so a new run that reuses a name
# never repeats an id (notifications are sent once per id).
tk_event_id() {
  printf '%s-%s-%s%s\n' "$(date +%s)" "$$" "$RANDOM" "$RANDOM"
}

# tk_bounded SECONDS COMMAND [ARG]...: run COMMAND, killed (SIGKILL) once it has run SECONDS;
# its status, or 124 when it was killed. For tools that hang (nvidia-smi on a crashed driver);
# macOS has no timeout(1).
tk_bounded() {
  local limit=$1 pid i=0
  shift
  "$@" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$i" -ge $((limit * 10)) ]; then
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      return 124
    fi
    sleep 0.1
    i=$((i + 1))
  done
  wait "$pid"
}

# tk_one_line_path WHAT PATH: exit 2 (bad input) when PATH holds a newline or a carriage return.
# Paths go into the run's key=value files and the scripts' one-line answers, which such a
# character would break or inject lines into.
tk_one_line_path() {
  case $2 in *[$'\n\r']*)
    tk_die "$EX_USAGE" "the $1 path contains a line break; tmuxkit refuses such paths (they would inject lines into the run's meta file): $(printf '%s' "$2" | tr '\n\r' '??')"
    ;;
  esac
}
# --- lib/proc.bash ---
# Processes and files, portably (GNU and BSD tools probed, never guessed from the OS).
# Sourced: defines functions only; no options set, nothing created, nothing run.

# --- portability wrappers (GNU vs BSD), each probed once -----------------------

# tk_stat mtime|size|owner|uid FILE (owner: the user name; not followed when FILE is a symlink)
tk_stat() {
  if [ -z "${_TK_STAT:-}" ]; then
    if stat -c %Y / >/dev/null 2>&1; then _TK_STAT=gnu; else _TK_STAT=bsd; fi
  fi
  case $_TK_STAT:$1 in
  gnu:mtime) stat -c %Y "$2" ;;
  gnu:size) stat -c %s "$2" ;;
  gnu:owner) stat -c %U "$2" ;;
  gnu:uid) stat -c %u "$2" ;;
  bsd:mtime) stat -f %m "$2" ;;
  bsd:size) stat -f %z "$2" ;;
  bsd:owner) stat -f %Su "$2" ;;
  bsd:uid) stat -f %u "$2" ;;
  esac
}

# tk_stat_many: "MTIME SIZE PATH" for each path read from stdin (one per line) that exists, in one call.
tk_stat_many() {
  tk_stat mtime / >/dev/null 2>&1 || true # probes GNU or BSD stat once
  if [ "$_TK_STAT" = gnu ]; then
    tr '\n' '\0' | xargs -0 stat -c '%Y %s %n' 2>/dev/null || true
  else
    tr '\n' '\0' | xargs -0 stat -f '%m %z %N' 2>/dev/null || true
  fi
}

# tk_stat_many_t: "MTIME SIZE TYPE<TAB>PATH" for each path read from stdin that exists, in one
# call, not following a symlink. TYPE is stat's own words (GNU "regular file", "symbolic link";
# BSD "Regular File", "Symbolic Link"): its first two letters, lowercased, tell them apart.
tk_stat_many_t() {
  tk_stat mtime / >/dev/null 2>&1 || true
  if [ "$_TK_STAT" = gnu ]; then
    tr '\n' '\0' | xargs -0 stat -c "%Y %s %F	%n" 2>/dev/null || true
  else
    tr '\n' '\0' | xargs -0 stat -f "%m %z %HT	%N" 2>/dev/null || true
  fi
}

# The descendants of root (not self's), from "pid ppid" lines: an awk program.
# shellcheck disable=SC2016
TK_DESC_AWK='{ kids[$2] = kids[$2] " " $1 }
END {
  todo = root
  while (todo != "") {
    split(todo, now, " "); todo = ""
    for (i in now) {
      n = split(kids[now[i]], k, " ")
      for (j = 1; j <= n; j++) if (k[j] != self) { print k[j]; todo = todo " " k[j] }
    }
  }
}'

# tk_deadline SECONDS: end this script and everything it started after SECONDS, so a caller that
# gave up on the answer leaves nothing running here. Disarmed when the script exits.
tk_deadline() {
  # shellcheck disable=SC2016  # the sh script expands its own arguments
  # Its stdio is not the script's: a leftover sleep never holds the caller's pipe (an ssh channel) open.
  sh -c '
    s=""
    trap "[ -z \"\$s\" ] || kill \$s 2>/dev/null; exit 0" TERM
    sleep "$1" &
    s=$!
    wait "$s" || exit 0
    t=$(ps -A -o pid=,ppid=)
    # Only while $2 is still this watcher'"'"'s parent, the script (a pid reused since is left alone).
    printf "%s\n" "$t" | awk -v self="$$" -v root="$2" "\$1 == self && \$2 == root { ok = 1 } END { exit !ok }" || exit 0
    kill -KILL $(printf "%s\n" "$t" | awk -v root="$2" -v self="$$" "$3") "$2" 2>/dev/null
  ' tmuxkit-deadline "$1" "$$" "$TK_DESC_AWK" </dev/null >/dev/null 2>&1 &
  TK_DEADLINE_PID=$!
  trap tk_deadline_off EXIT
}

tk_deadline_off() {
  [ -z "${TK_DEADLINE_PID:-}" ] || kill -TERM "$TK_DEADLINE_PID" 2>/dev/null || true
}

# Every process as "pid ppid stat args-and-environment" (env shown: ps e / ps -E).
tk_ps_env() {
  if [ -z "${_TK_PSENV:-}" ]; then
    if ps -E -p $$ -o pid= >/dev/null 2>&1; then _TK_PSENV=bsd; else _TK_PSENV=gnu; fi
  fi
  if [ "$_TK_PSENV" = bsd ]; then
    ps -A -E -ww -o pid=,ppid=,stat=,command=
  else
    ps -A e -ww -o pid=,ppid=,stat=,args=
  fi
}

# "STAT START" of a pid; fails when there is no such process. START is the process's identity in
# time: the same under any TZ or locale, and unmoved by a clock step. Where /proc/PID/stat can be
# read (Linux) it is "t:" and the start in clock ticks since boot; else "u:" and ps's lstart
# printed in UTC with the C locale (macOS keeps a process's start time as it was set).
tk_pinfo() {
  tk_pinfo_v "$1" || return 1
  printf '%s\n' "$TK_PI"
}

# tk_pinfo_v PID: the same into TK_PI, without a subshell; from the process table taken by
# tk_snap_take when there is one (a status call looks at many processes: one ps for all).
tk_pinfo_v() {
  local pid=$1 s st rest
  TK_PI=''
  case $pid in '' | *[!0-9]*) return 1 ;; esac
  if [ -n "${TK_PS_SNAP:-}" ]; then
    # The same pid again (a run's runner is also its lock's owner): the answer already worked out.
    if [ "$pid" = "${TK_PI_MEMO_PID:-}" ]; then
      TK_PI=$TK_PI_MEMO
      return 0
    fi
    tk_snap_pid "$pid" || return 1
    tk_snap_need
    s=${TK_PSA[pid]:-}
    [ -n "$s" ] || return 1
    set -f
    # shellcheck disable=SC2086
    set -- $s
    set +f
    [ $# -gt 2 ] || return 1
    st=$1
    shift 2 # stat, etime
    s=$*
  else
    s=$(LC_ALL=C TZ=UTC0 ps -o stat=,lstart= -p "$pid" 2>/dev/null) || return 1
    set -f
    # shellcheck disable=SC2086
    set -- $s
    set +f
    [ $# -gt 1 ] || return 1
    st=$1
    shift
    s=$*
  fi
  if [ -r "/proc/$pid/stat" ] && { IFS= read -r rest <"/proc/$pid/stat"; } 2>/dev/null && [ -n "$rest" ]; then
    rest=${rest##*) } # the fields after the command name, which may hold spaces and parentheses
    set -f
    # shellcheck disable=SC2086
    set -- $rest
    set +f
    if [ $# -ge 20 ]; then
      TK_PI="$st t:${20}"
      [ -z "${TK_PS_SNAP:-}" ] || TK_PI_MEMO_PID=$pid TK_PI_MEMO=$TK_PI
      return 0
    fi
  fi
  TK_PI="$st u:$s"
  [ -z "${TK_PS_SNAP:-}" ] || TK_PI_MEMO_PID=$pid TK_PI_MEMO=$TK_PI
}

# shellcheck disable=SC2034  # used by run.bash
TK_NL='
'

# tk_snap_take: one process table for the calls that follow ("pid stat etime lstart" lines in
# TK_PS_RAW, lstart in UTC and the C locale), for tk_pinfo_v and tk_uptime_v, and for the status
# awk that judges many live runs at once. The bash table (TK_PSA, by pid) is built on first use
# (tk_snap_need): a status call whose runs awk judges never builds it. tk_snap_drop forgets it.
tk_snap_take() {
  TK_PSA=() TK_PSA_BUILT='' TK_PS_SNAP='' TK_PI_MEMO_PID=''
  TK_PS_RAW=$(LC_ALL=C TZ=UTC0 ps -A -o pid=,stat=,etime=,lstart= 2>/dev/null) || TK_PS_RAW=''
  # A ps that cannot list the table so (it lists this shell at least): ask pid by pid, as before.
  case $TK_PS_RAW in *[0-9]*) TK_PS_SNAP=1 ;; esac
}

# tk_snap_need: TK_PSA from TK_PS_RAW, once per snapshot.
tk_snap_need() {
  local pid rest
  [ -z "${TK_PSA_BUILT:-}" ] || return 0
  TK_PSA_BUILT=1
  while read -r pid rest; do
    case $pid in '' | 0* | *[!0-9]*) continue ;; esac
    TK_PSA[pid]=$rest
  done <<EOF
$TK_PS_RAW
EOF
}

tk_snap_drop() {
  TK_PS_SNAP='' TK_PSA=() TK_PSA_BUILT='' TK_PS_RAW='' TK_PI_MEMO_PID=
}

# The start time as locks written before identities had a kind recorded it: lstart in the
# caller's TZ. Only for comparing with such a lock, never written anew.
tk_pstart_legacy() {
  ps -o lstart= -p "$1" 2>/dev/null | awk '{ $1 = $1; print }'
}

# Start time of a live (non-zombie) pid.
tk_pstart() {
  tk_pstart_v "$1" || return 1
  printf '%s\n' "$TK_PS"
}

# tk_pstart_v PID: the same into TK_PS, without a subshell.
tk_pstart_v() {
  TK_PS=''
  tk_pinfo_v "$1" || return 1
  case $TK_PI in Z*) return 1 ;; esac
  TK_PS=${TK_PI#* }
}

# tk_ps_snapshot: tk_snap_take for a report that judges many lock owners; _TK_SNAP=1 when the
# table could be read (else tk_owner_alive and the report ask pid by pid, as before).
tk_ps_snapshot() {
  tk_snap_take
  _TK_SNAP=${TK_PS_SNAP:-}
}

# tk_snap_pid PID: a pid the snapshot can be asked about: 1-10 digits, no leading zero (an
# array index is arithmetic: "08" would be an error, "1+1" something else).
tk_snap_pid() {
  case $1 in '' | 0* | *[!0-9]*) return 1 ;; esac
  [ "${#1}" -le 10 ]
}

# tk_snap_has PID: PID is in the snapshot's process table (a zombie included, as ps -p has it).
tk_snap_has() {
  tk_snap_pid "$1" || return 1
  tk_snap_need
  [ -n "${TK_PSA[$1]:-}" ]
}

# True when PID is alive and was started at START (so a reused PID is not the owner).
tk_owner_alive() {
  [ -n "$2" ] || return 1
  tk_pstart_v "$1" || return 1
  case $2 in
  t:* | u:*) [ "$TK_PS" = "$2" ] ;;
  *) [ "$(tk_pstart_legacy "$1")" = "$2" ] ;;
  esac
}

# [[dd-]hh:]mm:ss -> seconds
tk_etime_s() {
  tk_etime_v "$1"
  echo "$TK_ET"
}

# tk_etime_v ETIME: the same into TK_ET.
tk_etime_v() {
  local e=$1 d=0 h=0 m=0 s=0 a b c
  case $e in *-*)
    d=${e%%-*}
    e=${e#*-}
    ;;
  esac
  a=${e%%:*}
  e=${e#*:}
  b=${e%%:*}
  case $e in *:*) c=${e#*:} ;; *) c='' ;; esac
  if [ -n "$c" ]; then h=$a m=$b s=$c; else m=$a s=${b:-0}; fi
  TK_ET=$((10#$d * 86400 + 10#$h * 3600 + 10#$m * 60 + 10#$s))
}

tk_uptime_s() {
  tk_uptime_v "$1" || return 1
  echo "$TK_ET"
}

# tk_uptime_v PID: seconds since PID started, into TK_ET (from tk_snap_take's table when taken).
tk_uptime_v() {
  local e
  case $1 in '' | *[!0-9]*) return 1 ;; esac
  if [ -n "${TK_PS_SNAP:-}" ]; then
    tk_snap_pid "$1" || return 1
    tk_snap_need
    e=${TK_PSA[$1]:-}
    set -f
    # shellcheck disable=SC2086
    set -- $e # stat, etime, lstart...
    set +f
    e=${2:-}
  else
    e=$(ps -o etime= -p "$1" 2>/dev/null) || return 1
    e=${e// /}
  fi
  [ -n "$e" ] || return 1
  tk_etime_v "$e"
}

# Pids of a run: processes marked TMUXKIT_RUN_ID=ID in their environment, the
# runner pid (when it is still the runner), and all their descendants. Zombies
# are left out. Re-parented and setsid children keep the marker, so they count.
tk_run_pids() {
  local id=$1 runner=${2:-}
  tk_ps_env | awk -v id="$id" -v root="$runner" -v self="$$" '
    {
      pid = $1; ppid[pid] = $2; st[pid] = $3; n++; order[n] = pid
      if (pid != self && index($0 " ", " TMUXKIT_RUN_ID=" id " ")) mark[pid] = 1
    }
    END {
      if (root != "") mark[root] = 1
      changed = 1
      while (changed) {
        changed = 0
        for (i = 1; i <= n; i++) { p = order[i]; if (!(p in mark) && (ppid[p] in mark)) { mark[p] = 1; changed = 1 } }
      }
      for (i = 1; i <= n; i++) { p = order[i]; if ((p in mark) && st[p] !~ /^Z/) print p }
    }'
}

# tk_is_python PID: the process runs a python interpreter: its command name, or the basename of
# the first word of its args (a launcher such as torchrun or accelerate is a python script whose
# command name is its own: its args start with the interpreter), begins with "python", in any
# case (macOS's framework build is "Python").
tk_is_python() {
  local comm args
  comm=$(ps -o comm= -p "$1" 2>/dev/null) || return 1
  args=$(ps -ww -o args= -p "$1" 2>/dev/null) || args=''
  args=${args%% *}
  printf '%s\n%s\n' "${comm##*/}" "${args##*/}" | awk 'tolower($0) ~ /^python/ { y = 1 } END { exit !y }'
}
# --- lib/json.bash ---
# JSON output and key=value files.
# Sourced: defines functions only; no options set, nothing created, nothing run.

# --- JSON --------------------------------------------------------------------

tk_json_str() {
  tk_json_str_v _TK_JSON "$1"
  printf '%s' "$_TK_JSON"
}

# tk_json_str_v VAR STRING: VAR=STRING as a JSON string, with no subshell (reports with many rows).
tk_json_str_v() {
  local _tk_s=$2
  case $_tk_s in *[![:ascii:]]*) tk_utf8_v _tk_s ;; esac # JSON is UTF-8: never a stray byte
  case $_tk_s in *[\"\\$'\001'-$'\037']*) # else nothing to escape (the common case)
    _tk_s=${_tk_s//\\/\\\\}
    _tk_s=${_tk_s//\"/\\\"}
    _tk_s=${_tk_s//$'\t'/\\t}
    _tk_s=${_tk_s//$'\n'/\\n}
    _tk_s=${_tk_s//$'\r'/\\r}
    case $_tk_s in *[$'\001'-$'\037']*) _tk_s=$(printf '%s' "$_tk_s" | LC_ALL=C tr -d '\000-\037') ;; esac
    ;;
  esac
  _tk_s="\"$_tk_s\""
  eval "$1=\$_tk_s"
}

# tk_utf8_v VAR: VAR's value as valid UTF-8: every byte that does not belong to a well-formed
# sequence (a hand-made lock, a path or a log line cut mid-character) becomes U+FFFD. Valid text
# is left as it is, checked with one regex; only a broken one is walked. Byte-wise whatever the
# caller's locale. The ASCII range is "not a high byte": bash uses \001 and \177 itself.
tk_utf8_v() {
  local LC_ALL=C _tk_us _tk_uo=''
  eval "_tk_us=\${$1}"
  case $_tk_us in *[$'\200'-$'\377']*) ;; *) return 0 ;; esac
  local _tk_ure=$'^([^\200-\377]|[\302-\337][\200-\277]|\340[\240-\277][\200-\277]|[\341-\354\356\357][\200-\277][\200-\277]|\355[\200-\237][\200-\277]|\360[\220-\277][\200-\277][\200-\277]|[\361-\363][\200-\277][\200-\277][\200-\277]|\364[\200-\217][\200-\277][\200-\277])*$'
  [[ $_tk_us =~ $_tk_ure ]] && return 0
  local _tk_u1=$'^([^\200-\377]|[\302-\337][\200-\277]|\340[\240-\277][\200-\277]|[\341-\354\356\357][\200-\277][\200-\277]|\355[\200-\237][\200-\277]|\360[\220-\277][\200-\277][\200-\277]|[\361-\363][\200-\277][\200-\277][\200-\277]|\364[\200-\217][\200-\277][\200-\277])'
  while [ -n "$_tk_us" ]; do
    if [[ $_tk_us =~ $_tk_u1 ]]; then
      _tk_uo=$_tk_uo${BASH_REMATCH[0]}
      _tk_us=${_tk_us:${#BASH_REMATCH[0]}}
    else
      _tk_uo=$_tk_uo$'\357\277\275'
      _tk_us=${_tk_us:1}
    fi
  done
  eval "$1=\$_tk_uo"
}

# A JSON value: a number as-is, empty as null, anything else a string.
tk_json_val() {
  tk_json_val_v _TK_JSON "$1"
  printf '%s' "$_TK_JSON"
}

# tk_json_val_v VAR VALUE: VAR=VALUE as a JSON value, with no subshell.
tk_json_val_v() {
  case $2 in
  '') eval "$1=null" ;;
  *[!0-9-]* | -) tk_json_str_v "$1" "$2" ;;
  *) eval "$1=\$2" ;;
  esac
}

# --- key=value files ------------------------------------------------------------

# tk_kv_get FILE KEY -> value of the first KEY= line
tk_kv_get() {
  local line
  [ -f "$1" ] || return 1
  while IFS= read -r line || [ -n "$line" ]; do
    case $line in "$2="*)
      printf '%s\n' "${line#"$2"=}"
      return 0
      ;;
    esac
  done <"$1"
  return 1
}
# --- lib/lock.bash ---
# shellcheck disable=SC2034  # globals (TK_*, LK_*, R_*, S_*) are the results callers read
# The results lock.
# Sourced: defines functions only; no options set, nothing created, nothing run.

# --- locks -----------------------------------------------------------------------
# A lock is a file of key=value lines: pid, start (the owner's process start
# time), host, run, session, run_id, created. It is created whole and at once:
# written to a temp file in a private directory, then hard-linked into place,
# which fails if anything exists there, a symlink included (see tk_lock_acquire).

# tk_lock_read FILE: sets LK_PID LK_START LK_HOST LK_RUN LK_SESSION LK_RUN_ID; 1 if garbage.
# One read of at most 4 KiB, taken apart in the shell: no process started (a report reads thousands).
tk_lock_read() {
  local c='' line IFS=$'\n'
  LK_PID='' LK_START='' LK_HOST='' LK_RUN='' LK_SESSION='' LK_RUN_ID='' LK_CREATED=''
  { IFS= read -r -d '' -n 4096 c <"$1" || true; } 2>/dev/null
  set -f
  # shellcheck disable=SC2086  # split into lines (IFS is a newline here), no globbing
  set -- $c
  set +f
  for line in "$@"; do
    case $line in
    pid=*) LK_PID=${line#pid=} ;;
    start=*) LK_START=${line#start=} ;;
    host=*) LK_HOST=${line#host=} ;;
    run=*) LK_RUN=${line#run=} ;;
    session=*) LK_SESSION=${line#session=} ;;
    run_id=*) LK_RUN_ID=${line#run_id=} ;;
    created=*) LK_CREATED=${line#created=} ;;
    esac
  done
  case $LK_PID in '' | *[!0-9]*) return 1 ;; esac
  [ -n "$LK_START" ]
}

# tk_lock_state FILE: sets LK_STATE to free | symlink | notfile | garbage | alive
# | stale, and LK_* to the owner. (Not for $(...): the fields would be lost.)
# A lock written on another host (its host= field names another machine: a results folder on a
# shared filesystem) is never judged by a PID here: it is alive (LK_ELSEWHERE=1), so never stale
# and never removed; its owner, or a person on that host, frees it.
tk_lock_state() {
  LK_PID='' LK_START='' LK_HOST='' LK_RUN='' LK_SESSION='' LK_RUN_ID='' LK_CREATED='' LK_ELSEWHERE=''
  if [ -L "$1" ]; then
    LK_STATE=symlink
  elif [ ! -e "$1" ]; then
    LK_STATE=free
  elif [ ! -f "$1" ]; then
    LK_STATE=notfile
  elif ! tk_lock_read "$1"; then
    LK_STATE=garbage
  elif tk_lock_elsewhere "$LK_HOST"; then
    LK_STATE=alive LK_ELSEWHERE=1
  elif tk_owner_alive "$LK_PID" "$LK_START"; then
    LK_STATE=alive
  else
    LK_STATE=stale
  fi
}

# tk_lock_elsewhere HOST: HOST (a lock's host= field) names another machine than this one. A
# lock with no host, or "unknown" (its writer could not tell), is judged here, as before. Names
# compare whole, or by their first label when one of them is a bare name (node1 and node1.cluster
# are one host); two qualified names that differ are two hosts (gpu1.clusterA is not gpu1.clusterB:
# two clusters' nodes on one shared filesystem, where a live lock of the other was judged by a PID
# here, found stale and removed).
tk_lock_elsewhere() {
  case $1 in '' | unknown) return 1 ;; esac
  tk_hostname_v
  [ -n "$TK_HOSTNAME" ] || return 1
  [ "$1" != "$TK_HOSTNAME" ] || return 1
  case $1 in *.*) ;; *) [ "$1" != "${TK_HOSTNAME%%.*}" ]; return ;; esac
  case $TK_HOSTNAME in *.*) ;; *) [ "${1%%.*}" != "$TK_HOSTNAME" ]; return ;; esac
  return 0
}

# tk_hostname_v: TK_HOSTNAME, this host's name as a lock records it (hostname(1)), read once a
# process: from /proc where there is one (no process started), else hostname(1). Never $HOSTNAME:
# an environment can carry another host's (sbatch exports the submitting host's).
tk_hostname_v() {
  [ -z "${TK_HOSTNAME:-}" ] || return 0
  TK_HOSTNAME=''
  if [ -r "/proc/sys/kernel/hostname" ]; then { IFS= read -r TK_HOSTNAME </proc/sys/kernel/hostname || true; } 2>/dev/null; fi
  [ -n "$TK_HOSTNAME" ] || TK_HOSTNAME=$(hostname 2>/dev/null) || TK_HOSTNAME=''
}

# tk_lock_elsewhere_hint LOCK: for a lock of another host (LK_ELSEWHERE, from tk_lock_state), what
# to do about it: nothing here can tell whether its owner lives; nothing, otherwise.
tk_lock_elsewhere_hint() {
  [ -n "${LK_ELSEWHERE:-}" ] || return 0
  printf ' (whether its owner lives cannot be told from here; if no run on %s holds it, remove it by hand: rm %s)' \
    "$LK_HOST" "$(tk_sq "$1")"
}

# Remove a stale lock, guarded by a mkdir mutex so two reclaimers never remove
# a lock that a third party has freshly taken. 0 removed; 1 busy (another reclaimer);
# 2 it cannot be removed by this user (TK_ERR says why).
tk_lock_reclaim() {
  local lock=$1 m="$1.reclaim" pid=$2 start=$3 age rc=0
  if tk_lock_unremovable "$lock"; then
    return 2
  fi
  if ! mkdir "$m" 2>/dev/null; then
    age=$(($(date +%s) - $(tk_stat mtime "$m" 2>/dev/null || date +%s)))
    [ "$age" -gt 10 ] && rmdir "$m" 2>/dev/null
    return 1
  fi
  tk_lock_state "$lock"
  if [ "$LK_STATE" = stale ] && [ "$LK_PID" = "$pid" ] && [ "$LK_START" = "$start" ]; then
    if ! rm -f "$lock" 2>/dev/null && { [ -e "$lock" ] || [ -L "$lock" ]; }; then
      TK_ERR="stale lock of dead $(tk_lock_describe) cannot be removed by $(id -un 2>/dev/null || echo you); remove it by hand: $lock"
      rc=2
    fi
  fi
  rmdir "$m"
  return "$rc"
}

# tk_lock_unremovable LOCK: true (and TK_ERR says so) when LOCK (stale, LK_* loaded) sits in a
# sticky directory (like /tmp) and belongs to another user: only its owner or root may remove it,
# so waiting for it is pointless.
tk_lock_unremovable() {
  local dir owner who
  case $1 in */*) dir=${1%/*} ;; *) dir=. ;; esac
  [ -n "$dir" ] || dir=/
  [ "${EUID:-$(id -u)}" != 0 ] && [ -k "$dir" ] && [ ! -O "$1" ] || return 1
  owner=$(tk_stat owner "$1" 2>/dev/null) || owner="uid $(tk_stat uid "$1" 2>/dev/null || echo '?')"
  who="$owner or root"
  if [ "$owner" = root ]; then who=root; fi
  TK_ERR="stale lock owned by $owner (pid $LK_PID not running) in a sticky directory; ask $who to remove $1"
}

# "PID 123 (run x, started 2h05m ago)": when, from the lock's wall-clock "created" (its "start"
# is the owner's identity, clock ticks since boot, which say nothing to a reader).
tk_lock_describe() {
  local when=$LK_START s
  case $LK_CREATED in '' | *[!0-9]*) ;; *)
    s=$(($(date +%s) - LK_CREATED))
    [ "$s" -ge 0 ] || s=0
    if [ "$s" -lt 60 ]; then when="${s}s ago"
    elif [ "$s" -lt 3600 ]; then when="$((s / 60))m ago"
    elif [ "$s" -lt 86400 ]; then when="$((s / 3600))h$(printf '%02d' $((s % 3600 / 60)))m ago"
    else when="$((s / 86400))d$((s % 86400 / 3600))h ago"; fi
    ;;
  esac
  printf 'PID %s%s (run %s, started %s)' "$LK_PID" "${LK_ELSEWHERE:+ on host $LK_HOST}" "${LK_RUN:-?}" "$when"
}

# tk_lock_ours LOCK TMP: LOCK itself (not followed) is a regular file and the same inode as TMP.
tk_lock_ours() {
  [ ! -L "$1" ] && [ -f "$1" ] && [ "$1" -ef "$2" ] && [ ! -L "$1" ]
}

# tk_lock_acquire LOCK PID START RUN SESSION RUN_ID
# 0 on success (TK_NOTE says if a stale lock was reclaimed); else an exit code and TK_ERR.
# The lock is written whole in a private directory (mktemp -d: 0700, ours, so nothing can be
# planted at the temp path), then hard-linked into place: link(2) never follows a symlink at the
# lock path and fails if anything is there. A directory at the lock path (or a symlink to one,
# with an ln that has no -n) would take the link INSIDE it: so success counts only when the lock
# path itself is a regular file with the temp file's inode; anything else is refused, and a link
# that landed inside a directory is taken out again.
tk_lock_acquire() {
  local lock=$1 pid=$2 start=$3 run=$4 session=$5 run_id=$6 dir tdir tmp tries=0 rc ln_n=''
  TK_ERR='' TK_NOTE=''
  case $lock in */*) dir=${lock%/*} ;; *) dir=. ;; esac
  [ -n "$dir" ] || dir=/
  if ! tdir=$(mktemp -d "$dir/.tmuxkit-lock.XXXXXX" 2>/dev/null) || [ -z "$tdir" ]; then
    TK_ERR="cannot write lock file next to $lock"
    return "$EX_FAIL"
  fi
  tmp="$tdir/${tdir##*/}"
  if ! printf 'pid=%s\nstart=%s\nhost=%s\nrun=%s\nsession=%s\nrun_id=%s\ncreated=%s\n' \
    "$pid" "$start" "$(hostname 2>/dev/null || echo unknown)" "$run" "$session" "$run_id" "$(date +%s)" >"$tmp" 2>/dev/null; then
    rm -rf "$tdir"
    TK_ERR="cannot write lock file next to $lock"
    return "$EX_FAIL"
  fi
  # ln -n (GNU, BSD, busybox): a symlink to a directory at the destination is not followed.
  ln -n "$tmp" "$tdir/probe" 2>/dev/null && ln_n=-n
  rm -f "$tdir/probe"
  while :; do
    if ln $ln_n "$tmp" "$lock" 2>/dev/null; then
      if tk_lock_ours "$lock" "$tmp"; then
        rm -rf "$tdir"
        return 0
      fi
      # The link went inside whatever is at the lock path: take it out again, and refuse.
      if [ -e "$lock/${tmp##*/}" ] && [ ! -L "$lock/${tmp##*/}" ] && [ "$lock/${tmp##*/}" -ef "$tmp" ]; then
        rm -f "$lock/${tmp##*/}"
      fi
    fi
    tk_lock_state "$lock"
    case $LK_STATE in
    free) ;;
    alive)
      rm -rf "$tdir"
      TK_ERR="locked by $(tk_lock_describe): $lock$(tk_lock_elsewhere_hint "$lock")"
      return "$EX_LOCKED"
      ;;
    stale)
      rc=0
      tk_lock_reclaim "$lock" "$LK_PID" "$LK_START" || rc=$?
      case $rc in
      0) TK_NOTE="reclaimed stale lock of dead $(tk_lock_describe): $lock" ;;
      2)
        rm -rf "$tdir"
        return "$EX_BAD_LOCK"
        ;;
      esac
      ;;
    symlink)
      rm -rf "$tdir"
      TK_ERR="lock path is a symlink; refusing to follow it: $lock"
      return "$EX_BAD_LOCK"
      ;;
    notfile)
      rm -rf "$tdir"
      TK_ERR="lock path is not a regular file (a directory?); refusing it: $lock"
      return "$EX_BAD_LOCK"
      ;;
    *)
      rm -rf "$tdir"
      TK_ERR="lock file is not a valid tmuxkit lock (garbage); inspect and remove it by hand: $lock"
      return "$EX_BAD_LOCK"
      ;;
    esac
    tries=$((tries + 1))
    if [ "$tries" -ge 200 ]; then
      rm -rf "$tdir"
      TK_ERR="could not take lock (contended): $lock"
      return "$EX_LOCKED"
    fi
    sleep 0.05
  done
}

# tk_foreign_lock_pid FILE: the PID a hand-made training.lock holds (FL_PID, see
# tk_foreign_lock_parse), if any; fails when it has none, or when it names another host (a PID
# there says nothing about this host's processes).
tk_foreign_lock_pid() {
  local c=''
  [ -f "$1" ] && [ ! -L "$1" ] || return 1
  { IFS= read -r -d '' -n 4096 c <"$1" || true; } 2>/dev/null
  tk_foreign_lock_parse "$c"
  [ -n "$FL_PID" ] && [ -z "$FL_HOST" ] || return 1
  printf '%s\n' "$FL_PID"
}

# tk_foreign_lock_parse CONTENT: what a hand-made training.lock says, read by the shell alone (a
# report reads many). FL_PID: its first number that is a word of its own ("node17" holds none).
# FL_HOST: the first word in it that may name another host: one with a letter in it that is not
# a usual key (pid, host, user, started...) nor this host's name, or an IPv4 address other than
# 127.0.0.1. A lock that names another host is never judged by a local PID: its owner may live
# there (a shared filesystem), and removing it would let two trainers write one results folder.
tk_foreign_lock_parse() {
  local w words ncm=0 LC_ALL=C
  FL_PID='' FL_HOST=''
  if [ -z "${TK_ME_NAMES:-}" ]; then
    w=$(hostname 2>/dev/null) || w=''
    TK_ME_NAMES=" $w ${w%%.*} localhost localhost.localdomain "
  fi
  words=${1//[!A-Za-z0-9_.-]/ }
  shopt -q nocasematch && ncm=1
  shopt -s nocasematch
  set -f
  # shellcheck disable=SC2086  # split into words, no globbing
  set -- $words
  set +f
  for w in "$@"; do
    case $w in
    *[!0-9]*) ;;
    *)
      [ -n "$FL_PID" ] || FL_PID=$w
      continue
      ;;
    esac
    if [[ $w =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
      [ "$w" = 127.0.0.1 ] || { [ -n "$FL_HOST" ] || FL_HOST=$w; }
      continue
    fi
    case $w in *[A-Za-z]*) ;; *) continue ;; esac
    case $w in
    pid | ppid | host | hostname | node | nodename | user | owner | by | on | at | started | start | created | time | date | lock | locked | job | jobid | run) continue ;;
    esac
    case $TK_ME_NAMES in *" $w "* | *" ${w%%.*} "*) continue ;; esac
    [ -n "$FL_HOST" ] || FL_HOST=$w
  done
  [ "$ncm" = 1 ] || shopt -u nocasematch
  return 0
}

# tk_pid_alive PID: a live, non-zombie process.
tk_pid_alive() {
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  case $st in '' | *Z*) return 1 ;; esac
}

# tk_lock_release LOCK PID START: remove LOCK only if PID/START own it.
tk_lock_release() {
  [ -L "$1" ] && return 1
  [ -f "$1" ] || return 0
  tk_lock_read "$1" || return 1
  ! tk_lock_elsewhere "$LK_HOST" || return 1
  [ "$LK_PID" = "$2" ] && [ "$LK_START" = "$3" ] || return 1
  rm -f "$1"
}
# --- lib/run.bash ---
# shellcheck disable=SC2034  # globals (TK_*, LK_*, R_*, S_*) are the results callers read
# Runs: their state files, state, log pipe and JSON.
# Sourced: defines functions only; no options set, nothing created, nothing run.

# --- runs ---------------------------------------------------------------------------
# $TMUXKIT_HOME/runs/RUN/ holds: meta (key=value), cmd, env, runner ("pid\nstart"),
# pid (the command's pid), exit ("code end_epoch"), stopped ("rung epoch"), logs/.

# tk_run_load_or_die HOME RUN: check the name, then load $HOME/runs/RUN, or exit 4 naming the host.
tk_run_load_or_die() {
  tk_check_run "$2"
  [ -f "$1/$TK_RUNS_DIR/$2/meta" ] || tk_die "$EX_NOT_FOUND" "no run named '$2' on $(tk_here)"
  tk_run_load "$1/$TK_RUNS_DIR/$2"
}

# tk_run_load RUNDIR: sets R_* from meta and the state files.
tk_run_load() {
  local d=$1 line m='' IFS=$TK_NL
  R_DIR=$d R_RUN='' R_CWD='' R_RESULTS='' R_LOCK='' R_LOG='' R_STARTED='' R_RUN_ID=''
  R_SOCKET='' R_UMASK='' R_METRICS='' R_STUCK_AFTER=$TK_DEF_STUCK_AFTER R_LOG_MAX=$TK_DEF_LOG_MAX_BYTES R_LOG_KEEP=$TK_DEF_LOG_KEEP
  # The whole file in one read, split into lines (a status call loads many runs).
  { read -r -d '' m <"$d/meta" || true; } 2>/dev/null
  set -f
  # shellcheck disable=SC2086  # split into lines (IFS is a newline here), no globbing
  set -- $m
  set +f
  IFS=$' \t\n'
  for line in "$@"; do
    case $line in
    run=*) R_RUN=${line#run=} ;;
    cwd=*) R_CWD=${line#cwd=} ;;
    results=*) R_RESULTS=${line#results=} ;;
    lock=*) R_LOCK=${line#lock=} ;;
    log=*) R_LOG=${line#log=} ;;
    started_at=*) R_STARTED=${line#started_at=} ;;
    run_id=*) R_RUN_ID=${line#run_id=} ;;
    socket=*) R_SOCKET=${line#socket=} ;;
    stuck_after=*) R_STUCK_AFTER=${line#stuck_after=} ;;
    metrics=*) R_METRICS=${line#metrics=} ;;
    log_max_bytes=*) R_LOG_MAX=${line#log_max_bytes=} ;;
    log_keep=*) R_LOG_KEEP=${line#log_keep=} ;;
    umask=*) R_UMASK=${line#umask=} ;;
    esac
  done
  # Written absolute by start; a hand-edited relative one is still never an option to find or rm.
  case $R_CWD in -*) R_CWD=./$R_CWD ;; esac
  case $R_RESULTS in -*) R_RESULTS=./$R_RESULTS ;; esac
  case $R_LOCK in -*) R_LOCK=./$R_LOCK ;; esac
  case $R_LOG in -*) R_LOG=./$R_LOG ;; esac
  R_RUNNER_PID='' R_RUNNER_START='' R_PID='' R_EXIT='' R_ENDED='' R_STOP_RUNG='' R_STOP_REQ=''
  if [ -f "$d/runner" ]; then
    { IFS= read -r R_RUNNER_PID && IFS= read -r R_RUNNER_START; } <"$d/runner" || true
  fi
  [ -f "$d/pid" ] && { IFS= read -r R_PID <"$d/pid" || true; }
  [ -f "$d/exit" ] && { read -r R_EXIT R_ENDED <"$d/exit" || true; }
  if [ -f "$d/stopped" ]; then
    R_STOP_REQ=1
    read -r R_STOP_RUNG _ <"$d/stopped" || true
  fi
  return 0
}

# tmux socket for a loaded run: the one it was started on.
tk_run_tmux() {
  TMUXKIT_SOCKET=$R_SOCKET tk_tmux "$@"
}

tk_runner_alive() {
  tk_owner_alive "$R_RUNNER_PID" "$R_RUNNER_START"
}

# tk_python_v VAR HOME: VAR = the python3 (3.6+) interpreter itself, not a wrapper found on PATH (a
# pyenv shim needs the PATH that the run's env may replace, and starts a shell and pyenv each time:
# about half a second on a busy box). Asked once (python3 -I -S: no site, no user env), then kept in
# HOME/python with the wrapper it came from; asked again when `command -v python3` names another one
# or the one kept is no longer an executable file. 1: no python3 3.6+ here.
tk_python_v() {
  local _w _k='' _p='' _f="$2/python"
  _w=$(command -v python3 2>/dev/null) || return 1
  # Trusted only when it is this user's own file and names a python (a planted or corrupt one that
  # names /bin/false or another program made every run "exit 1" with no line, or not run at all).
  if [ -f "$_f" ] && [ ! -L "$_f" ] && [ -O "$_f" ]; then
    { IFS= read -r _k && IFS= read -r _p; } <"$_f" 2>/dev/null || _p=''
    case $_p in /*/python | /*/python[0-9]*) ;; *) _p='' ;; esac
    case ${_p##*/} in *[!A-Za-z0-9.]*) _p='' ;; esac
    if [ "$_k" = "$_w" ] && [ -n "$_p" ] && [ -f "$_p" ] && [ -x "$_p" ]; then
      eval "$1=\$_p"
      return 0
    fi
  fi
  _p=$("$_w" -I -S -c 'import sys; print(sys.executable) if sys.version_info >= (3, 6) else sys.exit(1)' 2>/dev/null) || return 1
  case $_p in /*) ;; *) return 1 ;; esac
  [ -x "$_p" ] || return 1
  case $_w$_p in *$'\n'*) ;; *) [ -L "$_f" ] || tk_write "$_f" "$_w$TK_NL$_p$TK_NL" || true ;; esac
  eval "$1=\$_p"
}

# Pipe the run's pane into the log writer. $1: "gap" to write a gap marker first.
# TK_BIN (set by the entry point) is where the tmuxkit-* scripts are.
tk_pipe_log() {
  local w
  # tmux runs this with its server's umask; the log gets the umask of the user who started the run.
  case $R_UMASK in [0-7][0-7][0-7] | [0-7][0-7][0-7][0-7]) ;; *) R_UMASK=077 ;; esac
  case $R_METRICS in *[!A-Za-z0-9_.,]*) R_METRICS='' ;; esac
  tk_private_dir "${R_LOG%/*}" "$R_RUN" || return 1
  w="${TK_NO_BASH_ENV}umask $R_UMASK; ${R_METRICS:+TMUXKIT_METRICS=$R_METRICS }exec bash $(tk_sq "$TK_BIN/tmuxkit-logwriter") $(tk_sq "$R_LOG") $R_LOG_MAX $R_LOG_KEEP ${1:-}"
  # tmux expands formats and then strftime in a pipe-pane command: each "#" and "%" doubled, so
  # a path keeps them ("#(cmd)" in a folder's name never runs cmd; "%a" is not the weekday).
  w=${w//\#/##}
  tk_run_tmux pipe-pane -t "=$R_RUN:" "${w//\%/%%}"
}

# Single-quote a word for sh, bash, dash and zsh alike.
tk_sq() {
  tk_sq_v _TK_SQ "$1"
  printf '%s' "$_TK_SQ"
}

# tk_sq_v VAR WORD: VAR=WORD single-quoted, with no subshell.
tk_sq_v() {
  local _tk_s=$2 _tk_q
  printf -v _tk_q '%s\\%s%s' "'" "'" "'" # the four characters '\''
  _tk_s=${_tk_s//"'"/$_tk_q}
  _tk_s="'$_tk_s'"
  eval "$1=\$_tk_s"
}

# The awk rule both readers of a log's last line share: tmuxkit's own "[tmuxkit] ..." lines are
# skipped, and so is a bare "^C" (the tty's echo of a stop's Ctrl-C, not the program's); a run's
# "[tmuxkit] run X started at" line begins it afresh: a new start that has printed nothing yet has
# no last line, not the previous run's.
# shellcheck disable=SC2016  # an awk program
TK_LAST_AWK='index($0, "[tmuxkit] ") == 1 { if (index($0, "[tmuxkit] run ") == 1 && index($0, " started at ")) ll = ""; next }
  $0 != "^C" { ll = $0 }'

# tk_last_line LOG: the program's last line (see TK_LAST_AWK), read from the log's last 16 KiB only
# and cut to $TK_LAST_LINE_MAX bytes, however long the line is.
tk_last_line() {
  [ -f "$1" ] || return 0
  tail -c 16384 "$1" 2>/dev/null | LC_ALL=C awk -v max="$TK_LAST_LINE_MAX" "$TK_LAST_AWK"'
    END { print substr(ll, 1, max) }' 2>/dev/null || true
}

# tk_run_quiet NOW: the run's watchdog saw it working (runs/RUN/quiet, "EPOCH EVERY WHY", see
# lib/quiet.bash) at its last look, which is at most two of its ticks (and 10 s) old: a silent run
# that works is quiet (S_QUIET), not stuck.
tk_run_quiet() {
  local f=$R_DIR/quiet at every _
  [ -f "$f" ] && [ ! -L "$f" ] || return 1
  { read -r at every _ <"$f"; } 2>/dev/null || return 1
  case $at:$every in *[!0-9:]* | :* | *:) return 1 ;; esac
  [ $(($1 - at)) -le $((2 * every + 10)) ]
}

# tk_run_state: the loaded run's state, from its files, processes and session. Sets S_STATE,
# S_HEADLESS (1: alive with no tmux session, e.g. after tmux kill-server), S_LOG_AGE (seconds since
# any output reached the pane: the newer of the log's mtime, which the python3 log writer moves on
# every byte, and tmux's own #{window_activity}, which any pane output moves, a \r redraw included,
# whatever the writer), S_LAST (the live redraw when a line is unfinished, else the program's last
# line) and S_UPTIME.
tk_run_state() {
  local now=${1:-$(date +%s)} mt='' act='' live
  S_LOG_AGE='' S_LAST='' S_UPTIME='' S_HEADLESS='' S_PIPE='' S_QUIET=''
  if [ -n "${TK_STAT_SNAP:-}" ]; then
    case $TK_STAT_SNAP in *"	$R_LOG$TK_NL"*)
      mt=${TK_STAT_SNAP%%"	$R_LOG$TK_NL"*}
      mt=${mt##*"$TK_NL"}
      mt=${mt%% *}
      ;;
    esac
  elif [ -f "$R_LOG" ]; then
    mt=$(tk_stat mtime "$R_LOG" 2>/dev/null || echo '')
  fi
  if tk_runner_alive; then
    ! tk_uptime_v "$R_RUNNER_PID" || S_UPTIME=$TK_ET
    # One tmux call: whether the session is there, and when its pane last printed anything (and,
    # with a snapshot, whether its log pipe is attached).
    if [ -n "${TK_PS_SNAP:-}" ]; then
      if tk_pane_v; then act=$TK_PANE_ACT S_PIPE=$TK_PANE_PIPE; else S_HEADLESS=1; fi
    else
      act=$(tk_run_tmux display-message -p -t "=$R_RUN:" '#{window_activity}' 2>/dev/null) || S_HEADLESS=1
    fi
    case $act in '' | *[!0-9]*) act='' ;; esac
    [ -z "$act" ] || [ -z "$mt" ] || [ "$act" -le "$mt" ] || mt=$act
    [ -n "$mt" ] || mt=$act
    [ -z "$mt" ] || S_LOG_AGE=$((now - mt))
    [ -z "$S_LOG_AGE" ] || [ "$S_LOG_AGE" -ge 0 ] || S_LOG_AGE=0
    # A live run's unfinished line (a redrawing bar), as the python3 log writer keeps it; with
    # the awk writer, the last line the pane shows.
    live=${R_LOG%"$TK_LOG_SUFFIX"}$TK_LIVE_SUFFIX
    if [ -f "$live" ] && [ ! -L "$live" ]; then
      { IFS= read -r S_LAST <"$live" || true; } 2>/dev/null
      S_LAST=${S_LAST:0:$TK_LAST_LINE_MAX}
    elif [ -z "$S_HEADLESS" ]; then
      S_LAST=$(tk_run_tmux capture-pane -p -t "=$R_RUN:" 2>/dev/null | grep -v '^\[tmuxkit\] ' |
        grep -v '^[[:space:]]*$' | tail -n 1 | cut -b "1-$TK_LAST_LINE_MAX" || true)
    fi
    # Stuck: no output for longer than stuck_after (a stuck_after that is not a number never is).
    S_STATE=$ST_RUNNING
    case $S_LOG_AGE:$R_STUCK_AFTER in *[!0-9:]* | :* | *:) ;; *)
      [ "$S_LOG_AGE" -le "$R_STUCK_AFTER" ] || S_STATE=$ST_STUCK
      ;;
    esac
    [ "$S_STATE" != "$ST_STUCK" ] || ! tk_run_quiet "$now" || S_STATE=$ST_RUNNING S_QUIET=$S_LOG_AGE
  else
    [ -z "$mt" ] || S_LOG_AGE=$((now - mt))
    # The runner may have recorded its end and gone between tk_run_load and now: read it again
    # before calling the run dead with no recorded exit.
    if [ -z "$R_EXIT" ] && [ -f "$R_DIR/exit" ]; then read -r R_EXIT R_ENDED <"$R_DIR/exit" || true; fi
    if [ -z "$R_STOP_REQ" ] && [ -f "$R_DIR/stopped" ]; then
      R_STOP_REQ=1
      read -r R_STOP_RUNG _ <"$R_DIR/stopped" || true
    fi
    if [ -f "$R_DIR/failed" ]; then
      S_STATE=$ST_FAILED
    elif [ -n "$R_STOP_REQ" ]; then
      S_STATE=$ST_STOPPED
    elif [ -n "$R_EXIT" ]; then
      S_STATE=$ST_EXITED
    else
      S_STATE=$ST_DEAD
    fi
  fi
  # With a snapshot (a status call), tk_run_extras reads the last line in the same awk as the rest.
  [ -n "$S_LAST" ] || [ -n "${TK_PS_SNAP:-}" ] || S_LAST=$(tk_last_line "$R_LOG")
}

# tk_pane_v: the loaded run's pane from the tmux snapshot of its socket (one list-panes per socket
# and call): TK_PANE_ACT (#{window_activity}) and TK_PANE_PIPE (1: its log pipe is attached).
# Fails when the run has no session.
tk_pane_v() {
  local rest row
  TK_PANE_ACT='' TK_PANE_PIPE=''
  if [ "${TK_TMUX_SNAP_SOCK-unset}" != "$R_SOCKET" ]; then
    TK_TMUX_SNAP_SOCK=$R_SOCKET
    TK_TMUX_SNAP=$TK_NL$(tk_run_tmux list-panes -a -F '#{session_name}	#{window_activity}	#{pane_pipe}' 2>/dev/null || true)$TK_NL
  fi
  # The session's panes (a user may have split its window): the one with the log pipe, else the
  # first. Only this session's rows are looked at, so many runs cost no more than one each.
  rest=$TK_TMUX_SNAP
  while :; do
    case $rest in *"$TK_NL$R_RUN	"*) ;; *) break ;; esac
    rest=${rest#*"$TK_NL$R_RUN	"}
    row=${rest%%"$TK_NL"*}
    if [ -z "$TK_PANE_ACT" ] || [ "${row#*	}" = 1 ]; then
      TK_PANE_ACT=${row%%	*}
      TK_PANE_PIPE=${row#*	}
    fi
    rest=$TK_NL${rest#*"$TK_NL"}
  done
  [ -n "$TK_PANE_ACT$TK_PANE_PIPE" ]
}

# tk_session_ours NAME OPTION VALUE: true when tmux session NAME exists and its user option
# OPTION is VALUE; TK_SESSION_ID is then that session's tmux id ($N), read in the same query.
# Kill by that id, never by name: a session started under the same name after this check (a
# restart racing cleanup) has another id and is never the one killed.
tk_session_ours() {
  local v
  TK_SESSION_ID=''
  [ -n "$3" ] || return 1
  v=$(tk_run_tmux display-message -p -t "=$1:" "#{session_id} #{$2}" 2>/dev/null) || return 1
  [ "${v#* }" = "$3" ] || return 1
  case ${v%% *} in \$[0-9]*) TK_SESSION_ID=${v%% *} ;; *) return 1 ;; esac
}

# tk_session_kill_if_ours OPTION VALUE: kill session TK_SESSION_ID (from tk_session_ours) only if
# it still carries OPTION=VALUE, checked and killed in one tmux command: the server evaluates the
# condition and runs the kill with nothing in between. (A $id alone is not enough: when the last
# session goes, the tmux server exits, and a new server numbers its sessions from $0 again.)
# Values are run ids and helper marks: no commas, braces or quotes.
tk_session_kill_if_ours() {
  local id=$TK_SESSION_ID
  [ -n "$id" ] || return 1
  tk_run_tmux if-shell -F -t "$id" "#{==:#{$1},$2}" "kill-session -t '$id'" 2>/dev/null || return 1
  # Done when that session is gone or no longer carries the mark; still there and marked, the
  # kill did not happen (say so, never "killed").
  [ "$(tk_run_tmux display-message -p -t "$id" "#{$1}" 2>/dev/null)" != "$2" ]
}

# True when the loaded run's tmux session exists and carries its run id (set by tmuxkit-start);
# TK_SESSION_ID is then its tmux id. Kill it with tk_run_session_kill, never by name.
tk_run_session_is_ours() {
  tk_session_ours "$R_RUN" @tmuxkit_run_id "$R_RUN_ID"
}

# tk_run_session_kill: kill the session tk_run_session_is_ours found, if it is still the run's.
tk_run_session_kill() {
  tk_session_kill_if_ours @tmuxkit_run_id "$R_RUN_ID"
}

# "1" when the run's pane has its log pipe, "0" when not, "" when there is no pane.
tk_run_writer() {
  local v
  v=$(tk_run_tmux display-message -p -t "=$R_RUN:" '#{pane_pipe}' 2>/dev/null) || v=''
  printf '%s\n' "$v"
}

# tk_follow FILE START CHECK: print FILE as it grows (tail -F, which follows
# rotations; START is tail's -n: 0 for new lines only, +1 for all; or cBYTE: from
# byte BYTE on, 1 the first) for as long as the command CHECK succeeds, then one
# second more for the last lines.
tk_follow() {
  [ -f "$1" ] || : >>"$1"
  case $2 in
  c*) tail -c "+${2#c}" -F "$1" 2>/dev/null & ;;
  *) tail -n "$2" -F "$1" 2>/dev/null & ;;
  esac
  TK_TAILPID=$!
  trap 'kill "$TK_TAILPID" 2>/dev/null || true' EXIT
  while "$3"; do sleep 0.5; done
  sleep 1
  kill "$TK_TAILPID" 2>/dev/null || true
}

# The awk function behind tk_run_extras and tk_run_extras_all: extras(ev, pf) reads a run's
# events.jsonl and RUN.progress ("" for none) and sets e (the last event), n (restarts), p (the
# newest progress line) and losses (its last 30 losses, "0.9,0.7,...", oldest first).
# shellcheck disable=SC2016  # an awk program
TK_EXTRAS_AWK='function extras(ev, pf,    line, k, i, l, v, ring) {
  e = ""; n = 0; p = ""; losses = ""
  if (ev != "") {
    last = ""
    while ((getline line < ev) > 0) {
      last = line
      if (index(line, "\"event\":\"resumed\"") || index(line, "\"event\":\"restarted\"")) n++
    }
    close(ev)
    if (match(last, /"event":"[a-z_]*"/)) e = substr(last, RSTART + 9, RLENGTH - 10)
  }
  if (pf != "") {
    k = 0
    while ((getline line < pf) > 0) { k++; ring[k % 30] = line; p = line }
    close(pf)
    for (i = (k > 30 ? k - 29 : 1); i <= k; i++) {
      l = ring[i % 30]
      if (match(l, /[{,]"loss":[-+0-9.eE]+[,}]/)) {
        v = substr(l, RSTART + 8, RLENGTH - 9)
        losses = losses (losses == "" ? "" : ",") v
      }
    }
  }
}
function put() { printf "%s\n%d\n%s\n%s\n", e, n, substr(p, 1, 2000), substr(losses, 1, 2000) }
'

# tk_run_extras_paths: TK_XEV and TK_XPF, the loaded run's events.jsonl and RUN.progress ("" for
# none, and for a RUN.progress that is a symlink: it is never followed).
tk_run_extras_paths() {
  TK_XPF=${R_LOG%"$TK_LOG_SUFFIX"}.progress TK_XEV="$R_DIR/events.jsonl"
  [ -f "$TK_XPF" ] && [ ! -L "$TK_XPF" ] || TK_XPF=''
  [ -f "$TK_XEV" ] || TK_XEV=''
}

# tk_run_extras_split OUT: S_EVENT, S_RESTARTS, S_PROGRESS and S_LOSSES from the four lines put()
# printed; what follows them is left in TK_XREST.
tk_run_extras_split() {
  # A command substitution drops trailing empty lines: a field that is missing is empty.
  TK_XREST=$1
  tk_run_extras_field
  S_EVENT=$TK_XF
  tk_run_extras_field
  S_RESTARTS=$TK_XF
  tk_run_extras_field
  S_PROGRESS=$TK_XF
  tk_run_extras_field
  S_LOSSES=$TK_XF
  case $S_RESTARTS in '' | *[!0-9]*) S_RESTARTS=0 ;; esac
}

# tk_run_extras_field: TK_XF, the first line of TK_XREST (all of it when it has no newline), cut off it.
tk_run_extras_field() {
  case $TK_XREST in
  *"$TK_NL"*)
    TK_XF=${TK_XREST%%"$TK_NL"*}
    TK_XREST=${TK_XREST#*"$TK_NL"}
    ;;
  *) TK_XF=$TK_XREST TK_XREST='' ;;
  esac
}

# tk_run_extras: S_EVENT, S_RESTARTS, S_PROGRESS (the newest line of the run's RUN.progress, the
# JSON object the log writer keeps) and S_LOSSES from events.jsonl and RUN.progress, and S_LAST
# when it is still empty (as tk_last_line: the log's last line that is not tmuxkit's own, from its
# last 16 KiB), all in one awk. Progress and losses go out as JSON strings, for the laptop to
# parse: a damaged file never breaks the host's answer.
tk_run_extras() {
  local out need=0
  S_EVENT='' S_RESTARTS=0 S_PROGRESS='' S_LOSSES=''
  tk_run_extras_paths
  [ -n "$S_LAST" ] || [ ! -f "$R_LOG" ] || need=1
  [ -n "$TK_XPF$TK_XEV" ] || [ "$need" = 1 ] || return 0
  if [ "$need" = 1 ]; then
    # shellcheck disable=SC2016  # an awk program
    out=$(tail -c 16384 "$R_LOG" 2>/dev/null | awk -v ev="$TK_XEV" -v pf="$TK_XPF" -v max="$TK_LAST_LINE_MAX" "$TK_EXTRAS_AWK$TK_LAST_AWK"'
      END { extras(ev, pf); put(); print substr(ll, 1, max) }' 2>/dev/null) || return 0
  else
    out=$(awk -v ev="$TK_XEV" -v pf="$TK_XPF" "$TK_EXTRAS_AWK"'BEGIN { extras(ev, pf); put() }' </dev/null 2>/dev/null) || return 0
  fi
  tk_run_extras_split "$out"
  [ "$need" = 0 ] || S_LAST=$TK_XREST
}

# tk_run_extras_all: the extras of many runs with one awk (a status call with many live runs).
# Reads TK_XLIST (two lines a run: its events.jsonl and RUN.progress, "" for none) and sets
# TK_XOUT to put()'s four lines a run, in the same order; tk_run_extras_next takes them one run
# at a time into S_EVENT, S_RESTARTS, S_PROGRESS and S_LOSSES.
tk_run_extras_all() {
  TK_XOUT=''
  [ -n "${TK_XLIST:-}" ] || return 0
  # shellcheck disable=SC2016  # an awk program
  TK_XOUT=$(printf '%s' "$TK_XLIST" | awk "$TK_EXTRAS_AWK"'NR % 2 == 1 { ev = $0; next } { extras(ev, $0); put() }' 2>/dev/null) || true
  TK_XOUT=$TK_XOUT$TK_NL
}

tk_run_extras_next() {
  tk_run_extras_split "$TK_XOUT"
  TK_XOUT=$TK_XREST
}

# One run as a JSON object (after tk_run_load and tk_run_state).
tk_run_json() {
  tk_run_json_v
  printf '%s' "$TK_RUN_JSON"
}

# tk_run_json_v: the same into TK_RUN_JSON, with no subshell per field.
tk_run_json_v() {
  local writer=none lock_state w j
  if [ "$S_STATE" = "$ST_RUNNING" ] || [ "$S_STATE" = "$ST_STUCK" ]; then
    if [ -n "${TK_PS_SNAP:-}" ]; then w=$S_PIPE; else w=$(tk_run_writer); fi
    case $w in 1) writer=alive ;; 0) writer=dead ;; esac
  fi
  tk_lock_state "$R_LOCK"
  lock_state=$LK_STATE
  TK_RUN_DEFERRED=''
  # Why an ended run ended (named once, at its end, by the runner: lib/cause.bash): a crash's, not
  # a clean exit's nor a stop's (the user's own Ctrl-C is no cause to report).
  local cause=''
  if [ -n "$R_EXIT" ] && [ "$R_EXIT" != 0 ] && [ -z "$R_STOP_REQ" ] && [ -f "$R_DIR/cause" ] && [ ! -L "$R_DIR/cause" ]; then
    IFS= read -r cause <"$R_DIR/cause" || true
  fi
  # A live run whose registered watchdog is gone (see tk_watchdog_lost) shows that as its last event.
  # Its results filesystem, while its watchdog finds it low (runs/RUN/disk_low, lib/alerts.bash).
  local wd_lost='' disk=''
  if [ "$S_STATE" = "$ST_RUNNING" ] || [ "$S_STATE" = "$ST_STUCK" ]; then
    ! tk_watchdog_lost || wd_lost=1
    if [ -f "$R_DIR/disk_low" ] && [ ! -L "$R_DIR/disk_low" ]; then
      read -r disk _ <"$R_DIR/disk_low" || true
      case $disk in '' | *[!0-9]*) disk='' ;; esac
    fi
  fi
  if [ -z "$wd_lost" ] && [ -n "${TK_XDEFER:-}" ] && [ -n "$S_LAST" ] && { [ "$S_STATE" = "$ST_RUNNING" ] || [ "$S_STATE" = "$ST_STUCK" ]; }; then
    # Many runs in one call: their events and progress are read by one awk for all of them
    # (tk_run_extras_all), and tk_run_json_tail ends each object after it.
    tk_run_extras_paths
    case $TK_XEV$TK_XPF in *"$TK_NL"*) tk_run_extras ;; *)
      TK_XLIST="${TK_XLIST:-}$TK_XEV$TK_NL$TK_XPF$TK_NL"
      TK_RUN_DEFERRED=1
      ;;
    esac
  else
    tk_run_extras
    [ -z "$wd_lost" ] || S_EVENT=$EV_WATCHDOG_DEAD
  fi
  case $R_PID$R_RUNNER_PID$R_STARTED$R_ENDED$S_UPTIME$S_LOG_AGE$R_EXIT$R_STUCK_AFTER in *[!0-9]*) ;; *)
    case $R_RUN$S_STATE$R_LOG$S_LAST$R_LOCK$lock_state$R_RESULTS$R_CWD$writer$R_SOCKET in *[\"\\$'\001'-$'\037']*) ;; *)
      # Nothing to escape and every number plain digits (the common case): one assignment.
      tk_json_val_v TK_J "${R_STOP_RUNG#requested}"
      j="{\"run\":\"$R_RUN\",\"session\":\"$R_RUN\",\"state\":\"$S_STATE\",\"pid\":${R_PID:-null},\"runner_pid\":${R_RUNNER_PID:-null}"
      j="$j,\"started_at\":${R_STARTED:-null},\"ended_at\":${R_ENDED:-null},\"uptime_s\":${S_UPTIME:-null}"
      j="$j,\"log_path\":\"$R_LOG\",\"log_age_s\":${S_LOG_AGE:-null},\"last_line\":\"$S_LAST\",\"exit_code\":${R_EXIT:-null}"
      j="$j,\"stop_rung\":$TK_J,\"lock_path\":\"$R_LOCK\",\"lock_state\":\"$lock_state\",\"results\":\"$R_RESULTS\""
      j="$j,\"cwd\":\"$R_CWD\",\"writer\":\"$writer\",\"stuck_after\":${R_STUCK_AFTER:-null},\"socket\":\"$R_SOCKET\""
      if [ -n "$S_HEADLESS" ]; then j="$j,\"headless\":true"; else j="$j,\"headless\":false"; fi
      [ -z "${S_QUIET:-}" ] || j="$j,\"quiet\":true"
      [ -z "$cause" ] || { tk_json_str_v TK_J "$cause" && j="$j,\"cause\":$TK_J"; }
      [ -z "$disk" ] || j="$j,\"disk_low_free_kb\":$disk"
      TK_RUN_JSON=$j
      [ -n "$TK_RUN_DEFERRED" ] || tk_run_json_tail
      return 0
      ;;
    esac
    ;;
  esac
  tk_json_str_v TK_J "$R_RUN"
  j="{\"run\":$TK_J,\"session\":$TK_J"
  tk_json_str_v TK_J "$S_STATE"
  j="$j,\"state\":$TK_J"
  tk_json_val_v TK_J "$R_PID"
  j="$j,\"pid\":$TK_J"
  tk_json_val_v TK_J "$R_RUNNER_PID"
  j="$j,\"runner_pid\":$TK_J"
  tk_json_val_v TK_J "$R_STARTED"
  j="$j,\"started_at\":$TK_J"
  tk_json_val_v TK_J "$R_ENDED"
  j="$j,\"ended_at\":$TK_J"
  tk_json_val_v TK_J "$S_UPTIME"
  j="$j,\"uptime_s\":$TK_J"
  tk_json_str_v TK_J "$R_LOG"
  j="$j,\"log_path\":$TK_J"
  tk_json_val_v TK_J "$S_LOG_AGE"
  j="$j,\"log_age_s\":$TK_J"
  tk_json_str_v TK_J "$S_LAST"
  j="$j,\"last_line\":$TK_J"
  tk_json_val_v TK_J "$R_EXIT"
  j="$j,\"exit_code\":$TK_J"
  tk_json_val_v TK_J "${R_STOP_RUNG#requested}"
  j="$j,\"stop_rung\":$TK_J"
  tk_json_str_v TK_J "$R_LOCK"
  j="$j,\"lock_path\":$TK_J"
  tk_json_str_v TK_J "$lock_state"
  j="$j,\"lock_state\":$TK_J"
  tk_json_str_v TK_J "$R_RESULTS"
  j="$j,\"results\":$TK_J"
  tk_json_str_v TK_J "$R_CWD"
  j="$j,\"cwd\":$TK_J"
  tk_json_str_v TK_J "$writer"
  j="$j,\"writer\":$TK_J"
  tk_json_val_v TK_J "$R_STUCK_AFTER"
  j="$j,\"stuck_after\":$TK_J"
  tk_json_str_v TK_J "$R_SOCKET"
  j="$j,\"socket\":$TK_J"
  if [ -n "$S_HEADLESS" ]; then j="$j,\"headless\":true"; else j="$j,\"headless\":false"; fi
  [ -z "${S_QUIET:-}" ] || j="$j,\"quiet\":true"
  [ -z "$cause" ] || { tk_json_str_v TK_J "$cause" && j="$j,\"cause\":$TK_J"; }
  [ -z "$disk" ] || j="$j,\"disk_low_free_kb\":$disk"
  TK_RUN_JSON=$j
  [ -n "$TK_RUN_DEFERRED" ] || tk_run_json_tail
}

# tk_run_json_tail: end TK_RUN_JSON with the fields from the extras (S_EVENT ... S_LOSSES).
tk_run_json_tail() {
  local j=$TK_RUN_JSON
  tk_json_val_v TK_J "$S_EVENT"
  j="$j,\"last_event\":$TK_J,\"restarts\":${S_RESTARTS:-0}"
  tk_json_val_v TK_J "$S_PROGRESS"
  j="$j,\"progress\":$TK_J"
  tk_json_val_v TK_J "$S_LOSSES"
  TK_RUN_JSON="$j,\"losses\":$TK_J}"
}

# --- many live runs at once (a status call) ---------------------------------------
# tk_run_state and tk_run_json_v judge one run in bash, a few hundred commands each. A status
# call with many live runs has them judged by one awk instead (tk_runs_fast): the same rules, on
# the same snapshots (the process table, each socket's panes, one stat of their files). It answers
# only for the plain case: a live runner (its identity t: or u:, as tk_owner_alive), no exit or
# stop recorded, a last line in RUN.live, a regular lock of at most 4 KiB, numbers that are
# numbers. Every other run it hands back to the bash path, which stays the one definition; a bats
# test holds the two to the same answers.

# tk_runs_fast_paths RUNSDIR CLINES: for the runs of CLINES ("C<TAB>NAME" lines), TK_FAST_SOCKS
# (their tmux sockets, each once, as "K<SOCKET>" lines: "K" alone is tmux's default server) and TK_FAST_PATHS (their log, RUN.live, RUN.progress
# and lock paths, for one stat).
tk_runs_fast_paths() {
  local p1
  # shellcheck disable=SC2016  # an awk program
  p1=$(printf '%s\n' "$2" | awk -v runs="$1" -v logsuf="$TK_LOG_SUFFIX" -v livesuf="$TK_LIVE_SUFFIX" -F '\t' '
    $1 == "C" {
      f = runs "/" $2 "/meta"; lg = ""; lk = ""; sk = ""
      while ((getline l < f) > 0) {
        if (l ~ /^log=/) { lg = substr(l, 5); paths = paths lg "\n" }
        else if (l ~ /^lock=/) lk = substr(l, 6)
        else if (l ~ /^socket=/) sk = substr(l, 8)
      }
      close(f)
      if (lg != "") {
        b = lg
        if (length(b) >= length(logsuf) && substr(b, length(b) - length(logsuf) + 1) == logsuf) b = substr(b, 1, length(b) - length(logsuf))
        paths = paths b livesuf "\n" b ".progress\n"
      }
      if (lk != "") paths = paths lk "\n"
      if (sk ~ /^[A-Za-z0-9_.-]*$/ && !(sk in seen)) { seen[sk] = 1; socks = socks "K" sk "\n" }
    }
    END { printf "%s@@\n%s", socks, paths }')
  TK_FAST_SOCKS=${p1%%"@@$TK_NL"*}
  TK_FAST_PATHS=${p1#*"@@$TK_NL"}
}

# tk_runs_fast_snap RUNSDIR CLINES: the snapshots the runs of CLINES ("C<TAB>NAME" lines) are
# judged on, taken once for all of them: TK_STAT_SNAP (one stat of their log, RUN.live,
# RUN.progress and lock: "MTIME SIZE TYPE<TAB>PATH" lines) and TK_FAST_PANES (each of their
# sockets' panes; the last socket's also kept for tk_pane_v). After tk_snap_take.
tk_runs_fast_snap() {
  local sock all
  tk_runs_fast_paths "$1" "$2"
  TK_STAT_SNAP=$TK_NL$(printf '%s' "$TK_FAST_PATHS" | tk_stat_many_t)$TK_NL
  TK_FAST_PANES=''
  while IFS= read -r sock; do
    case $sock in K*) sock=${sock#K} ;; *) continue ;; esac
    all=$TK_NL$(TMUXKIT_SOCKET=$sock tk_tmux list-panes -a -F '#{session_name}	#{window_activity}	#{pane_pipe}' 2>/dev/null || true)$TK_NL
    TK_TMUX_SNAP_SOCK=$sock TK_TMUX_SNAP=$all
    TK_FAST_PANES="$TK_FAST_PANES@@T	$sock$all"
  done <<EOF
$TK_FAST_SOCKS
EOF
}

# tk_runs_fast RUNSDIR NOW CLINES: after tk_runs_fast_snap, the runs of CLINES judged by one awk.
# TK_FAST is "A<TAB>" and every object, comma-separated, when all were answered; else one line a
# run, in order: "F<TAB>OBJECT" (answered) or "C<TAB>NAME" (for the bash path).
tk_runs_fast() {
  tk_hostname_v # a lock written on another host is alive (as tk_lock_state)
  # shellcheck disable=SC2016  # an awk program
  TK_FAST=$(printf '@@P\n%s\n%s@@S%s@@R\n%s\n' "$TK_PS_RAW" "$TK_FAST_PANES" "$TK_STAT_SNAP" "$3" |
    awk -v runs="$1" -v now="$2" -v max="$TK_LAST_LINE_MAX" -v logsuf="$TK_LOG_SUFFIX" -v livesuf="$TK_LIVE_SUFFIX" \
      -v me="$TK_HOSTNAME" -v def_stuck="$TK_DEF_STUCK_AFTER" -v st_run="$ST_RUNNING" -v st_stuck="$ST_STUCK" -v ev_wd_dead="$EV_WATCHDOG_DEAD" \
      "$TK_EXTRAS_AWK$TK_FAST_AWK" 2>/dev/null) ||
    TK_FAST=$3
}

# shellcheck disable=SC2016  # an awk program
TK_FAST_AWK='
BEGIN { ctl = sprintf("[\"\\\\%c-%c]", 1, 31) }
$0 == "@@P" { sec = "P"; next }
$0 == "@@S" { sec = "S"; next }
$0 == "@@R" { sec = "R"; next }
substr($0, 1, 4) == "@@T\t" { sec = "T"; sock = substr($0, 5); listed[sock] = 1; next }
sec == "P" {
  # "pid stat etime lstart...": as tk_snap_need and tk_pinfo_v take it.
  k = split($0, w, " ")
  if (k < 4 || w[1] !~ /^[1-9][0-9]*$/ || length(w[1]) > 10) next
  pst[w[1]] = w[2]; pet[w[1]] = w[3]; l = w[4]
  for (i = 5; i <= k; i++) l = l " " w[i]
  pls[w[1]] = l
  next
}
sec == "T" {
  # As tk_pane_v: the session pane with the log pipe, else the first.
  if (split($0, w, "\t") < 3) next
  k = sock SUBSEP w[1]
  if (!(k in pact) || pact[k] == "" || w[3] == "1") { pact[k] = w[2]; ppipe[k] = w[3] }
  next
}
sec == "S" {
  i = index($0, "\t")
  if (i == 0) next
  p = substr($0, i + 1); split(substr($0, 1, i - 1), w, " ")
  smt[p] = w[1]; ssz[p] = w[2]; sty[p] = tolower(substr(w[3], 1, 2))
  next
}
sec == "R" && substr($0, 1, 2) == "C\t" {
  name = substr($0, 3)
  j = judge(name)
  if (j == "") { out = out "C\t" name "\n"; deferred = 1 } else { out = out "F\t" j "\n"; objs = objs (objs == "" ? "" : ",") j }
}
END { if (deferred) printf "%s", out; else printf "A\t%s\n", objs }

function first(f,    l, r) {
  # The first line of f; FIRST_OK = 1 when f could be read (an empty file included).
  l = ""; r = (getline l < f); close(f)
  FIRST_OK = (r >= 0)
  return r > 0 ? l : ""
}
function ident(pid,    l, w, f) {
  # As tk_pinfo_v: "t:TICKS" from /proc, else "u:LSTART" from the snapshot; "" for no live process.
  if (!(pid in pst) || substr(pst[pid], 1, 1) == "Z") return ""
  if (pid in idm) return idm[pid]
  f = "/proc/" pid "/stat"; l = "" # probe: where there is no /proc, getline fails and lstart is used
  if ((getline l < f) > 0 && l != "") {
    close(f); sub(/.*\) /, "", l)
    if (split(l, w, " ") >= 20) return idm[pid] = "t:" w[20]
  } else close(f)
  return idm[pid] = "u:" pls[pid]
}
function label1(h) { sub(/\..*/, "", h); return h }
function alive(pid, start,    id) {
  # As tk_owner_alive; -1 for an identity of the old kind (the bash path asks ps for it).
  if (start == "" || pid !~ /^[0-9]+$/) return 0
  if (start !~ /^[tu]:/) return -1
  id = ident(pid)
  return id != "" && id == start
}
function etime(e,    d, n, p, i) {
  # As tk_etime_v: [[dd-]hh:]mm:ss in seconds.
  d = 0; i = index(e, "-")
  if (i) { d = substr(e, 1, i - 1); e = substr(e, i + 1) }
  n = split(e, p, ":")
  if (n >= 3) return d * 86400 + p[1] * 3600 + p[2] * 60 + p[3]
  if (n == 2) return d * 86400 + p[1] * 60 + p[2]
  return d * 86400 + p[1] * 60 + p[1]
}
function js(s,    o, c) {
  # As tk_json_str_v.
  if (s !~ ctl) return "\"" s "\""
  o = ""
  while (match(s, ctl)) {
    c = substr(s, RSTART, 1); o = o substr(s, 1, RSTART - 1)
    if (c == "\"") o = o "\\\""
    else if (c == "\\") o = o "\\\\"
    else if (c == "\t") o = o "\\t"
    else if (c == "\r") o = o "\\r"
    s = substr(s, RSTART + 1)
  }
  return "\"" o s "\""
}
function jv(v) {
  # As tk_json_val_v.
  if (v == "") return "null"
  if (v ~ /^[0-9-]+$/ && v != "-") return v
  return js(v)
}
function judge(name,    wd, wdl, headless, d, f, l, run, cwd, res, lk, lg, started, sk, stuck, rpid, rstart, pid, a, up, mt, act, age, k, b, live, last, state, writer, ls, lpid, lstart, pf, j) {
  d = runs "/" name
  run = ""; cwd = ""; res = ""; lk = ""; lg = ""; started = ""; sk = ""; stuck = def_stuck
  f = d "/meta"; a = 0
  while ((getline l < f) > 0) {
    a = 1
    if (l ~ /^run=/) run = substr(l, 5)
    else if (l ~ /^cwd=/) cwd = substr(l, 5)
    else if (l ~ /^results=/) res = substr(l, 9)
    else if (l ~ /^lock=/) lk = substr(l, 6)
    else if (l ~ /^log=/) lg = substr(l, 5)
    else if (l ~ /^started_at=/) started = substr(l, 12)
    else if (l ~ /^socket=/) sk = substr(l, 8)
    else if (l ~ /^stuck_after=/) stuck = substr(l, 13)
  }
  close(f)
  if (!a || !(sk in listed) || stuck !~ /^[0-9]+$/ || started !~ /^[0-9]*$/) return ""
  # No end or stop recorded (the bash path reads those), and a live runner.
  first(d "/exit"); if (FIRST_OK) return ""
  first(d "/stopped"); if (FIRST_OK) return ""
  first(d "/disk_low"); if (FIRST_OK) return "" # its watchdog found the disk low: the bash path says so
  f = d "/runner"; rpid = ""; rstart = ""
  if ((getline rpid < f) > 0) getline rstart < f
  close(f)
  if (alive(rpid, rstart) != 1) return ""
  pid = first(d "/pid")
  if (pid !~ /^[0-9]*$/) return ""
  up = etime(pet[rpid])
  # Activity: the newer of the log mtime and the pane window activity.
  mt = (lg in smt) ? smt[lg] : ""
  k = sk SUBSEP run
  act = (k in pact) ? pact[k] : ""
  headless = !(k in pact) || pact[k] ppipe[k] == ""
  if (act !~ /^[0-9]+$/) act = ""
  if (act != "" && mt != "" && act + 0 > mt + 0) mt = act
  if (mt == "") mt = act
  age = ""
  if (mt != "") { age = now - mt; if (age < 0) age = 0 }
  b = lg
  if (length(b) >= length(logsuf) && substr(b, length(b) - length(logsuf) + 1) == logsuf) b = substr(b, 1, length(b) - length(logsuf))
  live = b livesuf
  if (sty[live] != "re") return ""
  last = first(live)
  if (last == "" || length(last) > max) return ""
  state = (age != "" && age > stuck + 0) ? st_stuck : st_run
  if (state == st_stuck) { first(d "/quiet"); if (FIRST_OK) return "" } # a watchdog says quiet: the bash path (tk_run_quiet)
  writer = "none"
  if (!headless) { if (ppipe[k] == "1") writer = "alive"; else if (ppipe[k] == "0") writer = "dead" }
  # The lock, as tk_lock_state.
  if (lk == "" || !(lk in sty)) ls = "free"
  else if (sty[lk] == "sy") ls = "symlink"
  else if (sty[lk] != "re") ls = "notfile"
  else if (ssz[lk] + 0 > 4096) return ""
  else {
    lpid = ""; lstart = ""; lhost = ""
    while ((getline l < lk) > 0) {
      if (l ~ /^pid=/) lpid = substr(l, 5)
      else if (l ~ /^start=/) lstart = substr(l, 7)
      else if (l ~ /^host=/) lhost = substr(l, 6)
    }
    close(lk)
    if (lpid !~ /^[0-9]+$/ || lstart == "") ls = "garbage"
    else if (lhost != "" && lhost != "unknown" && me != "" && lhost != me && (label1(lhost) != label1(me) || (lhost ~ /\./ && me ~ /\./))) ls = "alive" # written on another host: as tk_lock_elsewhere
    else {
      a = alive(lpid, lstart)
      if (a < 0) return ""
      ls = a ? "alive" : "stale"
    }
  }
  pf = b ".progress"
  if (sty[pf] != "re") pf = ""
  extras(d "/events.jsonl", pf)
  # As tk_watchdog_lost: a registered watchdog that is no longer alive.
  wdl = first(d "/watchdog")
  if (FIRST_OK && wdl != "") {
    split(wdl, wd, " ")
    a = alive(wd[1], wd[2])
    if (a < 0) return ""
    if (!a) e = ev_wd_dead
  }
  j = "{\"run\":" js(run) ",\"session\":" js(run) ",\"state\":" js(state) ",\"pid\":" jv(pid) ",\"runner_pid\":" jv(rpid)
  j = j ",\"started_at\":" jv(started) ",\"ended_at\":null,\"uptime_s\":" jv(up)
  j = j ",\"log_path\":" js(lg) ",\"log_age_s\":" jv(age) ",\"last_line\":" js(last) ",\"exit_code\":null"
  j = j ",\"stop_rung\":null,\"lock_path\":" js(lk) ",\"lock_state\":" js(ls) ",\"results\":" js(res)
  j = j ",\"cwd\":" js(cwd) ",\"writer\":" js(writer) ",\"stuck_after\":" jv(stuck) ",\"socket\":" js(sk)
  j = j ",\"headless\":" (headless ? "true" : "false")
  j = j ",\"last_event\":" jv(e) ",\"restarts\":" n ",\"progress\":" jv(substr(p, 1, 2000)) ",\"losses\":" jv(substr(losses, 1, 2000)) "}"
  return j
}
'

# Names of all runs known on this host.
tk_run_names() {
  local d
  for d in "$1"/runs/*/; do
    [ -f "$d/meta" ] || continue
    d=${d%/}
    printf '%s\n' "${d##*/}"
  done
}

# --- the run's watchdog: at most one, registered in runs/RUN/watchdog as "PID START" -----------
# PID of the loaded run's registered watchdog while it lives; fails when there is none.
tk_watchdog_pid() {
  local pid='' start=''
  [ -f "$R_DIR/watchdog" ] && [ ! -L "$R_DIR/watchdog" ] || return 1
  read -r pid start <"$R_DIR/watchdog" || true
  tk_owner_alive "$pid" "$start" || return 1
  printf '%s\n' "$pid"
}

# tk_watchdog_lost: true when the loaded run asked for a watchdog (runs/RUN/watchdog, which a
# watchdog removes when it leaves) and that watchdog is no longer alive (killed with -9).
tk_watchdog_lost() {
  [ -f "$R_DIR/watchdog" ] && [ ! -L "$R_DIR/watchdog" ] && ! tk_watchdog_pid >/dev/null 2>&1
}

# tk_watchdog_end [SESSION_TOO]: end the loaded run's watchdog (SIGTERM, SIGKILL after 5 s) and,
# unless SESSION_TOO is 0, its tmux session (only one tmuxkit marked as the run's). Succeeds when a
# live watchdog was ended.
tk_watchdog_end() {
  local pid i=0 name="$R_RUN${TK_HELPER_SEP}watch" ended=1
  if pid=$(tk_watchdog_pid); then
    rm -f "$R_DIR/watchdog"
    kill -TERM "$pid" 2>/dev/null || true
    while tk_pid_alive "$pid" && [ "$i" -lt 50 ]; do
      sleep 0.1
      i=$((i + 1))
    done
    ! tk_pid_alive "$pid" || kill -KILL "$pid" 2>/dev/null || true
    ended=0
  fi
  rm -f "$R_DIR/watchdog"
  if [ "${1:-1}" != 0 ] && tk_session_ours "$name" @tmuxkit_helper "watch:$R_RUN"; then
    tk_session_kill_if_ours @tmuxkit_helper "watch:$R_RUN" || true
  fi
  return "$ended"
}

# tk_watchdog_claim: register this process ($$) as the loaded run's one watchdog, ending any other.
tk_watchdog_claim() {
  local me
  me=$(tk_pstart $$) || return 1
  # Not the session: a detached watchdog runs in it (and --detach has replaced it already).
  tk_watchdog_end 0 || true
  printf '%s %s\n' $$ "$me" >"$R_DIR/watchdog.tmp.$$" && mv -f "$R_DIR/watchdog.tmp.$$" "$R_DIR/watchdog"
}

# True while this process is still the loaded run's registered watchdog.
tk_watchdog_is_me() {
  [ "$(tk_watchdog_pid 2>/dev/null)" = "$$" ]
}
# --- lib/gpu.bash ---
# shellcheck disable=SC2034,SC2153  # globals (TK_GPU_*, GI_*, GA_*, GF_*) are the results callers read; LK_* come from lock.bash
# GPUs: the inventory (nvidia-smi's stable CSV queries, under a time limit), which GPUs are free,
# and the claims that give a GPU to one run at a time.
# Sourced: defines functions only; no options set, nothing created, nothing run.
#
# A claim is a results-lock file (lock.bash) at $TMUXKIT_HOME/gpus/UUID.claim: created whole and at
# once (link(2)), holding its owner's PID and start time (the run's runner), so it is reclaimed only
# when that owner is provably dead. It is taken by the runner (under the queue's mutex, see
# queue.bash) and released by the runner's end; while the run's watchdog is about to restart it,
# the watchdog holds it (tk_gpu_hand_over).

TK_GPU_Q_GPU='--query-gpu=index,uuid,utilization.gpu,memory.used,memory.total'
TK_GPU_Q_APPS='--query-compute-apps=pid,gpu_uuid,used_memory'
TK_GPU_FMT='--format=csv,noheader,nounits'

# tk_gpu_query_begin: nvidia-smi's two queries started side by side in the background, each read
# through a pipe of this shell's (fds 8 and 9: process substitutions), with no file, no temp folder
# and no killer process: tk_gpu_query_end reads them with read's own time limit,
# $TMUXKIT_GPU_TIMEOUT seconds (default 2) from now (a crashed driver hangs nvidia-smi). The caller
# goes on with its own work (status reads its runs meanwhile). No nvidia-smi: nothing is started.
# Not in a subshell: the pipes must be this shell's own. (An argument, a folder, is no longer used.)
# bash 4.4 and later give each query's PID ($!): a query still running at the limit is killed. An
# older bash (3.2: macOS, which has no NVIDIA GPU) runs each query in a subshell that adds a last
# line "@rc=N" once it ended: its read cannot tell the limit from the end of the answer otherwise.
tk_gpu_query_begin() {
  local limit=${TMUXKIT_GPU_TIMEOUT:-2}
  case $limit in '' | *[!0-9]* | 0) limit=2 ;; esac
  TK_GPUQ_G='' TK_GPUQ_A='' TK_GPUQ_LIMIT=$limit TK_GPUQ_BEGUN=1 TK_GPUQ_ON='' TK_GPUQ_T0=''
  command -v nvidia-smi >/dev/null 2>&1 || return 0
  if [ "${BASH_VERSINFO[0]}" -gt 4 ] || { [ "${BASH_VERSINFO[0]}" = 4 ] && [ "${BASH_VERSINFO[1]}" -ge 4 ]; }; then
    TK_GPUQ_NEW=1
  else
    TK_GPUQ_NEW=''
  fi
  # The start, in microseconds where bash tells them (5.0+), else in whole seconds.
  if [ -n "${EPOCHREALTIME:-}" ]; then # probe: bash 5.0+ (unset before)
    TK_GPUQ_T0=${EPOCHREALTIME/[.,]/} # probe: bash 5.0+
  else
    TK_GPUQ_T0=$SECONDS
  fi
  if [ -n "$TK_GPUQ_NEW" ]; then
    exec 8< <(exec nvidia-smi "$TK_GPU_Q_GPU" "$TK_GPU_FMT" 2>&1 </dev/null)
    TK_GPUQ_G=$!
    exec 9< <(exec nvidia-smi "$TK_GPU_Q_APPS" "$TK_GPU_FMT" 2>/dev/null </dev/null)
    TK_GPUQ_A=$!
  else
    # Its first line is the query's PID (to end it at the limit), its last "@rc=N" once it ended.
    exec 8< <(
      exec 2>/dev/null
      nvidia-smi "$TK_GPU_Q_GPU" "$TK_GPU_FMT" 2>&1 </dev/null &
      echo "@pid=$!"
      wait "$!"
      echo "@rc=$?"
    )
    exec 9< <(
      exec 2>/dev/null
      nvidia-smi "$TK_GPU_Q_APPS" "$TK_GPU_FMT" </dev/null &
      echo "@pid=$!"
      wait "$!"
      echo "@rc=$?"
    )
  fi
  TK_GPUQ_ON=1
}

# tk_gpu_query_drop: what tk_gpu_query_begin started, ended and cleared (its answers not wanted).
tk_gpu_query_drop() {
  if [ -n "${TK_GPUQ_ON:-}" ]; then
    exec 8<&- 9<&-
    [ -z "${TK_GPUQ_G:-}" ] || kill -KILL "$TK_GPUQ_G" "$TK_GPUQ_A" 2>/dev/null || true
  fi
  TK_GPUQ_ON='' TK_GPUQ_G='' TK_GPUQ_A='' TK_GPUQ_BEGUN=''
}

# _tk_gpu_query_read VAR FD: VAR = what the query on FD (8 or 9) answered, read until its end or
# the limit (counted from tk_gpu_query_begin). Status: 0 it ended, 1 the limit came first.
_tk_gpu_query_read() {
  local _t _rc=0 _v='' _now
  if [ -n "${EPOCHREALTIME:-}" ]; then # probe: bash 5.0+ (unset before)
    _now=${EPOCHREALTIME/[.,]/} # probe: bash 5.0+
    _t=$((TK_GPUQ_LIMIT * 1000000 - (_now - TK_GPUQ_T0)))
    [ "$_t" -gt 1000 ] || _t=1000
    _t=$(printf '%d.%06d' $((_t / 1000000)) $((_t % 1000000)))
  else
    _t=$((TK_GPUQ_LIMIT - (SECONDS - TK_GPUQ_T0)))
    [ "$_t" -ge 1 ] || _t=1
  fi
  if [ -z "$TK_GPUQ_NEW" ]; then
    # The query's PID first (the subshell says it at once).
    if [ "$2" = 8 ]; then
      IFS= read -r -t "$_t" _v <&8 || true
      TK_GPUQ_G=${_v#@pid=}
    else
      IFS= read -r -t "$_t" _v <&9 || true
      TK_GPUQ_A=${_v#@pid=}
    fi
    _v=''
  fi
  if [ "$2" = 8 ]; then
    IFS= read -r -d '' -t "$_t" _v <&8 || _rc=$?
  else
    IFS= read -r -d '' -t "$_t" _v <&9 || _rc=$?
  fi
  eval "$1=\$_v"
  if [ -n "$TK_GPUQ_NEW" ]; then
    # bash 4 and later: more than 128 is the limit; 1 the answer's end (no NUL in it).
    [ "$_rc" -le 128 ]
  else
    case $_v in *"@rc="[0-9]*) return 0 ;; esac
    return 1
  fi
}

# tk_gpu_inventory: the host's NVIDIA GPUs and the compute apps on them, at most
# $TMUXKIT_GPU_TIMEOUT seconds (default 2) for both queries together (asked side by side). Sets:
#   TK_GPU_STATE  ok | none (no nvidia-smi: no NVIDIA GPU here) | hung | error; TK_GPU_WHY says why
#   TK_GPU_N, GI_IDX[i] GI_UUID[i] GI_UTIL[i] GI_MUSED[i] GI_MTOT[i] ("" where unknown)
#   TK_GPU_NAPPS, GA_PID[j] GA_UUID[j] GA_MEM[j]
tk_gpu_inventory() {
  tk_gpu_query_begin
  tk_gpu_query_end
}

# tk_gpu_query_end: the answers of tk_gpu_query_begin (begun now when it was not), waited for no
# longer than its limit, parsed as tk_gpu_inventory says.
tk_gpu_query_end() {
  local out='' apps='' gok=1 aok=1 rc='' i=0 j=0 a b c d e IFS
  [ -n "${TK_GPUQ_BEGUN:-}" ] || tk_gpu_query_begin
  TK_GPUQ_BEGUN=''
  TK_GPU_STATE=ok TK_GPU_WHY='' TK_GPU_N=0 TK_GPU_NAPPS=0
  GI_IDX=() GI_UUID=() GI_UTIL=() GI_MUSED=() GI_MTOT=() GA_PID=() GA_UUID=() GA_MEM=()
  TK_GPU_APPLE=0
  if [ -z "${TK_GPUQ_ON:-}" ]; then
    TK_GPU_STATE=none TK_GPU_WHY="nvidia-smi not found on $(tk_here)"
    tk_gpu_apple
    return 0
  fi
  _tk_gpu_query_read out 8 || gok=''
  # A hung driver hangs both: the second is not waited for once the first hit the limit.
  if [ -n "$gok" ]; then
    _tk_gpu_query_read apps 9 || aok=''
  else
    aok=''
    # (bash 3.2: its PID, which the subshell said at once, to end it with the first.)
    if [ -z "$TK_GPUQ_NEW" ] && IFS= read -r -t 1 apps <&9; then TK_GPUQ_A=${apps#@pid=}; fi
    apps=''
  fi
  exec 8<&- 9<&-
  TK_GPUQ_ON=''
  # Still running at the limit: ended (a query that ended is gone). The second was not read when
  # the first hit the limit: its PID is known only where bash gave it.
  case ${TK_GPUQ_G:-} in '' | *[!0-9]*) ;; *) [ -n "$gok" ] || kill -KILL "$TK_GPUQ_G" 2>/dev/null || true ;; esac
  case ${TK_GPUQ_A:-} in '' | *[!0-9]*) ;; *) [ -n "$aok" ] || kill -KILL "$TK_GPUQ_A" 2>/dev/null || true ;; esac
  if [ -z "$TK_GPUQ_NEW" ]; then
    # bash 3.2: the subshell's last line, "@rc=N", is its query's exit status.
    if [ -n "$gok" ]; then
      rc=${out##*@rc=}
      rc=${rc%%[!0-9]*}
      out=${out%@rc=*}
    fi
    if [ -n "$aok" ]; then
      case ${apps##*@rc=} in
      0*) apps=${apps%@rc=*} ;;
      *) aok='' apps='' ;;
      esac
    fi
  fi
  if [ -z "$gok" ]; then
    TK_GPU_STATE=hung TK_GPU_WHY="nvidia-smi gave no answer within $TK_GPUQ_LIMIT s (a hung driver?)"
    return 0
  fi
  if [ -z "$aok" ]; then
    TK_GPU_STATE=hung TK_GPU_WHY="nvidia-smi --query-compute-apps gave no answer in time"
    apps=''
  fi
  while IFS=, read -r a b c d e; do
    b=${b# } c=${c# } d=${d# } e=${e# }
    case $a in '' | *[!0-9\ ]*) continue ;; esac
    # nvidia-smi says "[N/A]" where it cannot tell: unknown ("").
    case $c in '' | *[!0-9]*) c='' ;; esac
    case $d in '' | *[!0-9]*) d='' ;; esac
    case $e in '' | *[!0-9]*) e='' ;; esac
    GI_IDX[i]=${a// /} GI_UUID[i]=$b GI_UTIL[i]=$c GI_MUSED[i]=$d GI_MTOT[i]=$e
    i=$((i + 1))
  done <<EOF
$out
EOF
  TK_GPU_N=$i
  # Its exit status where bash 3.2 gave it; else no GPU line in what it said is its failure.
  if { [ -n "$rc" ] && [ "$rc" != 0 ]; } || { [ "$i" = 0 ] && [ -n "${out//[$' \t\n']/}" ]; }; then
    out=${out#"${out%%[![:space:]]*}"}
    TK_GPU_STATE=error TK_GPU_WHY="nvidia-smi --query-gpu failed${rc:+ (exit $rc)}: ${out%%"$TK_NL"*}"
    TK_GPU_N=0
    GI_IDX=() GI_UUID=() GI_UTIL=() GI_MUSED=() GI_MTOT=()
    return 0
  fi
  while IFS=, read -r a b c; do
    b=${b# } c=${c# }
    case $a in '' | *[!0-9\ ]*) continue ;; esac
    case $c in '' | *[!0-9]*) c='' ;; esac
    GA_PID[j]=${a// /} GA_UUID[j]=$b GA_MEM[j]=$c
    j=$((j + 1))
  done <<EOF
$apps
EOF
  TK_GPU_NAPPS=$j
  if [ "$i" = 0 ] && [ "$TK_GPU_STATE" = ok ]; then
    TK_GPU_STATE=none TK_GPU_WHY="nvidia-smi lists no GPU on $(tk_here)"
  fi
  return 0
}

# tk_gpu_apple: on a Mac (ioreg lists an IOAccelerator with a "Device Utilization %"), the Apple
# GPU as one device (GPU 0, UUID APPLE-GPU: runs with gpus = 1 take turns on it, with no
# CUDA_VISIBLE_DEVICES), its utilization, and the memory pressure (TK_GPU_PRESSURE: sysctl
# kern.memorystatus_vm_pressure_level, 1 normal, 2 warning, 4 critical). No sudo.
tk_gpu_apple() {
  local out='' util p=''
  TK_GPU_PRESSURE=''
  command -v ioreg >/dev/null 2>&1 || return 0
  out=$(tk_bounded 2 ioreg -r -d 1 -w 0 -c IOAccelerator 2>/dev/null) || return 0
  case $out in *'"Device Utilization %"'*) ;; *) return 0 ;; esac
  util=${out#*\"Device Utilization %\"=}
  util=${util%%[!0-9]*}
  if command -v sysctl >/dev/null 2>&1; then
    p=$(tk_bounded 2 sysctl -n kern.memorystatus_vm_pressure_level 2>/dev/null) || p=''
  fi
  case $p in '' | *[!0-9]*) p='' ;; esac
  TK_GPU_PRESSURE=$p
  TK_GPU_STATE=ok TK_GPU_WHY='' TK_GPU_APPLE=1 TK_GPU_N=1
  GI_IDX[0]=0 GI_UUID[0]=APPLE-GPU GI_UTIL[0]=$util GI_MUSED[0]='' GI_MTOT[0]=''
}

# tk_gpu_uuid_ok UUID: a name safe as a file name (nvidia-smi's "GPU-xxxxxxxx-..." or "MIG-...").
tk_gpu_uuid_ok() {
  case $1 in '' | .* | *[!A-Za-z0-9_-]*) return 1 ;; esac
}

# tk_gpu_claim_path HOME UUID
tk_gpu_claim_path() {
  printf '%s/gpus/%s.claim\n' "$1" "$2"
}

# tk_gpu_dir HOME: $HOME/gpus, 0700, ours (made when missing).
tk_gpu_dir() {
  local d="$1/gpus"
  if [ -L "$d" ] || { [ -e "$d" ] && { [ ! -d "$d" ] || [ ! -O "$d" ]; }; }; then
    TK_ERR="refusing $d: not a directory owned by you"
    return 1
  fi
  [ -d "$d" ] || (umask 077 && mkdir -p "$d") || {
    TK_ERR="cannot create $d"
    return 1
  }
}

# _tk_gpu_procs: "pid run comm" for each compute app's process (GA_PID): run is the tmuxkit run
# its environment marks it as (TMUXKIT_RUN=...), or "-"; comm its program's name. Only those
# processes are asked about: where /proc/PID/environ can be read (Linux), read by bash itself (no
# process started: status calls this); else one ps -p, not the whole table with its environments.
_tk_gpu_procs() {
  _tk_gpu_procs_v
  printf '%s' "$TK_GPU_PROCS"
}

# _tk_gpu_procs_v: the same into TK_GPU_PROCS (lines), with no subshell where /proc is read.
_tk_gpu_procs_v() {
  local list='' j=0 pid kv run comm
  TK_GPU_PROCS=''
  while [ "$j" -lt "${TK_GPU_NAPPS:-0}" ]; do
    list="$list,${GA_PID[j]}"
    j=$((j + 1))
  done
  list=${list#,}
  [ -n "$list" ] || return 0
  # (TK_GPU_PROC: tests point it elsewhere to take the ps path, as on a Mac.)
  local proc=${TK_GPU_PROC:-/proc}
  if [ -r "$proc/self/environ" ]; then
    j=0
    while [ "$j" -lt "$TK_GPU_NAPPS" ]; do
      pid=${GA_PID[j]} run=- comm=''
      j=$((j + 1))
      # Not in this process table (a container sees the host's PIDs): not listed, as with ps.
      { IFS= read -r comm <"$proc/$pid/comm"; } 2>/dev/null || continue
      # Another user's process (its environment unreadable): not a run of ours, as with ps.
      if [ -r "$proc/$pid/environ" ]; then
        while IFS= read -r -d '' kv; do
          case $kv in TMUXKIT_RUN=*)
            run=${kv#TMUXKIT_RUN=}
            break
            ;;
          esac
        done 2>/dev/null <"$proc/$pid/environ" || true
      fi
      case $run in '' | *[!A-Za-z0-9_-]*) run=- ;; esac
      comm=${comm%% *}
      TK_GPU_PROCS="$TK_GPU_PROCS$pid $run ${comm:-?}$TK_NL"
    done
    return 0
  fi
  # BSD ps shows the environment with -E, GNU ps with the BSD-style word "e" (asked once: proc.bash).
  if [ -z "${_TK_PSENV:-}" ]; then
    if ps -E -p $$ -o pid= >/dev/null 2>&1; then _TK_PSENV=bsd; else _TK_PSENV=gnu; fi
  fi
  TK_GPU_PROCS=$({
    if [ "$_TK_PSENV" = bsd ]; then
      ps -E -ww -p "$list" -o pid=,comm=,command= 2>/dev/null
    else
      ps e -ww -p "$list" -o pid=,comm=,args= 2>/dev/null
    fi || true
  } | awk '{
    c = $2; sub(/.*\//, "", c); r = "-"
    for (i = 3; i <= NF; i++) if (substr($i, 1, 12) == "TMUXKIT_RUN=") { r = substr($i, 13); break }
    print $1, r, c
  }')
}

# tk_gpu_assess HOME [RUN]: after tk_gpu_inventory, each GPU's holder. For every GPU i:
#   GF_STATE[i]  free | claimed | mine (claimed by RUN itself, or its watchdog) | busy
#   GF_WHO[i]    the claim's run, or a description of the foreign use
#   GF_SINCE[i]  when the claim was taken (epoch) or ""
#   GF_RUNMEM[i] MiB that tmuxkit runs' processes hold there ("" unknown)
# TK_GPU_FREE: how many GPUs are free (mine count as free for RUN); TK_GPU_MINE: how many are mine.
# Foreign use: a compute app on it that is not a process of the run that claimed it; in a container,
# whose compute apps are the host's PIDs and not in ps, memory used above max(5 % of the GPU, 1 GiB)
# with no app of tmuxkit's there. TMUXKIT_GPUS_IGNORE_FOREIGN=1: only claims count.
tk_gpu_assess() {
  local home=$1 me=${2:-} i j u claim procs pid run comm mem floor foreign seen line
  GF_STATE=() GF_WHO=() GF_SINCE=() GF_RUNMEM=() GF_CLAIM_PID=() GF_CLAIM_START=() GF_PID=()
  TK_GPU_FREE=0 TK_GPU_MINE=0
  procs=''
  [ "$TK_GPU_NAPPS" = 0 ] || procs=$(_tk_gpu_procs) || procs=""
  i=0
  while [ "$i" -lt "$TK_GPU_N" ]; do
    u=${GI_UUID[i]}
    GF_STATE[i]=free GF_WHO[i]='' GF_SINCE[i]='' GF_RUNMEM[i]='' GF_CLAIM_PID[i]='' GF_CLAIM_START[i]='' GF_PID[i]=''
    if ! tk_gpu_uuid_ok "$u"; then
      GF_STATE[i]=busy GF_WHO[i]="an unusable UUID from nvidia-smi"
      i=$((i + 1))
      continue
    fi
    claim=$(tk_gpu_claim_path "$home" "$u")
    tk_lock_state "$claim"
    case $LK_STATE in
    alive)
      GF_CLAIM_PID[i]=$LK_PID GF_CLAIM_START[i]=$LK_START GF_SINCE[i]=$LK_CREATED
      if [ -n "$me" ] && [ "$LK_RUN" = "$me" ]; then GF_STATE[i]=mine; else GF_STATE[i]=claimed; fi
      GF_WHO[i]="run ${LK_RUN:-?}"
      ;;
    free) ;;
    stale)
      # Its runner ended, and the run's watchdog (which may have re-registered since the hand-over,
      # --detach does) lives to restart it: still the run's.
      if tk_valid_run "$LK_RUN" && tk_gpu_watched "$home" "$LK_RUN"; then
        GF_SINCE[i]=$LK_CREATED GF_WHO[i]="run $LK_RUN"
        if [ -n "$me" ] && [ "$LK_RUN" = "$me" ]; then GF_STATE[i]=mine; else GF_STATE[i]=claimed; fi
      fi
      ;;
    *)
      GF_STATE[i]=busy GF_WHO[i]="its claim file is not a valid tmuxkit claim ($LK_STATE): $claim"
      ;;
    esac
    foreign='' seen=0
    j=0
    while [ "$j" -lt "$TK_GPU_NAPPS" ]; do
      if [ "${GA_UUID[j]}" = "$u" ]; then
        pid=${GA_PID[j]} mem=${GA_MEM[j]}
        run='' comm=''
        line=$(printf '%s\n' "$procs" | awk -v p="$pid" '$1 == p { print $2, $3; exit }')
        [ -z "$line" ] || { run=${line%% *} comm=${line#* }; }
        if [ -n "$run" ] && [ "$run" != - ]; then
          seen=1
          [ -z "$mem" ] || GF_RUNMEM[i]=$((${GF_RUNMEM[i]:-0} + mem))
          # A tmuxkit run's process on a GPU no run of that name claimed: it is in use all the same.
          [ "${GF_STATE[i]}" != free ] || foreign="run $run's PID $pid (${comm:-?}, no claim)"
        elif [ -z "$foreign" ]; then
          GF_PID[i]=$pid
          if [ -n "$run" ]; then
            foreign="PID $pid (${comm:-?}, $(tk_gpu_gib "$mem"), not tmuxkit's)"
          else
            foreign="PID $pid (not visible here: a container?, $(tk_gpu_gib "$mem"))"
          fi
        fi
      fi
      j=$((j + 1))
    done
    if [ -z "$foreign" ] && [ "$seen" = 0 ] && [ -n "${GI_MUSED[i]}" ] && [ -n "${GI_MTOT[i]}" ]; then
      floor=$((GI_MTOT[i] / 20))
      [ "$floor" -ge 1024 ] || floor=1024
      if [ "${GI_MUSED[i]}" -gt "$floor" ]; then
        foreign="@busy: $(tk_gpu_gib "${GI_MUSED[i]}") used by processes not listed here (a container?)"
      fi
    fi
    if [ -n "$foreign" ] && [ "${TMUXKIT_GPUS_IGNORE_FOREIGN:-0}" != 1 ] && [ "${GF_STATE[i]}" = free ]; then
      GF_STATE[i]=busy GF_WHO[i]="used by $foreign"
      case $foreign in @*) GF_WHO[i]=${foreign#@} ;; esac
    fi
    case ${GF_STATE[i]} in free | mine) TK_GPU_FREE=$((TK_GPU_FREE + 1)) ;; esac
    [ "${GF_STATE[i]}" != mine ] || TK_GPU_MINE=$((TK_GPU_MINE + 1))
    i=$((i + 1))
  done
}

# tk_gpu_watched HOME RUN: RUN's registered watchdog lives, and RUN was not stopped.
tk_gpu_watched() {
  local R_DIR="$1/$TK_RUNS_DIR/$2"
  [ ! -f "$R_DIR/stopped" ] && tk_watchdog_pid >/dev/null 2>&1
}

# tk_gpu_gib MIB: "30.0 GiB" ("? GiB" when unknown).
tk_gpu_gib() {
  case $1 in '' | *[!0-9]*)
    printf '? GiB'
    return 0
    ;;
  esac
  printf '%d.%d GiB' $(($1 / 1024)) $((($1 % 1024) * 10 / 1024))
}

# tk_gpu_blockers: "GPU 0 held by run a, GPU 1 used by PID 4242 (...)" for every GPU not free.
tk_gpu_blockers() {
  local i=0 out=''
  while [ "$i" -lt "$TK_GPU_N" ]; do
    case ${GF_STATE[i]} in
    claimed) out="$out, GPU ${GI_IDX[i]} held by ${GF_WHO[i]}" ;;
    busy) out="$out, GPU ${GI_IDX[i]} ${GF_WHO[i]}" ;;
    esac
    i=$((i + 1))
  done
  printf '%s' "${out#, }"
}

# tk_gpu_pick N: the first N free (or mine) GPUs in nvidia-smi's (PCI bus) order, as
# TK_GPU_PICK_IDX ("0,1") and TK_GPU_PICK_UUID ("GPU-a,GPU-b"); mine first. 1 when too few.
tk_gpu_pick() {
  local n=$1 i k=0 pass
  TK_GPU_PICK_IDX='' TK_GPU_PICK_UUID=''
  for pass in mine free; do
    i=0
    while [ "$i" -lt "$TK_GPU_N" ] && [ "$k" -lt "$n" ]; do
      if [ "${GF_STATE[i]}" = "$pass" ]; then
        TK_GPU_PICK_IDX="$TK_GPU_PICK_IDX,${GI_IDX[i]}" TK_GPU_PICK_UUID="$TK_GPU_PICK_UUID,${GI_UUID[i]}"
        k=$((k + 1))
      fi
      i=$((i + 1))
    done
  done
  TK_GPU_PICK_IDX=${TK_GPU_PICK_IDX#,} TK_GPU_PICK_UUID=${TK_GPU_PICK_UUID#,}
  # The Apple GPU is claimed like any other, but CUDA has nothing to be told.
  [ "${TK_GPU_APPLE:-0}" != 1 ] || TK_GPU_PICK_IDX=''
  [ "$k" -ge "$n" ]
}

# tk_gpu_claim_all HOME UUIDS PID START RUN RUN_ID: claim every GPU of the comma-separated UUIDS for
# PID/START (the runner). A claim of the same run name (held by its watchdog across a restart) is
# taken over; a stale one is reclaimed. All or nothing: 1 (TK_ERR says why) releases what it took.
tk_gpu_claim_all() {
  local home=$1 uuids=$2 pid=$3 start=$4 run=$5 id=$6 u got='' c rc IFS=,
  tk_gpu_dir "$home" || return 1
  for u in $uuids; do
    IFS=$' \t\n'
    tk_gpu_uuid_ok "$u" || {
      TK_ERR="bad GPU UUID: $u"
      tk_gpu_release_all "$home" "$got" "$pid" "$start"
      return 1
    }
    c=$(tk_gpu_claim_path "$home" "$u")
    tk_lock_state "$c"
    if [ "$LK_STATE" = alive ] && [ "$LK_RUN" = "$run" ]; then
      # Handed over by this run's watchdog across a restart: rewritten whole for the new runner.
      tk_write "$c" "$(printf 'pid=%s\nstart=%s\nhost=%s\nrun=%s\nsession=%s\nrun_id=%s\ncreated=%s\n' \
        "$pid" "$start" "$(tk_here)" "$run" "$run" "$id" "${LK_CREATED:-$(date +%s)}")" || rc=1
    else
      rc=0
      tk_lock_acquire "$c" "$pid" "$start" "$run" "$run" "$id" || rc=$?
    fi
    if [ "${rc:-0}" != 0 ]; then
      TK_ERR="GPU $u: ${TK_ERR:-cannot claim it}"
      tk_gpu_release_all "$home" "$got" "$pid" "$start"
      return 1
    fi
    got="$got,$u"
    IFS=,
  done
  IFS=$' \t\n'
  return 0
}

# tk_gpu_release_all HOME UUIDS PID START: release each claim that PID/START holds.
tk_gpu_release_all() {
  local home=$1 u IFS=,
  for u in $2; do
    tk_gpu_uuid_ok "$u" || continue
    tk_lock_release "$(tk_gpu_claim_path "$home" "$u")" "$3" "$4" 2>/dev/null || true
  done
}

# tk_gpu_hand_over HOME UUIDS PID START NEWPID NEWSTART: the claims PID/START holds, rewritten for
# NEWPID/NEWSTART (the run's watchdog, which restarts it): the GPUs stay the run's.
tk_gpu_hand_over() {
  local home=$1 u c IFS=,
  for u in $2; do
    tk_gpu_uuid_ok "$u" || continue
    c=$(tk_gpu_claim_path "$home" "$u")
    tk_lock_read "$c" 2>/dev/null || continue
    if [ "$LK_PID" != "$3" ] || [ "$LK_START" != "$4" ]; then continue; fi
    tk_write "$c" "$(printf 'pid=%s\nstart=%s\nhost=%s\nrun=%s\nsession=%s\nrun_id=%s\ncreated=%s\n' \
      "$5" "$6" "$LK_HOST" "$LK_RUN" "$LK_SESSION" "$LK_RUN_ID" "$LK_CREATED")" || true
  done
}

# tk_gpu_check_args GPUS AFTER ENV...: start's rules for --gpus and --after (exit 2, one line).
tk_gpu_check_args() {
  local n=$1 after=$2 kv
  shift 2
  case $n in '' | *[!0-9]*) tk_die "$EX_USAGE" "--gpus needs a whole number, got '$n'" ;; esac
  [ "${#n}" -le 3 ] || tk_die "$EX_USAGE" "--gpus $n: too many"
  [ -z "$after" ] || tk_valid_run "$after" || tk_die "$EX_USAGE" "--after: invalid run name '$after': $TK_RUN_NAME_RULE"
  [ "$n" -gt 0 ] || return 0
  for kv in "$@"; do
    case $kv in CUDA_VISIBLE_DEVICES=*)
      tk_die "$EX_USAGE" "the run's env sets CUDA_VISIBLE_DEVICES while gpus = $n: tmuxkit gives the run its GPUs; drop one of them"
      ;;
    esac
  done
}

# tk_gpu_run_end HOME UUIDS PID START: the runner's end (the run loaded). A run that was not stopped
# and has a live watchdog keeps its GPUs across the watchdog's restart (the watchdog holds them,
# until it restarts the run or ends); otherwise they are freed.
tk_gpu_run_end() {
  local wpid wstart=''
  [ -n "$2" ] || return 0
  if [ ! -f "$R_DIR/stopped" ] && wpid=$(tk_watchdog_pid 2>/dev/null); then
    read -r _ wstart <"$R_DIR/watchdog" 2>/dev/null || true
    if [ -n "$wstart" ]; then
      tk_gpu_hand_over "$1" "$2" "$3" "$4" "$wpid" "$wstart"
      return 0
    fi
  fi
  tk_gpu_release_all "$1" "$2" "$3" "$4"
}

# tk_gpu_status_begin HOME [RUN...]: at the start of a status report, nvidia-smi's queries begun in
# the background (tk_gpu_query_begin) when a claim names one of the runs it shows (all runs when
# none is named): they run while status reads its runs, and tk_gpu_status_rows collects them.
# Status of runs without GPUs starts no nvidia-smi. Only reads the claim files' run= lines.
tk_gpu_status_begin() {
  local home=$1 c line want=''
  shift
  TK_GPUQ_BEGUN=''
  # Our own folder (tk_gpu_dir made it 0700) or nothing: its claims say whether to ask.
  if [ ! -d "$home/gpus" ] || [ -L "$home/gpus" ] || [ ! -O "$home/gpus" ]; then return 0; fi
  # The answers an earlier tmuxkit's status wrote here and left when it was killed by its deadline
  # (its PID gone): this one writes none (its queries answer through pipes).
  for c in "$home"/gpus/.query.*.gpu; do
    [ -f "$c" ] || continue
    line=${c%.gpu}
    line=${line##*.query.}
    case $line in '' | *[!0-9]*) continue ;; esac
    if ! kill -0 "$line" 2>/dev/null; then rm -f "$home/gpus/.query.$line.gpu" "$home/gpus/.query.$line.err" "$home/gpus/.query.$line.apps"; fi
  done
  for c in "$home"/gpus/*.claim; do
    if [ ! -f "$c" ] || [ -L "$c" ]; then continue; fi
    want=''
    while IFS= read -r line; do
      case $line in run=*)
        want=${line#run=}
        break
        ;;
      esac
    done <"$c" 2>/dev/null || true
    [ -n "$want" ] || continue
    if [ $# = 0 ]; then
      tk_gpu_query_begin
      return 0
    fi
    for line in "$@"; do
      if [ "$line" = "$want" ]; then
        tk_gpu_query_begin
        return 0
      fi
    done
  done
}

# tk_gpu_status_rows HOME: each live run's GPUs, put into its status row in J_RUNS as
# "gpus":[{index, uuid, util_pct, run_mem_mib, mem_used_mib, mem_total_mib}] (and "gpus_error"
# when nvidia-smi could not tell: a hung driver). nvidia-smi is asked once (its two queries, side by
# side, begun by tk_gpu_status_begin when status called it), and only when a run shown holds a
# claim: status on a box without GPU runs costs nothing more.
tk_gpu_status_rows() {
  local home=$1 c u runs='' run done_runs=' ' list i j mem procs pid r line item err='' js jv1 jv2 jv3
  for c in "$home"/gpus/*.claim; do
    if [ ! -f "$c" ] || [ -L "$c" ]; then continue; fi
    tk_lock_state "$c"
    [ "$LK_STATE" = alive ] || continue
    # Only the runs this report shows: status RUN of a run without GPUs asks no nvidia-smi.
    case $J_RUNS in *"{\"run\":\"$LK_RUN\","*) ;; *) continue ;; esac
    u=${c##*/}
    u=${u%.claim}
    runs="$runs$LK_RUN $u$TK_NL"
  done
  if [ -z "$runs" ]; then
    # Begun for a claim whose run is not live (or not shown): not wanted.
    [ -z "${TK_GPUQ_BEGUN:-}" ] || tk_gpu_query_drop
    return 0
  fi
  tk_gpu_query_end
  [ "$TK_GPU_STATE" = ok ] || err=$TK_GPU_WHY
  procs=''
  if [ "${TK_GPU_NAPPS:-0}" != 0 ]; then
    _tk_gpu_procs_v
    procs=$TK_GPU_PROCS
  fi
  # Each app's run, by app index (no process started per run or per GPU).
  local -a app_run
  app_run=()
  j=0
  while [ "$j" -lt "${TK_GPU_NAPPS:-0}" ]; do
    app_run[j]=-
    while read -r pid r _; do
      if [ "$pid" = "${GA_PID[j]}" ]; then
        app_run[j]=$r
        break
      fi
    done <<EOF
$procs
EOF
    j=$((j + 1))
  done
  while read -r run _; do
    [ -n "$run" ] || continue
    case $done_runs in *" $run "*) continue ;; esac
    done_runs="$done_runs$run "
    list=''
    while read -r r u; do
      [ "$r" = "$run" ] || continue
      item=''
      i=0
      while [ "$i" -lt "${TK_GPU_N:-0}" ]; do
        if [ "${GI_UUID[i]}" = "$u" ]; then
          mem=0 j=0
          while [ "$j" -lt "$TK_GPU_NAPPS" ]; do
            if [ "${GA_UUID[j]}" = "$u" ] && [ "${app_run[j]}" = "$run" ]; then mem=$((mem + ${GA_MEM[j]:-0})); fi
            j=$((j + 1))
          done
          tk_json_str_v js "$u"
          tk_json_val_v jv1 "${GI_UTIL[i]}"
          tk_json_val_v jv2 "${GI_MUSED[i]}"
          tk_json_val_v jv3 "${GI_MTOT[i]}"
          item="{\"index\":${GI_IDX[i]},\"uuid\":$js,\"util_pct\":$jv1,\"run_mem_mib\":$mem,\"mem_used_mib\":$jv2,\"mem_total_mib\":$jv3}"
        fi
        i=$((i + 1))
      done
      if [ -z "$item" ]; then
        tk_json_str_v js "$u"
        item="{\"index\":null,\"uuid\":$js,\"util_pct\":null,\"run_mem_mib\":null,\"mem_used_mib\":null,\"mem_total_mib\":null}"
      fi
      list="$list,$item"
    done <<EOF
$runs
EOF
    item="\"gpus\":[${list#,}]"
    if [ -n "$err" ]; then
      tk_json_str_v js "$err"
      item="$item,\"gpus_error\":$js"
    fi
    J_RUNS=${J_RUNS//"{\"run\":\"$run\","/"{\"run\":\"$run\",$item,"}
  done <<EOF
$runs
EOF
}

# tk_gpu_util_of PIDS: the highest utilization (percent) of the GPUs that PIDS (space-separated)
# use, or of all GPUs when nvidia-smi does not say which they use: the watchdogs' GPU-idle rule
# (tmuxkit-watch on a tmux host, the Slurm watchdog's probe on the compute node). Each query
# bounded (a hung driver); fails when there is no nvidia-smi or no reading.
tk_gpu_util_of() {
  local apps gpus uuids
  command -v nvidia-smi >/dev/null 2>&1 || return 1
  gpus=$(tk_bounded 5 nvidia-smi --query-gpu=uuid,utilization.gpu --format=csv,noheader,nounits 2>/dev/null) || return 1
  apps=$(tk_bounded 5 nvidia-smi --query-compute-apps=pid,gpu_uuid --format=csv,noheader,nounits 2>/dev/null) || apps=''
  uuids=$(printf '%s\n' "$apps" | awk -F', *' -v pids=" $1 " 'index(pids, " " $1 " ") { print $2 }')
  printf '%s\n' "$gpus" | awk -F', *' -v want="$uuids" '
    BEGIN { n = split(want, w, "\n"); for (i = 1; i <= n; i++) if (w[i] != "") sel[w[i]] = 1 }
    $2 ~ /^[0-9]+$/ { if (n == 0 || ($1 in sel)) { if (!seen || $2 > max) max = $2; seen = 1 } }
    END { if (!seen) exit 1; print max }'
}
# --- lib/queue.bash ---
# shellcheck disable=SC2034,SC2153  # globals (TK_Q_*, Q_*) are the results callers read; ST_* come from contract.bash
# The host's queue: runs that wait for GPUs (or for another run) with the laptop gone.
# Sourced: defines functions only; no options set, nothing created, nothing run.
#
# $TMUXKIT_HOME/queue/ (0700) holds one folder per waiting run, SEQ.RUN (SEQ: 10 digits, first in,
# first out): argv (tmuxkit-start's arguments, NUL-separated), env (0600, NAME=VALUE lines: what
# came on stdin never goes on a command line), pwd (where start was called), gpus, after,
# queued_at; blocked (one line) once it can never start (its --after run failed or was stopped).
# Plain files: the queue survives `tmux kill-server`. A mutex (a results-lock file, queue/mutex,
# owned by one start at a time: PID plus start time, reclaimed only from a dead owner) makes the
# look at free GPUs and the runner's claim of them one step, so two starts never take one GPU.
#
# Who goes next: first in, first out. A waiting run reserves the free GPUs up to its count, so a
# later, smaller run starts ahead of it only onto GPUs that no earlier waiting run needs: it never
# delays one, and no run starves. A run waiting for --after OTHER reserves nothing until OTHER
# exited 0.

tk_queue_dir() {
  local d="$1/queue"
  if [ -L "$d" ] || { [ -e "$d" ] && { [ ! -d "$d" ] || [ ! -O "$d" ]; }; }; then
    TK_ERR="refusing $d: not a directory owned by you"
    return 1
  fi
  [ -d "$d" ] || (umask 077 && mkdir -p "$d") || {
    TK_ERR="cannot create $d"
    return 1
  }
}

# tk_queue_mutex_take HOME: this process ($$) holds queue/mutex; waits up to 60 s for another.
tk_queue_mutex_take() {
  local m="$1/queue/mutex" me i=0 rc
  tk_queue_dir "$1" || return 1
  me=$(tk_pstart $$) || {
    TK_ERR="cannot read this process's start time (ps)"
    return 1
  }
  while :; do
    rc=0
    tk_lock_acquire "$m" $$ "$me" queue queue "queue.$$" || rc=$?
    [ "$rc" != 0 ] || {
      TK_Q_MUTEX=$m TK_Q_MUTEX_START=$me
      return 0
    }
    [ "$rc" = "$EX_LOCKED" ] || return 1
    i=$((i + 1))
    [ "$i" -lt 3000 ] || {
      TK_ERR="the host queue's mutex stayed busy for a minute: $m"
      return 1
    }
    sleep 0.02
  done
}

tk_queue_mutex_drop() {
  [ -z "${TK_Q_MUTEX:-}" ] || tk_lock_release "$TK_Q_MUTEX" $$ "$TK_Q_MUTEX_START" 2>/dev/null || true
  TK_Q_MUTEX=''
}

# tk_queue_entries HOME: the entries' folder names, oldest first.
tk_queue_entries() {
  local d
  for d in "$1"/queue/[0-9]*.*/; do
    if [ ! -d "$d" ] || [ -L "${d%/}" ]; then continue; fi
    d=${d%/}
    printf '%s\n' "${d##*/}"
  done
}

# tk_queue_find HOME RUN: the entry of RUN (its folder name), if it is queued.
tk_queue_find() {
  local e
  for e in $(tk_queue_entries "$1"); do
    [ "${e#*.}" != "$2" ] || {
      printf '%s\n' "$e"
      return 0
    }
  done
  return 1
}

# tk_queue_read DIR: Q_GPUS Q_AFTER Q_AT Q_BLOCKED of an entry folder.
tk_queue_read() {
  Q_GPUS=0 Q_AFTER='' Q_AT='' Q_BLOCKED=''
  [ ! -f "$1/gpus" ] || read -r Q_GPUS <"$1/gpus" || true
  [ ! -f "$1/after" ] || read -r Q_AFTER <"$1/after" || true
  [ ! -f "$1/queued_at" ] || read -r Q_AT <"$1/queued_at" || true
  [ ! -f "$1/blocked" ] || IFS= read -r Q_BLOCKED <"$1/blocked" || true
  case $Q_GPUS in '' | *[!0-9]*) Q_GPUS=0 ;; esac
}

# tk_queue_after HOME OTHER SINCE: where OTHER stands for a run waiting on it. TK_Q_AFTER:
# done (exited 0 after SINCE) | wait (running, queued, not yet started again) | failed (TK_Q_WHY).
tk_queue_after() {
  local d="$1/$TK_RUNS_DIR/$2" code='' ended=''
  TK_Q_AFTER=wait TK_Q_WHY=''
  if tk_queue_find "$1" "$2" >/dev/null; then return 0; fi
  [ -f "$d/meta" ] || {
    TK_Q_AFTER=failed TK_Q_WHY="run $2 does not exist on $(tk_here)"
    return 0
  }
  [ -f "$d/exit" ] || return 0 # running (or starting)
  read -r code ended <"$d/exit" || true
  # An exit from before this run was queued belongs to an earlier life of OTHER.
  case $ended in '' | *[!0-9]*) ended=0 ;; esac
  [ "$ended" -ge "${3:-0}" ] || return 0
  if [ -f "$d/stopped" ]; then
    TK_Q_AFTER=failed TK_Q_WHY="run $2 was stopped (exit $code)"
  elif [ "$code" = 0 ]; then
    TK_Q_AFTER="done"
  else
    TK_Q_AFTER=failed TK_Q_WHY="run $2 failed (exit $code)"
  fi
}

# tk_queue_reserved HOME SELF: GPUs that the eligible waiting entries before SELF (an entry name;
# "" = all of them: a new start goes last) reserve, into TK_Q_RESERVED; TK_Q_AHEAD: how many wait
# before it.
tk_queue_reserved() {
  local e
  TK_Q_RESERVED=0 TK_Q_AHEAD=0
  for e in $(tk_queue_entries "$1"); do
    [ "$e" != "$2" ] || break
    tk_queue_read "$1/queue/$e"
    [ -z "$Q_BLOCKED" ] || continue
    TK_Q_AHEAD=$((TK_Q_AHEAD + 1))
    if [ -n "$Q_AFTER" ]; then
      tk_queue_after "$1" "$Q_AFTER" "$Q_AT"
      [ "$TK_Q_AFTER" = "done" ] || continue
    fi
    TK_Q_RESERVED=$((TK_Q_RESERVED + Q_GPUS))
  done
}

# tk_queue_live_runs HOME: how many runs live on this host (their runner alive).
tk_queue_live_runs() {
  local n=0 r
  for r in $(tk_run_names "$1"); do
    tk_run_load "$1/$TK_RUNS_DIR/$r"
    if tk_runner_alive; then n=$((n + 1)); fi
  done
  printf '%s\n' "$n"
}

# tk_ordinal N: 1st 2nd 3rd 4th... 11th 12th 13th 21st
tk_ordinal() {
  case $1 in
  *1[123]) printf '%sth' "$1" ;;
  *1) printf '%sst' "$1" ;;
  *2) printf '%snd' "$1" ;;
  *3) printf '%srd' "$1" ;;
  *) printf '%sth' "$1" ;;
  esac
}

# tk_queue_add HOME RUN GPUS AFTER WHY: a new entry at the queue's end, from TK_START_ARGV (the
# start's arguments) and the caller's envs array; the mutex is held. TK_Q_ENTRY: its name.
tk_queue_add() {
  local home=$1 run=$2 seq=0 tmp a kv
  [ ! -f "$home/queue/seq" ] || read -r seq <"$home/queue/seq" || true
  case $seq in '' | *[!0-9]*) seq=0 ;; esac
  seq=$((10#$seq + 1))
  tk_write "$home/queue/seq" "$seq$TK_NL" || return 1
  tmp=$(mktemp -d "$home/queue/.new.XXXXXX") || return 1
  (
    umask 077
    for a in ${TK_START_ARGV[@]+"${TK_START_ARGV[@]}"}; do printf '%s\0' "$a"; done >"$tmp/argv"
    : >"$tmp/env"
    # shellcheck disable=SC2154  # envs: the calling start's array (dynamic scope)
    for kv in ${envs[@]+"${envs[@]}"}; do printf '%s\n' "$kv"; done >"$tmp/env"
    printf '%s\n' "$PWD" >"$tmp/pwd"
    printf '%s\n' "$3" >"$tmp/gpus"
    printf '%s\n' "$4" >"$tmp/after"
    printf '%s\n' "$5" >"$tmp/waiting_for"
    date +%s >"$tmp/queued_at"
  ) || {
    rm -rf "$tmp"
    return 1
  }
  TK_Q_ENTRY=$(printf '%010d.%s' "$seq" "$run")
  mv "$tmp" "$home/queue/$TK_Q_ENTRY" || {
    rm -rf "$tmp"
    return 1
  }
}

# tk_queue_remove HOME ENTRY: the entry's folder, gone (only a folder of ours under queue/).
tk_queue_remove() {
  local d="$1/queue/$2"
  case $2 in '' | */* | .*) return 1 ;; esac
  [ -d "$d" ] && [ ! -L "$d" ] && [ -O "$d" ] || return 1
  rm -rf "$d"
}

# tk_queue_event HOME RUN KIND WHY: an event in runs/RUN/events.jsonl (the folder made if need be),
# a line on stderr, and, for an event worth a notification (blocked, queue_refused) of a run with
# targets (runs/RUN/notify, kept there when it was queued), the notification, sent from this host
# by tmuxkit-watch --notify-event in the background (the laptop may be gone).
tk_queue_event() {
  local d="$1/$TK_RUNS_DIR/$2"
  [ -d "$d" ] || (umask 077 && mkdir -p "$d") 2>/dev/null || true
  if [ -d "$d" ] && [ ! -L "$d" ] && [ ! -L "$d/$TK_EVENTS_FILE" ]; then
    printf '{"ts":%s,"id":"%s","run":%s,"event":%s,"why":%s}\n' "$(date +%s)" "$(tk_event_id)" \
      "$(tk_json_str "$2")" "$(tk_json_str "$3")" "$(tk_json_str "$4")" >>"$d/$TK_EVENTS_FILE" 2>/dev/null || true
  fi
  tk_warn "$2: $3: $4"
  case " $TK_NOTIFY_EVENTS " in *" $3 "*)
    if [ ! -L "$d" ] && [ -s "$d/notify" ]; then
      (
        trap '' HUP INT TERM
        TMUXKIT_HOME=$1 exec bash "$TK_BIN/tmuxkit-watch" "$2" --notify-event "$3" ",\"reason\":$(tk_json_str "$4")"
      ) </dev/null >/dev/null 2>&1 &
    fi
    ;;
  esac
}

# tk_queue_watch_later HOME RUN ARGS...: the options of RUN's watchdog (tmuxkit-watch --detach),
# kept with its queue entry (watch: NUL-separated) for tmuxkit-queue to start it once RUN runs.
tk_queue_watch_later() {
  local home=$1 run=$2 e a
  shift 2
  e=$(tk_queue_find "$home" "$run") || {
    TK_ERR="run '$run' is not queued on $(tk_here)"
    return 1
  }
  if (
    umask 077
    for a in "$@"; do printf '%s\0' "$a"; done >"$home/queue/$e/watch.tmp.$$"
  ) && mv -f "$home/queue/$e/watch.tmp.$$" "$home/queue/$e/watch"; then
    return 0
  fi
  rm -f "$home/queue/$e/watch.tmp.$$"
  TK_ERR="cannot write $home/queue/$e/watch"
  return 1
}

# tk_queue_notify_prep HOME RUN STDIN EVENT: for tmuxkit-watch, whether the notification work is the
# queue's: EVENT given (a queue event: the run may never have started), or STDIN=1 (targets
# coming) for a run that waits in the queue. Then RUN's folder is there (0700, made if need be) and
# loaded as far as it holds anything (R_DIR), with no earlier life's start or log to describe.
tk_queue_notify_prep() {
  local d="$1/$TK_RUNS_DIR/$2"
  if [ -z "$4" ]; then
    [ "$3" = 1 ] && tk_valid_run "$2" && tk_queue_find "$1" "$2" >/dev/null || return 1
  fi
  tk_check_run "$2"
  case $4 in '' | *[!a-z_]*) [ -z "$4" ] || tk_die "$EX_USAGE" "--notify-event: not an event name: '$4'" ;; esac
  if [ -L "$d" ] || { [ -e "$d" ] && [ ! -d "$d" ]; }; then tk_die "$EX_FAIL" "refusing $d: not a folder of ours"; fi
  [ -d "$d" ] || (umask 077 && mkdir -p "$d") || tk_die "$EX_FAIL" "cannot create $d"
  tk_run_load "$d"
  R_STARTED='' R_LOG=''
}

# tk_queue_kick HOME: a dispatch pass in the background (tk_queue_dispatch), out of the caller's
# way and its signals: the runner's end, so the next queued run starts within moments of it, with no
# laptop and no poll. A subshell of the runner, which has every library loaded (no bash to start).
# HUP, INT and TERM are ignored by the caller before the fork, not by the child: the runner's end
# closes its pane's terminal, and a SIGHUP that came before the child had set a trap of its own
# ended the pass (the next run then waited for the dispatcher's poll, 5 s).
tk_queue_kick() {
  [ -d "$1/queue" ] || return 0
  trap '' HUP INT TERM
  (
    exec </dev/null >/dev/null 2>&1
    # This subshell's own PID (bash 3.2 has no BASHPID): sh's parent, as sh is exec'd in place.
    # shellcheck disable=SC2016  # sh expands it
    tk_queue_dispatch "$1" "${BASHPID:-$(exec sh -c 'echo "$PPID"')}"
  ) &
}

# _tk_queue_try HOME ENTRY: one entry's turn: tmuxkit-start with its stored arguments, from where it
# was called. A refusal takes it out of the queue, with an event; a run waiting for --after OTHER
# whose OTHER failed or was stopped is marked blocked, naming OTHER, with an event.
_tk_queue_try() {
  local home=$1 e=$2 d="$1/queue/$2" run=${2#*.} wd out rc=0 a
  local -a argv wargs
  local watch=0
  argv=() wargs=()
  tk_queue_read "$d"
  [ -z "$Q_BLOCKED" ] || return 0
  if [ -n "$Q_AFTER" ]; then
    tk_queue_after "$home" "$Q_AFTER" "$Q_AT"
    case $TK_Q_AFTER in
    wait) return 0 ;;
    failed)
      tk_write "$d/blocked" "never started: $TK_Q_WHY$TK_NL" || true
      tk_queue_event "$home" "$run" blocked "never started: $TK_Q_WHY"
      return 0
      ;;
    esac
  fi
  while IFS= read -r -d '' a; do argv+=("$a"); done <"$d/argv"
  # Its watchdog's options (start --watch of a queued run): read now, the entry goes once it starts.
  if [ -f "$d/watch" ] && [ ! -L "$d/watch" ]; then
    watch=1
    while IFS= read -r -d '' a; do wargs+=("$a"); done <"$d/watch"
  fi
  IFS= read -r wd <"$d/pwd" || wd=/
  out=$(cd "$wd" 2>/dev/null || cd /; TMUXKIT_HOME=$home exec bash "$TK_BIN/tmuxkit-start" ${argv[@]+"${argv[@]}"} \
    "$OPT_ENV_STDIN" "$OPT_EARLY_WAIT" 0 "$OPT_FROM_QUEUE" "$e" <"$d/env" 2>&1) || rc=$?
  if [ "$rc" = 0 ] && [ "$watch" = 1 ]; then
    case $out in *$'\t'state=*) ;; *)
      # Started (not queued still, not gone): its watchdog now, as start --watch would have started it.
      TMUXKIT_HOME=$home bash "$TK_BIN/tmuxkit-watch" "$run" --detach ${wargs[@]+"${wargs[@]}"} </dev/null >/dev/null 2>&1 ||
        tk_warn "$run: started by the queue, but its watchdog did not start"
      ;;
    esac
  fi
  if [ "$rc" != 0 ]; then
    # Refused at its turn: out of the queue, and said, never dropped in silence.
    tk_queue_remove "$home" "$e" || true
    out=${out%"$TK_NL"}
    out=${out##*"$TK_NL"}
    tk_queue_event "$home" "$run" queue_refused "not started at its turn: ${out#tmuxkit: }"
  fi
}

# tk_queue_again HOME: ask for one more dispatch pass (queue/again, an empty file). Never through a
# link planted there: `: >` truncated the file it pointed to.
tk_queue_again() {
  [ ! -L "$1/queue/again" ] || rm -f "$1/queue/again"
  { : >"$1/queue/again"; } 2>/dev/null || true
}

# tk_queue_dispatch HOME PID: one pass over the queue, oldest entry first, by process PID (this
# one: $$, or a subshell's own PID). One pass at a time (queue/dispatching, a results-lock file
# owned by PID and its start time); a pass asked for meanwhile (queue/again) runs after it.
tk_queue_dispatch() {
  local home=$1 me rc e
  tk_pstart_v "$2" || return 1
  me=$TK_PS
  tk_queue_dir "$home" || tk_die "$EX_FAIL" "$TK_ERR"
  local passes=0
  while :; do
    tk_queue_again "$home"
    rc=0
    tk_lock_acquire "$home/queue/dispatching" "$2" "$me" queue queue "dispatch.$2" || rc=$?
    # Another pass runs: it sees "again" and makes one more.
    [ "$rc" = 0 ] || return 0
    # (At most 20 passes at a time: a pass that keeps asking for another is left to the poll.)
    while [ -f "$home/queue/again" ] && [ "$passes" -lt 20 ]; do
      rm -f "$home/queue/again"
      passes=$((passes + 1))
      for e in $(tk_queue_entries "$home"); do _tk_queue_try "$home" "$e"; done
    done
    tk_lock_release "$home/queue/dispatching" "$2" "$me" || true
    [ -f "$home/queue/again" ] && [ "$passes" -lt 20 ] || return 0
  done
}

# tk_queue_dispatcher_up: the dispatcher's own tmux session (tmuxkit+queue), unless one runs: it
# polls while the queue is not empty (a foreign process freeing a GPU tells no one) and then ends.
tk_queue_dispatcher_up() {
  local name="tmuxkit${TK_HELPER_SEP}queue" i=0
  tk_lock_state "$(tk_home)/queue/dispatcher"
  [ "$LK_STATE" != alive ] || return 0
  # One that is ending (it saw the queue empty a moment ago) still has its session: wait it out.
  while tk_session_exists "$name" && [ "$i" -lt 100 ]; do
    sleep 0.02
    i=$((i + 1))
  done
  tk_tmux new-session -d -s "$name" "exec bash $(tk_sq "$TK_BIN/tmuxkit-queue") serve" 2>/dev/null || true
  tk_tmux set-option -t "=$name:" @tmuxkit_helper queue >/dev/null 2>&1 || true
}

# tk_queue_json HOME: each entry as a status row (state queued, or blocked), comma-separated.
tk_queue_json() {
  local home=$1 e pos=0 out='' st why w p
  for e in $(tk_queue_entries "$home"); do
    tk_queue_read "$home/queue/$e"
    w=''
    [ ! -f "$home/queue/$e/waiting_for" ] || IFS= read -r w <"$home/queue/$e/waiting_for" || true
    if [ -n "$Q_BLOCKED" ]; then
      st=$ST_BLOCKED why=$Q_BLOCKED
      p=null
    else
      pos=$((pos + 1))
      st=$ST_QUEUED why=$w p=$pos
    fi
    out="$out,{\"run\":$(tk_json_str "${e#*.}"),\"session\":$(tk_json_str "${e#*.}"),\"state\":\"$st\""
    out="$out,\"queue_position\":$p,\"waiting_for\":$(tk_json_str "$why"),\"gpus_wanted\":$Q_GPUS"
    out="$out,\"after\":$(tk_json_val "$Q_AFTER"),\"started_at\":$(tk_json_val "$Q_AT")}"
  done
  printf '%s' "${out#,}"
}

# tk_queue_gate HOME RUN GPUS AFTER ENTRY: tmuxkit-start's turn at the queue, after its own checks.
# Returns when the run may start now: with GPUS > 0, TK_GPU_PICK_IDX and TK_GPU_PICK_UUID are the
# GPUs it gets, and the queue's mutex stays held until its runner has claimed them (the caller
# drops it). When it must wait, it is queued (ENTRY: it stays queued), a line says so, and this
# exits 0. ENTRY: the queue's own dispatch of that entry.
tk_queue_gate() {
  local home=$1 run=$2 n=$3 after=$4 entry=$5 why='' since=0 pos note avail
  TK_GPU_PICK_IDX='' TK_GPU_PICK_UUID=''
  if [ -z "$entry" ] && tk_queue_find "$home" "$run" >/dev/null; then
    tk_die "$EX_LOCKED" "run '$run' is already queued on $(tk_here); 'tmuxkit stop $run' takes it out of the queue"
  fi
  local max=${TK_Q_MAX_RUNS:-0} live
  [ "$n" -gt 0 ] || [ -n "$after" ] || [ -n "$entry" ] || [ "$max" -gt 0 ] || return 0
  if [ "$n" -gt 0 ]; then
    tk_gpu_inventory
    case $TK_GPU_STATE in
    none) tk_die "$EX_USAGE" "run '$run' asks for $n GPU(s), but this host has none ($TK_GPU_WHY)" ;;
    hung | error) tk_die "$EX_FAIL" "run '$run' asks for $n GPU(s), but the GPUs cannot be read: $TK_GPU_WHY" ;;
    esac
    [ "$n" -le "$TK_GPU_N" ] || tk_die "$EX_USAGE" "run '$run' asks for $n GPUs, but $(tk_here) has $TK_GPU_N"
  fi
  tk_queue_mutex_take "$home" || tk_die "$EX_FAIL" "$TK_ERR"
  trap 'tk_queue_mutex_drop' EXIT
  if [ -n "$entry" ]; then
    if [ ! -d "$home/queue/$entry" ]; then # taken out (stopped) meanwhile
      tk_queue_mutex_drop
      printf 'run=%s\tstate=gone\n' "$run"
      exit 0
    fi
    tk_queue_read "$home/queue/$entry"
    since=$Q_AT
  fi
  if [ -n "$after" ]; then
    tk_queue_after "$home" "$after" "$since"
    case $TK_Q_AFTER in
    failed) tk_die "$EX_FAIL" "run '$run' not started: $TK_Q_WHY" ;;
    wait) why="waits for run $after to exit 0" ;;
    esac
  fi
  tk_queue_reserved "$home" "$entry"
  if [ -z "$why" ] && [ "$n" -gt 0 ]; then
    tk_gpu_assess "$home" "$run"
    # Its own GPUs (kept by its watchdog across a restart) are no one else's to reserve.
    avail=$((TK_GPU_FREE - TK_GPU_MINE - TK_Q_RESERVED))
    [ "$avail" -ge 0 ] || avail=0
    if [ $((TK_GPU_MINE + avail)) -ge "$n" ] && [ -n "$entry" ] && [ "$TK_Q_RESERVED" -gt 0 ] &&
      [ $((TK_GPU_FREE - TK_GPU_MINE)) -ge "$TK_Q_RESERVED" ]; then
      # GPUs were freed since this pass tried the runs ahead of it, and they can all start now: they
      # start first (first in, first out), in the pass this asks for, and this one right after them.
      # (Before the pick, whose success returns: checked after it, this was never reached.)
      tk_queue_again "$home"
      why="$TK_Q_AHEAD run(s) ahead of it start first"
    elif [ $((TK_GPU_MINE + avail)) -ge "$n" ] && tk_gpu_pick "$n"; then
      return 0
    else
      why="needs $n GPU"
      [ "$n" = 1 ] || why="${why}s"
      note=$(tk_gpu_blockers)
      [ -z "$note" ] || why="$why; $note"
      [ "$TK_Q_RESERVED" = 0 ] || why="$why; $TK_Q_AHEAD run(s) ahead of it wait for $TK_Q_RESERVED"
    fi
  fi
  if [ -z "$why" ] && [ "$max" -gt 0 ]; then
    # A box without GPUs to count: runs by number. The waiting runs ahead take their slots first.
    live=$(tk_queue_live_runs "$home")
    if [ $((live + TK_Q_AHEAD)) -ge "$max" ]; then
      why="waits for a run slot: $live of max_runs $max live"
      [ "$TK_Q_AHEAD" = 0 ] || why="$why, $TK_Q_AHEAD queued ahead of it"
    fi
  fi
  if [ -z "$why" ]; then
    # With max_runs the mutex stays held until the runner lives (the caller drops it): counted by the next start.
    [ "$max" -gt 0 ] || tk_queue_mutex_drop
    return 0
  fi
  pos=$((TK_Q_AHEAD + 1))
  if [ -n "$entry" ]; then
    tk_write "$home/queue/$entry/waiting_for" "$why$TK_NL" || true
  else
    tk_queue_add "$home" "$run" "$n" "$after" "$why" || tk_die "$EX_FAIL" "cannot write the queue entry under $home/queue"
  fi
  tk_queue_mutex_drop
  [ -n "$entry" ] || tk_queue_dispatcher_up
  note="queued ($(tk_ordinal "$pos")): $why"
  printf '%s\n' "$note" >&2
  printf 'run=%s\tstate=queued\tposition=%s\twaiting_for=%s\tnote=%s\n' "$run" "$pos" "$why" "$note"
  exit 0
}

# tk_queue_take_out HOME RUN: stop of a queued (or blocked) run: its entry removed. 1 when RUN is
# not in the queue. A run both queued and with an earlier life on the host: only the entry goes.
tk_queue_take_out() {
  local e
  tk_valid_run "$2" || return 1
  tk_queue_find "$1" "$2" >/dev/null || return 1
  tk_queue_mutex_take "$1" || return 1
  if e=$(tk_queue_find "$1" "$2"); then
    tk_queue_remove "$1" "$e" || true
  fi
  tk_queue_mutex_drop
}

# tk_queue_rows HOME [RUN...]: the queue's entries (all, or the named ones) appended to J_RUNS as
# status rows, and each one found taken off J_UNKNOWN (the status report's lists).
tk_queue_rows() {
  local home=$1 rows row e n keep='' IFS
  shift
  [ -d "$home/queue" ] || return 0
  rows=$(tk_queue_json "$home")
  [ -n "$rows" ] || return 0
  # One object a line: the run names are [A-Za-z0-9_-], so '},{"run":' only ever splits rows.
  rows=${rows//\},\{\"run\":/\}$'\n'\{\"run\":}
  while IFS= read -r row; do
    e=${row#\{\"run\":\"}
    e=${e%%\"*}
    if [ $# -gt 0 ]; then
      for n in "$@"; do [ "$n" != "$e" ] || break; done
      [ "$n" = "$e" ] || continue
      J_UNKNOWN=${J_UNKNOWN//\"$e\"/}
      J_UNKNOWN=${J_UNKNOWN//,,/,}
      J_UNKNOWN=${J_UNKNOWN#,}
      J_UNKNOWN=${J_UNKNOWN%,}
    fi
    keep="$keep,$row"
  done <<EOF2
$rows
EOF2
  [ -z "$keep" ] || J_RUNS="$J_RUNS${J_RUNS:+,}${keep#,}"
}


# ---------------------------------------------------------------------------
# The status report itself.

_cs_human_age() {
  local s=$1
  if [ -z "$s" ]; then
    printf '?'
  elif [ "$s" -lt 120 ]; then
    printf '%ss' "$s"
  elif [ "$s" -lt 7200 ]; then
    printf '%sm' $((s / 60))
  else
    printf '%sh%02dm' $((s / 3600)) $((s % 3600 / 60))
  fi
}

# _cs_date_v VAR EPOCH: EPOCH as a local date, "YYYY-MM-DD HH:MM:SS", with no process started (a
# box may hold thousands of locks): bash 4.2's printf %(...)T where there is one (CS_STRFTIME);
# else (bash 3.2) from this zone's UTC offset, read once with one date call, and the
# days-to-civil-date arithmetic. (On bash 3.2 a date on the other side of a daylight-saving change
# is shown with today's offset.)
CS_STRFTIME=''
if [ "${BASH_VERSINFO[0]}" -gt 4 ] || { [ "${BASH_VERSINFO[0]}" = 4 ] && [ "${BASH_VERSINFO[1]}" -ge 2 ]; }; then
  CS_STRFTIME=1
fi
_cs_date_v() {
  local _cs_e=$2 z era doe yoe y doy mp d m sod
  case $_cs_e in '' | *[!0-9]*) printf -v "$1" '%s' '?' && return 0 ;; esac
  if [ -n "$CS_STRFTIME" ]; then
    printf -v "$1" '%(%Y-%m-%d %H:%M:%S)T' "$_cs_e"
    return 0
  fi
  if [ -z "${CS_UTC_OFF:-}" ]; then
    z=$(date +%z 2>/dev/null) || z=''
    case $z in
    [+-][0-9][0-9][0-9][0-9]) CS_UTC_OFF=$(((10#${z:1:2} * 3600 + 10#${z:3:2} * 60) * ${z:0:1}1)) ;;
    *) CS_UTC_OFF=0 ;;
    esac
  fi
  _cs_e=$((_cs_e + CS_UTC_OFF))
  [ "$_cs_e" -ge 0 ] || { printf -v "$1" '%s' '?' && return 0; }
  z=$((_cs_e / 86400 + 719468)) sod=$((_cs_e % 86400))
  era=$((z / 146097)) # epochs after 1970 only: z is positive
  doe=$((z - era * 146097))
  yoe=$(((doe - doe / 1460 + doe / 36524 - doe / 146096) / 365))
  y=$((yoe + era * 400))
  doy=$((doe - (365 * yoe + yoe / 4 - yoe / 100)))
  mp=$(((5 * doy + 2) / 153))
  d=$((doy - (153 * mp + 2) / 5 + 1))
  if [ "$mp" -lt 10 ]; then m=$((mp + 3)); else m=$((mp - 9)); fi
  [ "$m" -gt 2 ] || y=$((y + 1))
  printf -v "$1" '%04d-%02d-%02d %02d:%02d:%02d' "$y" "$m" "$d" $((sod / 3600)) $((sod % 3600 / 60)) $((sod % 60))
}

# _cs_when_v VAR EPOCH NOW: "2026-12-05 23:22:46, 3m ago" (a local date and an age). EPOCH a number.
_cs_when_v() {
  local _cs_d _cs_a _cs_s=$(($3 - $2))
  if [ -n "$CS_STRFTIME" ]; then printf -v _cs_d '%(%Y-%m-%d %H:%M:%S)T' "$2"; else _cs_date_v _cs_d "$2"; fi
  if [ "$_cs_s" -lt 120 ]; then
    [ "$_cs_s" -ge 0 ] || _cs_s=0
    _cs_a="${_cs_s}s"
  elif [ "$_cs_s" -lt 7200 ]; then _cs_a="$((_cs_s / 60))m"
  elif [ "$_cs_s" -lt 172800 ]; then printf -v _cs_a '%sh%02dm' $((_cs_s / 3600)) $((_cs_s % 3600 / 60))
  else _cs_a="$((_cs_s / 86400))d"; fi
  printf -v "$1" '%s, %s ago' "$_cs_d" "$_cs_a"
}

# Append a JSON item to the named accumulator variable, comma-separated.
_cs_add() {
  local cur
  eval "cur=\${$1}"
  if [ -n "$cur" ]; then cur="$cur,$2"; else cur=$2; fi
  eval "$1=\$cur"
}

# _cs_key RUNDIR: CS_KEY, what a run's state files say now (runner, pid, exit, stopped, failed),
# read with builtins only: a restart or a stop changes it.
_cs_key() {
  local f l
  CS_KEY=''
  for f in runner pid exit stopped failed; do
    l=''
    [ ! -f "$1/$f" ] || { IFS= read -r l <"$1/$f" || true; }
    CS_KEY="$CS_KEY|$l"
  done
}

# _cs_cached RUNSDIR NOW NAMED NAME...: "C<TAB>NAME" for each run that needs computing (no cache,
# or anything it was made from has changed since: the state files by content, as a start rewrites
# runner; events.jsonl by size, as it is only appended to), then one "J<TAB>JSON,JSON..." line of
# the ended runs' answers kept in runs/RUN/status.cache (no process, tmux or log is looked at for
# them; a run that ended before the --ended-within window and was not named is left out). One
# stat and one awk for all the runs: the runs of the past cost a few file reads each.
_cs_cached() {
  local runs=$1 now=$2 named=$3 n
  shift 3
  {
    if [ "$named" = 1 ]; then
      for n in "$@"; do printf '%s\n' "$runs/$n/meta" "$runs/$n/runner" "$runs/$n/status.cache" "$runs/$n/events.jsonl"; done
    else
      # Every run there is, from globs: no loop over the runs in bash.
      printf '%s\n' "$runs"/*/meta "$runs"/*/runner "$runs"/*/status.cache "$runs"/*/events.jsonl "$runs"/*/exit
    fi | tk_stat_many 2>/dev/null | sed 's/^/M /'
    for n in "$@"; do printf 'N %s\n' "$n"; done
  } | awk -v runs="$runs" -v now="$now" -v since="${CS_SINCE:-}" -v named="$named" '
    $1 == "M" {
      p = $0; sub(/^M [0-9]+ [0-9]+ /, "", p); mt[p] = $2; size[p] = $3
      if (!named && p ~ /\/meta$/) {
        name = substr(p, length(runs) + 2); sub(/\/meta$/, "", name)
        if (name ~ /^[A-Za-z0-9_][A-Za-z0-9_-]*$/) order[++count] = name
      }
      next
    }
    $1 == "N" { order[++count] = $2 }
    END {
      for (o = 1; o <= count; o++) judge(order[o])
      if (ended != "") printf "S\n%s", ended
      if (all != "") print "J\t" all
    }
    # uncached(NAME): a run to compute. Not named, and ended (its exit file is newer than its start):
    # left out when it ended before the window, without reading more (a cold cache, as after an
    # upgrade, made each of 1000 old runs cost 0.1 s), else listed after the rest ("E", which the
    # caller computes while time is left).
    function uncached(name,    d, ex, l, a, end, st) {
      if (named) { print "C\t" name; return }
      d = runs "/" name; ex = d "/exit"
      if (!(ex in size) || mt[ex] + 0 < mt[d "/meta"] + 0 || mt[ex] + 0 < mt[d "/runner"] + 0) { print "C\t" name; return }
      l = ""; if ((getline l < ex) <= 0) l = ""
      close(ex)
      split(l, a, " "); end = a[2]
      st = d "/stopped"; l = ""
      if ((getline l < st) > 0) { split(l, a, " "); if (a[2] ~ /^[0-9]+$/) end = a[2] }
      close(st)
      if (since != "" && end ~ /^[0-9]+$/ && end + 0 < since + 0) return
      ended = ended "E\t" name "\n"
    }
    function judge(name,    d, cache, ev, meta, runner, got, key, times, logpath, json, tm, cur, files, i, f, l) {
      d = runs "/" name; cache = d "/status.cache"; ev = d "/events.jsonl"; meta = d "/meta"; runner = d "/runner"
      if (!(meta in size)) { print "C\t" name; return }
      if (!(cache in size)) { uncached(name); return }
      got = 0
      if ((getline key < cache) > 0) got++
      if ((getline times < cache) > 0) got++
      if ((getline logpath < cache) > 0) got++
      if ((getline json < cache) > 0) got++
      close(cache)
      if (got < 4) { uncached(name); return }
      split(times, tm, " ")
      # A start since (it rewrites runner and touches meta; the cache is written 10 s or more after
      # an end) or a new event.
      if (mt[meta] + 0 >= mt[cache] + 0 || mt[runner] + 0 >= mt[cache] + 0 || (ev in size ? size[ev] : 0) != tm[3] + 0) {
        uncached(name)
        return
      }
      # Ended before the window and not named: left out, without reading its state files.
      if (!named && since != "" && tm[2] + 0 < since + 0) return
      cur = ""
      split("runner pid exit stopped failed", files, " ")
      for (i = 1; i <= 5; i++) {
        f = d "/" files[i]; l = ""
        if ((getline l < f) <= 0) l = ""
        close(f)
        cur = cur "|" l
      }
      if (cur != key) { print "C\t" name; return }
      if (tm[1] ~ /^[0-9]+$/) sub(/@TK_AGE@/, now - tm[1], json)
      all = all (all == "" ? "" : ",") json
    }'
}

# _cs_keep RUNDIR NOW JSON: remember an ended run's status (ended 10 s ago or more, so that nothing
# of its end is still being written) in runs/RUN/status.cache, written whole (temp file, rename).
_cs_keep() {
  local d=$1 ended=$R_ENDED stop_at='' mt='' evsize
  CS_ENDED=''
  [ -z "$S_LOG_AGE" ] || mt=$(($2 - S_LOG_AGE))
  if [ -f "$d/stopped" ]; then read -r _ stop_at <"$d/stopped" || true; fi
  case $stop_at in '' | *[!0-9]*) ;; *) ended=$stop_at ;; esac
  [ -n "$ended" ] || ended=$mt
  case $ended in '' | *[!0-9]*) return 0 ;; esac
  CS_ENDED=$ended
  [ "$CS_CACHE" = 1 ] && [ -O "$d" ] && [ ! -L "$d" ] || return 0
  [ "$ended" -le $(($2 - 10)) ] || return 0
  # Only what is still true: the state files as they were read, and no runner that started after
  # the process table was taken (asked afresh, not from the snapshot).
  _cs_key "$d"
  [ "$CS_KEY" = "$CS_LOADED_KEY" ] || return 0
  _cs_fresh_runner "$d" || return 0
  case $R_LOG in *$'\n'*) return 0 ;; esac
  evsize=0
  [ ! -f "$d/events.jsonl" ] || evsize=$(tk_stat size "$d/events.jsonl" 2>/dev/null || echo -1)
  {
    printf '%s\n%s %s %s\n%s\n' "$CS_KEY" "$mt" "$ended" "$evsize" "$R_LOG"
    if [ -n "$S_LOG_AGE" ]; then printf '%s\n' "${3/\"log_age_s\":$S_LOG_AGE,/\"log_age_s\":@TK_AGE@,}"; else printf '%s\n' "$3"; fi
  } >"$d/status.cache.$$" 2>/dev/null && mv -f "$d/status.cache.$$" "$d/status.cache" 2>/dev/null ||
    rm -f "$d/status.cache.$$" 2>/dev/null || true
}

# _cs_fresh_runner RUNDIR: no live runner for the run, asked of ps now (not of the call's snapshot).
_cs_fresh_runner() {
  local pid='' start='' snap=${TK_PS_SNAP:-}
  [ -f "$1/runner" ] || return 0
  { IFS= read -r pid && IFS= read -r start; } <"$1/runner" 2>/dev/null || true
  TK_PS_SNAP=''
  if tk_owner_alive "$pid" "$start"; then TK_PS_SNAP=$snap; return 1; fi
  TK_PS_SNAP=$snap
}

_cs_runs() {
  local home=$1 now=$2 name shown=0 named=1 d json kind item cached='' i n=0 all todo jkept='' etodo='' ecount=0 snapl
  # Live runs whose events and progress one awk reads for all (tk_run_extras_all): each one's
  # object so far (CS_HEAD) and the runs listed before it (CS_SEG), put together at the end.
  local -a CS_SEG CS_HEAD
  shift 2
  if [ $# -eq 0 ]; then
    named=0
    # shellcheck disable=SC2046  # run names are [A-Za-z0-9_-] only
    [ "$JSON" = 1 ] || set -- $(tk_run_names "$home")
  fi
  [ "$named" = 0 ] || for name in "$@"; do tk_check_run "$name"; done
  if [ "$JSON" = 1 ]; then
    cached=$(_cs_cached "$home/$TK_RUNS_DIR" "$now" "$named" "$@")
  else
    for name in "$@"; do cached="$cached${cached:+$'\n'}C	$name"; done
  fi
  todo=$cached
  if [ "$JSON" = 1 ]; then
    # The ended runs' kept answers (the "J" line, last) are added after the rest, as they come.
    todo=${cached%%J	*}
    jkept=${cached#"$todo"}
    jkept=${jkept#J	}
    # Ended runs without a kept answer ("E", after an "S" line) are computed last, while the time
    # budget lasts (7/10 of the --deadline): a cold host answers in time with its live runs, and each
    # ended run computed is kept, so the next calls fill in the rest.
    case $todo in
    S"$TK_NL"* | *"$TK_NL"S"$TK_NL"*)
      etodo=${todo#*S"$TK_NL"}
      todo=${todo%%S"$TK_NL"*}
      ;;
    esac
    # What the runs to compute need, taken once for all of them: the process table, their files'
    # stat and their panes; then one awk judges every plain live run (tk_runs_fast), and the loop
    # below, the bash path, the rest. TMUXKIT_STATUS_JUDGE=bash sends every run the bash way (the
    # tests compare the two).
    TK_XDEFER=1 TK_XLIST=''
    # The snapshot covers the ended runs to compute too (the bash path reads their logs' stat from it).
    snapl=$todo
    [ -z "$etodo" ] || snapl="$todo$TK_NL$(printf '%s\n' "$etodo" | sed 's/^E	/C	/')"
    case $snapl in *"C	"*)
      tk_snap_take
      tk_runs_fast_snap "$home/$TK_RUNS_DIR" "$snapl"
      case $todo in *"C	"*)
        if [ -n "$TK_PS_SNAP" ] && [ "${TMUXKIT_STATUS_JUDGE:-}" != bash ]; then
          tk_runs_fast "$home/$TK_RUNS_DIR" "$now" "$todo"
          todo=$TK_FAST
        fi
        ;;
      esac
      ;;
    esac
    case $todo in "A	"*)
      J_RUNS=${todo#A	}
      todo=''
      ;;
    esac
    todo="$todo${etodo:+$TK_NL}$etodo"
  fi
  while IFS='	' read -r kind item; do
    case $kind in
    F)
      J_RUNS="${J_RUNS:+$J_RUNS,}$item"
      continue
      ;;
    C) name=$item ;;
    E)
      # The first 20 always (a small history is never cut short on a loaded box), then while time is left.
      ecount=$((ecount + 1))
      [ "$ecount" -le 20 ] || [ -z "$CS_BUDGET" ] || [ "$SECONDS" -lt "$CS_BUDGET" ] || continue
      name=$item
      ;;
    *) continue ;;
    esac
    d="$home/$TK_RUNS_DIR/$name"
    if [ ! -f "$d/meta" ]; then
      # A partial answer: the other runs are still shown; the caller learns which names are unknown.
      CS_UNKNOWN=1
      if [ "$JSON" = 1 ]; then _cs_add J_UNKNOWN "$(tk_json_str "$name")"; else tk_warn "no run named '$name' on $(tk_here)"; fi
      continue
    fi
    _cs_key "$d" # what the state files say as they are read: a cache never outlives a change after this
    CS_LOADED_KEY=$CS_KEY
    tk_run_load "$d"
    tk_run_state "$now"
    if [ "$JSON" = 1 ]; then
      tk_run_json_v
      json=$TK_RUN_JSON
      if [ -n "$TK_RUN_DEFERRED" ]; then
        CS_SEG[n]=$J_RUNS CS_HEAD[n]=$json J_RUNS=''
        n=$((n + 1))
        continue
      fi
      case $S_STATE in
      "$ST_RUNNING" | "$ST_STUCK") ;;
      *)
        _cs_keep "$d" "$now" "$json"
        # Ended before the window: left out unless named (status --all shows every run).
        if [ "$named" = 0 ] && [ -n "$CS_SINCE" ] && [ -n "$CS_ENDED" ] && [ "$CS_ENDED" -lt "$CS_SINCE" ]; then
          continue
        fi
        ;;
      esac
      J_RUNS="${J_RUNS:+$J_RUNS,}$json"
    else
      shown=1
      # An ended run's last line, from its log (a live run's came from its pane or its live line).
      [ -n "$S_LAST" ] || S_LAST=$(tk_last_line "$R_LOG")
      printf '  %-20s %-8s pid %-7s up %-6s log %-6s exit %-4s | %s\n' "$R_RUN" "$S_STATE" "${R_PID:-?}" \
        "$(_cs_human_age "$S_UPTIME")" "$(_cs_human_age "$S_LOG_AGE")" "${R_EXIT:--}" "$S_LAST"
    fi
  done <<EOF
$todo
EOF
  [ -z "$jkept" ] || J_RUNS="${J_RUNS:+$J_RUNS,}$jkept"
  TK_XDEFER=''
  if [ "$n" -gt 0 ]; then
    tk_run_extras_all
    all='' i=0
    while [ "$i" -lt "$n" ]; do
      tk_run_extras_next
      TK_RUN_JSON=${CS_HEAD[i]}
      tk_run_json_tail
      all="$all${all:+${CS_SEG[i]:+,}}${CS_SEG[i]}"
      all="$all${all:+,}$TK_RUN_JSON"
      i=$((i + 1))
    done
    J_RUNS="$all${J_RUNS:+,}$J_RUNS"
  fi
  if [ "$JSON" != 1 ] && [ "$shown" = 0 ]; then echo "  (no tmuxkit runs)"; fi
  return 0
}

# Lines "pid<TAB>ppid<TAB>run<TAB>args" ("-" for no run) of training processes: those whose command
# line matches PATTERN, and every process carrying a TMUXKIT_RUN marker.
_cs_processes() {
  tk_ps_env | PAT=$1 awk -v self="$$" '
    {
      pid = $1; ppid = $2; st = $3
      if (pid == self || st ~ /^Z/) next
      line = $0
      sub(/^[ \t]*[0-9]+[ \t]+[0-9]+[ \t]+[^ \t]+[ \t]+/, "", line)
      run = ""
      if (match(line " ", / TMUXKIT_RUN=[A-Za-z0-9_-]+ /)) run = substr(line, RSTART + 13, RLENGTH - 14)
      # The command line without its environment: cut at the first " NAME=" word.
      args = line
      if (match(args, / [A-Za-z_][A-Za-z0-9_]*=/)) args = substr(args, 1, RSTART - 1)
      if (run == "" && (args !~ ENVIRON["PAT"] || args ~ /check_training_status/)) next
      printf "%s\t%s\t%s\t%s\n", pid, ppid, (run == "" ? "-" : run), args
    }'
}

# Lock paths, one a line, each encoded so that a newline in a directory name survives the line
# tools ("%" as %25, a newline as %0A, a tab as %09; _cs_dec undoes it): find -print0, read -d ''.
# Each lock once: a line is "PHYSICAL<TAB>SHOWN", and a lock found under a root (shown as found,
# e.g. ./results/x/.tmuxkit.lock) and the same lock named by a run's meta (its physical path) are
# one lock, listed where the roots found it. The roots' physical paths are CS_RROOT/CS_RPHYS.
_cs_lock_files() {
  local home=$1 root name f i phys enc_p enc_s
  shift
  {
    i=0
    for root in "$@"; do
      phys=${CS_RPHYS[i]:-$root}
      phys=${phys%/}
      i=$((i + 1))
      [ -d "$root" ] || continue
      root=${root%/}
      find "$root" -maxdepth 4 \( -name training.lock -o -name "$TK_LOCK_NAME" \) -print0 2>/dev/null |
        while IFS= read -r -d '' f; do
          _cs_enc_v enc_p "$phys/${f#"$root"/}"
          _cs_enc_v enc_s "$f"
          printf '%s\t%s\n' "$enc_p" "$enc_s"
        done
    done
    for name in $(tk_run_names "$home"); do
      f=$(tk_kv_get "$home/runs/$name/meta" lock) || continue
      _cs_enc_v enc_p "$f"
      printf '%s\t%s\n' "$enc_p" "$enc_p"
    done
  } | awk -F '\t' '!seen[$1]++ { print $2 }'
}

# _cs_cleanable HOME: the lock paths `tmuxkit cleanup` (tmuxkit-zombies) acts on, one per line
# with a newline before the first: each known run's lock and the training.lock in its results
# directory. Only these get the "(or: tmuxkit cleanup)" hint; a lock elsewhere under a root is
# for rm alone.
_cs_cleanable() {
  local name meta lock res
  printf '\n'
  for name in $(tk_run_names "$1"); do
    meta="$1/runs/$name/meta"
    if lock=$(tk_kv_get "$meta" lock); then printf '%s\n' "$lock"; fi
    if res=$(tk_kv_get "$meta" results); then printf '%s\n' "$res/$TK_FOREIGN_LOCK_NAME"; fi
  done
}

# _cs_enc_v VAR PATH: PATH encoded for a line (see _cs_lock_files), without a subshell.
_cs_enc_v() {
  local _cs_f=$2 nl=$'\n' tab=$'\t'
  _cs_f=${_cs_f//"%"/%25}
  _cs_f=${_cs_f//$tab/%09}
  printf -v "$1" '%s' "${_cs_f//$nl/%0A}"
}

# _cs_dec VAR ENCODED
_cs_dec() {
  local _cs_f=$2 nl=$'\n'
  case $_cs_f in *%*)
    _cs_f=${_cs_f//%0A/$nl}
    _cs_f=${_cs_f//%09/$'\t'}
    _cs_f=${_cs_f//%25/%}
    ;;
  esac
  printf -v "$1" '%s' "$_cs_f"
}

# One lock's line. No process is started here (a box may hold thousands of locks): the process
# table was read once (tk_ps_snapshot), files are read by the shell, strings quoted in place.
_cs_lock_line() {
  local f=$1 st kind=tmuxkit pid='' run='' start='' created='' when='' age hint='' content='' q item abs i
  local jf jk js jr jst jh
  case $f in */training.lock) kind=training.lock ;; esac
  [ -e "$f" ] || [ -L "$f" ] || return 0
  if [ "$kind" = training.lock ] && [ ! -L "$f" ]; then
    # A foreign lock: its first number is taken as the owner's PID.
    [ -f "$f" ] && { IFS= read -r -d '' -n 4096 content <"$f" || true; } 2>/dev/null
    tk_foreign_lock_parse "$content"
    pid=$FL_PID
    if [ -n "$FL_HOST" ]; then
      st=other_host
    elif [ -z "$pid" ]; then
      st=garbage
    elif { [ "${_TK_SNAP:-}" = 1 ] && tk_snap_has "$pid"; } ||
      { [ "${_TK_SNAP:-}" != 1 ] && ps -p "$pid" >/dev/null 2>&1; }; then
      st=alive
    else
      st=stale
    fi
  else
    tk_lock_state "$f"
    st=$LK_STATE pid=$LK_PID run=$LK_RUN start=$LK_START created=$LK_CREATED
    # Written on another host (a shared filesystem): shown as a foreign lock that names one.
    [ -z "$LK_ELSEWHERE" ] || st=other_host FL_HOST=$LK_HOST
  fi
  tk_sq_v q "$f"
  case $st in
  stale)
    hint="owner is gone; remove with: rm $q"
    # Runs keep physical paths; a lock found under a root is its root's physical path (resolved
    # once per root, not per lock: a box may hold thousands of stale locks) plus the rest, which
    # find reached without following a symlink.
    abs=$f i=0
    while [ "$i" -lt "${#CS_RROOT[@]}" ]; do
      case $f in "${CS_RROOT[i]}"/*)
        abs=${CS_RPHYS[i]}/${f#"${CS_RROOT[i]}"/}
        break
        ;;
      esac
      i=$((i + 1))
    done
    case ${CS_CLEANABLE:-} in *"$TK_NL$abs$TK_NL"*) hint="$hint  (or: tmuxkit cleanup)" ;; esac
    ;;
  garbage) hint="not a lock this tool understands; inspect it, then: rm $q" ;;
  other_host) hint="it names $FL_HOST, not this host: whether its owner lives cannot be told from here" ;;
  symlink) hint="a symlink at a lock path is refused; inspect it: ls -l $q" ;;
  notfile) hint="not a regular file; inspect it: ls -ld $q" ;;
  esac
  if [ "$JSON" = 1 ]; then
    case $f$run$start$hint in
    *[\"\\$'\001'-$'\037']* | *[![:ascii:]]*)
      tk_json_str_v jf "$f"
      tk_json_str_v jr "$run"
      tk_json_str_v jst "$start"
      tk_json_str_v jh "$hint"
      ;;
    *) jf="\"$f\"" jr="\"$run\"" jst="\"$start\"" jh="\"$hint\"" ;; # nothing to escape: no calls
    esac
    jk="\"$kind\"" js="\"$st\""
    case $pid in
    '') pid=null ;;
    *[!0-9]*) tk_json_str_v pid "$pid" ;;
    esac
    printf -v item '{"path":%s,"kind":%s,"state":%s,"pid":%s,"run":%s,"started":%s,"hint":%s}' \
      "$jf" "$jk" "$js" "$pid" "$jr" "$jst" "$jh"
    J_LOCKS_A[${#J_LOCKS_A[@]}]=$item # an array: appending to one long string is quadratic
  else
    case $st in
    alive) st=ALIVE ;; stale) st=STALE ;; garbage) st=GARBAGE ;; symlink) st=SYMLINK ;; notfile) st=NOTFILE ;;
    free) st=FREE ;; other_host) st=ELSEWHERE ;;
    esac
    # When: the lock's wall-clock "created", as a local date and an age (its "start" is the owner's
    # identity, clock ticks since boot, which say nothing to a reader).
    # (Inline, not _cs_when_v: a box may hold thousands of locks, and this is the costly part.)
    case $created in '' | *[!0-9]*) ;; *)
      if [ -n "$CS_STRFTIME" ]; then printf -v when '%(%Y-%m-%d %H:%M:%S)T' "$created"; else _cs_date_v when "$created"; fi
      age=$((CS_NOW - created))
      if [ "$age" -ge 172800 ]; then when="$when, $((age / 86400))d ago"; else _cs_when_v when "$created" "$CS_NOW"; fi
      ;;
    esac
    # A lock's fields are anyone's words (another host's, another user's, on a shared filesystem):
    # no control character of theirs reaches the terminal (an escape sequence in host= or run=).
    # (A newline stays: a path that holds one is named whole, quoted, in the hint.)
    case $run$pid$hint in *[$'\001'-$'\011'$'\013'-$'\037'$'\177']*)
      run=${run//[$'\001'-$'\011'$'\013'-$'\037'$'\177']/?} pid=${pid//[$'\001'-$'\011'$'\013'-$'\037'$'\177']/?}
      hint=${hint//[$'\001'-$'\011'$'\013'-$'\037'$'\177']/?}
      ;;
    esac
    if [ -n "$run" ]; then
      printf '  %-7s %s  pid %s (run %s%s)\n' "$st" "$f" "${pid:-?}" "$run" "${when:+, started $when}"
    else
      printf '  %-7s %s  pid %s%s\n' "$st" "$f" "${pid:-?}" "${when:+ (started $when)}"
    fi
    [ -z "$hint" ] || printf '          -> %s\n' "$hint"
  fi
}

# The 10 newest *.log files under the roots, as "mtime path" lines. Not tmuxkit's own bookkeeping
# in a run's state folder (runs/RUN/notify.log, where the watchdog notes each notification it sent,
# and watch.log): they move when a notification goes out, not when the run prints.
_cs_newest_logs() {
  local r f
  for r in "$@"; do
    [ -d "$r" ] || continue
    find "$r" -maxdepth 5 -type f -name '*.log' 2>/dev/null || true
  done | while IFS= read -r f; do
    [ ! -f "${f%/*}/meta" ] || [ ! -f "${f%/*}/cmd" ] || continue # a run's state folder
    printf '%s %s\n' "$(tk_stat mtime "$f" 2>/dev/null || echo 0)" "$f"
  done | sort -rn | head -n 10
}

# _cs_log_ended LAST-LINES: the log's last line is the end line tmuxkit's runner or relay writes
# ("[tmuxkit] run X exited with code N at ...", "... its tmux pane is gone at ..."): the run is
# over, so the log is finished, not stale, however old. A later start writes its own line after.
_cs_log_ended() {
  local last=${1##*"$TK_NL"}
  case $last in
  "[tmuxkit] run "*" exited with code "* | "[tmuxkit] run "*": its tmux pane is gone at "*) return 0 ;;
  esac
  return 1
}

_cs_logs() {
  local now=$1 stale_after=$2 f mt age n=0 last stale ended when note
  shift 2
  while read -r mt f; do
    [ -n "$f" ] || continue
    age=$((now - mt))
    # Capped: the last 16 KiB, its last 3 lines, 300 bytes of each (a log whose last line is a
    # 10 MB tqdm bar or a dumped tensor would otherwise be read and printed whole).
    last=$(tail -c 16384 "$f" 2>/dev/null | tail -n 3 | cut -b 1-300 || true)
    stale=false ended=false
    if _cs_log_ended "$last"; then
      ended=true
    elif [ "$age" -gt "$stale_after" ]; then
      stale=true
    fi
    n=$((n + 1))
    if [ "$JSON" = 1 ]; then
      _cs_add J_LOGS "$(printf '{"path":%s,"age_s":%s,"stale":%s,"ended":%s,"last_lines":%s}' \
        "$(tk_json_str "$f")" "$age" "$stale" "$ended" "$(tk_json_str "$last")")"
    else
      _cs_when_v when "$mt" "$now"
      note=''
      [ "$stale" = false ] || note='  (STALE)'
      [ "$ended" = false ] || note='  (run ended)'
      printf '  %s  last written %s%s\n' "$f" "$when" "$note"
      printf '%s\n' "$last" | sed 's/^/      | /'
    fi
  done <<EOF
$(_cs_newest_logs "$@")
EOF
  if [ "$JSON" != 1 ] && [ "$n" = 0 ]; then echo "  (no log files)"; fi
  return 0
}

_cs_sessions() {
  local out
  if ! command -v tmux >/dev/null 2>&1; then
    if [ "$JSON" = 1 ]; then J_TMUX='"missing"'; else echo "  tmux is not installed ($TK_TMUX_HINT)"; fi
    return 0
  fi
  out=$(tk_tmux list-sessions -F '#{session_name}	#{session_windows}	#{session_attached}	#{session_created}' 2>/dev/null || true)
  if [ "$JSON" = 1 ]; then
    J_TMUX='"present"'
    local name win att created
    while IFS='	' read -r name win att created; do
      [ -n "$name" ] || continue
      _cs_add J_SESSIONS "$(printf '{"name":%s,"windows":%s,"attached":%s,"created":%s}' \
        "$(tk_json_str "$name")" "$(tk_json_val "$win")" "$(tk_json_val "$att")" "$(tk_json_val "$created")")"
    done <<EOF
$out
EOF
  elif [ -z "$out" ]; then
    echo "  (no tmux sessions${TMUXKIT_SOCKET:+ on socket $TMUXKIT_SOCKET})"
  else
    printf '%s\n' "$out" | awk -F '\t' '{ printf "  %-24s %s window(s)%s\n", $1, $2, ($3 > 0 ? ", attached" : "") }'
  fi
}

tk_status_main() {
  local pattern=train stale_after=300 runs_only=0 ended_within='' home now host f rq
  CS_CACHE=0 CS_BUDGET=''
  local -a roots runs
  roots=() runs=()
  JSON=0
  while [ $# -gt 0 ]; do
    case $1 in
    -h | --help)
      tk_usage "$0"
      return 0
      ;;
    --json) JSON=1 ;;
    --runs-only) runs_only=1 ;;
    --cache) CS_CACHE=1 ;;
    --deadline)
      case ${2:-} in '' | *[!0-9]* | 0) tk_die "$EX_USAGE" "--deadline needs a whole number of seconds" ;; esac
      tk_deadline "$2"
      CS_BUDGET=$((SECONDS + $2 * 7 / 10))
      shift
      ;;
    --ended-within)
      case ${2:-} in '' | *[!0-9]*) tk_die "$EX_USAGE" "--ended-within needs a number of seconds" ;; esac
      ended_within=$2
      shift
      ;;
    --root)
      [ $# -ge 2 ] || tk_die "$EX_USAGE" "--root needs a directory"
      f=$2
      tk_path_v f # "-delete" is a folder here, never a find expression
      roots+=("$f")
      shift
      ;;
    --pattern)
      [ $# -ge 2 ] || tk_die "$EX_USAGE" "--pattern needs a regex"
      pattern=$2
      shift
      ;;
    --stale-after)
      case ${2:-} in '' | *[!0-9]*) tk_die "$EX_USAGE" "--stale-after needs a number of seconds" ;; esac
      stale_after=$2
      shift
      ;;
    -*) tk_die "$EX_USAGE" "unknown option: $1 (see --help)" ;;
    *) runs+=("$1") ;;
    esac
    shift
  done
  home=$(tk_home)
  now=$(date +%s)
  CS_NOW=$now
  host=$(hostname 2>/dev/null || echo unknown)
  [ ${#roots[@]} -gt 0 ] || roots=("$home" "./results")
  J_RUNS='' J_LOCKS='' J_LOGS='' J_PROCS='' J_SESSIONS='' J_TMUX='null'
  J_LOCKS_A=()
  # Both reports read these (the full one lists the runs too): set for both, as set -u asks.
  CS_UNKNOWN=0 J_UNKNOWN='' CS_SINCE=''
  [ -z "$ended_within" ] || CS_SINCE=$((now - ended_within))

  if [ "$runs_only" = 1 ]; then
    # nvidia-smi (where a run shown holds a GPU) answers while the runs are read: lib/gpu.bash.
    [ "$JSON" != 1 ] || tk_gpu_status_begin "$home" ${runs[@]+"${runs[@]}"}
    _cs_runs "$home" "$now" ${runs[@]+"${runs[@]}"}
    if [ "$JSON" = 1 ]; then
      # The live runs' GPUs (one nvidia-smi, only where a run holds one), and the host's queue.
      tk_gpu_status_rows "$home"
      tk_queue_rows "$home" ${runs[@]+"${runs[@]}"}
      # Names asked for that have no run here are listed in "unknown" (a complete answer: exit 0).
      printf '{"host":%s,"generated_at":%s,"runs":[%s],"unknown":[%s]}\n' "$(tk_json_str "$host")" "$now" "$J_RUNS" "$J_UNKNOWN"
      return 0
    fi
    [ "$CS_UNKNOWN" = 0 ] || return "$EX_NOT_FOUND"
    return 0
  fi

  [ "$JSON" = 1 ] || printf '== training status on %s at %s ==\n\n[1] Running training processes (pattern: %s)\n' \
    "$host" "$(date '+%Y-%m-%d %H:%M:%S')" "$pattern"
  local pid ppid run args any=0
  # One process table for the processes' ages and the locks' owners below (a box full of
  # DataLoader workers: no ps per process).
  tk_ps_snapshot
  [ -z "${TK_PS_SNAP:-}" ] || tk_snap_need
  while IFS='	' read -r pid ppid run args; do
    [ -n "$pid" ] || continue
    [ "$run" != - ] || run=''
    any=1
    if [ "$JSON" = 1 ]; then
      _cs_add J_PROCS "$(printf '{"pid":%s,"ppid":%s,"uptime_s":%s,"run":%s,"args":%s}' "$pid" "$ppid" \
        "$(tk_json_val "$(tk_uptime_s "$pid" || true)")" "$(tk_json_str "$run")" "$(tk_json_str "$args")")"
    else
      printf '  PID %-7s up %-6s %s%s\n' "$pid" "$(_cs_human_age "$(tk_uptime_s "$pid" || true)")" "$args" "${run:+   [run $run]}"
    fi
  done <<EOF
$(_cs_processes "$pattern")
EOF
  [ "$JSON" = 1 ] || [ "$any" = 1 ] || echo "  (none)"

  [ "$JSON" = 1 ] || printf '\n[2] Lock files\n'
  any=0
  CS_CLEANABLE=$(_cs_cleanable "$home")$TK_NL CS_RROOT=() CS_RPHYS=()
  for f in "${roots[@]}"; do
    f=${f%/}
    CS_RROOT[${#CS_RROOT[@]}]=$f
    rq=$(CDPATH="" cd -P -- "$f" 2>/dev/null && pwd) || rq=$f
    CS_RPHYS[${#CS_RPHYS[@]}]=$rq
  done
  while IFS= read -r f; do
    [ -n "$f" ] || continue
    any=1
    _cs_dec f "$f"
    _cs_lock_line "$f"
  done <<EOF
$(_cs_lock_files "$home" "${roots[@]}")
EOF
  if [ ${#J_LOCKS_A[@]} -gt 0 ]; then
    J_LOCKS=$(IFS=, && printf '%s' "${J_LOCKS_A[*]}")
  fi
  [ "$JSON" = 1 ] || [ "$any" = 1 ] || echo "  (none)"

  [ "$JSON" = 1 ] || printf '\n[3] Recent log activity\n'
  _cs_logs "$now" "$stale_after" "${roots[@]}"

  [ "$JSON" = 1 ] || printf '\n[4] tmux sessions\n'
  _cs_sessions

  [ "$JSON" = 1 ] || printf '\n[5] tmuxkit runs\n'
  _cs_runs "$home" "$now"

  # Slurm: the user's jobs, in a section of their own, only where squeue exists (text report only).
  if [ "$JSON" != 1 ] && command -v squeue >/dev/null 2>&1; then
    printf '\n[6] Slurm jobs (squeue)\n'
    local sq
    sq=$(squeue -h -u "$(id -un 2>/dev/null || echo "${USER:-}")" -o '%i|%j|%T|%N|%r|%M' 2>/dev/null) || sq=''
    if [ -z "$sq" ]; then
      echo "  (none)"
    else
      printf '%s\n' "$sq" | awk -F '|' '{ printf "  job %-8s %-24s %-11s node %-12s %s  up %s\n", $1, $2, $3, ($4 == "" ? "-" : $4), ($3 == "PENDING" ? "reason " $5 : ""), $6 }'
    fi
  fi

  if [ "$JSON" = 1 ]; then
    printf '{"host":%s,"generated_at":%s,"tmux":%s,"processes":[%s],"locks":[%s],"logs":[%s],"sessions":[%s],"runs":[%s]}\n' \
      "$(tk_json_str "$host")" "$now" "$J_TMUX" "$J_PROCS" "$J_LOCKS" "$J_LOGS" "$J_SESSIONS" "$J_RUNS"
  fi
}

tk_status_main "$@"
