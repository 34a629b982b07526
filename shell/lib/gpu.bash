# shellcheck shell=bash
# shellcheck disable=SC2034,SC2153  # globals (TK_GPU_*, GI_*, GA_*, GF_*) are the results callers read; LK_* come from lock.bash
# GPUs: the inventory (nvidia-smi's stable CSV queries, under a time limit), which GPUs are free,
# and the claims that give a GPU to one run at a time.
# Sourced: defines functions only; no options set, nothing created, nothing run.
#
# A claim is a results-lock file (lock.bash) at $TMUXKIT_HOME/gpus/UUID.claim: created whole and at
# once (link(2)), holding its owner's PID and start time (the run's runner), so it is reclaimed only
# when that owner is provably dead. It is taken by the runner (under the queue's mutex, see
# queue.bash) and released by the runner's end; while the run's watchdog is about to restart it,
# the watchdog holds it (tk_gpu_hand_over).

TK_GPU_Q_GPU='--query-gpu=index,uuid,utilization.gpu,memory.used,memory.total'
TK_GPU_Q_APPS='--query-compute-apps=pid,gpu_uuid,used_memory'
TK_GPU_FMT='--format=csv,noheader,nounits'

# tk_gpu_query_begin: nvidia-smi's two queries started side by side in the background, each read
# through a pipe of this shell's (fds 8 and 9: process substitutions), with no file, no temp folder
# and no killer process: tk_gpu_query_end reads them with read's own time limit,
# $TMUXKIT_GPU_TIMEOUT seconds (default 2) from now (a crashed driver hangs nvidia-smi). The caller
# goes on with its own work (status reads its runs meanwhile). No nvidia-smi: nothing is started.
# Not in a subshell: the pipes must be this shell's own. (An argument, a folder, is no longer used.)
# bash 4.4 and later give each query's PID ($!): a query still running at the limit is killed. An
# older bash (3.2: macOS, which has no NVIDIA GPU) runs each query in a subshell that adds a last
# line "@rc=N" once it ended: its read cannot tell the limit from the end of the answer otherwise.
tk_gpu_query_begin() {
  local limit=${TMUXKIT_GPU_TIMEOUT:-2}
  case $limit in '' | *[!0-9]* | 0) limit=2 ;; esac
  TK_GPUQ_G='' TK_GPUQ_A='' TK_GPUQ_LIMIT=$limit TK_GPUQ_BEGUN=1 TK_GPUQ_ON='' TK_GPUQ_T0=''
  command -v nvidia-smi >/dev/null 2>&1 || return 0
  if [ "${BASH_VERSINFO[0]}" -gt 4 ] || { [ "${BASH_VERSINFO[0]}" = 4 ] && [ "${BASH_VERSINFO[1]}" -ge 4 ]; }; then
    TK_GPUQ_NEW=1
  else
    TK_GPUQ_NEW=''
  fi
  # The start, in microseconds where bash tells them (5.0+), else in whole seconds.
  if [ -n "${EPOCHREALTIME:-}" ]; then # probe: bash 5.0+ (unset before)
    TK_GPUQ_T0=${EPOCHREALTIME/[.,]/} # probe: bash 5.0+
  else
    TK_GPUQ_T0=$SECONDS
  fi
  if [ -n "$TK_GPUQ_NEW" ]; then
    exec 8< <(exec nvidia-smi "$TK_GPU_Q_GPU" "$TK_GPU_FMT" 2>&1 </dev/null)
    TK_GPUQ_G=$!
    exec 9< <(exec nvidia-smi "$TK_GPU_Q_APPS" "$TK_GPU_FMT" 2>/dev/null </dev/null)
    TK_GPUQ_A=$!
  else
    # Its first line is the query's PID (to end it at the limit), its last "@rc=N" once it ended.
    exec 8< <(
      exec 2>/dev/null
      nvidia-smi "$TK_GPU_Q_GPU" "$TK_GPU_FMT" 2>&1 </dev/null &
      echo "@pid=$!"
      wait "$!"
      echo "@rc=$?"
    )
    exec 9< <(
      exec 2>/dev/null
      nvidia-smi "$TK_GPU_Q_APPS" "$TK_GPU_FMT" </dev/null &
      echo "@pid=$!"
      wait "$!"
      echo "@rc=$?"
    )
  fi
  TK_GPUQ_ON=1
}

# tk_gpu_query_drop: what tk_gpu_query_begin started, ended and cleared (its answers not wanted).
tk_gpu_query_drop() {
  if [ -n "${TK_GPUQ_ON:-}" ]; then
    exec 8<&- 9<&-
    [ -z "${TK_GPUQ_G:-}" ] || kill -KILL "$TK_GPUQ_G" "$TK_GPUQ_A" 2>/dev/null || true
  fi
  TK_GPUQ_ON='' TK_GPUQ_G='' TK_GPUQ_A='' TK_GPUQ_BEGUN=''
}

# _tk_gpu_query_read VAR FD: VAR = what the query on FD (8 or 9) answered, read until its end or
# the limit (counted from tk_gpu_query_begin). Status: 0 it ended, 1 the limit came first.
_tk_gpu_query_read() {
  local _t _rc=0 _v='' _now
  if [ -n "${EPOCHREALTIME:-}" ]; then # probe: bash 5.0+ (unset before)
    _now=${EPOCHREALTIME/[.,]/} # probe: bash 5.0+
    _t=$((TK_GPUQ_LIMIT * 1000000 - (_now - TK_GPUQ_T0)))
    [ "$_t" -gt 1000 ] || _t=1000
    _t=$(printf '%d.%06d' $((_t / 1000000)) $((_t % 1000000)))
  else
    _t=$((TK_GPUQ_LIMIT - (SECONDS - TK_GPUQ_T0)))
    [ "$_t" -ge 1 ] || _t=1
  fi
  if [ -z "$TK_GPUQ_NEW" ]; then
    # The query's PID first (the subshell says it at once).
    if [ "$2" = 8 ]; then
      IFS= read -r -t "$_t" _v <&8 || true
      TK_GPUQ_G=${_v#@pid=}
    else
      IFS= read -r -t "$_t" _v <&9 || true
      TK_GPUQ_A=${_v#@pid=}
    fi
    _v=''
  fi
  if [ "$2" = 8 ]; then
    IFS= read -r -d '' -t "$_t" _v <&8 || _rc=$?
  else
    IFS= read -r -d '' -t "$_t" _v <&9 || _rc=$?
  fi
  eval "$1=\$_v"
  if [ -n "$TK_GPUQ_NEW" ]; then
    # bash 4 and later: more than 128 is the limit; 1 the answer's end (no NUL in it).
    [ "$_rc" -le 128 ]
  else
    case $_v in *"@rc="[0-9]*) return 0 ;; esac
    return 1
  fi
}

# tk_gpu_inventory: the host's NVIDIA GPUs and the compute apps on them, at most
# $TMUXKIT_GPU_TIMEOUT seconds (default 2) for both queries together (asked side by side). Sets:
#   TK_GPU_STATE  ok | none (no nvidia-smi: no NVIDIA GPU here) | hung | error; TK_GPU_WHY says why
#   TK_GPU_N, GI_IDX[i] GI_UUID[i] GI_UTIL[i] GI_MUSED[i] GI_MTOT[i] ("" where unknown)
#   TK_GPU_NAPPS, GA_PID[j] GA_UUID[j] GA_MEM[j]
tk_gpu_inventory() {
  tk_gpu_query_begin
  tk_gpu_query_end
}

# tk_gpu_query_end: the answers of tk_gpu_query_begin (begun now when it was not), waited for no
# longer than its limit, parsed as tk_gpu_inventory says.
tk_gpu_query_end() {
  local out='' apps='' gok=1 aok=1 rc='' i=0 j=0 a b c d e IFS
  [ -n "${TK_GPUQ_BEGUN:-}" ] || tk_gpu_query_begin
  TK_GPUQ_BEGUN=''
  TK_GPU_STATE=ok TK_GPU_WHY='' TK_GPU_N=0 TK_GPU_NAPPS=0
  GI_IDX=() GI_UUID=() GI_UTIL=() GI_MUSED=() GI_MTOT=() GA_PID=() GA_UUID=() GA_MEM=()
  TK_GPU_APPLE=0
  if [ -z "${TK_GPUQ_ON:-}" ]; then
    TK_GPU_STATE=none TK_GPU_WHY="nvidia-smi not found on $(tk_here)"
    tk_gpu_apple
    return 0
  fi
  _tk_gpu_query_read out 8 || gok=''
  # A hung driver hangs both: the second is not waited for once the first hit the limit.
  if [ -n "$gok" ]; then
    _tk_gpu_query_read apps 9 || aok=''
  else
    aok=''
    # (bash 3.2: its PID, which the subshell said at once, to end it with the first.)
    if [ -z "$TK_GPUQ_NEW" ] && IFS= read -r -t 1 apps <&9; then TK_GPUQ_A=${apps#@pid=}; fi
    apps=''
  fi
  exec 8<&- 9<&-
  TK_GPUQ_ON=''
  # Still running at the limit: ended (a query that ended is gone). The second was not read when
  # the first hit the limit: its PID is known only where bash gave it.
  case ${TK_GPUQ_G:-} in '' | *[!0-9]*) ;; *) [ -n "$gok" ] || kill -KILL "$TK_GPUQ_G" 2>/dev/null || true ;; esac
  case ${TK_GPUQ_A:-} in '' | *[!0-9]*) ;; *) [ -n "$aok" ] || kill -KILL "$TK_GPUQ_A" 2>/dev/null || true ;; esac
  if [ -z "$TK_GPUQ_NEW" ]; then
    # bash 3.2: the subshell's last line, "@rc=N", is its query's exit status.
    if [ -n "$gok" ]; then
      rc=${out##*@rc=}
      rc=${rc%%[!0-9]*}
      out=${out%@rc=*}
    fi
    if [ -n "$aok" ]; then
      case ${apps##*@rc=} in
      0*) apps=${apps%@rc=*} ;;
      *) aok='' apps='' ;;
      esac
    fi
  fi
  if [ -z "$gok" ]; then
    TK_GPU_STATE=hung TK_GPU_WHY="nvidia-smi gave no answer within $TK_GPUQ_LIMIT s (a hung driver?)"
    return 0
  fi
  if [ -z "$aok" ]; then
    TK_GPU_STATE=hung TK_GPU_WHY="nvidia-smi --query-compute-apps gave no answer in time"
    apps=''
  fi
  while IFS=, read -r a b c d e; do
    b=${b# } c=${c# } d=${d# } e=${e# }
    case $a in '' | *[!0-9\ ]*) continue ;; esac
    # nvidia-smi says "[N/A]" where it cannot tell: unknown ("").
    case $c in '' | *[!0-9]*) c='' ;; esac
    case $d in '' | *[!0-9]*) d='' ;; esac
    case $e in '' | *[!0-9]*) e='' ;; esac
    GI_IDX[i]=${a// /} GI_UUID[i]=$b GI_UTIL[i]=$c GI_MUSED[i]=$d GI_MTOT[i]=$e
    i=$((i + 1))
  done <<EOF
$out
EOF
  TK_GPU_N=$i
  # Its exit status where bash 3.2 gave it; else no GPU line in what it said is its failure.
  if { [ -n "$rc" ] && [ "$rc" != 0 ]; } || { [ "$i" = 0 ] && [ -n "${out//[$' \t\n']/}" ]; }; then
    out=${out#"${out%%[![:space:]]*}"}
    TK_GPU_STATE=error TK_GPU_WHY="nvidia-smi --query-gpu failed${rc:+ (exit $rc)}: ${out%%"$TK_NL"*}"
    TK_GPU_N=0
    GI_IDX=() GI_UUID=() GI_UTIL=() GI_MUSED=() GI_MTOT=()
    return 0
  fi
  while IFS=, read -r a b c; do
    b=${b# } c=${c# }
    case $a in '' | *[!0-9\ ]*) continue ;; esac
    case $c in '' | *[!0-9]*) c='' ;; esac
    GA_PID[j]=${a// /} GA_UUID[j]=$b GA_MEM[j]=$c
    j=$((j + 1))
  done <<EOF
$apps
EOF
  TK_GPU_NAPPS=$j
  if [ "$i" = 0 ] && [ "$TK_GPU_STATE" = ok ]; then
    TK_GPU_STATE=none TK_GPU_WHY="nvidia-smi lists no GPU on $(tk_here)"
  fi
  return 0
}

# tk_gpu_apple: on a Mac (ioreg lists an IOAccelerator with a "Device Utilization %"), the Apple
# GPU as one device (GPU 0, UUID APPLE-GPU: runs with gpus = 1 take turns on it, with no
# CUDA_VISIBLE_DEVICES), its utilization, and the memory pressure (TK_GPU_PRESSURE: sysctl
# kern.memorystatus_vm_pressure_level, 1 normal, 2 warning, 4 critical). No sudo.
tk_gpu_apple() {
  local out='' util p=''
  TK_GPU_PRESSURE=''
  command -v ioreg >/dev/null 2>&1 || return 0
  out=$(tk_bounded 2 ioreg -r -d 1 -w 0 -c IOAccelerator 2>/dev/null) || return 0
  case $out in *'"Device Utilization %"'*) ;; *) return 0 ;; esac
  util=${out#*\"Device Utilization %\"=}
  util=${util%%[!0-9]*}
  if command -v sysctl >/dev/null 2>&1; then
    p=$(tk_bounded 2 sysctl -n kern.memorystatus_vm_pressure_level 2>/dev/null) || p=''
  fi
  case $p in '' | *[!0-9]*) p='' ;; esac
  TK_GPU_PRESSURE=$p
  TK_GPU_STATE=ok TK_GPU_WHY='' TK_GPU_APPLE=1 TK_GPU_N=1
  GI_IDX[0]=0 GI_UUID[0]=APPLE-GPU GI_UTIL[0]=$util GI_MUSED[0]='' GI_MTOT[0]=''
}

# tk_gpu_uuid_ok UUID: a name safe as a file name (nvidia-smi's "GPU-xxxxxxxx-..." or "MIG-...").
tk_gpu_uuid_ok() {
  case $1 in '' | .* | *[!A-Za-z0-9_-]*) return 1 ;; esac
}

# tk_gpu_claim_path HOME UUID
tk_gpu_claim_path() {
  printf '%s/gpus/%s.claim\n' "$1" "$2"
}

# tk_gpu_dir HOME: $HOME/gpus, 0700, ours (made when missing).
tk_gpu_dir() {
  local d="$1/gpus"
  if [ -L "$d" ] || { [ -e "$d" ] && { [ ! -d "$d" ] || [ ! -O "$d" ]; }; }; then
    TK_ERR="refusing $d: not a directory owned by you"
    return 1
  fi
  [ -d "$d" ] || (umask 077 && mkdir -p "$d") || {
    TK_ERR="cannot create $d"
    return 1
  }
}

# _tk_gpu_procs: "pid run comm" for each compute app's process (GA_PID): run is the tmuxkit run
# its environment marks it as (TMUXKIT_RUN=...), or "-"; comm its program's name. Only those
# processes are asked about: where /proc/PID/environ can be read (Linux), read by bash itself (no
# process started: status calls this); else one ps -p, not the whole table with its environments.
_tk_gpu_procs() {
  _tk_gpu_procs_v
  printf '%s' "$TK_GPU_PROCS"
}

# _tk_gpu_procs_v: the same into TK_GPU_PROCS (lines), with no subshell where /proc is read.
_tk_gpu_procs_v() {
  local list='' j=0 pid kv run comm
  TK_GPU_PROCS=''
  while [ "$j" -lt "${TK_GPU_NAPPS:-0}" ]; do
    list="$list,${GA_PID[j]}"
    j=$((j + 1))
  done
  list=${list#,}
  [ -n "$list" ] || return 0
  # (TK_GPU_PROC: tests point it elsewhere to take the ps path, as on a Mac.)
  local proc=${TK_GPU_PROC:-/proc}
  if [ -r "$proc/self/environ" ]; then
    j=0
    while [ "$j" -lt "$TK_GPU_NAPPS" ]; do
      pid=${GA_PID[j]} run=- comm=''
      j=$((j + 1))
      # Not in this process table (a container sees the host's PIDs): not listed, as with ps.
      { IFS= read -r comm <"$proc/$pid/comm"; } 2>/dev/null || continue
      # Another user's process (its environment unreadable): not a run of ours, as with ps.
      if [ -r "$proc/$pid/environ" ]; then
        while IFS= read -r -d '' kv; do
          case $kv in TMUXKIT_RUN=*)
            run=${kv#TMUXKIT_RUN=}
            break
            ;;
          esac
        done 2>/dev/null <"$proc/$pid/environ" || true
      fi
      case $run in '' | *[!A-Za-z0-9_-]*) run=- ;; esac
      comm=${comm%% *}
      TK_GPU_PROCS="$TK_GPU_PROCS$pid $run ${comm:-?}$TK_NL"
    done
    return 0
  fi
  # BSD ps shows the environment with -E, GNU ps with the BSD-style word "e" (asked once: proc.bash).
  if [ -z "${_TK_PSENV:-}" ]; then
    if ps -E -p $$ -o pid= >/dev/null 2>&1; then _TK_PSENV=bsd; else _TK_PSENV=gnu; fi
  fi
  TK_GPU_PROCS=$({
    if [ "$_TK_PSENV" = bsd ]; then
      ps -E -ww -p "$list" -o pid=,comm=,command= 2>/dev/null
    else
      ps e -ww -p "$list" -o pid=,comm=,args= 2>/dev/null
    fi || true
  } | awk '{
    c = $2; sub(/.*\//, "", c); r = "-"
    for (i = 3; i <= NF; i++) if (substr($i, 1, 12) == "TMUXKIT_RUN=") { r = substr($i, 13); break }
    print $1, r, c
  }')
}

# tk_gpu_assess HOME [RUN]: after tk_gpu_inventory, each GPU's holder. For every GPU i:
#   GF_STATE[i]  free | claimed | mine (claimed by RUN itself, or its watchdog) | busy
#   GF_WHO[i]    the claim's run, or a description of the foreign use
#   GF_SINCE[i]  when the claim was taken (epoch) or ""
#   GF_RUNMEM[i] MiB that tmuxkit runs' processes hold there ("" unknown)
# TK_GPU_FREE: how many GPUs are free (mine count as free for RUN); TK_GPU_MINE: how many are mine.
# Foreign use: a compute app on it that is not a process of the run that claimed it; in a container,
# whose compute apps are the host's PIDs and not in ps, memory used above max(5 % of the GPU, 1 GiB)
# with no app of tmuxkit's there. TMUXKIT_GPUS_IGNORE_FOREIGN=1: only claims count.
tk_gpu_assess() {
  local home=$1 me=${2:-} i j u claim procs pid run comm mem floor foreign seen line
  GF_STATE=() GF_WHO=() GF_SINCE=() GF_RUNMEM=() GF_CLAIM_PID=() GF_CLAIM_START=() GF_PID=()
  TK_GPU_FREE=0 TK_GPU_MINE=0
  procs=''
  [ "$TK_GPU_NAPPS" = 0 ] || procs=$(_tk_gpu_procs) || procs=""
  i=0
  while [ "$i" -lt "$TK_GPU_N" ]; do
    u=${GI_UUID[i]}
    GF_STATE[i]=free GF_WHO[i]='' GF_SINCE[i]='' GF_RUNMEM[i]='' GF_CLAIM_PID[i]='' GF_CLAIM_START[i]='' GF_PID[i]=''
    if ! tk_gpu_uuid_ok "$u"; then
      GF_STATE[i]=busy GF_WHO[i]="an unusable UUID from nvidia-smi"
      i=$((i + 1))
      continue
    fi
    claim=$(tk_gpu_claim_path "$home" "$u")
    tk_lock_state "$claim"
    case $LK_STATE in
    alive)
      GF_CLAIM_PID[i]=$LK_PID GF_CLAIM_START[i]=$LK_START GF_SINCE[i]=$LK_CREATED
      if [ -n "$me" ] && [ "$LK_RUN" = "$me" ]; then GF_STATE[i]=mine; else GF_STATE[i]=claimed; fi
      GF_WHO[i]="run ${LK_RUN:-?}"
      ;;
    free) ;;
    stale)
      # Its runner ended, and the run's watchdog (which may have re-registered since the hand-over,
      # --detach does) lives to restart it: still the run's.
      if tk_valid_run "$LK_RUN" && tk_gpu_watched "$home" "$LK_RUN"; then
        GF_SINCE[i]=$LK_CREATED GF_WHO[i]="run $LK_RUN"
        if [ -n "$me" ] && [ "$LK_RUN" = "$me" ]; then GF_STATE[i]=mine; else GF_STATE[i]=claimed; fi
      fi
      ;;
    *)
      GF_STATE[i]=busy GF_WHO[i]="its claim file is not a valid tmuxkit claim ($LK_STATE): $claim"
      ;;
    esac
    foreign='' seen=0
    j=0
    while [ "$j" -lt "$TK_GPU_NAPPS" ]; do
      if [ "${GA_UUID[j]}" = "$u" ]; then
        pid=${GA_PID[j]} mem=${GA_MEM[j]}
        run='' comm=''
        line=$(printf '%s\n' "$procs" | awk -v p="$pid" '$1 == p { print $2, $3; exit }')
        [ -z "$line" ] || { run=${line%% *} comm=${line#* }; }
        if [ -n "$run" ] && [ "$run" != - ]; then
          seen=1
          [ -z "$mem" ] || GF_RUNMEM[i]=$((${GF_RUNMEM[i]:-0} + mem))
          # A tmuxkit run's process on a GPU no run of that name claimed: it is in use all the same.
          [ "${GF_STATE[i]}" != free ] || foreign="run $run's PID $pid (${comm:-?}, no claim)"
        elif [ -z "$foreign" ]; then
          GF_PID[i]=$pid
          if [ -n "$run" ]; then
            foreign="PID $pid (${comm:-?}, $(tk_gpu_gib "$mem"), not tmuxkit's)"
          else
            foreign="PID $pid (not visible here: a container?, $(tk_gpu_gib "$mem"))"
          fi
        fi
      fi
      j=$((j + 1))
    done
    if [ -z "$foreign" ] && [ "$seen" = 0 ] && [ -n "${GI_MUSED[i]}" ] && [ -n "${GI_MTOT[i]}" ]; then
      floor=$((GI_MTOT[i] / 20))
      [ "$floor" -ge 1024 ] || floor=1024
      if [ "${GI_MUSED[i]}" -gt "$floor" ]; then
        foreign="@busy: $(tk_gpu_gib "${GI_MUSED[i]}") used by processes not listed here (a container?)"
      fi
    fi
    if [ -n "$foreign" ] && [ "${TMUXKIT_GPUS_IGNORE_FOREIGN:-0}" != 1 ] && [ "${GF_STATE[i]}" = free ]; then
      GF_STATE[i]=busy GF_WHO[i]="used by $foreign"
      case $foreign in @*) GF_WHO[i]=${foreign#@} ;; esac
    fi
    case ${GF_STATE[i]} in free | mine) TK_GPU_FREE=$((TK_GPU_FREE + 1)) ;; esac
    [ "${GF_STATE[i]}" != mine ] || TK_GPU_MINE=$((TK_GPU_MINE + 1))
    i=$((i + 1))
  done
}

# tk_gpu_watched HOME RUN: RUN's registered watchdog lives, and RUN was not stopped.
tk_gpu_watched() {
  local R_DIR="$1/$TK_RUNS_DIR/$2"
  [ ! -f "$R_DIR/stopped" ] && tk_watchdog_pid >/dev/null 2>&1
}

# tk_gpu_gib MIB: "30.0 GiB" ("? GiB" when unknown).
tk_gpu_gib() {
  case $1 in '' | *[!0-9]*)
    printf '? GiB'
    return 0
    ;;
  esac
  printf '%d.%d GiB' $(($1 / 1024)) $((($1 % 1024) * 10 / 1024))
}

# tk_gpu_blockers: "GPU 0 held by run a, GPU 1 used by PID 4242 (...)" for every GPU not free.
tk_gpu_blockers() {
  local i=0 out=''
  while [ "$i" -lt "$TK_GPU_N" ]; do
    case ${GF_STATE[i]} in
    claimed) out="$out, GPU ${GI_IDX[i]} held by ${GF_WHO[i]}" ;;
    busy) out="$out, GPU ${GI_IDX[i]} ${GF_WHO[i]}" ;;
    esac
    i=$((i + 1))
  done
  printf '%s' "${out#, }"
}

# tk_gpu_pick N: the first N free (or mine) GPUs in nvidia-smi's (PCI bus) order, as
# TK_GPU_PICK_IDX ("0,1") and TK_GPU_PICK_UUID ("GPU-a,GPU-b"); mine first. 1 when too few.
tk_gpu_pick() {
  local n=$1 i k=0 pass
  TK_GPU_PICK_IDX='' TK_GPU_PICK_UUID=''
  for pass in mine free; do
    i=0
    while [ "$i" -lt "$TK_GPU_N" ] && [ "$k" -lt "$n" ]; do
      if [ "${GF_STATE[i]}" = "$pass" ]; then
        TK_GPU_PICK_IDX="$TK_GPU_PICK_IDX,${GI_IDX[i]}" TK_GPU_PICK_UUID="$TK_GPU_PICK_UUID,${GI_UUID[i]}"
        k=$((k + 1))
      fi
      i=$((i + 1))
    done
  done
  TK_GPU_PICK_IDX=${TK_GPU_PICK_IDX#,} TK_GPU_PICK_UUID=${TK_GPU_PICK_UUID#,}
  # The Apple GPU is claimed like any other, but CUDA has nothing to be told.
  [ "${TK_GPU_APPLE:-0}" != 1 ] || TK_GPU_PICK_IDX=''
  [ "$k" -ge "$n" ]
}

# tk_gpu_claim_all HOME UUIDS PID START RUN RUN_ID: claim every GPU of the comma-separated UUIDS for
# PID/START (the runner). A claim of the same run name (held by its watchdog across a restart) is
# taken over; a stale one is reclaimed. All or nothing: 1 (TK_ERR says why) releases what it took.
tk_gpu_claim_all() {
  local home=$1 uuids=$2 pid=$3 start=$4 run=$5 id=$6 u got='' c rc IFS=,
  tk_gpu_dir "$home" || return 1
  for u in $uuids; do
    IFS=$' \t\n'
    tk_gpu_uuid_ok "$u" || {
      TK_ERR="bad GPU UUID: $u"
      tk_gpu_release_all "$home" "$got" "$pid" "$start"
      return 1
    }
    c=$(tk_gpu_claim_path "$home" "$u")
    tk_lock_state "$c"
    if [ "$LK_STATE" = alive ] && [ "$LK_RUN" = "$run" ]; then
      # Handed over by this run's watchdog across a restart: rewritten whole for the new runner.
      tk_write "$c" "$(printf 'pid=%s\nstart=%s\nhost=%s\nrun=%s\nsession=%s\nrun_id=%s\ncreated=%s\n' \
        "$pid" "$start" "$(tk_here)" "$run" "$run" "$id" "${LK_CREATED:-$(date +%s)}")" || rc=1
    else
      rc=0
      tk_lock_acquire "$c" "$pid" "$start" "$run" "$run" "$id" || rc=$?
    fi
    if [ "${rc:-0}" != 0 ]; then
      TK_ERR="GPU $u: ${TK_ERR:-cannot claim it}"
      tk_gpu_release_all "$home" "$got" "$pid" "$start"
      return 1
    fi
    got="$got,$u"
    IFS=,
  done
  IFS=$' \t\n'
  return 0
}

# tk_gpu_release_all HOME UUIDS PID START: release each claim that PID/START holds.
tk_gpu_release_all() {
  local home=$1 u IFS=,
  for u in $2; do
    tk_gpu_uuid_ok "$u" || continue
    tk_lock_release "$(tk_gpu_claim_path "$home" "$u")" "$3" "$4" 2>/dev/null || true
  done
}

# tk_gpu_hand_over HOME UUIDS PID START NEWPID NEWSTART: the claims PID/START holds, rewritten for
# NEWPID/NEWSTART (the run's watchdog, which restarts it): the GPUs stay the run's.
tk_gpu_hand_over() {
  local home=$1 u c IFS=,
  for u in $2; do
    tk_gpu_uuid_ok "$u" || continue
    c=$(tk_gpu_claim_path "$home" "$u")
    tk_lock_read "$c" 2>/dev/null || continue
    if [ "$LK_PID" != "$3" ] || [ "$LK_START" != "$4" ]; then continue; fi
    tk_write "$c" "$(printf 'pid=%s\nstart=%s\nhost=%s\nrun=%s\nsession=%s\nrun_id=%s\ncreated=%s\n' \
      "$5" "$6" "$LK_HOST" "$LK_RUN" "$LK_SESSION" "$LK_RUN_ID" "$LK_CREATED")" || true
  done
}

# tk_gpu_check_args GPUS AFTER ENV...: start's rules for --gpus and --after (exit 2, one line).
tk_gpu_check_args() {
  local n=$1 after=$2 kv
  shift 2
  case $n in '' | *[!0-9]*) tk_die "$EX_USAGE" "--gpus needs a whole number, got '$n'" ;; esac
  [ "${#n}" -le 3 ] || tk_die "$EX_USAGE" "--gpus $n: too many"
  [ -z "$after" ] || tk_valid_run "$after" || tk_die "$EX_USAGE" "--after: invalid run name '$after': $TK_RUN_NAME_RULE"
  [ "$n" -gt 0 ] || return 0
  for kv in "$@"; do
    case $kv in CUDA_VISIBLE_DEVICES=*)
      tk_die "$EX_USAGE" "the run's env sets CUDA_VISIBLE_DEVICES while gpus = $n: tmuxkit gives the run its GPUs; drop one of them"
      ;;
    esac
  done
}

# tk_gpu_run_end HOME UUIDS PID START: the runner's end (the run loaded). A run that was not stopped
# and has a live watchdog keeps its GPUs across the watchdog's restart (the watchdog holds them,
# until it restarts the run or ends); otherwise they are freed.
tk_gpu_run_end() {
  local wpid wstart=''
  [ -n "$2" ] || return 0
  if [ ! -f "$R_DIR/stopped" ] && wpid=$(tk_watchdog_pid 2>/dev/null); then
    read -r _ wstart <"$R_DIR/watchdog" 2>/dev/null || true
    if [ -n "$wstart" ]; then
      tk_gpu_hand_over "$1" "$2" "$3" "$4" "$wpid" "$wstart"
      return 0
    fi
  fi
  tk_gpu_release_all "$1" "$2" "$3" "$4"
}

# tk_gpu_status_begin HOME [RUN...]: at the start of a status report, nvidia-smi's queries begun in
# the background (tk_gpu_query_begin) when a claim names one of the runs it shows (all runs when
# none is named): they run while status reads its runs, and tk_gpu_status_rows collects them.
# Status of runs without GPUs starts no nvidia-smi. Only reads the claim files' run= lines.
tk_gpu_status_begin() {
  local home=$1 c line want=''
  shift
  TK_GPUQ_BEGUN=''
  # Our own folder (tk_gpu_dir made it 0700) or nothing: its claims say whether to ask.
  if [ ! -d "$home/gpus" ] || [ -L "$home/gpus" ] || [ ! -O "$home/gpus" ]; then return 0; fi
  # The answers an earlier tmuxkit's status wrote here and left when it was killed by its deadline
  # (its PID gone): this one writes none (its queries answer through pipes).
  for c in "$home"/gpus/.query.*.gpu; do
    [ -f "$c" ] || continue
    line=${c%.gpu}
    line=${line##*.query.}
    case $line in '' | *[!0-9]*) continue ;; esac
    if ! kill -0 "$line" 2>/dev/null; then rm -f "$home/gpus/.query.$line.gpu" "$home/gpus/.query.$line.err" "$home/gpus/.query.$line.apps"; fi
  done
  for c in "$home"/gpus/*.claim; do
    if [ ! -f "$c" ] || [ -L "$c" ]; then continue; fi
    want=''
    while IFS= read -r line; do
      case $line in run=*)
        want=${line#run=}
        break
        ;;
      esac
    done <"$c" 2>/dev/null || true
    [ -n "$want" ] || continue
    if [ $# = 0 ]; then
      tk_gpu_query_begin
      return 0
    fi
    for line in "$@"; do
      if [ "$line" = "$want" ]; then
        tk_gpu_query_begin
        return 0
      fi
    done
  done
}

# tk_gpu_status_rows HOME: each live run's GPUs, put into its status row in J_RUNS as
# "gpus":[{index, uuid, util_pct, run_mem_mib, mem_used_mib, mem_total_mib}] (and "gpus_error"
# when nvidia-smi could not tell: a hung driver). nvidia-smi is asked once (its two queries, side by
# side, begun by tk_gpu_status_begin when status called it), and only when a run shown holds a
# claim: status on a box without GPU runs costs nothing more.
tk_gpu_status_rows() {
  local home=$1 c u runs='' run done_runs=' ' list i j mem procs pid r line item err='' js jv1 jv2 jv3
  for c in "$home"/gpus/*.claim; do
    if [ ! -f "$c" ] || [ -L "$c" ]; then continue; fi
    tk_lock_state "$c"
    [ "$LK_STATE" = alive ] || continue
    # Only the runs this report shows: status RUN of a run without GPUs asks no nvidia-smi.
    case $J_RUNS in *"{\"run\":\"$LK_RUN\","*) ;; *) continue ;; esac
    u=${c##*/}
    u=${u%.claim}
    runs="$runs$LK_RUN $u$TK_NL"
  done
  if [ -z "$runs" ]; then
    # Begun for a claim whose run is not live (or not shown): not wanted.
    [ -z "${TK_GPUQ_BEGUN:-}" ] || tk_gpu_query_drop
    return 0
  fi
  tk_gpu_query_end
  [ "$TK_GPU_STATE" = ok ] || err=$TK_GPU_WHY
  procs=''
  if [ "${TK_GPU_NAPPS:-0}" != 0 ]; then
    _tk_gpu_procs_v
    procs=$TK_GPU_PROCS
  fi
  # Each app's run, by app index (no process started per run or per GPU).
  local -a app_run
  app_run=()
  j=0
  while [ "$j" -lt "${TK_GPU_NAPPS:-0}" ]; do
    app_run[j]=-
    while read -r pid r _; do
      if [ "$pid" = "${GA_PID[j]}" ]; then
        app_run[j]=$r
        break
      fi
    done <<EOF
$procs
EOF
    j=$((j + 1))
  done
  while read -r run _; do
    [ -n "$run" ] || continue
    case $done_runs in *" $run "*) continue ;; esac
    done_runs="$done_runs$run "
    list=''
    while read -r r u; do
      [ "$r" = "$run" ] || continue
      item=''
      i=0
      while [ "$i" -lt "${TK_GPU_N:-0}" ]; do
        if [ "${GI_UUID[i]}" = "$u" ]; then
          mem=0 j=0
          while [ "$j" -lt "$TK_GPU_NAPPS" ]; do
            if [ "${GA_UUID[j]}" = "$u" ] && [ "${app_run[j]}" = "$run" ]; then mem=$((mem + ${GA_MEM[j]:-0})); fi
            j=$((j + 1))
          done
          tk_json_str_v js "$u"
          tk_json_val_v jv1 "${GI_UTIL[i]}"
          tk_json_val_v jv2 "${GI_MUSED[i]}"
          tk_json_val_v jv3 "${GI_MTOT[i]}"
          item="{\"index\":${GI_IDX[i]},\"uuid\":$js,\"util_pct\":$jv1,\"run_mem_mib\":$mem,\"mem_used_mib\":$jv2,\"mem_total_mib\":$jv3}"
        fi
        i=$((i + 1))
      done
      if [ -z "$item" ]; then
        tk_json_str_v js "$u"
        item="{\"index\":null,\"uuid\":$js,\"util_pct\":null,\"run_mem_mib\":null,\"mem_used_mib\":null,\"mem_total_mib\":null}"
      fi
      list="$list,$item"
    done <<EOF
$runs
EOF
    item="\"gpus\":[${list#,}]"
    if [ -n "$err" ]; then
      tk_json_str_v js "$err"
      item="$item,\"gpus_error\":$js"
    fi
    J_RUNS=${J_RUNS//"{\"run\":\"$run\","/"{\"run\":\"$run\",$item,"}
  done <<EOF
$runs
EOF
}

# tk_gpu_util_of PIDS: the highest utilization (percent) of the GPUs that PIDS (space-separated)
# use, or of all GPUs when nvidia-smi does not say which they use: the watchdogs' GPU-idle rule
# (tmuxkit-watch on a tmux host, the Slurm watchdog's probe on the compute node). Each query
# bounded (a hung driver); fails when there is no nvidia-smi or no reading.
tk_gpu_util_of() {
  local apps gpus uuids
  command -v nvidia-smi >/dev/null 2>&1 || return 1
  gpus=$(tk_bounded 5 nvidia-smi --query-gpu=uuid,utilization.gpu --format=csv,noheader,nounits 2>/dev/null) || return 1
  apps=$(tk_bounded 5 nvidia-smi --query-compute-apps=pid,gpu_uuid --format=csv,noheader,nounits 2>/dev/null) || apps=''
  uuids=$(printf '%s\n' "$apps" | awk -F', *' -v pids=" $1 " 'index(pids, " " $1 " ") { print $2 }')
  printf '%s\n' "$gpus" | awk -F', *' -v want="$uuids" '
    BEGIN { n = split(want, w, "\n"); for (i = 1; i <= n; i++) if (w[i] != "") sel[w[i]] = 1 }
    $2 ~ /^[0-9]+$/ { if (n == 0 || ($1 in sel)) { if (!seen || $2 > max) max = $2; seen = 1 } }
    END { if (!seen) exit 1; print max }'
}
