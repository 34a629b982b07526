# shellcheck shell=bash
# The end of a run's life: its pane log writer ends with it.
# Sourced: defines functions only; no options set, nothing created, nothing run.

# tk_run_writer_end PANE LINE: end the loaded run's pane log writer once LINE (the runner's last
# line, printed to PANE) is the log's last line, so no line is lost: the pane's pipe is closed and
# the writer, at its end of file, flushes and exits (it stayed, 11 MB each, until a cleanup).
# After 15 s without LINE (a loaded box can hold the writer back), the pipe is closed all the same. Nothing to do without a pipe (headless:
# the relay's own writer ends with the relay). Only this runner's own pane (its pane_pid is this
# process): after a kill-server, a new server's pane may have the dead pane's id (another run's).
tk_run_writer_end() {
  local i=0 last
  [ "$(tk_run_tmux display-message -p -t "$1" '#{pane_pipe} #{pane_pid}' 2>/dev/null)" = "1 $$" ] || return 0
  while [ "$i" -lt 150 ]; do
    last=$(tail -n 1 "$R_LOG" 2>/dev/null) || last=''
    [ "$last" != "$2" ] || break
    sleep 0.1
    i=$((i + 1))
  done
  tk_run_tmux pipe-pane -t "$1" 2>/dev/null || true
}

# tk_run_writer_holds: true when the loaded run's pane keeps its log pipe for a second (checked
# every 0.1 s): a writer re-attached that dies at once is not a repair.
tk_run_writer_holds() {
  local i=0
  while [ "$i" -lt 10 ]; do
    [ "$(tk_run_writer)" = 1 ] || return 1
    sleep 0.1
    i=$((i + 1))
  done
}

# tk_notify_end_claim: true once for the loaded run's start (its run id): whoever notifies its
# end (the watchdog or the runner's end hook) claims it first, so the end is sent once.
tk_notify_end_claim() {
  local f="$R_DIR/notified"
  [ ! -L "$f" ] || return 1
  ! grep -qxF -- "$R_RUN_ID" "$f" 2>/dev/null || return 1
  # mkdir is atomic: of two at once, one claims.
  mkdir "$R_DIR/notified.claim" 2>/dev/null || return 1
  if grep -qxF -- "$R_RUN_ID" "$f" 2>/dev/null; then
    rmdir "$R_DIR/notified.claim" 2>/dev/null || true
    return 1
  fi
  printf '%s\n' "$R_RUN_ID" >"$f.tmp.$$" && mv -f "$f.tmp.$$" "$f"
  rmdir "$R_DIR/notified.claim" 2>/dev/null || true
}
