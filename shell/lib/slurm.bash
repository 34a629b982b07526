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
  if [ -n "$RUN_NAME" ] && [ -z "$W_RUN" ]; then
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

# --- the Slurm watchdog ------------------------------------------------------------------------
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
    bash -c '. "$1/lib/tmuxkit.bash" && . "$1/lib/slurm.bash" && shift && "$@"' tmuxkit-slurm-probe "$TK_BIN" "$@" </dev/null
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

# job_query ID: sets JQ_LINE (the one-line scontrol -o show job ID); returns 0 when Slurm answered
# (JQ_LINE empty: it does not know the job), 2 when the controller did not answer (JQ_ERR: its words).
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

# --- on_done on the login host -------------------------------------------------------------------
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
