# shellcheck shell=bash
# shellcheck disable=SC2034  # globals (DN_*) are the results callers read
# on_done: a command run on the host once a run has ended for good and its results are safe (the
# laptop's sync acknowledged its final pass, or on_done_wait passed), e.g. stopping a paid box.
# Sourced: defines functions only; no options set, nothing created, nothing run.
#
# In runs/RUN/: on_done (0600: the command, as it came on stdin, never on a command line),
# on_done_wait (seconds), done_ack (the run id whose final sync pass landed on the laptop),
# done_ran (the run ids on_done was claimed for: never twice), done_waiter.lock (the one waiter),
# on_done.out (its output).

# tk_done_forget HOME RUN: a user's own start drops the run's earlier on_done (the start sends its
# own next, when the config has one): a key removed from the config never stops a box later.
tk_done_forget() {
  local d="$1/$TK_RUNS_DIR/$2"
  [ -d "$d" ] || return 0
  rm -f "$d/on_done" "$d/on_done_wait"
}

# tk_done_set RUNDIR WAIT: the command on stdin into RUNDIR/on_done (0600, written whole); nothing
# on stdin: none. WAIT: seconds (on_done_wait).
tk_done_set() {
  local d=$1 tmp="$1/on_done.tmp.$$"
  [ ! -L "$d/on_done" ] || return 1
  (
    umask 077
    cat >"$tmp"
  ) || {
    rm -f "$tmp"
    return 1
  }
  if [ -s "$tmp" ]; then
    chmod 600 "$tmp" && mv -f "$tmp" "$d/on_done" && tk_write "$d/on_done_wait" "$2$TK_NL"
  else
    rm -f "$tmp" "$d/on_done" "$d/on_done_wait"
  fi
}

# tk_done_others HOME RUN: true (with DN_WHY) while another tmuxkit run on this host lives (its
# runner alive) or waits in the host's queue (not blocked for good). Loads other runs: reload yours.
tk_done_others() {
  local r e
  DN_WHY=''
  # The run's own queue entry counts too: a new start of it that waits in the queue is no end.
  for e in $(tk_queue_entries "$1"); do
    tk_queue_read "$1/queue/$e"
    if [ -z "$Q_BLOCKED" ]; then
      DN_WHY="run ${e#*.} is queued"
      return 0
    fi
  done
  for r in $(tk_run_names "$1"); do
    [ "$r" != "$2" ] || continue
    tk_run_load "$1/$TK_RUNS_DIR/$r"
    if tk_runner_alive; then
      DN_WHY="run $r is live"
      return 0
    fi
    # A live watchdog may be about to restart its run (its backoff after a crash or a stop).
    if tk_watchdog_pid >/dev/null 2>&1; then
      DN_WHY="run $r has a live watchdog (it may restart it)"
      return 0
    fi
  done
  return 1
}

# tk_done_acked: the loaded run's final sync pass was acknowledged by the laptop (this start's).
tk_done_acked() {
  local id=''
  [ -f "$R_DIR/done_ack" ] && [ ! -L "$R_DIR/done_ack" ] || return 1
  IFS= read -r id <"$R_DIR/done_ack" || true
  [ -n "$id" ] && [ "$id" = "$R_RUN_ID" ]
}

# tk_done_ack STARTED: the laptop's sync says its final pass of the loaded run landed. Kept only
# for a run that has ended (no live runner) and, when STARTED is given, is the start it synced.
tk_done_ack() {
  [ -n "$R_RUN_ID" ] || return 1
  ! tk_runner_alive || return 1
  [ -z "$1" ] || [ "$1" = "$R_STARTED" ] || return 1
  tk_write "$R_DIR/done_ack" "$R_RUN_ID$TK_NL"
}

# tk_done_user_stop: the loaded run's start was stopped by its user (tmuxkit stop), not by its
# watchdog for a NaN (on_nan = "stop", runs/RUN/nan_stopped) nor for its spent budget.
tk_done_user_stop() {
  local id=''
  [ -f "$R_DIR/stopped" ] || return 1
  [ ! -f "$R_DIR/failed" ] || return 1
  if [ -f "$R_DIR/nan_stopped" ] && [ ! -L "$R_DIR/nan_stopped" ]; then
    IFS= read -r id <"$R_DIR/nan_stopped" || true
    [ "$id" != "$R_RUN_ID" ] || return 1
  fi
  return 0
}

# tk_done_lock: this process is the loaded run's one on_done waiter. Its lock, done_waiter.lock, is
# a tmuxkit lock (lib/lock.bash): written whole with its owner (PID, start) and linked into place
# at once, so a second waiter never finds it without its owner (and never takes it for a dead
# one's); a dead waiter's is taken over under the lock's own reclaim guard. Fails while another
# lives. (An earlier version's done.lock/ folder is left to the waiter that may still hold it.)
tk_done_lock() {
  DN_ME=$(tk_pstart $$) || return 1
  tk_lock_acquire "$R_DIR/done_waiter.lock" $$ "$DN_ME" "$R_RUN" "$R_RUN" "$R_RUN_ID"
}

tk_done_unlock() {
  tk_lock_release "$R_DIR/done_waiter.lock" $$ "${DN_ME:-}" || true
}

# tk_done_judge HOME RUN ID: one look at whether the loaded run's on_done is due (the waiter calls it
# each round, with the run id it waits for). DN_DO: "run" (DN_WHY: after the ack, or the wait),
# "skip" (the user stopped it: DN_WHY), "leave" (nothing to do now, or never for this start:
# another start, no on_done, already claimed, a live watchdog that will say when it leaves), or
# "wait" (DN_WHY: the run still lives, another run lives or is queued, no ack yet).
tk_done_judge() {
  local home=$1 run=$2 id=$3 wait=$TK_DEF_ON_DONE_WAIT ended now
  DN_DO=wait DN_WHY=''
  # A new start of the run waits in the host's queue: this start's on_done is not due, ever (the
  # queued start's own end starts its own waiter).
  if tk_queue_find "$home" "$run" >/dev/null 2>&1; then
    DN_DO=leave
    return 0
  fi
  tk_run_load "$home/$TK_RUNS_DIR/$run"
  if [ "$R_RUN_ID" != "$id" ] || [ ! -s "$R_DIR/on_done" ] || [ -L "$R_DIR/on_done" ] ||
    grep -qxF -- "$id" "$R_DIR/done_ran" 2>/dev/null; then
    DN_DO=leave
    return 0
  fi
  if tk_runner_alive; then
    DN_WHY="the run lives"
    return 0
  fi
  # A live watchdog may start it again; it calls for on_done itself when it leaves.
  if tk_watchdog_pid >/dev/null 2>&1; then
    DN_DO=leave
    return 0
  fi
  if tk_done_user_stop; then
    DN_DO=skip DN_WHY="stopped by the user"
    return 0
  fi
  [ ! -f "$R_DIR/on_done_wait" ] || read -r wait <"$R_DIR/on_done_wait" || true
  case $wait in '' | *[!0-9]*) wait=$TK_DEF_ON_DONE_WAIT ;; esac
  ended=${R_ENDED:-}
  case $ended in '' | *[!0-9]*) ended=$(tk_stat mtime "$R_DIR/runner" 2>/dev/null) || ended=$(date +%s) ;; esac
  if tk_done_others "$home" "$run"; then
    tk_run_load "$home/$TK_RUNS_DIR/$run"
    return 0
  fi
  tk_run_load "$home/$TK_RUNS_DIR/$run"
  now=$(date +%s)
  if tk_done_acked; then
    DN_DO=run DN_WHY="the laptop's sync acknowledged its final pass"
  elif [ $((now - ended)) -ge "$wait" ]; then
    DN_DO=run DN_WHY="no sync acknowledged a final pass within on_done_wait (${wait}s)"
  else
    DN_WHY="waiting for the laptop's final sync (at most $((wait - (now - ended)))s more)"
  fi
}

# tk_done_spawn BIN HOME RUN: start RUN's on_done waiter (tmuxkit-done --waiter) in the background,
# apart from its caller (the runner's end, a leaving watchdog, a --set after the end): one waiter
# a run at a time (tk_done_lock), so a second is harmless. The caller, at its own end, ignores
# SIGHUP from here on: so does the waiter from its first instant (the pane's hang-up when the
# runner exits would end it before a trap of its own is set).
tk_done_spawn() {
  trap '' HUP
  (
    trap '' INT
    TMUXKIT_HOME=$2 exec bash "$1/tmuxkit-done" "$3" --waiter
  ) </dev/null >/dev/null 2>&1 &
}

# tk_done_bounded SECONDS COMMAND [ARG]...: as tk_bounded, but COMMAND runs in a process group of its
# own and the whole group is killed at the limit: what on_done started (an rsync, an upload) does not
# go on orphaned, writing its output, after on_done was said to be killed. Status, or 124.
tk_done_bounded() {
  local limit=$1 pid i=0
  shift
  set -m # a background job gets its own process group (its leader is $!): in this subshell only
  "$@" &
  pid=$!
  set +m
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$i" -ge $((limit * 10)) ]; then
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      return 124
    fi
    sleep 0.1
    i=$((i + 1))
  done
  wait "$pid"
}

