# shellcheck shell=bash
# The Slurm host's logic (shell/tmuxkit-slurm is its entry point): a run as one batch job.
# submit (sbatch with tmuxkit's own options and the wrapper shell/tmuxkit-sbatch-run), status,
# stop (the ladder through scancel), requeue, list (one scontrol call for every run), logs,
# the Slurm watchdog (a loop on the login host) and its events. Sourced after tmuxkit.bash:
# defines variables and functions only; no options set, nothing created, nothing run.
# Needs TK_BIN (the directory of the entry points) for the wrapper's and its own path.
need_slurm() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || tk_die "$EX_NO_TOOL" "$t not found: this host has no Slurm client"
  done
}

# job_line ID: the one-line `scontrol -o show job ID`, or nothing.
job_line() {
  scontrol -o show job "$1" 2>/dev/null | head -n 1
}

# newest_job RUN: the id of the newest job named RUN that Slurm still knows.
newest_job() {
  scontrol -o show job 2>/dev/null | awk -v want="JobName=$1" '
    { id = ""; hit = 0
      for (i = 1; i <= NF; i++) { if ($i ~ /^JobId=/) id = substr($i, 7); if ($i == want) hit = 1 }
      if (hit && id + 0 > best + 0) best = id }
    END { if (best != "") print best }'
}

# field LINE KEY: the value of KEY=value in a scontrol -o line.
field() {
  printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

tk_state_of() { # Slurm job state -> tmuxkit state
  case $1 in
  PENDING | REQUEUED | REQUEUE_HOLD | REQUEUE_FED | CONFIGURING | SUSPENDED | RESV_DEL_HOLD) echo "$ST_PENDING" ;;
  RUNNING | COMPLETING | STAGE_OUT | SIGNALING | RESIZING) echo "$ST_RUNNING" ;;
  COMPLETED) echo "$ST_EXITED" ;;
  CANCELLED | PREEMPTED | REVOKED) echo "$ST_STOPPED" ;;
  *) echo "$ST_FAILED" ;; # FAILED TIMEOUT NODE_FAIL OUT_OF_MEMORY BOOT_FAIL DEADLINE SPECIAL_EXIT
  esac
}

# resolve ARGS...: sets JOB from RUN or --job ID; leaves the rest in REST.
resolve() {
  JOB='' REST=() RUN_NAME=
  if [ "${1:-}" = --job ]; then
    [ $# -ge 2 ] || tk_die "$EX_USAGE" "--job needs a job id"
    case $2 in '' | *[!0-9_]*) tk_die "$EX_USAGE" "not a Slurm job id: $2" ;; esac
    JOB=$2
    shift 2
  else
    [ $# -ge 1 ] || tk_die "$EX_USAGE" "a run name or --job ID is required"
    tk_check_run "$1"
    RUN_NAME=$1
    JOB=$(newest_job "$1")
    [ -n "$JOB" ] || tk_die "$EX_NOT_FOUND" "no Slurm job named '$1' on $(tk_here)"
    shift
  fi
  REST=("$@")
}

slurm_state() { # JOB -> the Slurm state word, or nothing once Slurm forgot the job
  local line
  line=$(job_line "$1")
  [ -n "$line" ] || return 0
  field "$line" JobState
}

# live_jobs: of "ID|STATE" lines, "ID STATE" for the jobs that are pending or running. (Not inline
# in a command substitution: bash 3.2 cannot parse a case there.)
live_jobs() {
  local id st
  while IFS='|' read -r id st; do
    case $(tk_state_of "$st") in "$ST_PENDING" | "$ST_RUNNING") printf '%s %s\n' "$id" "$st" ;; esac
  done
}

cmd_submit() {
  local run=${1:-} results='' cmd='' cwd=$PWD grace=$TK_DEF_GRACE template='' glob='' check='' id env_stdin=0 kv
  [ -n "$run" ] || tk_die "$EX_USAGE" "submit needs a run name"
  tk_check_run "$run"
  shift
  local -a extra wrap
  extra=()
  while [ $# -gt 0 ]; do
    case $1 in
    --) shift; extra=("$@"); break ;;
    --env-stdin) env_stdin=1; shift ;;
    --results | --cmd | --cwd | --grace | --resume | --glob | --check)
      [ $# -ge 2 ] || tk_die "$EX_USAGE" "$1 needs a value"
      case $1 in
      --results) results=$2 ;; --cmd) cmd=$2 ;; --cwd) cwd=$2 ;;
      --grace) grace=$2 ;; --resume) template=$2 ;; --glob) glob=$2 ;; --check) check=$2 ;;
      esac
      shift 2
      ;;
    *) tk_die "$EX_USAGE" "unknown argument: $1" ;;
    esac
  done
  if [ -z "$results" ] || [ -z "$cmd" ]; then tk_die "$EX_USAGE" "submit needs --results and --cmd"; fi
  case $grace in '' | *[!0-9]*) tk_die "$EX_USAGE" "--grace must be whole seconds: $grace" ;; esac
  tk_tilde_v cwd
  tk_tilde_v results
  tk_path_v cwd
  tk_path_v results
  [ -d "$cwd" ] || tk_die "$EX_USAGE" "working directory does not exist: $cwd"
  cwd=$(cd "$cwd" && pwd -P)
  case $results in /*) ;; *) results=$cwd/$results ;; esac
  need_slurm sbatch scontrol
  # One live job per run: a second one would wait behind --dependency=singleton, and status and
  # stop would then act on that newest (pending) duplicate.
  local live
  live=$(all_jobs | awk -F '|' -v run="$run" -v me="$(id -u)" '$1 == run && $9 == me { print $2 "|" $3 }' |
    live_jobs | sort -n | tail -n 1)
  [ -z "$live" ] || tk_die "$EX_LOCKED" "run '$run' is already $(printf '%s' "${live#* }" | tr '[:upper:]' '[:lower:]') as Slurm job ${live%% *} on $(tk_here); stop it first (tmuxkit stop $run)"
  if [ "$env_stdin" = 1 ]; then
    while IFS= read -r kv || [ -n "$kv" ]; do
      [ -n "$kv" ] || continue
      case ${kv%%=*} in '' | [0-9]* | *[!A-Za-z0-9_]*) tk_die "$EX_USAGE" "bad environment line on stdin: ${kv%%=*}" ;; esac
      case $kv in *=*) ;; *) tk_die "$EX_USAGE" "bad environment line on stdin (want NAME=VALUE): $kv" ;; esac
      export "${kv?}"
    done
  fi
  mkdir -p "$results" 2>/dev/null || tk_die "$EX_USAGE" "cannot create results directory: $results"
  results=$(cd "$results" && pwd -P)
  local log=$results/$TK_LOG_DIR/$run$TK_LOG_SUFFIX
  # slurmstepd opens the log when the job starts, maybe hours from now: the folder is ours alone.
  tk_private_dir "$results/$TK_LOG_DIR" "$run" || tk_die_private_dir $?
  wrap=("$TK_BIN/tmuxkit-sbatch-run" --run "$run" --results "$results" --cmd "$cmd")
  [ -z "$template" ] || wrap+=(--resume "$template")
  [ -z "$glob" ] || wrap+=(--glob "$glob")
  [ -z "$check" ] || wrap+=(--check "$check")
  # Slurm copies a batch script into its spool, so the script execs the wrapper by its absolute
  # path (which must be on the filesystem the compute node shares) rather than being the wrapper.
  local script='#!/usr/bin/env bash' a
  script="$script"$'\n''exec'
  for a in "${wrap[@]}"; do script="$script $(tk_sq "$a")"; done
  id=$(sbatch --parsable --job-name="$run" --output="$log" --open-mode=append \
    --signal="B:INT@$grace" --requeue --dependency=singleton --chdir="$cwd" \
    ${extra[@]+"${extra[@]}"} <<<"$script") || tk_die "$EX_FAIL" "sbatch refused the job for run '$run'"
  id=${id%%;*}
  # Remembered on this host, so list can still tell the run's end once Slurm forgets the job.
  local d
  d=$(slurm_dir "$run")
  (umask 077 && mkdir -p "$d" && printf '%s\n%s\n' "$id" "$log" >"$d/job") || true
  printf 'job=%s\nlog=%s\n' "$id" "$log"
}

cmd_status() {
  need_slurm scontrol
  resolve "$@"
  local line st
  line=$(job_line "$JOB")
  [ -n "$line" ] || tk_die "$EX_NOT_FOUND" "Slurm no longer knows job $JOB"
  st=$(field "$line" JobState)
  printf 'job=%s\nstate=%s\nslurm_state=%s\nnode=%s\nreason=%s\nrestarts=%s\nexit=%s\nlog=%s\n' \
    "$JOB" "$(tk_state_of "$st")" "$st" "$(field "$line" BatchHost)" "$(field "$line" Reason)" \
    "$(field "$line" Restarts)" "$(field "$line" ExitCode)" "$(field "$line" StdOut)"
}

# wait_gone JOB SECONDS: 0 once the job left the running states within SECONDS.
wait_gone() {
  local end=$(($(date +%s) + $2)) st
  while :; do
    st=$(slurm_state "$1")
    case $(tk_state_of "${st:-COMPLETED}") in "$ST_RUNNING") ;; *) return 0 ;; esac
    [ "$(date +%s)" -lt "$end" ] || return 1
    sleep 0.5
  done
}

# stop_exit JOB SINCE: the exit code the stopped job ended with: the trainer's, as the wrapper
# recorded it in RESULTS/tmuxkit/RUN.exit at or after SINCE (epoch seconds, less a little for
# clocks of the shared filesystem's nodes), else Slurm's ExitCode (CODE:SIGNAL -> 128+SIGNAL
# when a signal ended it); nothing when neither tells.
stop_exit() {
  local line log f code='' at='' ec sig
  line=$(job_line "$1")
  log=$(field "$line" StdOut)
  f=${log%"$TK_LOG_SUFFIX"}.exit
  if [ -n "$log" ] && [ -f "$f" ]; then
    read -r code at _ <"$f" || true
    case $code$at in *[!0-9-]* | '') code='' ;; *) [ "$at" -ge $(($2 - 5)) ] || code='' ;; esac
  fi
  if [ -z "$code" ] && [ -n "$line" ]; then
    ec=$(field "$line" ExitCode)
    sig=${ec#*:} code=${ec%%:*}
    case $code:$sig in *[!0-9:]* | :* | *:) code='' ;; 0:0) ;; 0:*) code=$((128 + sig)) ;; esac
  fi
  printf '%s' "$code"
}

cmd_stop() {
  need_slurm scontrol scancel
  local grace=$TK_DEF_GRACE
  resolve "$@"
  set -- ${REST[@]+"${REST[@]}"}
  while [ $# -gt 0 ]; do
    case $1 in
    --grace) [ $# -ge 2 ] || tk_die "$EX_USAGE" "--grace needs a value"; grace=$2; shift 2 ;;
    *) tk_die "$EX_USAGE" "unknown argument: $1" ;;
    esac
  done
  case $grace in '' | *[!0-9]*) tk_die "$EX_USAGE" "--grace must be whole seconds: $grace" ;; esac
  # The run's Slurm watchdog goes first, so it cannot requeue what is being stopped.
  if [ -n "$RUN_NAME" ] && [ -z "$W_RUN" ]; then
    if R_DIR=$(slurm_dir "$RUN_NAME") R_RUN=$RUN_NAME R_SOCKET='' tk_watchdog_end 0; then echo "watchdog=ended"; fi
  fi
  case $(tk_state_of "$(slurm_state "$JOB")") in
  "$ST_PENDING") scancel "$JOB" && printf 'job=%s\nrung=%s\nexit=\nwas=pending\n' "$JOB" "$RUNG_SIGTERM" && return 0 ;;
  "$ST_RUNNING") ;;
  *) printf 'job=%s\nrung=\n' "$JOB"; return 0 ;; # already ended
  esac
  local t0
  t0=$(date +%s)
  scancel --signal=INT --full "$JOB" || tk_die "$EX_FAIL" "scancel --signal=INT refused job $JOB"
  if wait_gone "$JOB" "$grace"; then
    printf 'job=%s\nrung=%s\nexit=%s\n' "$JOB" "$RUNG_SIGINT" "$(stop_exit "$JOB" "$t0")"
    return 0
  fi
  scancel "$JOB" || tk_die "$EX_FAIL" "scancel refused job $JOB"
  wait_gone "$JOB" 60 || tk_die "$EX_FAIL" "job $JOB still running 60 s after scancel"
  printf 'job=%s\nrung=%s\nexit=%s\n' "$JOB" "$RUNG_SIGTERM" "$(stop_exit "$JOB" "$t0")"
}

cmd_requeue() {
  need_slurm scontrol
  resolve "$@"
  scontrol requeue "$JOB" || tk_die "$EX_FAIL" "scontrol requeue refused job $JOB"
  printf 'job=%s\nrequeued=1\n' "$JOB"
}

# all_jobs: "name|id|state|node|reason|restarts|exit|stdout|uid" for every job Slurm knows, from one scontrol call.
all_jobs() {
  scontrol -o show job 2>/dev/null | awk '
    { delete f
      for (i = 1; i <= NF; i++) { k = $i; sub(/=.*/, "", k); v = $i; sub(/^[^=]*=/, "", v); if (!(k in f)) f[k] = v }
      uid = f["UserId"]; sub(/^[^(]*\(/, "", uid); sub(/\)$/, "", uid)
      r = f["Reason"]; if (r == "None") r = ""
      printf "%s|%s|%s|%s|%s|%s|%s|%s|%s\n", f["JobName"], f["JobId"], f["JobState"], f["BatchHost"], r, f["Restarts"], f["ExitCode"], f["StdOut"], uid }'
}

# slurm_dir RUN: the Slurm watchdog's state directory on this host (events, budget, evidence).
slurm_dir() { printf '%s/slurm/%s\n' "$(tk_home)" "$1"; }

# emit NAME JOB STATE SLURM_STATE NODE REASON RESTARTS EXIT LOG: one run's line for list.
emit() {
  local name=$1 log=$9 age='' last='' mt dir ev='' req=0 wd=none
  if [ -n "$log" ] && [ -f "$log" ]; then
    mt=$(tk_stat mtime "$log" 2>/dev/null) || mt=''
    [ -z "$mt" ] || age=$(($(date +%s) - mt))
    last=$(tk_last_line "$log" | tr -d '\t\r')
  fi
  dir=$(slurm_dir "$name")
  if [ -f "$dir/events.jsonl" ]; then
    ev=$(tail -n 1 "$dir/events.jsonl" | sed -n 's/.*"event":"\([a-z_]*\)".*/\1/p')
    req=$(grep -c '"event":"requeued"' "$dir/events.jsonl" || true)
  fi
  if R_DIR=$dir tk_watchdog_pid >/dev/null 2>&1; then wd=alive; fi
  printf 'run=%s\tjob=%s\tstate=%s\tslurm_state=%s\tnode=%s\treason=%s\trestarts=%s\texit=%s\tlog=%s\tlog_age_s=%s\tlast_line=%s\tlast_event=%s\trequeues=%s\twatchdog=%s\n' \
    "$name" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$log" "$age" "$last" "$ev" "${req:-0}" "$wd"
}

# forgotten NAME: a run submitted from here that Slurm no longer knows (MinJobAge passed): its state
# from the wrapper's RESULTS/tmuxkit/RUN.exit (exited or failed), dead without one.
forgotten() {
  local f job='' log='' code='' state=$ST_DEAD
  f=$(slurm_dir "$1")/job
  [ -f "$f" ] || return 1
  { IFS= read -r job || true; IFS= read -r log || true; } <"$f"
  [ -n "$job" ] && [ -n "$log" ] || return 1
  if [ -f "${log%"$TK_LOG_SUFFIX"}.exit" ]; then
    read -r code _ <"${log%"$TK_LOG_SUFFIX"}.exit" || true
    case $code in 0) state=$ST_EXITED ;; '' | *[!0-9]*) code='' ;; *) state=$ST_FAILED ;; esac
  fi
  emit "$1" "$job" "$state" "" "" "" "" "${code:+$code:0}" "$log"
}

cmd_list() {
  need_slurm scontrol
  local want=" $* " r me jobs name id st node reason restarts exitc log seen=' ' d
  for r in "$@"; do tk_check_run "$r"; done
  me=$(id -u)
  # The newest job of each name (wanted, or tmuxkit's: its output is .../tmuxkit/NAME.log).
  jobs=$(all_jobs | awk -F '|' -v want="$want" -v me="$me" '
    { if (want != "  ") { if (index(want, " " $1 " ") == 0) next }
      else if ($9 != me || substr($8, length($8) - length("/tmuxkit/" $1 ".log") + 1) != "/tmuxkit/" $1 ".log") next
      if (!($1 in best) || $2 + 0 > best[$1] + 0) { best[$1] = $2; line[$1] = $0 } }
    END { for (n in line) print line[n] }' | sort)
  while IFS='|' read -r name id st node reason restarts exitc log _; do
    [ -n "$name" ] || continue
    emit "$name" "$id" "$(tk_state_of "$st")" "$st" "$node" "$reason" "$restarts" "$exitc" "$log"
    seen="$seen$name "
  done <<<"$jobs"
  # Runs submitted from here that Slurm has forgotten.
  if [ $# -gt 0 ]; then
    for r in "$@"; do
      case $seen in *" $r "*) ;; *) forgotten "$r" || true ;; esac
    done
  else
    for d in "$(tk_home)"/slurm/*/; do
      [ -d "$d" ] || continue
      r=$(basename "$d")
      tk_valid_run "$r" || continue
      case $seen in *" $r "*) ;; *) forgotten "$r" || true ;; esac
    done
  fi
}

LOG_JOB='' BEATS=0 HEARTBEAT=0
beat() { [ "$HEARTBEAT" = 0 ] || printf '\036\n'; }
# Still worth following: the job is pending or running (asked of Slurm every 2 s).
job_following() {
  BEATS=$((BEATS + 1))
  [ $((BEATS % 4)) = 0 ] || return 0
  beat
  case $(tk_state_of "$(slurm_state "$LOG_JOB")") in "$ST_PENDING" | "$ST_RUNNING") return 0 ;; esac
  return 1
}

cmd_logs() {
  need_slurm scontrol
  local n=20 follow=0 line log
  resolve "$@"
  set -- ${REST[@]+"${REST[@]}"}
  while [ $# -gt 0 ]; do
    case $1 in
    -n)
      case ${2:-} in '' | *[!0-9]*) tk_die "$EX_USAGE" "-n needs a number of lines" ;; esac
      n=$2
      shift
      ;;
    -f) follow=1 ;;
    --heartbeat) HEARTBEAT=1 ;;
    *) tk_die "$EX_USAGE" "unknown argument: $1" ;;
    esac
    shift
  done
  line=$(job_line "$JOB")
  [ -n "$line" ] || tk_die "$EX_NOT_FOUND" "Slurm no longer knows job $JOB"
  log=$(field "$line" StdOut)
  [ -n "$log" ] || tk_die "$EX_NOT_FOUND" "job $JOB has no log file"
  [ ! -f "$log" ] || tail -n "$n" "$log"
  [ "$follow" = 1 ] || return 0
  LOG_JOB=$JOB
  beat
  tk_follow "$log" 0 job_following
}

# --- the Slurm watchdog ------------------------------------------------------------------------
W_RUN='' W_JOB='' RUNDIR='' WINDOW=3600
w_event() { # KIND [extra JSON members, starting with a comma]
  printf '{"ts":%s,"id":"%s","run":%s,"event":%s,"job":%s%s}\n' "$(date +%s)" "$(tk_event_id)" "$(tk_json_str "$W_RUN")" \
    "$(tk_json_str "$1")" "$(tk_json_str "$W_JOB")" "${2:-}" >>"$RUNDIR/events.jsonl"
  printf '[tmuxkit-slurm watch] %s %s %s\n' "$(date '+%H:%M:%S')" "$1" "${2:-}"
}

w_evidence() { # LOG AGE: what the login node can see of a stuck job
  local f
  mkdir -p "$RUNDIR/evidence"
  f=$RUNDIR/evidence/$(date +%Y%m%d-%H%M%S)-stuck.txt
  {
    printf 'run %s, job %s: log silent for %ss\n\n--- last 50 lines of %s\n' "$W_RUN" "$W_JOB" "$2" "$1"
    tail -n 50 "$1" 2>/dev/null || true
    printf '\n--- scontrol show job %s\n' "$W_JOB"
    scontrol show job "$W_JOB" 2>&1 || true
    printf '\n--- unavailable here: the process tree, py-spy and nvidia-smi live on the compute node\n'
  } >"$f" 2>&1
  w_event "$EV_EVIDENCE_SAVED" ",\"path\":$(tk_json_str "$f")"
}

w_loop() { # EVERY STUCK MAX GRACE
  local every=$1 stuck=$2 max=$3 grace=$4 line st state restarts seen='' expect='' prev='' since log mt age used out
  since=$(date +%s)
  while tk_watchdog_is_me; do
    line=$(job_line "$W_JOB")
    st=''
    [ -z "$line" ] || st=$(field "$line" JobState)
    state=$(tk_state_of "${st:-COMPLETED}")
    restarts=$(field "$line" Restarts)
    if [ -n "$seen" ] && [ -n "$restarts" ] && [ "$restarts" != "$seen" ]; then
      if [ "$restarts" = "$expect" ]; then :; else
        # Requeued by Slurm itself: preemption or a node failure. A requeue, not a crash, and not ours to count.
        w_event "$EV_REQUEUED" ",\"by\":\"slurm\",\"slurm_restarts\":$restarts"
      fi
    fi
    [ -z "$restarts" ] || seen=$restarts
    case $state in
    "$ST_EXITED") w_event "$EV_FINISHED" ",\"exit\":$(tk_json_str "$(field "$line" ExitCode)")"; return 0 ;;
    "$ST_STOPPED") w_event "$EV_STOPPED" ",\"slurm_state\":$(tk_json_str "$st")"; return 0 ;;
    "$ST_FAILED") w_event "$EV_CRASHED" ",\"slurm_state\":$(tk_json_str "$st"),\"exit\":$(tk_json_str "$(field "$line" ExitCode)")"; return 0 ;;
    "$ST_RUNNING")
      [ "$prev" = "$ST_RUNNING" ] || since=$(date +%s) # a new attempt: its silence counts from now
      log=$(field "$line" StdOut) age=0
      mt=$(tk_stat mtime "$log" 2>/dev/null) || mt=0
      [ "$mt" -ge "$since" ] || mt=$since
      age=$(($(date +%s) - mt))
      if [ "$age" -gt "$stuck" ]; then
        w_event "$EV_STUCK" ",\"log_age_s\":$age"
        w_evidence "$log" "$age"
        load_budget
        used=$(budget_used "$WINDOW")
        if [ $((used + 1)) -gt "$max" ]; then
          printf 'restart budget spent\n' >"$RUNDIR/failed"
          w_event "$EV_BUDGET_SPENT" ",\"restarts\":$used,\"max_restarts\":$max"
          out=$(cmd_stop --job "$W_JOB" --grace "$grace" 2>&1) || true
          w_event "$EV_STOP_RUNG" ",\"rung\":$(tk_json_str "$(printf '%s\n' "$out" | sed -n 's/^rung=//p')")"
          return 0
        fi
        RESTARTS="$RESTARTS $(date +%s):1"
        save_budget
        if scontrol requeue "$W_JOB" >/dev/null 2>&1; then
          expect=$((${restarts:-0} + 1))
          w_event "$EV_REQUEUED" ",\"by\":\"watchdog\",\"reason\":\"stuck\",\"attempt\":$(n_restarts)"
        else
          w_event "$EV_RESUME_FAILED" ",\"why\":\"scontrol requeue refused job $W_JOB\""
        fi
        prev=''
        sleep "$every"
        continue
      fi
      ;;
    esac
    prev=$state
    sleep "$every"
  done
}

cmd_watch() {
  need_slurm scontrol scancel
  local run=${1:-} every=30 stuck=$TK_DEF_STUCK_AFTER max=$TK_DEF_MAX_RESTARTS grace=$TK_DEF_GRACE detach=0 off=0 a i
  local -a pass
  [ -n "$run" ] || tk_die "$EX_USAGE" "watch needs a run name"
  tk_check_run "$run"
  shift
  pass=()
  while [ $# -gt 0 ]; do
    case $1 in
    --detach) detach=1 ;;
    --off) off=1 ;;
    --every | --stuck-after | --max-restarts | --restart-window | --grace)
      case ${2:-} in '' | *[!0-9]*) tk_die "$EX_USAGE" "$1 needs whole seconds (or a count)" ;; esac
      case $1 in
      --every) every=$2 ;; --stuck-after) stuck=$2 ;; --max-restarts) max=$2 ;;
      --restart-window) WINDOW=$2 ;; --grace) grace=$2 ;;
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
  w_event "$EV_STARTED" ",\"every\":$every,\"stuck_after\":$stuck,\"max_restarts\":$max"
  w_loop "$every" "$stuck" "$max" "$grace"
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
  local run=${1:-} follow=0 f
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
  [ ! -f "$f" ] || cat "$f"
  [ "$follow" = 1 ] || return 0
  tk_follow "$f" 0 events_following
}

