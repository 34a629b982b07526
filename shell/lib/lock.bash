# shellcheck shell=bash
# shellcheck disable=SC2034  # globals (TK_*, LK_*, R_*, S_*) are the results callers read
# The results lock.
# Sourced: defines functions only; no options set, nothing created, nothing run.

# --- locks -----------------------------------------------------------------------
# A lock is a file of key=value lines: pid, start (the owner's process start
# time), host, run, session, run_id, created. It is created whole and at once:
# written to a private temp file (noclobber), then hard-linked into place, which
# fails if anything exists there, a symlink included.

# tk_lock_read FILE: sets LK_PID LK_START LK_HOST LK_RUN LK_SESSION LK_RUN_ID; 1 if garbage
tk_lock_read() {
  local line n=0
  LK_PID='' LK_START='' LK_HOST='' LK_RUN='' LK_SESSION='' LK_RUN_ID=''
  while IFS= read -r line && [ "$n" -lt 32 ]; do
    n=$((n + 1))
    case $line in
    pid=*) LK_PID=${line#pid=} ;;
    start=*) LK_START=${line#start=} ;;
    host=*) LK_HOST=${line#host=} ;;
    run=*) LK_RUN=${line#run=} ;;
    session=*) LK_SESSION=${line#session=} ;;
    run_id=*) LK_RUN_ID=${line#run_id=} ;;
    esac
  done <"$1" 2>/dev/null || true
  case $LK_PID in '' | *[!0-9]*) return 1 ;; esac
  [ -n "$LK_START" ]
}

# tk_lock_state FILE: sets LK_STATE to free | symlink | notfile | garbage | alive
# | stale, and LK_* to the owner. (Not for $(...): the fields would be lost.)
tk_lock_state() {
  LK_PID='' LK_START='' LK_HOST='' LK_RUN='' LK_SESSION='' LK_RUN_ID=''
  if [ -L "$1" ]; then
    LK_STATE=symlink
  elif [ ! -e "$1" ]; then
    LK_STATE=free
  elif [ ! -f "$1" ]; then
    LK_STATE=notfile
  elif ! tk_lock_read "$1"; then
    LK_STATE=garbage
  elif tk_owner_alive "$LK_PID" "$LK_START"; then
    LK_STATE=alive
  else
    LK_STATE=stale
  fi
}

# Remove a stale lock, guarded by a mkdir mutex so two reclaimers never remove
# a lock that a third party has freshly taken.
tk_lock_reclaim() {
  local lock=$1 m="$1.reclaim" pid=$2 start=$3 age
  if ! mkdir "$m" 2>/dev/null; then
    age=$(($(date +%s) - $(tk_stat mtime "$m" 2>/dev/null || date +%s)))
    [ "$age" -gt 10 ] && rmdir "$m" 2>/dev/null
    return 1
  fi
  tk_lock_state "$lock"
  if [ "$LK_STATE" = stale ] && [ "$LK_PID" = "$pid" ] && [ "$LK_START" = "$start" ]; then
    rm -f "$lock"
  fi
  rmdir "$m"
}

tk_lock_describe() {
  printf 'PID %s (run %s, started %s)' "$LK_PID" "${LK_RUN:-?}" "$LK_START"
}

# tk_lock_acquire LOCK PID START RUN SESSION RUN_ID
# 0 on success (TK_NOTE says if a stale lock was reclaimed); else an exit code and TK_ERR.
tk_lock_acquire() {
  local lock=$1 pid=$2 start=$3 run=$4 session=$5 run_id=$6 tmp tries=0
  TK_ERR='' TK_NOTE=''
  tmp="$lock.new.$$"
  rm -f "$tmp"
  if ! (set -C && printf 'pid=%s\nstart=%s\nhost=%s\nrun=%s\nsession=%s\nrun_id=%s\ncreated=%s\n' \
    "$pid" "$start" "$(hostname 2>/dev/null || echo unknown)" "$run" "$session" "$run_id" "$(date +%s)" >"$tmp") 2>/dev/null; then
    TK_ERR="cannot write lock file next to $lock"
    return "$EX_FAIL"
  fi
  while :; do
    if ln "$tmp" "$lock" 2>/dev/null; then
      rm -f "$tmp"
      return 0
    fi
    tk_lock_state "$lock"
    case $LK_STATE in
    free) ;;
    alive)
      rm -f "$tmp"
      TK_ERR="locked by $(tk_lock_describe): $lock"
      return "$EX_LOCKED"
      ;;
    stale)
      if tk_lock_reclaim "$lock" "$LK_PID" "$LK_START"; then
        TK_NOTE="reclaimed stale lock of dead $(tk_lock_describe): $lock"
      fi
      ;;
    symlink)
      rm -f "$tmp"
      TK_ERR="lock path is a symlink; refusing to follow it: $lock"
      return "$EX_BAD_LOCK"
      ;;
    *)
      rm -f "$tmp"
      TK_ERR="lock file is not a valid tmuxkit lock (garbage); inspect and remove it by hand: $lock"
      return "$EX_BAD_LOCK"
      ;;
    esac
    tries=$((tries + 1))
    if [ "$tries" -ge 200 ]; then
      rm -f "$tmp"
      TK_ERR="could not take lock (contended): $lock"
      return "$EX_LOCKED"
    fi
    sleep 0.05
  done
}

# tk_foreign_lock_pid FILE: the PID a hand-made training.lock holds (its first number), if any.
tk_foreign_lock_pid() {
  [ -f "$1" ] && [ ! -L "$1" ] || return 1
  LC_ALL=C head -c 4096 "$1" 2>/dev/null | tr -c '0-9' '\n' | grep -m 1 -E '^[0-9]+$'
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
  [ "$LK_PID" = "$2" ] && [ "$LK_START" = "$3" ] || return 1
  rm -f "$1"
}
