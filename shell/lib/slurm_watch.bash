# shellcheck shell=bash
# The Slurm watchdog (shell/tmuxkit-slurm watch): a loop on the login host that reads the job's
# state and log, requeues a crash or a stuck job within its budget, checks GPU use on the compute
# node (srun --overlap), sends the run's notifications, and keeps its events. Sourced after
# tmuxkit.bash and lib/slurm.bash: defines variables and functions only; nothing run.
W_RUN='' W_JOB='' W_LOG='' RUNDIR='' WINDOW=3600
# The watchdog's settings (cmd_watch): which kinds it resumes (--restart-on: stuck, crash, both),
# its budget and ladder, the GPU-idle check (--gpu-idle-below PCT for --gpu-idle-for S, read on
# the compute node), and --notify-only (it requeues nothing: it only tells and notifies).
W_RESTART_ON=both W_MAX=$TK_DEF_MAX_RESTARTS W_GRACE=$TK_DEF_GRACE W_IDLE_BELOW='' W_IDLE_FOR=300 W_NOTIFY_ONLY=0
W_EXPECT='' W_SENDERS=''
w_event() { # KIND [extra JSON members, starting with a comma]
  local id
  id=$(tk_event_id)
  printf '{"ts":%s,"id":"%s","run":%s,"event":%s,"job":%s%s}\n' "$(date +%s)" "$id" "$(tk_json_str "$W_RUN")" \
    "$(tk_json_str "$1")" "$(tk_json_str "$W_JOB")" "${2:-}" >>"$RUNDIR/events.jsonl"
  printf '[tmuxkit-slurm watch] %s %s %s\n' "$(date '+%H:%M:%S')" "$1" "${2:-}"
  w_notify "$1" "$id" "${2:-}"
}

# w_wants KIND: the watchdog resumes KIND (stuck or crash) by its --restart-on.
w_wants() { [ "$W_NOTIFY_ONLY" = 0 ] && { [ "$W_RESTART_ON" = both ] || [ "$W_RESTART_ON" = "$1" ]; }; }

# --- notifications from the login host: the laptop may be gone ------------------------------
# The targets ("KIND URL" lines, lib/notify.bash) are in $TMUXKIT_HOME/slurm/RUN/notify (0600,
# from stdin: watch --notify-stdin). Each event worth it (TK_NOTIFY_EVENTS), the watchdog's own
# and the wrapper's it relays (time_limit, requeued, resumed), is sent once: claimed by its id in
# notified.d/ (mkdir: of two watchdogs, one sends), then sent in the background.

# w_notify EVENT ID JSON: send EVENT (id ID; JSON: its members, or the whole line) to the targets.
w_notify() {
  case " $TK_NOTIFY_EVENTS " in *" $1 "*) ;; *) return 0 ;; esac
  [ -s "$RUNDIR/notify" ] && [ ! -L "$RUNDIR/notify" ] || return 0
  case $2 in '' | *[!A-Za-z0-9_.-]*) return 0 ;; esac
  [ ! -L "$RUNDIR/notified.d" ] || return 0
  (umask 077 && mkdir -p "$RUNDIR/notified.d") 2>/dev/null || return 0
  mkdir "$RUNDIR/notified.d/$2-$1" 2>/dev/null || return 0 # sent already (or being sent)
  # An attempt's end once, whatever the watchdogs: a new watchdog of an ended job tells it again
  # (a new event), but sends no second "finished".
  case $1 in "$EV_FINISHED" | "$EV_CRASHED" | "$EV_STOPPED")
    mkdir "$RUNDIR/notified.d/end-$W_JOB-${W_RESTARTS:-0}" 2>/dev/null || return 0
    ;;
  esac
  w_send "$1" "$3" </dev/null >/dev/null 2>&1 &
  W_SENDERS="$W_SENDERS $!"
}

# w_jv JSON KEY: KEY's value in JSON members (a string's, unquoted; a number's); empty when absent.
w_jv() {
  printf '%s}' "$1" | sed -n -e "s/.*\"$2\":\"\\([^\"]*\\)\".*/\\1/p" -e t -e "s/.*\"$2\":\\([-+0-9.eE]*\\)[,}].*/\\1/p" | head -n 1
}

# w_send EVENT JSON: "finished RUN after 3m, exit 0:0, step 400/400, loss 0.118" to every target,
# each tried 3 times with backoff; each outcome goes to notify.log (never the URL).
w_send() {
  local ev=$1 j=$2 msg v kind url ok attempt backoff=${TMUXKIT_NOTIFY_BACKOFF:-2} k
  case $backoff in '' | *[!0-9]*) backoff=2 ;; esac
  msg="$ev $W_RUN (Slurm job $W_JOB)"
  v=$(w_jv "$j" after) && [ -z "$v" ] || msg="$msg after $v"
  v=$(w_jv "$j" exit) && [ -z "$v" ] || msg="$msg, exit $v"
  v=$(w_jv "$j" by) && [ -z "$v" ] || msg="$msg, by $v"
  for k in reason epoch step; do
    v=$(w_jv "$j" "$k") && [ -z "$v" ] || msg="$msg, $( [ "$k" = reason ] || printf '%s ' "$k")$v"
  done
  v=$(w_jv "$j" loss) && [ -z "$v" ] || msg="$msg, loss $v"
  v=$(w_jv "$j" checkpoint) && [ -z "$v" ] || msg="$msg, from ${v##*/}"
  v=$(w_jv "$j" cause) && [ -z "$v" ] || msg="$msg: $v"
  while read -r kind url; do
    [ -n "$url" ] || continue
    ok=0
    for attempt in 1 2 3; do
      if tk_notify_one "$kind" "$url" "tmuxkit: $W_RUN $ev" "$msg"; then
        ok=1
        break
      fi
      [ "$attempt" = 3 ] || sleep $((attempt * backoff))
    done
    tk_append "$RUNDIR/notify.log" "$(date +%s) $ev $kind $([ "$ok" = 1 ] && echo sent || echo failed)$TK_NL" || true
  done <"$RUNDIR/notify"
}

# w_end_v LINE: TK_WX, what a run's end event carries for its notification, as a tmux run's says
# it: "after" (the last attempt's duration: Slurm's RunTime, in words: 7h12m, 3m, 45s) and, from
# RUN.progress beside the log (the newest reading, as status shows it: tk_run_extras), "epoch"
# ("3/10"), "step" ("200/400") and "loss". Each only when known.
w_end_v() {
  local secs='' v p
  TK_WX=''
  slurm_secs_v secs "$(field "$1" RunTime)"
  if [ -n "$secs" ]; then
    if [ "$secs" -ge 3600 ]; then printf -v v '%sh%02dm' $((secs / 3600)) $((secs % 3600 / 60))
    elif [ "$secs" -ge 60 ]; then v="$((secs / 60))m"; else v="${secs}s"; fi
    TK_WX=",\"after\":\"$v\""
  fi
  S_PROGRESS=''
  R_LOG=${W_LOG:-$(field "$1" StdOut)} R_DIR=/nonexistent S_LAST=x tk_run_extras
  p=$S_PROGRESS
  case $p in *'"epoch":'[0-9]*',"epochs":'[0-9]*)
    v=${p#*\"epoch\":} && v=${v%%,*}/${p#*\"epochs\":} && v=${v%%[,\}]*}
    case $v in *[!0-9/]*) ;; *) TK_WX="$TK_WX,\"epoch\":\"$v\"" ;; esac
    ;;
  esac
  case $p in *'"step":'[0-9]*',"total":'[0-9]*)
    v=${p#*\"step\":} && v=${v%%,*}/${p#*\"total\":} && v=${v%%[,\}]*}
    case $v in *[!0-9/]*) ;; *) TK_WX="$TK_WX,\"step\":\"$v\"" ;; esac
    ;;
  esac
  case $p in *['{,']'"loss":'[-+0-9]*)
    v=${p#*['{,']\"loss\":} && v=${v%%[,\}]*}
    case $v in '' | *[!-+0-9.eE]*) ;; *) TK_WX="$TK_WX,\"loss\":$v" ;; esac
    ;;
  esac
}

w_evidence() { # LOG AGE [WHY]: what the login node sees of a stuck job, and the compute node's view
  local f rc=0 limit=${TMUXKIT_EVIDENCE_TIMEOUT:-20}
  case $limit in '' | *[!0-9]* | 0) limit=20 ;; esac
  mkdir -p "$RUNDIR/evidence"
  f=$RUNDIR/evidence/$(date +%Y%m%d-%H%M%S)-stuck.txt
  {
    printf 'run %s, job %s: %s\n\n--- last 50 lines of %s\n' "$W_RUN" "$W_JOB" "${3:-log silent for ${2}s}" "$1"
    tail -n 50 "$1" 2>/dev/null || true
    printf '\n--- scontrol show job %s\n' "$W_JOB"
    scontrol show job "$W_JOB" 2>&1 || true
    printf '\n--- on the compute node (srun --jobid %s --overlap)\n' "$W_JOB"
    # py-spy and nvidia-smi each get LIMIT seconds there; the whole probe a little more.
    w_on_node $((3 * limit + 15)) sn_evidence "$limit" || rc=$?
    case $rc in
    0) ;;
    124) printf '(no answer from the compute node within %ss)\n--- unavailable: the compute node (timed out)\n' $((3 * limit + 15)) ;;
    127) printf -- '--- unavailable: the compute node (no srun on %s)\n' "$(tk_here)" ;;
    *) printf -- '--- unavailable: the compute node (srun --overlap failed: exit %s)\n' "$rc" ;;
    esac
  } >"$f" 2>&1
  w_event "$EV_EVIDENCE_SAVED" ",\"path\":$(tk_json_str "$f")"
}

# w_on_node LIMIT FUNCTION [ARG]...: FUNCTION of this library run on the job's (first) node, in a
# step beside the job's own (srun --jobid JOB --overlap: it takes none of the job's resources), with
# the watchdog's environment (PATH included); bounded by LIMIT seconds (lib/core.bash's tk_bounded:
# no timeout(1) on macOS). Its output; its status, 124 when it gave no answer, 127 with no srun here.
# The host scripts are on a filesystem the node shares (the wrapper runs from there too).
w_on_node() {
  local limit=$1
  shift
  command -v srun >/dev/null 2>&1 || return 127
  # shellcheck disable=SC2016  # for the node's bash
  tk_bounded "$limit" srun --jobid "$W_JOB" --overlap --nodes=1 --ntasks=1 --quiet \
    bash -c '. "$1/lib/tmuxkit.bash" && . "$1/lib/slurm.bash" && . "$1/lib/slurm_watch.bash" && shift && "$@"' tmuxkit-slurm-probe "$TK_BIN" "$@" </dev/null
}

# --- on the compute node (w_on_node) --------------------------------------------------------------
# sn_pids: the job's processes on this node (scontrol listpids: every step's, this probe's own step
# left out); where that lists none, the processes that carry the run's id (the wrapper's default
# TMUXKIT_RUN_ID is the job id) and theirs.
sn_pids() {
  local p
  p=$(scontrol listpids "${SLURM_JOB_ID:-}" 2>/dev/null |
    awk -v me="${SLURM_STEP_ID:-x}" '$1 ~ /^[0-9]+$/ && $3 != me { print $1 }')
  [ -n "$p" ] || p=$(tk_run_pids "${SLURM_JOB_ID:-}" "")
  printf '%s\n' "$p"
}

# sn_evidence LIMIT: the job's process tree (ps), a py-spy dump of each python process, nvidia-smi
# (each probed, each bounded by LIMIT seconds: a crashed driver hangs), and what was unavailable.
sn_evidence() {
  local limit=$1 pids p rc missing=''
  pids=$(sn_pids | tr '\n' ' ')
  echo "== node $(hostname 2>/dev/null || uname -n)"
  echo "== the job's processes (pid ppid %cpu %mem rss etime args)"
  # shellcheck disable=SC2086  # a list of pids
  if [ -n "${pids// /}" ]; then ps -ww -o pid=,ppid=,pcpu=,pmem=,rss=,etime=,args= -p "$(echo $pids | tr ' ' ',')" 2>&1 || true
  else missing="$missing process-tree(scontrol listpids found none)"; fi
  echo "== py-spy dump of each python process"
  if command -v py-spy >/dev/null 2>&1; then
    for p in $pids; do
      tk_is_python "$p" || continue
      echo "-- py-spy dump --pid $p ($(ps -o comm= -p "$p" 2>/dev/null || true))"
      rc=0
      tk_bounded "$limit" py-spy dump --pid "$p" 2>&1 || rc=$?
      case $rc in
      0) ;;
      124) echo "(py-spy gave no answer within $limit s)" && missing="$missing py-spy(pid $p: timed out after ${limit}s)" ;;
      *) echo "(py-spy failed: exit $rc)" && missing="$missing py-spy(pid $p: failed, exit $rc)" ;;
      esac
    done
  else
    missing="$missing py-spy"
  fi
  echo "== nvidia-smi ($limit s limit)"
  if command -v nvidia-smi >/dev/null 2>&1; then
    rc=0
    tk_bounded "$limit" nvidia-smi 2>&1 || rc=$?
    case $rc in
    0) ;;
    124) echo "(nvidia-smi gave no answer within $limit s: the driver may be hung)" && missing="$missing nvidia-smi(timed out after ${limit}s)" ;;
    *) echo "(nvidia-smi failed: exit $rc)" && missing="$missing nvidia-smi(failed, exit $rc)" ;;
    esac
  else
    missing="$missing nvidia-smi"
  fi
  echo "== unavailable:${missing:- nothing}"
}

# sn_gpu_util: the highest utilization of the GPUs the job's processes use (all when nvidia-smi does
# not say), by the tmux watchdog's rule (lib/gpu.bash); exit 3 when the node has no nvidia-smi.
sn_gpu_util() {
  command -v nvidia-smi >/dev/null 2>&1 || return 3
  tk_gpu_util_of "$(sn_pids | tr '\n' ' ')"
}

# w_relay: the wrapper's events (RESULTS/tmuxkit/RUN.events.jsonl: time_limit, requeued, resumed)
# join this watchdog's, so `tmuxkit events RUN -f` sends them too.
W_RELAYED=0 W_WFILE=''
w_relay() {
  local n new ev id
  [ -n "$W_WFILE" ] && [ -f "$W_WFILE" ] || return 0
  n=$(wc -l <"$W_WFILE" | tr -d ' ')
  [ "$n" -gt "$W_RELAYED" ] || return 0
  new=$(tail -n "+$((W_RELAYED + 1))" "$W_WFILE" | head -n "$((n - W_RELAYED))")
  printf '%s\n' "$new" >>"$RUNDIR/events.jsonl"
  W_RELAYED=$n
  while IFS= read -r ev; do
    id=$(w_jv "$ev" id)
    w_notify "$(w_jv "$ev" event)" "$id" "$ev"
  done <<<"$new"
}

# w_stuck REASON DETAIL: the running job is stuck (its log silent, or its GPUs idle): evidence,
# then, when the watchdog resumes stuck runs (--restart-on), a requeue within the budget (the
# wrapper resumes from the newest complete checkpoint) or, with the budget spent, the stop ladder.
# 0 when the job was requeued, 1 when the watchdog is done with it (budget spent), 2 when it only told.
w_stuck() {
  local used out
  w_evidence "${W_LOG:-$(field "$W_LINE" StdOut)}" "${W_AGE:-0}" "$2"
  w_wants stuck || return 2
  load_budget
  used=$(budget_used "$WINDOW")
  if [ $((used + 1)) -gt "$W_MAX" ]; then
    printf 'restart budget spent\n%s\n' "$W_JOB" >"$RUNDIR/failed"
    w_event "$EV_BUDGET_SPENT" ",\"restarts\":$used,\"max_restarts\":$W_MAX"
    out=$(cmd_stop --job "$W_JOB" --grace "$W_GRACE" 2>&1) || true
    w_event "$EV_STOP_RUNG" ",\"rung\":$(tk_json_str "$(printf '%s\n' "$out" | sed -n 's/^rung=//p')")"
    return 1
  fi
  w_requeue "$1"
  return 0
}

# w_requeue REASON: scontrol requeue, counted against the budget (event requeued, by watchdog);
# the requeued attempt resumes from the newest complete checkpoint (the wrapper, by the watchdog's
# rules). Slurm's restart count that follows is this requeue's, not Slurm's own (W_EXPECT).
w_requeue() {
  RESTARTS="$RESTARTS $(date +%s):1"
  save_budget
  if scontrol requeue "$W_JOB" >/dev/null 2>&1; then
    W_EXPECT=$((${W_RESTARTS:-0} + 1))
    w_event "$EV_REQUEUED" ",\"by\":\"watchdog\",\"reason\":$(tk_json_str "$1"),\"attempt\":$(n_restarts)"
    return 0
  fi
  w_event "$EV_RESUME_FAILED" ",\"why\":\"scontrol requeue refused job $W_JOB\""
  return 1
}

# w_crash_restart: the job crashed (the trainer's non-zero exit, as the wrapper recorded it; or a
# failed batch step): requeued within the budget, as the tmux watchdog restarts a crash. 0 when
# requeued; 1 when not (the budget is spent: the run is failed, budget_spent).
w_crash_restart() {
  local used
  load_budget
  used=$(budget_used "$WINDOW")
  if [ $((used + 1)) -gt "$W_MAX" ]; then
    printf 'restart budget spent\n%s\n' "$W_JOB" >"$RUNDIR/failed"
    w_event "$EV_BUDGET_SPENT" ",\"restarts\":$used,\"max_restarts\":$W_MAX"
    return 1
  fi
  w_requeue crash
}

# w_gpu_idle: the GPU-idle check of a running job, read on its node (sn_gpu_util), by the tmux
# watchdog's rule: under --gpu-idle-below percent for --gpu-idle-for seconds is stuck (gpu idle).
# 0 when it judged the job stuck (W_GPU_UTIL: the reading). A node without nvidia-smi turns the
# check off, said once (gpu_checks_off); a probe with no answer counts as no reading.
W_IDLE_SINCE='' W_GPU_OFF=0 W_GPU_UTIL=''
w_gpu_idle() {
  local util rc=0 now
  [ -n "$W_IDLE_BELOW" ] && [ "$W_GPU_OFF" = 0 ] || return 1
  util=$(w_on_node 30 sn_gpu_util) || rc=$?
  case $rc in
  0) ;;
  3 | 127)
    W_GPU_OFF=1
    w_event "$EV_GPU_CHECKS_OFF" ",\"why\":$(tk_json_str "$([ "$rc" = 3 ] && echo "nvidia-smi not found on the compute node" || echo "no srun on $(tk_here) to reach the compute node")")"
    return 1
    ;;
  *) return 1 ;;
  esac
  case $util in '' | *[!0-9]*) return 1 ;; esac
  now=$(date +%s)
  if [ "$util" -ge "$W_IDLE_BELOW" ]; then
    W_IDLE_SINCE=''
    return 1
  fi
  W_IDLE_SINCE=${W_IDLE_SINCE:-$now}
  [ $((now - W_IDLE_SINCE)) -ge "$W_IDLE_FOR" ] || return 1
  W_IDLE_SINCE='' W_GPU_UTIL=$util
  return 0
}

W_LINE='' W_AGE='' W_RESTARTS='' W_CRASH='exited non-zero'
w_loop() { # EVERY STUCK
  local every=$1 stuck=$2 line st state restarts seen='' prev='' since log mt age rc why down=0
  since=$(date +%s)
  while tk_watchdog_is_me; do
    w_relay
    if ! job_query "$W_JOB"; then
      # The controller does not answer: wait it out (however long), said once each way.
      [ "$down" = 1 ] || w_event "$EV_CONTROLLER_DOWN" ",\"error\":$(tk_json_str "$JQ_ERR")"
      down=1
      sleep "$every"
      continue
    fi
    [ "$down" = 0 ] || w_event "$EV_CONTROLLER_BACK"
    down=0
    line=$JQ_LINE
    st=''
    [ -z "$line" ] || st=$(field "$line" JobState)
    state=$(tk_state_of "${st:-COMPLETED}")
    ER_WHY=''
    case $state in "$ST_PENDING" | "$ST_RUNNING") ;; *)
      run_state "$W_RUN" "$W_JOB" "$st" "$(field "$line" ExitCode)" "${W_LOG:-$(field "$line" StdOut)}"
      state=$RS_STATE
      w_relay
      ;;
    esac
    why=$ER_WHY
    restarts=$(field "$line" Restarts)
    if [ -n "$seen" ] && [ -n "$restarts" ] && [ "$restarts" != "$seen" ]; then
      end_record "${W_LOG:-$(field "$line" StdOut)}" "$W_JOB"
      if [ "$restarts" = "$W_EXPECT" ] || [ "$ER_WHY" = "$EV_REQUEUED" ]; then :; else
        # Requeued by Slurm itself: preemption or a node failure. A requeue, not a crash, and not ours to count.
        w_event "$EV_REQUEUED" ",\"by\":\"slurm\",\"slurm_restarts\":$restarts"
      fi
    fi
    [ -z "$restarts" ] || seen=$restarts
    W_LINE=$line W_RESTARTS=$restarts
    # The trainer's own non-zero exit reads exited, as on a tmux host, and is a crash.
    [ "$state" != "$ST_EXITED" ] || case ${RS_EXIT%%:*} in '' | 0) ;; *) state=$W_CRASH ;; esac
    case $state in
    "$ST_EXITED") w_end_v "$line" && w_event "$EV_FINISHED" ",\"exit\":$(tk_json_str "$RS_EXIT")$TK_WX"; w_wait_senders; return 0 ;;
    "$ST_STOPPED") w_event "$EV_STOPPED" ",\"slurm_state\":$(tk_json_str "$st"),\"rung\":$(tk_json_str "$RS_RUNG")"; w_wait_senders; return 0 ;;
    "$ST_FAILED" | "$ST_TIMEOUT" | "$ST_DEAD" | "$W_CRASH")
      w_end_v "$line"
      [ -f "$RUNDIR/failed" ] || w_event "$EV_CRASHED" ",\"state\":$(tk_json_str "$RS_STATE"),\"slurm_state\":$(tk_json_str "$st"),\"exit\":$(tk_json_str "$RS_EXIT"),\"cause\":$(tk_json_str "$RS_CAUSE")$TK_WX"
      # A crash (Slurm still knows the job: it can be requeued) is resumed as on a tmux host, unless
      # the watchdog itself gave up on it or the wrapper ended it on purpose (no progress past the
      # time limit: requeueing would loop).
      if { [ "$state" = "$ST_FAILED" ] || [ "$state" = "$W_CRASH" ]; } && [ -n "$st" ] && [ ! -f "$RUNDIR/failed" ] && [ "$why" != failed ] &&
        w_wants crash && w_crash_restart; then
        prev=''
        sleep "$every"
        continue
      fi
      w_wait_senders
      return 0
      ;;
    "$ST_RUNNING")
      [ "$prev" = "$ST_RUNNING" ] || { since=$(date +%s) && W_IDLE_SINCE=''; } # a new attempt: its silence counts from now
      log=$(field "$line" StdOut) age=0
      mt=$(tk_stat mtime "$log" 2>/dev/null) || mt=0
      [ "$mt" -ge "$since" ] || mt=$since
      age=$(($(date +%s) - mt))
      rc=3
      if [ "$W_NOTIFY_ONLY" = 0 ] && [ "$age" -gt "$stuck" ]; then
        w_event "$EV_STUCK" ",\"log_age_s\":$age"
        W_AGE=$age
        rc=0
        w_stuck "stuck" "log silent for ${age}s" || rc=$?
      elif [ "$W_NOTIFY_ONLY" = 0 ] && w_gpu_idle; then
        w_event "$EV_STUCK" ",\"reason\":\"gpu idle\",\"gpu_util\":$W_GPU_UTIL"
        W_AGE=$age
        rc=0
        w_stuck "gpu idle" "its GPUs under ${W_IDLE_BELOW}% for ${W_IDLE_FOR}s (last reading ${W_GPU_UTIL}%)" || rc=$?
      fi
      case $rc in
      0) prev='' && sleep "$every" && continue ;; # requeued: the next attempt is watched afresh
      1) w_wait_senders && return 0 ;;
      2) since=$(date +%s) ;; # only told: told again after as long a silence
      esac
      ;;
    esac
    prev=$state
    sleep "$every"
  done
}

# w_wait_senders: the notifications still being sent go out before the watchdog ends.
w_wait_senders() {
  local p
  for p in $W_SENDERS; do wait "$p" 2>/dev/null || true; done
  W_SENDERS=''
}

cmd_watch() {
  need_slurm scontrol scancel
  local run=${1:-} every=30 stuck=$TK_DEF_STUCK_AFTER detach=0 off=0 targets=0 a i
  local -a pass
  [ -n "$run" ] || tk_die "$EX_USAGE" "watch needs a run name"
  tk_check_run "$run"
  shift
  pass=()
  while [ $# -gt 0 ]; do
    case $1 in
    --detach) detach=1 ;;
    --off) off=1 ;;
    --notify-stdin) targets=1 ;;
    --notify-only) W_NOTIFY_ONLY=1 && pass+=("$1") ;;
    --restart-on)
      case ${2:-} in stuck | crash | both) W_RESTART_ON=$2 ;; *) tk_die "$EX_USAGE" "--restart-on takes stuck, crash or both" ;; esac
      pass+=("$1" "$2")
      shift
      ;;
    --every | --stuck-after | --max-restarts | --restart-window | --grace | --gpu-idle-below | --gpu-idle-for)
      case ${2:-} in '' | *[!0-9]*) tk_die "$EX_USAGE" "$1 needs whole seconds (or a count)" ;; esac
      case $1 in
      --every) every=$2 ;; --stuck-after) stuck=$2 ;; --max-restarts) W_MAX=$2 ;;
      --restart-window) WINDOW=$2 ;; --grace) W_GRACE=$2 ;;
      --gpu-idle-below) W_IDLE_BELOW=$2 ;; --gpu-idle-for) W_IDLE_FOR=$2 ;;
      esac
      pass+=("$1" "$2")
      shift
      ;;
    *) tk_die "$EX_USAGE" "unknown argument: $1" ;;
    esac
    shift
  done
  [ "$every" -gt 0 ] || tk_die "$EX_USAGE" "--every must be at least 1 second"
  W_RUN=$run RUNDIR=$(slurm_dir "$run")
  (umask 077 && mkdir -p "$RUNDIR") || tk_die "$EX_FAIL" "cannot create $RUNDIR"
  # tk_watchdog_* (lib/run.bash) keep one watchdog per run through R_DIR/watchdog.
  # shellcheck disable=SC2034  # read by the tk_watchdog_* functions
  R_DIR=$RUNDIR R_RUN=$run R_SOCKET=''
  if [ "$off" = 1 ]; then
    if tk_watchdog_end 0; then printf 'watchdog=ended\trun=%s\n' "$run"; else printf 'watchdog=none\trun=%s\n' "$run"; fi
    return 0
  fi
  W_JOB=$(newest_job "$run")
  [ -n "$W_JOB" ] || tk_die "$EX_NOT_FOUND" "no Slurm job named '$run' on $(tk_here)"
  # Notification targets ("KIND URL" lines on stdin, lib/notify.bash): this watchdog sends them.
  [ "$targets" = 0 ] || [ -L "$RUNDIR/notify" ] || tk_notify_save_targets "$RUNDIR/notify"
  if [ "$detach" = 1 ]; then
    tk_watchdog_end 0 || true
    nohup bash "$TK_BIN/tmuxkit-slurm" watch "$run" ${pass[@]+"${pass[@]}"} </dev/null >>"$RUNDIR/watch.log" 2>&1 &
    a=$!
    i=0
    while [ "$i" -lt 50 ] && ! tk_watchdog_pid >/dev/null 2>&1; do sleep 0.1; i=$((i + 1)); done
    printf 'watchdog=started\tpid=%s\tjob=%s\tevents=%s\n' "$a" "$W_JOB" "$RUNDIR/events.jsonl"
    return 0
  fi
  trap '' HUP
  trap '! tk_watchdog_is_me || rm -f "$RUNDIR/watchdog"' EXIT
  trap 'w_event "$EV_WATCHDOG_ENDED" ",\"by\":\"signal\""; exit 0' TERM
  tk_watchdog_claim || tk_die "$EX_FAIL" "could not register the watchdog in $RUNDIR"
  rm -f "$RUNDIR/failed"
  W_LOG='' W_WFILE=''
  if remembered_job "$run" && [ "$RJ_JOB" = "$W_JOB" ]; then W_LOG=$RJ_LOG W_WFILE=${RJ_LOG%"$TK_LOG_SUFFIX"}.events.jsonl; fi
  [ -z "$W_WFILE" ] || [ ! -f "$W_WFILE" ] || W_RELAYED=$(wc -l <"$W_WFILE" | tr -d ' ')
  w_event "$EV_STARTED" ",\"every\":$every,\"stuck_after\":$stuck,\"max_restarts\":$W_MAX,\"restart_on\":$(tk_json_str "$([ "$W_NOTIFY_ONLY" = 1 ] && echo none || echo "$W_RESTART_ON")")"
  w_loop "$every" "$stuck"
}

EV_FILE_DIR=''
# Still worth following: the run's Slurm watchdog lives. A blank line now and then: once the reader
# (and its ssh link) is gone, writing it ends this poller.
events_following() {
  BEATS=$((BEATS + 1))
  [ $((BEATS % 4)) = 0 ] || return 0
  printf '\n'
  R_DIR=$EV_FILE_DIR tk_watchdog_pid >/dev/null 2>&1
}

cmd_events() {
  local run=${1:-} follow=0 f w
  [ -n "$run" ] || tk_die "$EX_USAGE" "events needs a run name"
  tk_check_run "$run"
  shift
  while [ $# -gt 0 ]; do
    case $1 in -f) follow=1 ;; *) tk_die "$EX_USAGE" "unknown argument: $1" ;; esac
    shift
  done
  EV_FILE_DIR=$(slurm_dir "$run")
  [ -d "$EV_FILE_DIR" ] || tk_die "$EX_NOT_FOUND" "no Slurm run named '$run' was submitted or watched from $(tk_here)"
  f=$EV_FILE_DIR/events.jsonl
  w=''
  if remembered_job "$run"; then w=${RJ_LOG%"$TK_LOG_SUFFIX"}.events.jsonl; fi
  # The watchdog's and the wrapper's (relayed ones once), in time order.
  { [ ! -f "$f" ] || cat "$f"; [ -z "$w" ] || [ ! -f "$w" ] || cat "$w"; } |
    awk '{ id = $0; sub(/.*"id":"/, "", id); sub(/".*/, "", id); if (id != "" && seen[id]++) next; print }' |
    sort -s -t : -k 2,2n
  [ "$follow" = 1 ] || return 0
  tk_follow "$f" 0 events_following
}
