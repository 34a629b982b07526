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
# shellcheck source=../lib/gpu.bash
. "$_tk_lib/gpu.bash" # build: inline
# shellcheck source=../lib/queue.bash
. "$_tk_lib/queue.bash" # build: inline


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
