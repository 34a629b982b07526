# shellcheck shell=bash
# A Slurm run's on_done, on the login host (shell/tmuxkit-slurm done). Sourced after tmuxkit.bash
# and lib/slurm.bash: defines functions only; nothing run.
# cmd_done RUN --set [--wait S] | --ack | --waiter: a Slurm run's on_done, kept in its state
# directory on this (submitting) host, $TMUXKIT_HOME/slurm/RUN: on_done (0600, from stdin, never a
# command line), on_done_wait, on_done_job (the job it is for), done_ack (that job's final sync pass
# landed on the laptop), done_waiter ("PID START": the one waiter), done_ran (the job it ran for:
# never twice), on_done.out (its output). The waiter, a loop here, runs the command once when the
# job ended for good (not pending or running: a requeue is no end; not after tmuxkit stop or a
# scancel) and the sync acknowledged its final pass, else on_done_wait seconds after the end. It
# waits out a controller that does not answer; a newer job of the run takes the on_done over.
dn_waiter_alive() {
  local pid='' start=''
  [ -f "$1/done_waiter" ] && [ ! -L "$1/done_waiter" ] || return 1
  read -r pid start <"$1/done_waiter" || true
  tk_owner_alive "$pid" "$start"
}

dn_event() { # DIR RUN JOB KIND [extra JSON members, starting with a comma]: into the run's events here
  printf '{"ts":%s,"id":"%s","run":%s,"event":%s,"job":%s%s}\n' "$(date +%s)" "$(tk_event_id)" "$(tk_json_str "$2")" \
    "$(tk_json_str "$4")" "$(tk_json_str "$3")" "${5:-}" >>"$1/events.jsonl" 2>/dev/null || true
}

dn_waiter() { # RUN DIR
  local run=$1 d=$2 job='' wait='' ended='' now me st rc
  me=$(tk_pstart $$) || return 1
  printf '%s %s\n' $$ "$me" >"$d/done_waiter.tmp.$$" && mv -f "$d/done_waiter.tmp.$$" "$d/done_waiter"
  trap 'rm -f "$d/done_waiter"' EXIT
  IFS= read -r job <"$d/on_done_job" || true
  IFS= read -r wait <"$d/on_done_wait" || true
  case $wait in '' | *[!0-9]*) wait=3600 ;; esac
  while [ -s "$d/on_done" ] && [ ! -L "$d/on_done" ]; do
    if ! job_query "$job"; then sleep 2; continue; fi # the controller does not answer: wait it out
    st=''
    [ -z "$JQ_LINE" ] || st=$(field "$JQ_LINE" JobState)
    case $(tk_state_of "${st:-COMPLETED}") in "$ST_PENDING" | "$ST_RUNNING") ended=''; sleep 2; continue ;; esac
    run_state "$run" "$job" "$st" "$( [ -z "$JQ_LINE" ] || field "$JQ_LINE" ExitCode)" \
      "$( [ -z "$JQ_LINE" ] || field "$JQ_LINE" StdOut)"
    if [ "$RS_STATE" = "$ST_STOPPED" ]; then # not after tmuxkit stop (or a scancel): the run did not end by itself
      printf '%s skipped %s stopped\n' "$job" "$(date +%s)" >"$d/done_ran"
      dn_event "$d" "$run" "$job" "$EV_ON_DONE_SKIPPED" ',"why":"stopped"'
      return 0
    fi
    now=$(date +%s)
    [ -n "$ended" ] || ended=$now
    if grep -qx "$job" "$d/done_ack" 2>/dev/null || [ $((now - ended)) -ge "$wait" ]; then
      ! grep -q "^$job " "$d/done_ran" 2>/dev/null || return 0 # never twice
      printf '%s ran %s %s\n' "$job" "$now" "$RS_STATE" >"$d/done_ran"
      rc=0
      (cd "${HOME:-/}" 2>/dev/null; TMUXKIT_RUN=$run TMUXKIT_RUN_STATE=$RS_STATE TMUXKIT_RUN_EXIT=${RS_EXIT%%:*} bash "$d/on_done") >>"$d/on_done.out" 2>&1 </dev/null || rc=$?
      dn_event "$d" "$run" "$job" "$EV_ON_DONE" ",\"exit\":$rc,\"state\":$(tk_json_str "$RS_STATE")"
      return 0
    fi
    sleep 2
  done
}

cmd_done() {
  local run=${1:-} mode='' wait=3600 d job a
  [ -n "$run" ] || tk_die "$EX_USAGE" "done needs a run name"
  tk_check_run "$run"
  shift
  while [ $# -gt 0 ]; do
    case $1 in
    --set | --ack | --waiter) mode=${1#--} ;;
    --wait) case ${2:-} in '' | *[!0-9]*) tk_die "$EX_USAGE" "--wait needs whole seconds" ;; esac; wait=$2; shift ;;
    --started) shift ;; # a tmux host's run start time: a Slurm run is told by its job
    *) tk_die "$EX_USAGE" "unknown argument: $1" ;;
    esac
    shift
  done
  [ -n "$mode" ] || tk_die "$EX_USAGE" "say --set, --ack or --waiter"
  d=$(slurm_dir "$run")
  [ ! -L "$d" ] || tk_die "$EX_BAD_LOCK" "refusing $d: a symlink"
  case $mode in
  set)
    need_slurm scontrol
    job=$(newest_job "$run")
    [ -n "$job" ] || tk_die "$EX_NOT_FOUND" "no Slurm job named '$run' on $(tk_here)"
    (umask 077 && mkdir -p "$d") || tk_die "$EX_FAIL" "cannot create $d"
    tk_done_set "$d" "$wait" || tk_die "$EX_FAIL" "cannot write the on_done of $run"
    if [ ! -s "$d/on_done" ]; then printf 'on_done=none\trun=%s\n' "$run"; return 0; fi
    printf '%s\n' "$job" >"$d/on_done_job"
    rm -f "$d/done_ack" "$d/done_ran"
    if a=$(dn_waiter_alive "$d" && sed -n 1p "$d/done_waiter"); then kill "${a%% *}" 2>/dev/null || true; fi
    nohup bash "$TK_BIN/tmuxkit-slurm" 'done' "$run" --waiter </dev/null >>"$d/done.log" 2>&1 &
    printf 'on_done=set\trun=%s\tjob=%s\twait=%s\n' "$run" "$job" "$wait"
    ;;
  ack)
    [ -f "$d/on_done_job" ] || { printf 'ack=ignored\trun=%s\n' "$run"; return 0; }
    IFS= read -r job <"$d/on_done_job" || true
    (umask 077 && printf '%s\n' "$job" >"$d/done_ack") || tk_die "$EX_FAIL" "cannot write $d/done_ack"
    printf 'ack=kept\trun=%s\tjob=%s\n' "$run" "$job"
    ;;
  waiter)
    [ -f "$d/on_done_job" ] || return 0
    dn_waiter "$run" "$d"
    ;;
  esac
}
