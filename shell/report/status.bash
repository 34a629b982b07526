#!/usr/bin/env bash
# Summary: Show training processes, lock files, log activity, tmux sessions and tmuxkit runs on this host.
# Usage: check_training_status.sh [--root DIR]... [--pattern REGEX] [--stale-after SECONDS] [--json]
#        check_training_status.sh --runs-only [--json] [RUN...]
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
#
# Exit codes: 0 ok, 2 usage, 4 a named run does not exist.
# Reads only: it never creates or changes a file on the box it inspects.

if [ -z "${BASH_VERSION:-}" ]; then
  echo "check_training_status.sh: needs bash" >&2
  exit 1
fi
set -euo pipefail
[ -z "${TMUXKIT_DEBUG:-}" ] || { PS4='+ ${BASH_SOURCE##*/}:${LINENO}: ' && set -x; }
_tk_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd -P) # build: drop
# shellcheck source=../lib/contract.bash
. "$_tk_lib/contract.bash" # build: inline
# shellcheck source=../lib/core.bash
. "$_tk_lib/core.bash" # build: inline
# shellcheck source=../lib/proc.bash
. "$_tk_lib/proc.bash" # build: inline
# shellcheck source=../lib/json.bash
. "$_tk_lib/json.bash" # build: inline
# shellcheck source=../lib/lock.bash
. "$_tk_lib/lock.bash" # build: inline
# shellcheck source=../lib/run.bash
. "$_tk_lib/run.bash" # build: inline


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

# Append a JSON item to the named accumulator variable, comma-separated.
_cs_add() {
  local cur
  eval "cur=\${$1}"
  if [ -n "$cur" ]; then cur="$cur,$2"; else cur=$2; fi
  eval "$1=\$cur"
}

_cs_runs() {
  local home=$1 now=$2 name shown=0
  shift 2
  if [ $# -eq 0 ]; then
    # shellcheck disable=SC2046  # run names are [A-Za-z0-9_-] only
    set -- $(tk_run_names "$home")
  fi
  for name in "$@"; do
    tk_run_load_or_die "$home" "$name"
    tk_run_state "$now"
    if [ "$JSON" = 1 ]; then
      _cs_add J_RUNS "$(tk_run_json)"
    else
      shown=1
      printf '  %-20s %-8s pid %-7s up %-6s log %-6s exit %-4s | %s\n' "$R_RUN" "$S_STATE" "${R_PID:-?}" \
        "$(_cs_human_age "$S_UPTIME")" "$(_cs_human_age "$S_LOG_AGE")" "${R_EXIT:--}" "$S_LAST"
    fi
  done
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
# tools ("%" as %25, a newline as %0A; _cs_dec undoes it): find -print0, read -d ''.
_cs_lock_files() {
  local home=$1 root name f
  shift
  {
    for name in $(tk_run_names "$home"); do
      f=$(tk_kv_get "$home/runs/$name/meta" lock) || continue
      _cs_enc "$f"
    done
    for root in "$@"; do
      [ -d "$root" ] || continue
      find "$root" -maxdepth 4 \( -name training.lock -o -name "$TK_LOCK_NAME" \) -print0 2>/dev/null |
        while IFS= read -r -d '' f; do _cs_enc "$f"; done
    done
  } | awk '!seen[$0]++'
}

_cs_enc() {
  local f=$1 nl=$'\n'
  f=${f//"%"/%25}
  printf '%s\n' "${f//$nl/%0A}"
}

# _cs_dec VAR ENCODED
_cs_dec() {
  local _cs_f=$2 nl=$'\n'
  case $_cs_f in *%*)
    _cs_f=${_cs_f//%0A/$nl}
    _cs_f=${_cs_f//%25/%}
    ;;
  esac
  printf -v "$1" '%s' "$_cs_f"
}

# One lock's line. No process is started here (a box may hold thousands of locks): the process
# table was read once (tk_ps_snapshot), files are read by the shell, strings quoted in place.
_cs_lock_line() {
  local f=$1 st kind=tmuxkit pid='' run='' start='' hint='' content='' re='[0-9]+' q item
  local jf jk js jr jst jh
  case $f in */training.lock) kind=training.lock ;; esac
  [ -e "$f" ] || [ -L "$f" ] || return 0
  if [ "$kind" = training.lock ] && [ ! -L "$f" ]; then
    # A foreign lock: its first number is taken as the owner's PID.
    [ -f "$f" ] && { IFS= read -r -d '' -n 4096 content <"$f" || true; } 2>/dev/null
    if [[ $content =~ $re ]]; then pid=${BASH_REMATCH[0]}; fi
    if [ -z "$pid" ]; then
      st=garbage
    elif { [ "${_TK_SNAP:-}" = 1 ] && tk_snap_has "$pid"; } ||
      { [ "${_TK_SNAP:-}" != 1 ] && ps -p "$pid" >/dev/null 2>&1; }; then
      st=alive
    else
      st=stale
    fi
  else
    tk_lock_state "$f"
    st=$LK_STATE pid=$LK_PID run=$LK_RUN start=$LK_START
  fi
  tk_sq_v q "$f"
  case $st in
  stale) hint="owner is gone; remove with: rm $q  (or: tmuxkit cleanup)" ;;
  garbage) hint="not a lock this tool understands; inspect it, then: rm $q" ;;
  symlink) hint="a symlink at a lock path is refused; inspect it: ls -l $q" ;;
  notfile) hint="not a regular file; inspect it: ls -ld $q" ;;
  esac
  if [ "$JSON" = 1 ]; then
    case $f$run$start$hint in
    *[\"\\$'\001'-$'\037']*)
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
    free) st=FREE ;;
    esac
    printf '  %-7s %s  pid %s%s\n' "$st" "$f" "${pid:-?}" "${run:+ (run $run, started $start)}"
    [ -z "$hint" ] || printf '          -> %s\n' "$hint"
  fi
}

# The 10 newest *.log files under the roots, as "mtime path" lines.
_cs_newest_logs() {
  local r f
  for r in "$@"; do
    [ -d "$r" ] || continue
    find "$r" -maxdepth 5 -type f -name '*.log' 2>/dev/null || true
  done | while IFS= read -r f; do
    printf '%s %s\n' "$(tk_stat mtime "$f" 2>/dev/null || echo 0)" "$f"
  done | sort -rn | head -n 10
}

_cs_logs() {
  local now=$1 stale_after=$2 f mt age n=0 last stale
  shift 2
  while read -r mt f; do
    [ -n "$f" ] || continue
    age=$((now - mt))
    stale=false
    [ "$age" -gt "$stale_after" ] && stale=true
    last=$(tail -n 3 "$f" 2>/dev/null || true)
    n=$((n + 1))
    if [ "$JSON" = 1 ]; then
      _cs_add J_LOGS "$(printf '{"path":%s,"age_s":%s,"stale":%s,"last_lines":%s}' \
        "$(tk_json_str "$f")" "$age" "$stale" "$(tk_json_str "$last")")"
    else
      printf '  %s  %s ago%s\n' "$f" "$(_cs_human_age "$age")" "$([ "$stale" = true ] && echo '  (STALE)')"
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
  local pattern=train stale_after=300 runs_only=0 home now host f
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
    --root)
      [ $# -ge 2 ] || tk_die "$EX_USAGE" "--root needs a directory"
      roots+=("$2")
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
  host=$(hostname 2>/dev/null || echo unknown)
  [ ${#roots[@]} -gt 0 ] || roots=("$home" "./results")
  J_RUNS='' J_LOCKS='' J_LOGS='' J_PROCS='' J_SESSIONS='' J_TMUX='null'
  J_LOCKS_A=()

  if [ "$runs_only" = 1 ]; then
    _cs_runs "$home" "$now" ${runs[@]+"${runs[@]}"}
    if [ "$JSON" = 1 ]; then
      printf '{"host":%s,"generated_at":%s,"runs":[%s]}\n' "$(tk_json_str "$host")" "$now" "$J_RUNS"
    fi
    return 0
  fi

  [ "$JSON" = 1 ] || printf '== training status on %s at %s ==\n\n[1] Running training processes (pattern: %s)\n' \
    "$host" "$(date '+%Y-%m-%d %H:%M:%S')" "$pattern"
  local pid ppid run args any=0
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
  tk_ps_snapshot
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
