# shellcheck shell=bash
# shellcheck disable=SC2034  # globals (TK_CPU, TK_GPU, Q_*, S_*) are the results callers read
# Quiet is not stuck: before the watchdog calls a silent run stuck, it looks at whether the run
# works. Sourced: defines only.
#
# The rule (the watchdog's, once a tick, for a run with no output for longer than stuck_after):
# the run works when, since the watchdog's last look (on its first look: over TK_QUIET_WINDOW
# seconds),
#   - its process tree (tk_run_pids: the runner, every process marked with the run's id, and their
#     descendants) used CPU time: at least TK_QUIET_CPU_PCT percent of one CPU, and at least
#     0.1 s; read from /proc (clock ticks) where there is one, else `ps -o time=` (BSD: hundredths);
#   - or one of its GPUs (nvidia-smi, as the GPU-idle check reads them) is at least
#     TK_QUIET_GPU_PCT percent busy;
#   - or a file under its results folder (its own tmuxkit/ log folder left out) was written.
# A silent run that works is quiet, not stuck: it is not restarted, and status shows it quiet
# (runs/RUN/quiet, "EPOCH EVERY WHY", which the watchdog writes at each look and removes when the
# spell ends). Once it has been silent for quiet_max (default TK_DEF_QUIET_MAX_FACTOR times
# stuck_after) it is stuck all the same. What this cannot tell apart: a process that spins
# without progress (a collective waiting on a peer that died, a busy-wait loop) works by this
# rule until quiet_max.

TK_QUIET_CPU_PCT=5
TK_QUIET_GPU_PCT=5
TK_QUIET_WINDOW=${TK_QUIET_WINDOW:-1}

# tk_quiet_cpu_v PID...: TK_CPU, the CPU time the PIDs used (user + system, and on Linux that of
# their children already waited for), in hundredths of a second; "" when none could be read.
# TK_QUIET_PROC (tests): another place than /proc, so a missing one takes the ps path.
tk_quiet_cpu_v() {
  local p l hz sum=0 any='' out proc=${TK_QUIET_PROC:-/proc}
  local -a f
  TK_CPU=''
  [ $# -gt 0 ] || return 0
  if [ -r "$proc/$$/stat" ]; then
    hz=$(getconf CLK_TCK 2>/dev/null) || hz=100
    case $hz in '' | *[!0-9]* | 0) hz=100 ;; esac
    for p in "$@"; do
      { IFS= read -r l <"$proc/$p/stat"; } 2>/dev/null || continue
      l=${l##*) } # the fields after "pid (comm) ": state is f[0], utime f[11] ... cstime f[14]
      read -r -a f <<<"$l"
      case ${f[11]:-}${f[12]:-}${f[13]:-}${f[14]:-} in '' | *[!0-9]*) continue ;; esac
      sum=$((sum + f[11] + f[12] + f[13] + f[14])) any=1
    done
    [ -z "$any" ] || TK_CPU=$((sum * 100 / hz))
    return 0
  fi
  local -a args
  args=()
  for p in "$@"; do args+=(-p "$p"); done
  # [[DD-]HH:]MM:SS[.hh]: GNU prints whole seconds, BSD hundredths.
  out=$(ps -o time= "${args[@]}" 2>/dev/null | awk '
    { t = $1; d = 0
      if (index(t, "-")) { d = substr(t, 1, index(t, "-") - 1); t = substr(t, index(t, "-") + 1) }
      n = split(t, a, ":"); s = 0
      for (i = 1; i <= n; i++) s = s * 60 + a[i]
      sum += d * 86400 + s; any = 1 }
    END { if (any) printf "%d\n", sum * 100 }') || out=''
  case $out in '' | *[!0-9]*) ;; *) TK_CPU=$out ;; esac
}

# tk_quiet_gpu_v PID...: TK_GPU, the highest utilization (percent) of the GPUs the PIDs use ("" for
# none, or no nvidia-smi). Only the run's own GPUs: a box's other jobs never make a run look busy.
tk_quiet_gpu_v() {
  local gpus apps pids uuids
  TK_GPU=''
  [ $# -gt 0 ] && command -v nvidia-smi >/dev/null 2>&1 || return 0
  # Each under a time limit (5 s): nvidia-smi hangs on a crashed driver, and the watchdog must not.
  gpus=$(tk_bounded 5 nvidia-smi --query-gpu=uuid,utilization.gpu --format=csv,noheader,nounits 2>/dev/null) || return 0
  apps=$(tk_bounded 5 nvidia-smi --query-compute-apps=pid,gpu_uuid --format=csv,noheader,nounits 2>/dev/null) || return 0
  pids=" $* "
  uuids=$(printf '%s\n' "$apps" | awk -F', *' -v pids="$pids" 'index(pids, " " $1 " ") { print $2 }')
  [ -n "$uuids" ] || return 0
  TK_GPU=$(printf '%s\n' "$gpus" | awk -F', *' -v want="$uuids" '
    BEGIN { n = split(want, w, "\n"); for (i = 1; i <= n; i++) if (w[i] != "") sel[w[i]] = 1 }
    ($1 in sel) && $2 ~ /^[0-9]+$/ { if (!seen || $2 + 0 > max) max = $2 + 0; seen = 1 }
    END { if (seen) print max }') || TK_GPU=''
}

# tk_quiet_wrote RESULTS STAMP: a regular file under RESULTS (its tmuxkit/ folder left out; links
# never followed) was written after STAMP.
tk_quiet_wrote() {
  [ -d "$1" ] && [ ! -L "$1" ] && [ -f "$2" ] || return 1
  [ -n "$(find "$1" -path "$1/$TK_LOG_DIR" -prune -o -type f -newer "$2" -print 2>/dev/null | head -n 1)" ]
}


# tk_quiet_watch QUIET_MAX EVERY: the watchdog's look, after tk_run_state. While the run is silent
# (for a tick or more) it samples the run's CPU time at each look (Q_T, Q_CPU keep the last). For
# a run stuck by silence, silent for less than QUIET_MAX seconds ("" or not a number:
# TK_DEF_QUIET_MAX_FACTOR times stuck_after), it judges whether the run works: then S_STATE is
# running again, S_QUIET its seconds of silence, Q_WHY what showed it working, runs/RUN/quiet says
# so, and Q_EVENT (the members of a quiet event) is set when a quiet spell begins. Otherwise the
# spell, if any, ends (the file is removed).
Q_T='' Q_CPU='' Q_SPELL='' Q_EVENT='' Q_WHY=''
tk_quiet_watch() {
  local max=$1 every=$2 now p dcpu dt pids mark=$R_DIR/quiet.mark
  local -a list
  Q_EVENT='' Q_WHY='' TK_CPU=''
  # tk_run_state took the last look's verdict (runs/RUN/quiet): this look judges afresh.
  if [ -n "${S_QUIET:-}" ]; then S_STATE=$ST_STUCK S_QUIET=''; fi
  case $max in '' | *[!0-9]*) max='' ;; esac
  if [ -z "$max" ]; then
    case $R_STUCK_AFTER in
    '' | *[!0-9]*) max=$((TK_DEF_QUIET_MAX_FACTOR * TK_DEF_STUCK_AFTER)) ;;
    *) max=$((TK_DEF_QUIET_MAX_FACTOR * R_STUCK_AFTER)) ;;
    esac
  fi
  case $every in '' | *[!0-9]*) every=$TK_DEF_WATCH_EVERY ;; esac
  if { [ "$S_STATE" != "$ST_STUCK" ] && [ "$S_STATE" != "$ST_RUNNING" ]; } || [ "${S_LOG_AGE:-0}" -lt "$every" ]; then
    # Not live, or not silent: no spell, no sample.
    Q_T='' Q_CPU='' Q_SPELL=''
    rm -f "$R_DIR/quiet" "$mark" 2>/dev/null || true
    return 0
  fi
  now=$(date +%s)
  list=()
  pids=$(tk_run_pids "$R_RUN_ID" "$(tk_runner_alive && echo "$R_RUNNER_PID")")
  for p in $pids; do list+=("$p"); done
  tk_quiet_cpu_v ${list[@]+"${list[@]}"}
  if [ "$S_STATE" = "$ST_STUCK" ] && [ "${S_LOG_AGE:-0}" -lt "$max" ]; then
    if [ -z "$Q_T" ] || [ -z "$Q_CPU" ] || [ "$now" -le "$Q_T" ]; then # no earlier look: a short one now
      Q_T=$now Q_CPU=$TK_CPU
      sleep "$TK_QUIET_WINDOW"
      now=$(date +%s)
      tk_quiet_cpu_v ${list[@]+"${list[@]}"}
    fi
    dt=$((now - Q_T))
    [ "$dt" -gt 0 ] || dt=1
    if [ -n "$TK_CPU" ] && [ -n "$Q_CPU" ]; then
      dcpu=$((TK_CPU - Q_CPU))
      if [ "$dcpu" -ge 10 ] && [ "$dcpu" -ge "$((dt * TK_QUIET_CPU_PCT))" ]; then
        Q_WHY="cpu $((dcpu / 100)).$((dcpu % 100 / 10))s in ${dt}s"
      fi
    fi
    if [ -z "$Q_WHY" ]; then
      tk_quiet_gpu_v ${list[@]+"${list[@]}"}
      if [ -n "$TK_GPU" ] && [ "$TK_GPU" -ge "$TK_QUIET_GPU_PCT" ]; then Q_WHY="gpu $TK_GPU%"; fi
    fi
    if [ -z "$Q_WHY" ] && tk_quiet_wrote "$R_RESULTS" "$mark"; then Q_WHY="wrote under the results"; fi
  fi
  Q_T=$now Q_CPU=$TK_CPU
  [ -L "$mark" ] || { : >"$mark"; } 2>/dev/null || true
  if [ -n "$Q_WHY" ]; then
    S_STATE=$ST_RUNNING S_QUIET=${S_LOG_AGE:-0}
    [ -L "$R_DIR/quiet" ] || tk_write "$R_DIR/quiet" "$now $every $Q_WHY$TK_NL" || true
    if [ -z "$Q_SPELL" ]; then
      Q_SPELL=$now
      Q_EVENT=",\"silent_s\":${S_LOG_AGE:-0},\"quiet_max\":$max,\"why\":$(tk_json_str "$Q_WHY")"
    fi
  else
    Q_SPELL=''
    rm -f "$R_DIR/quiet" 2>/dev/null || true
  fi
  return 0
}
