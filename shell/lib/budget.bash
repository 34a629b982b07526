# shellcheck shell=bash
# The restart budget, shared by the tmux watchdog (tmuxkit-watch) and the Slurm one (tmuxkit-slurm watch).
# Callers set RUNDIR (the run's state directory); budget_used takes the window in seconds.
# Sourced: defines functions and one variable only.

# The budget belongs to the run: runs/RUN/restarts holds "epoch:weight" words, one per restart,
# read and written by every watchdog of the run; restarts older than the window drop out.
RESTARTS=''
load_budget() { RESTARTS=$(cat "$RUNDIR/restarts" 2>/dev/null || true); }
save_budget() {
  printf '%s\n' "$RESTARTS" >"$RUNDIR/restarts.tmp.$$" && mv -f "$RUNDIR/restarts.tmp.$$" "$RUNDIR/restarts"
}
budget_used() { # WINDOW
  local now w used=0 keep='' window=$1
  now=$(date +%s)
  for w in $RESTARTS; do
    [ $((now - ${w%%:*})) -lt "$window" ] || continue
    keep="$keep $w"
    used=$((used + ${w##*:}))
  done
  RESTARTS=${keep# }
  echo "$used"
}

n_restarts() {
  # shellcheck disable=SC2086  # RESTARTS is a list of words
  set -- $RESTARTS
  echo $#
}
