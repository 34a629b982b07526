# shellcheck shell=bash
# The Slurm host's logic (shell/tmuxkit-slurm is its entry point): a run as one batch job.
# submit (sbatch with tmuxkit's own options and the wrapper shell/tmuxkit-sbatch-run), status,
# stop (the ladder through scancel), requeue, list (one scontrol call for every run), logs, forget,
# and the batch wrapper's end records. The watchdog is lib/slurm_watch.bash, on_done on the login
# host lib/slurm_done.bash (tmuxkit-slurm sources all three). Sourced after tmuxkit.bash:
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
  scontrol -o show job "$1" 2>/dev/null | head -n 1 || true
}

# newest_job RUN: the id of the newest job named RUN that Slurm still knows.
newest_job() {
  scontrol -o show job 2>/dev/null | awk -v want="JobName=$1" '
    { id = ""; hit = 0
      for (i = 1; i <= NF; i++) { if ($i ~ /^JobId=/) id = substr($i, 7); if ($i == want) hit = 1 }
      if (hit && id + 0 > best + 0) best = id }
    END { if (best != "") print best }' || true
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
    # A controller that does not answer (at once, by ping; a query would wait 9 s) leaves tmuxkit's
    # own record of the run's job: logs still reads its log, status and stop say the controller.
    if ctl_ping; then JOB=$(newest_job "$1"); else CTL_DOWN=1; fi
    if [ -z "$JOB" ] && remembered_job "$1"; then JOB=$RJ_JOB; fi # Slurm forgot it; tmuxkit did not
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

# after_dep OTHER RUN: for --after OTHER, sets AFTER_DEP to the dependency to add
# (",afterok:JOB" while OTHER's newest job is pending or running; nothing when it already exited
# 0); dies (exit 2, nothing submitted) when OTHER has no job here, or ended otherwise.
after_dep() {
  local other=$1 job st line
  AFTER_DEP=''
  tk_check_run "$other"
  [ "$other" != "$2" ] || tk_die "$EX_USAGE" "run '$2' cannot wait for itself (--after $other)"
  job=$(newest_job "$other")
  if [ -z "$job" ] && remembered_job "$other"; then job=$RJ_JOB; fi
  [ -n "$job" ] || tk_die "$EX_USAGE" "--after $other: no run named '$other' on $(tk_here) (no Slurm job of that name, none submitted from here); nothing submitted"
  line=$(job_line "$job")
  st=''
  [ -z "$line" ] || st=$(field "$line" JobState)
  case $(tk_state_of "${st:-COMPLETED}") in
  "$ST_PENDING" | "$ST_RUNNING") AFTER_DEP=",afterok:$job"; return 0 ;;
  esac
  local log=''
  [ -z "$line" ] || log=$(field "$line" StdOut)
  if [ -z "$log" ] && remembered_job "$other" && [ "$RJ_JOB" = "$job" ]; then log=$RJ_LOG; fi
  run_state "$other" "$job" "$st" "$( [ -z "$line" ] || field "$line" ExitCode)" "$log"
  [ "$RS_STATE" = "$ST_EXITED" ] && [ "${RS_EXIT%%:*}" = 0 ] && return 0
  local how="ended $RS_STATE"
  [ "$RS_STATE" != "$ST_EXITED" ] || how=$ST_EXITED # its trainer's own non-zero exit
  tk_die "$EX_USAGE" "--after $other: run '$other' (Slurm job $job) $how${RS_EXIT:+ (exit ${RS_EXIT%%:*})}${RS_CAUSE:+: $RS_CAUSE}, not with exit 0: '$2' would never start; nothing submitted (start $other again first)"
}

cmd_submit() {
  local run=${1:-} results='' cmd='' cwd=$PWD grace=$TK_DEF_GRACE template='' glob='' check='' id env_stdin=0 kv after=''
  AFTER_DEP=''
  [ -n "$run" ] || tk_die "$EX_USAGE" "submit needs a run name"
  tk_check_run "$run"
  shift
  local -a extra wrap
  extra=()
  while [ $# -gt 0 ]; do
    case $1 in
    --) shift; extra=("$@"); break ;;
    --env-stdin) env_stdin=1; shift ;;
    --results | --cmd | --cwd | --grace | --resume | --glob | --check | --after)
      [ $# -ge 2 ] || tk_die "$EX_USAGE" "$1 needs a value"
      case $1 in
      --results) results=$2 ;; --cmd) cmd=$2 ;; --cwd) cwd=$2 ;;
      --grace) grace=$2 ;; --resume) template=$2 ;; --glob) glob=$2 ;; --check) check=$2 ;; --after) after=$2 ;;
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
  [ -z "$after" ] || after_dep "$after" "$run"
  # Slurm's own judgement first (sbatch --test-only, lib/sbatch_check.bash): refused, nothing is created or submitted.
  tk_sbatch_test --job-name="$run" --chdir="$cwd" --requeue ${extra[@]+"${extra[@]}"} ||
    tk_die "$EX_USAGE" "Slurm refuses run '$run' (sbatch --test-only): $TK_ERR"
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
    --signal="B:USR1@$grace" --requeue --dependency="singleton$AFTER_DEP" --chdir="$cwd" \
    ${extra[@]+"${extra[@]}"} <<<"$script") || tk_die "$EX_FAIL" "sbatch refused the job for run '$run'"
  id=${id%%;*}
  # Remembered on this host, so list can still tell the run's end once Slurm forgets the job.
  local d
  d=$(slurm_dir "$run")
  (umask 077 && mkdir -p "$d" && printf '%s\n%s\n' "$id" "$log" >"$d/job") || true
  printf 'job=%s\nlog=%s\n' "$id" "$log"
  [ -z "$after" ] || printf 'after=%s\nafter_job=%s\n' "$after" "${AFTER_DEP#,afterok:}"
}

cmd_status() {
  need_slurm scontrol
  resolve "$@"
  local line st
  line=$(job_line "$JOB")
  [ -n "$line" ] || tk_die "$EX_NOT_FOUND" "Slurm no longer knows job $JOB"
  st=$(field "$line" JobState)
  run_state "$(field "$line" JobName)" "$JOB" "$st" "$(field "$line" ExitCode)" "$(field "$line" StdOut)"
  printf 'job=%s\nstate=%s\nslurm_state=%s\nnode=%s\nreason=%s\nrestarts=%s\nexit=%s\nlog=%s\nstop_rung=%s\ncause=%s\n' \
    "$JOB" "$RS_STATE" "$st" "$(field "$line" BatchHost)" "$(field "$line" Reason)" \
    "$(field "$line" Restarts)" "$RS_EXIT" "$(field "$line" StdOut)" "$RS_RUNG" "$RS_CAUSE"
}

# end_record LOG JOB: the wrapper's record of how the job's last attempt ended, from
# RESULTS/tmuxkit/RUN.exit ("CODE EPOCH WHY JOB [CAUSE...]", written on the compute node, on the
# shared filesystem: it outlives Slurm's memory of the job): sets ER_CODE ER_WHY ER_CAUSE, each
# empty when there is no record of JOB. An older wrapper's "CODE EPOCH" counts for any job.
end_record() {
  local f=${1%"$TK_LOG_SUFFIX"}.exit code='' at='' why='' job='' cause=''
  ER_CODE='' ER_WHY='' ER_CAUSE=''
  [ -n "$1" ] && [ -f "$f" ] && [ ! -L "$f" ] || return 0
  read -r code at why job cause <"$f" || true
  case $code in '' | *[!0-9]*) return 0 ;; esac
  [ -z "$job" ] || [ "$job" = "$2" ] || return 0
  ER_CODE=$code ER_WHY=$why ER_CAUSE=$cause
}

# run_state NAME JOB SLURM_STATE SLURM_EXIT LOG: tmuxkit's meaning of a job, the same as on a tmux
# host, from Slurm's word and tmuxkit's own records (which outlive Slurm's memory of the job):
#   stop (tmuxkit stop)          -> stopped, with the rung and the trainer's exit code
#   the watchdog's spent budget  -> failed, cause "restart budget spent"
#   the time limit, no requeue   -> timeout (Slurm's TIMEOUT, or the wrapper's own record)
#   OUT_OF_MEMORY                -> failed, cause "out of memory (Slurm: OUT_OF_MEMORY)"
#   two requeues, no newer checkpoint -> failed, with that cause
#   the trainer's own exit, 0 or not -> exited, with its code (as a tmux host reads it: Slurm's
#                                       FAILED of a job whose wrapper recorded the trainer's crash)
# Sets RS_STATE RS_EXIT ("CODE:SIGNAL", as Slurm's ExitCode) RS_RUNG RS_CAUSE.
run_state() {
  local name=$1 job=$2 st=$3 ec=$4 log=$5 dir mjob mrung mcode mcause
  RS_STATE=$ST_DEAD RS_EXIT=$ec RS_RUNG='' RS_CAUSE=''
  [ -z "$st" ] || RS_STATE=$(tk_state_of "$st")
  case $RS_STATE in "$ST_PENDING" | "$ST_RUNNING") return 0 ;; esac
  end_record "$log" "$job"
  [ -z "$ER_CODE" ] || RS_EXIT=$ER_CODE:0
  if [ -z "$st" ]; then # Slurm forgot the job: the wrapper's record tells
    case $ER_CODE in '') ;; 0) RS_STATE=$ST_EXITED ;; *) RS_STATE=$ST_FAILED ;; esac
  fi
  # The trainer's own non-zero exit, as the wrapper recorded it ("crashed"; an older wrapper's
  # record names no end): exited with its code, as on a tmux host. Slurm's FAILED without that
  # record (the wrapper itself failed: its lock held, ...) stays failed.
  case $ER_WHY in "$EV_CRASHED" | '')
    case $st:$ER_CODE in FAILED:[1-9]* | :[1-9]*) RS_STATE=$ST_EXITED ;; esac
    ;;
  esac
  case $st in
  TIMEOUT | DEADLINE) RS_STATE=$ST_TIMEOUT ;;
  OUT_OF_MEMORY) RS_STATE=$ST_FAILED RS_CAUSE="out of memory (Slurm: OUT_OF_MEMORY)" ;;
  NODE_FAIL | BOOT_FAIL) RS_CAUSE="node failure (Slurm: $st)" ;;
  CANCELLED) [ -n "$ER_CODE" ] || RS_EXIT='' ;; # cancelled before the wrapper ran: no exit code
  esac
  case $ER_WHY in
  "$EV_TIME_LIMIT") RS_STATE=$ST_TIMEOUT ;;
  failed) RS_STATE=$ST_FAILED RS_CAUSE=$ER_CAUSE ;;
  esac
  dir=$(slurm_dir "$name")
  if [ -f "$dir/stopped" ]; then # tmuxkit stop: "JOB RUNG CODE"
    mjob='' mrung='' mcode=''
    read -r mjob mrung mcode <"$dir/stopped" || true
    if [ "$mjob" = "$job" ]; then
      RS_STATE=$ST_STOPPED RS_RUNG=$mrung RS_CAUSE=''
      case $mcode in '' | *[!0-9]*) ;; *) RS_EXIT=$mcode:0 ;; esac
    fi
  fi
  if [ -f "$dir/failed" ]; then # the Slurm watchdog's spent budget: "CAUSE" then "JOB"
    mcause='' mjob=''
    { IFS= read -r mcause || true; IFS= read -r mjob || true; } <"$dir/failed"
    if [ -z "$mjob" ] || [ "$mjob" = "$job" ]; then RS_STATE=$ST_FAILED RS_CAUSE=${mcause:-restart budget spent}; fi
  fi
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

CTL_DOWN=0 CTL_ERR=''
# ctl_ping: 0 when a Slurm controller answers `scontrol ping` (at once either way, where a query
# of a job waits out the client's timeouts when none answers: 9 to 18 s); else CTL_ERR, its words.
ctl_ping() {
  local out
  CTL_ERR=''
  out=$(scontrol ping 2>&1) || true
  case $out in *" is UP"*) return 0 ;; esac
  CTL_ERR=$(printf '%s\n' "$out" | grep -v -e '^[[:space:]*]*$' -e '^\*\*' | head -n 1)
  CTL_ERR=${CTL_ERR:-no answer}
  return 1
}

cmd_stop() {
  need_slurm scontrol scancel
  local grace=$TK_DEF_GRACE
  # A controller that does not answer stops nothing (the job read as ended: "nothing to stop", exit
  # 0): one line that names it, at once; the watchdog is left as it is.
  ctl_ping || tk_die "$EX_UNREACHABLE" "the Slurm controller does not answer on $(tk_here) (scontrol ping: $CTL_ERR); nothing was stopped"
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
  if [ -n "$RUN_NAME" ] && [ -z "${W_RUN:-}" ]; then
    if R_DIR=$(slurm_dir "$RUN_NAME") R_RUN=$RUN_NAME R_SOCKET='' tk_watchdog_end 0; then echo "watchdog=ended"; fi
  fi
  case $(tk_state_of "$(slurm_state "$JOB")") in
  "$ST_PENDING")
    scancel "$JOB" || tk_die "$EX_FAIL" "scancel refused job $JOB"
    stop_record "$JOB" "$RUNG_SIGTERM" ''
    printf 'job=%s\nrung=%s\nexit=\nwas=pending\n' "$JOB" "$RUNG_SIGTERM"
    return 0
    ;;
  "$ST_RUNNING") ;;
  *) printf 'job=%s\nrung=\n' "$JOB"; return 0 ;; # already ended
  esac
  local t0 code
  t0=$(date +%s)
  scancel --signal=INT --full "$JOB" || tk_die "$EX_FAIL" "scancel --signal=INT refused job $JOB"
  if wait_gone "$JOB" "$grace"; then
    code=$(stop_exit "$JOB" "$t0")
    stop_record "$JOB" "$RUNG_SIGINT" "$code"
    printf 'job=%s\nrung=%s\nexit=%s\n' "$JOB" "$RUNG_SIGINT" "$code"
    return 0
  fi
  scancel "$JOB" || tk_die "$EX_FAIL" "scancel refused job $JOB"
  wait_gone "$JOB" 60 || tk_die "$EX_FAIL" "job $JOB still running 60 s after scancel"
  code=$(stop_exit "$JOB" "$t0")
  stop_record "$JOB" "$RUNG_SIGTERM" "$code"
  printf 'job=%s\nrung=%s\nexit=%s\n' "$JOB" "$RUNG_SIGTERM" "$code"
}

# stop_record JOB RUNG CODE: tmuxkit stop ended JOB at RUNG with CODE, kept in the run's state
# directory on this host ($TMUXKIT_HOME/slurm/RUN/stopped), so list says stopped (with the rung),
# not Slurm's COMPLETED or FAILED, and still does once Slurm forgets the job.
stop_record() {
  local name d
  name=${RUN_NAME:-$(field "$(job_line "$1")" JobName)}
  tk_valid_run "$name" || return 0
  d=$(slurm_dir "$name")
  (umask 077 && mkdir -p "$d" && printf '%s %s %s\n' "$1" "$2" "$3" >"$d/stopped.tmp" && mv -f "$d/stopped.tmp" "$d/stopped") || true
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
      printf "%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\n", f["JobName"], f["JobId"], f["JobState"], f["BatchHost"], r, f["Restarts"], f["ExitCode"], f["StdOut"], uid, f["RunTime"] }'
}

# slurm_dir RUN: the Slurm watchdog's state directory on this host (events, budget, evidence).
slurm_dir() { printf '%s/slurm/%s\n' "$(tk_home)" "$1"; }

# slurm_secs_v VAR RUNTIME: Slurm's elapsed time ("[DAYS-]HH:MM:SS", "MM:SS") in seconds; empty
# for anything else (INVALID, UNLIMITED). Builtins only.
slurm_secs_v() {
  local _t=$2 _d=0 _n=0 _p
  case $_t in *-*) _d=${_t%%-*} _t=${_t#*-} ;; esac
  case $_d$_t in '' | *[!0-9:]*) printf -v "$1" '%s' '' && return 0 ;; esac
  while [ -n "$_t" ]; do
    _p=${_t%%:*}
    case $_p in '' | *[!0-9]*) printf -v "$1" '%s' '' && return 0 ;; esac
    _n=$((_n * 60 + 10#$_p))
    case $_t in *:*) _t=${_t#*:} ;; *) _t='' ;; esac
  done
  printf -v "$1" '%s' $((10#$_d * 86400 + _n))
}

# emit NAME JOB SLURM_STATE NODE REASON RESTARTS EXIT LOG [RUNTIME]: one run's line for list (its
# state by run_state). What a tmux run shows, read by the same host code from the same files: the
# progress (the newest line of RUN.progress beside the log, which the wrapper's reader keeps, see
# tmuxkit-sbatch-run) and its last losses (tk_run_extras, lib/run.bash), the last line (RUN.live,
# the bar's current redraw, while the job runs; else the log's last line, its last redraw), and
# the uptime (Slurm's RunTime of the running job: since its StartTime, the attempt's start).
emit() {
  local name=$1 log=$8 age='' last='' mt dir ev req=0 wd=none up='' live
  run_state "$name" "$2" "$3" "$7" "$log"
  dir=$(slurm_dir "$name")
  S_LAST='' S_PROGRESS='' S_LOSSES='' S_EVENT=''
  if [ -n "$log" ] && [ -f "$log" ]; then
    mt=$(tk_stat mtime "$log" 2>/dev/null) || mt=''
    [ -z "$mt" ] || age=$(($(date +%s) - mt))
    live=${log%"$TK_LOG_SUFFIX"}$TK_LIVE_SUFFIX
    if [ "$RS_STATE" = "$ST_RUNNING" ] && [ -f "$live" ] && [ ! -L "$live" ]; then
      { IFS= read -r S_LAST <"$live" || true; } 2>/dev/null
      S_LAST=${S_LAST:0:$TK_LAST_LINE_MAX}
    else # the log's last line (TK_LAST_AWK); of a bar's redraws, the last, as the screen showed it
      # shellcheck disable=SC2016  # an awk program
      S_LAST=$(tail -c 16384 "$log" 2>/dev/null | LC_ALL=C awk -v max="$TK_LAST_LINE_MAX" "$TK_LAST_AWK"'
        END { n = split(ll, seg, "\r"); while (n > 1 && seg[n] == "") n--; print substr(seg[n], 1, max) }' 2>/dev/null) || S_LAST=''
    fi
  fi
  R_LOG=$log R_DIR=$dir tk_run_extras
  last=${S_LAST//$'\t'/ } ev=$S_EVENT
  [ ! -f "$dir/events.jsonl" ] || req=$(grep -c '"event":"requeued"' "$dir/events.jsonl" || true)
  if R_DIR=$dir tk_watchdog_pid >/dev/null 2>&1; then wd=alive; fi
  [ "$RS_STATE" != "$ST_RUNNING" ] || slurm_secs_v up "${9:-}"
  printf 'run=%s\tjob=%s\tstate=%s\tslurm_state=%s\tnode=%s\treason=%s\trestarts=%s\texit=%s\tlog=%s\tlog_age_s=%s\tlast_line=%s\tlast_event=%s\trequeues=%s\twatchdog=%s\tstop_rung=%s\tcause=%s\tuptime_s=%s\tprogress=%s\tlosses=%s\n' \
    "$name" "$2" "$RS_STATE" "$3" "$4" "$5" "$6" "$RS_EXIT" "$log" "$age" "$last" "$ev" "${req:-0}" "$wd" "$RS_RUNG" "$RS_CAUSE" \
    "$up" "${S_PROGRESS//$'\t'/ }" "$S_LOSSES"
}

# remembered_job NAME: a run submitted from here: sets RJ_JOB and RJ_LOG from
# $TMUXKIT_HOME/slurm/NAME/job (written at submit); fails without one.
remembered_job() {
  local f
  RJ_JOB='' RJ_LOG=''
  f=$(slurm_dir "$1")/job
  [ -f "$f" ] || return 1
  { IFS= read -r RJ_JOB || true; IFS= read -r RJ_LOG || true; } <"$f"
  [ -n "$RJ_JOB" ] && [ -n "$RJ_LOG" ]
}

# forgotten NAME: a run submitted from here that Slurm no longer knows (MinJobAge passed, or a
# cluster restart): its state from tmuxkit's own records (run_state), dead without any.
forgotten() {
  remembered_job "$1" || return 1
  emit "$1" "$RJ_JOB" "" "" "" "" "" "$RJ_LOG"
}

# job_query ID: sets JQ_LINE (the one-line scontrol -o show job ID); returns 0 when Slurm answered
# (JQ_LINE empty: it does not know the job), 2 when the controller did not answer (JQ_ERR: its words).
# shellcheck disable=SC2034  # JQ_LINE is read by the watchdog and on_done (slurm_watch.bash, slurm_done.bash)
job_query() { # ID, or "" for every job
  local out rc=0
  JQ_LINE='' JQ_ERR=''
  out=$(scontrol -o show job ${1:+"$1"} 2>&1) || rc=$?
  if [ "$rc" = 0 ]; then
    JQ_LINE=$(printf '%s\n' "$out" | head -n 1)
    return 0
  fi
  case $out in *"Invalid job id"*) return 0 ;; esac
  JQ_ERR=$(printf '%s\n' "$out" | head -n 1)
  return 2
}

cmd_list() {
  need_slurm scontrol
  local want=" $* " r me jobs name id st node reason restarts exitc log seen=' ' d
  for r in "$@"; do tk_check_run "$r"; done
  # A controller that does not answer is said in one line that names it (the host itself answered).
  job_query "" || tk_die "$EX_UNREACHABLE" "the Slurm controller does not answer on $(tk_here) (scontrol: ${JQ_ERR:-no answer})"
  me=$(id -u)
  # The newest job of each name (wanted, or tmuxkit's: its output is .../tmuxkit/NAME.log).
  jobs=$(all_jobs | awk -F '|' -v want="$want" -v me="$me" '
    { if (want != "  ") { if (index(want, " " $1 " ") == 0) next }
      else if ($9 != me || substr($8, length($8) - length("/tmuxkit/" $1 ".log") + 1) != "/tmuxkit/" $1 ".log") next
      if (!($1 in best) || $2 + 0 > best[$1] + 0) { best[$1] = $2; line[$1] = $0 } }
    END { for (n in line) print line[n] }' | sort)
  while IFS='|' read -r name id st node reason restarts exitc log _ runtime; do
    [ -n "$name" ] || continue
    emit "$name" "$id" "$st" "$node" "$reason" "$restarts" "$exitc" "$log" "$runtime"
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
  line=''
  [ "$CTL_DOWN" = 1 ] || line=$(job_line "$JOB")
  log=''
  if [ -n "$line" ]; then
    log=$(field "$line" StdOut)
  elif [ -n "$RUN_NAME" ] && remembered_job "$RUN_NAME" && [ "$RJ_JOB" = "$JOB" ]; then
    log=$RJ_LOG # Slurm forgot the job: its log is where submit put it
  else
    tk_die "$EX_NOT_FOUND" "Slurm no longer knows job $JOB"
  fi
  [ -n "$log" ] || tk_die "$EX_NOT_FOUND" "job $JOB has no log file"
  [ ! -f "$log" ] || tail -n "$n" "$log"
  [ "$follow" = 1 ] || return 0
  LOG_JOB=$JOB
  beat
  tk_follow "$log" 0 job_following
}

# cmd_forget [--dry-run] [--older-than S] [RUN...]: remove ended runs' state on this host
# ($TMUXKIT_HOME/slurm/RUN: the job note, stop and budget records, events, evidence), never their
# results or logs. A named run whose job is pending or running refuses them all (exit 3). With
# --older-than and no RUN: every run submitted from here that ended more than S seconds ago (by
# the wrapper's end record). A run whose Slurm job cannot be asked (the controller is down) is kept.
cmd_forget() {
  local dry=0 older='' r d now at='' list=() st
  while [ $# -gt 0 ]; do
    case $1 in
    --dry-run) dry=1 ;;
    --older-than)
      case ${2:-} in '' | *[!0-9]*) tk_die "$EX_USAGE" "--older-than needs whole seconds" ;; esac
      older=$2
      shift
      ;;
    -*) tk_die "$EX_USAGE" "unknown argument: $1" ;;
    *) tk_check_run "$1"; list+=("$1") ;;
    esac
    shift
  done
  need_slurm scontrol
  job_query "" || tk_die "$EX_UNREACHABLE" "the Slurm controller does not answer on $(tk_here) (scontrol: ${JQ_ERR:-no answer}); nothing forgotten"
  if [ ${#list[@]} = 0 ]; then
    [ -n "$older" ] || tk_die "$EX_USAGE" "forget needs run names or --older-than"
    for d in "$(tk_home)"/slurm/*/; do
      r=$(basename "$d")
      if ! tk_valid_run "$r" || ! remembered_job "$r"; then continue; fi
      end_record "$RJ_LOG" "$RJ_JOB"
      [ -n "$ER_CODE" ] || continue
      read -r _ at _ <"${RJ_LOG%"$TK_LOG_SUFFIX"}.exit" || continue
      now=$(date +%s)
      if [ $((now - at)) -gt "$older" ]; then list+=("$r"); fi
    done
  fi
  for r in ${list[@]+"${list[@]}"}; do # the live ones first: one refuses all
    st=$(slurm_state "$(newest_job "$r")")
    case $(tk_state_of "${st:-COMPLETED}") in
    "$ST_PENDING" | "$ST_RUNNING") tk_die "$EX_LOCKED" "run '$r' is ${st:-live} as a Slurm job on $(tk_here); stop it first (tmuxkit stop $r)" ;;
    esac
  done
  for r in ${list[@]+"${list[@]}"}; do
    d=$(slurm_dir "$r")
    if [ ! -d "$d" ] || [ -L "$d" ]; then continue; fi # only tmuxkit's own state directory, never through a link
    if [ "$dry" = 1 ]; then
      printf 'would_forget=%s\n' "$r"
      continue
    fi
    R_DIR=$d R_RUN=$r R_SOCKET='' tk_watchdog_end 0 || true
    rm -rf -- "$d"
    printf 'forgot=%s\n' "$r"
  done
}

# --- the batch wrapper's end (shell/tmuxkit-sbatch-run, on the compute node) --------------------
# Its records live beside the log, in RESULTS/tmuxkit/ on the shared filesystem, so the login
# host reads them whatever Slurm still remembers: RUN.exit (how the last attempt ended),
# RUN.events.jsonl (time_limit, requeued, resumed, failed), RUN.requeue (the checkpoint the last
# time-limit requeue resumes from).

# sr_event RUN RESULTS KIND [extra JSON members, starting with a comma]: one event of the wrapper.
sr_event() {
  printf '{"ts":%s,"id":"%s","run":%s,"event":%s,"job":%s%s}\n' "$(date +%s)" "$(tk_event_id)" \
    "$(tk_json_str "$1")" "$(tk_json_str "$3")" "$(tk_json_str "${SLURM_JOB_ID:-}")" "${4:-}" \
    >>"$2/$TK_LOG_DIR/$1.events.jsonl" 2>/dev/null || true
}

# sr_end RUN RESULTS CODE WHY [CAUSE]: the attempt's end record, RESULTS/tmuxkit/RUN.exit:
# "CODE EPOCH WHY JOB CAUSE" (written whole: a temporary file renamed into place).
sr_end() {
  local f=$2/$TK_LOG_DIR/$1.exit
  printf '%s %s %s %s %s\n' "$3" "$(date +%s)" "$4" "${SLURM_JOB_ID:--}" "${5:-}" >"$f.tmp.$$" && mv -f "$f.tmp.$$" "$f"
}

# sr_ckpt_id PATH: what tells a checkpoint from a newer one: its path and mtime ("-" for none).
sr_ckpt_id() {
  if [ -z "$1" ]; then printf -- '-'; return 0; fi
  printf '%s@%s' "$1" "$(tk_stat mtime "$1" 2>/dev/null || echo 0)"
}

# sr_time_limit_next RUN RESULTS CKPT: after the time limit's Ctrl-C, whether to requeue: 0 (requeue;
# CKPT's id is recorded), or 1 with SR_WHY: the last time-limit requeue of this job resumed from
# this same checkpoint (none newer came complete since), so a requeue would only loop.
# shellcheck disable=SC2034  # SR_WHY is read by the wrapper
sr_time_limit_next() {
  local f=$2/$TK_LOG_DIR/$1.requeue job='' last='' id
  id=$(sr_ckpt_id "$3")
  [ ! -f "$f" ] || read -r job last <"$f" || true
  if [ "$job" = "${SLURM_JOB_ID:-}" ] && [ "$last" = "$id" ]; then
    if [ "$id" = - ]; then
      SR_WHY="the time limit came twice with no complete checkpoint: the run cannot get past it"
    else
      SR_WHY="the time limit came twice with no newer complete checkpoint than ${3##*/}: the run makes no progress"
    fi
    return 1
  fi
  printf '%s %s\n' "${SLURM_JOB_ID:-}" "$id" >"$f.tmp.$$" && mv -f "$f.tmp.$$" "$f"
  return 0
}

# sr_preempted: whether this job (SLURM_JOB_ID) is being preempted: Slurm set its PreemptTime. With
# a preemption grace time (and SlurmctldParameters=preempt_send_user_signal) Slurm sends the job's
# own warning signal, the wrapper's USR1, at once: the same signal as the time limit's warning.
sr_preempted() {
  local line pt
  [ -n "${SLURM_JOB_ID:-}" ] || return 1
  line=$(scontrol -o show job "$SLURM_JOB_ID" 2>/dev/null | head -n 1) || return 1
  pt=$(field "$line" PreemptTime)
  case $pt in '' | None | Unknown | 'N/A') return 1 ;; esac
}
