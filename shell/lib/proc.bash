# shellcheck shell=bash
# Processes and files, portably (GNU and BSD tools probed, never guessed from the OS).
# Sourced: defines functions only; no options set, nothing created, nothing run.

# --- portability wrappers (GNU vs BSD), each probed once -----------------------

# tk_stat mtime|size|owner|uid FILE (owner: the user name; not followed when FILE is a symlink)
tk_stat() {
  if [ -z "${_TK_STAT:-}" ]; then
    if stat -c %Y / >/dev/null 2>&1; then _TK_STAT=gnu; else _TK_STAT=bsd; fi
  fi
  case $_TK_STAT:$1 in
  gnu:mtime) stat -c %Y "$2" ;;
  gnu:size) stat -c %s "$2" ;;
  gnu:owner) stat -c %U "$2" ;;
  gnu:uid) stat -c %u "$2" ;;
  bsd:mtime) stat -f %m "$2" ;;
  bsd:size) stat -f %z "$2" ;;
  bsd:owner) stat -f %Su "$2" ;;
  bsd:uid) stat -f %u "$2" ;;
  esac
}

# Every process as "pid ppid stat args-and-environment" (env shown: ps e / ps -E).
tk_ps_env() {
  if [ -z "${_TK_PSENV:-}" ]; then
    if ps -E -p $$ -o pid= >/dev/null 2>&1; then _TK_PSENV=bsd; else _TK_PSENV=gnu; fi
  fi
  if [ "$_TK_PSENV" = bsd ]; then
    ps -A -E -ww -o pid=,ppid=,stat=,command=
  else
    ps -A e -ww -o pid=,ppid=,stat=,args=
  fi
}

# "STAT START" of a pid; fails when there is no such process. START is the process's identity in
# time: the same under any TZ or locale, and unmoved by a clock step. Where /proc/PID/stat can be
# read (Linux) it is "t:" and the start in clock ticks since boot; else "u:" and ps's lstart
# printed in UTC with the C locale (macOS keeps a process's start time as it was set).
tk_pinfo() {
  local pid=$1 s st rest
  s=$(LC_ALL=C TZ=UTC0 ps -o stat=,lstart= -p "$pid" 2>/dev/null) || return 1
  set -f
  # shellcheck disable=SC2086
  set -- $s
  set +f
  [ $# -gt 1 ] || return 1
  st=$1
  shift
  if [ -r "/proc/$pid/stat" ] && rest=$(cat "/proc/$pid/stat" 2>/dev/null) && [ -n "$rest" ]; then
    rest=${rest##*) } # the fields after the command name, which may hold spaces and parentheses
    set -f
    # shellcheck disable=SC2086
    set -- $rest
    set +f
    if [ $# -ge 20 ]; then
      printf '%s t:%s\n' "$st" "${20}"
      return 0
    fi
  fi
  printf '%s u:%s\n' "$st" "$*"
}

# The start time as locks written before identities had a kind recorded it: lstart in the
# caller's TZ. Only for comparing with such a lock, never written anew.
tk_pstart_legacy() {
  ps -o lstart= -p "$1" 2>/dev/null | awk '{ $1 = $1; print }'
}

# Start time of a live (non-zombie) pid.
tk_pstart() {
  local info
  case $1 in '' | *[!0-9]*) return 1 ;; esac
  info=$(tk_pinfo "$1") || return 1
  case $info in Z*) return 1 ;; esac
  printf '%s\n' "${info#* }"
}

# tk_ps_snapshot: read the process table ONCE (ps -A: pid, stat, lstart in UTC with the C
# locale) for a report that judges many lock owners: after it, tk_owner_alive and tk_snap_has
# look there, with no process started per pid. Only for a short-lived report: the table ages.
tk_ps_snapshot() {
  local pid st rest n=0
  _TK_SNAP='' _TK_SNAP_STAT=() _TK_SNAP_LSTART=()
  while read -r pid st rest; do
    case $pid in '' | 0* | *[!0-9]*) continue ;; esac
    set -f
    # shellcheck disable=SC2086  # normalise the spaces of lstart, as tk_pinfo does
    set -- $rest
    set +f
    _TK_SNAP_STAT[pid]=$st
    _TK_SNAP_LSTART[pid]="$*"
    n=$((n + 1))
  done <<EOF
$(LC_ALL=C TZ=UTC0 ps -A -o pid=,stat=,lstart= 2>/dev/null)
EOF
  # A ps that cannot list the table so (it lists this shell at least): ask it pid by pid, as before.
  if [ "$n" -gt 0 ]; then _TK_SNAP=1; fi
}

# tk_snap_pid PID: a pid the snapshot can be asked about: 1-10 digits, no leading zero.
tk_snap_pid() {
  case $1 in '' | 0* | *[!0-9]*) return 1 ;; esac
  [ "${#1}" -le 10 ]
}

# tk_snap_has PID: PID is in the snapshot's process table (a zombie included, as ps -p has it).
tk_snap_has() {
  tk_snap_pid "$1" && [ -n "${_TK_SNAP_STAT[$1]:-}" ]
}

# _tk_snap_start PID: sets _TK_START to PID's start (as tk_pstart prints it) from the snapshot;
# 1 when it is not there or a zombie. No subshell: /proc/PID/stat is read by the shell itself.
_tk_snap_start() {
  local pid=$1 st rest=''
  _TK_START=''
  tk_snap_pid "$pid" || return 1
  st=${_TK_SNAP_STAT[pid]:-}
  case $st in '' | Z*) return 1 ;; esac
  if [ -r "/proc/$pid/stat" ] && { IFS= read -r rest <"/proc/$pid/stat" || [ -n "$rest" ]; } 2>/dev/null &&
    [ -n "$rest" ]; then
    rest=${rest##*) }
    set -f
    # shellcheck disable=SC2086
    set -- $rest
    set +f
    if [ $# -ge 20 ]; then
      _TK_START="t:${20}"
      return 0
    fi
  fi
  _TK_START="u:${_TK_SNAP_LSTART[pid]}"
}

# True when PID is alive and was started at START (so a reused PID is not the owner).
tk_owner_alive() {
  local cur
  [ -n "$2" ] || return 1
  if [ "${_TK_SNAP:-}" = 1 ]; then
    case $2 in t:* | u:*)
      _tk_snap_start "$1" || return 1
      [ "$_TK_START" = "$2" ]
      return
      ;;
    esac
  fi
  cur=$(tk_pstart "$1") || return 1
  case $2 in
  t:* | u:*) [ "$cur" = "$2" ] ;;
  *) [ "$(tk_pstart_legacy "$1")" = "$2" ] ;;
  esac
}

# [[dd-]hh:]mm:ss -> seconds
tk_etime_s() {
  local e=$1 d=0 h=0 m=0 s=0 a b c
  case $e in *-*)
    d=${e%%-*}
    e=${e#*-}
    ;;
  esac
  IFS=: read -r a b c <<EOF
$e
EOF
  if [ -n "${c:-}" ]; then h=$a m=$b s=$c; else m=$a s=${b:-0}; fi
  echo $((10#$d * 86400 + 10#$h * 3600 + 10#$m * 60 + 10#$s))
}

tk_uptime_s() {
  local e
  e=$(ps -o etime= -p "$1" 2>/dev/null) || return 1
  e=${e// /}
  [ -n "$e" ] || return 1
  tk_etime_s "$e"
}

# Pids of a run: processes marked TMUXKIT_RUN_ID=ID in their environment, the
# runner pid (when it is still the runner), and all their descendants. Zombies
# are left out. Re-parented and setsid children keep the marker, so they count.
tk_run_pids() {
  local id=$1 runner=${2:-}
  tk_ps_env | awk -v id="$id" -v root="$runner" -v self="$$" '
    {
      pid = $1; ppid[pid] = $2; st[pid] = $3; n++; order[n] = pid
      if (pid != self && index($0 " ", " TMUXKIT_RUN_ID=" id " ")) mark[pid] = 1
    }
    END {
      if (root != "") mark[root] = 1
      changed = 1
      while (changed) {
        changed = 0
        for (i = 1; i <= n; i++) { p = order[i]; if (!(p in mark) && (ppid[p] in mark)) { mark[p] = 1; changed = 1 } }
      }
      for (i = 1; i <= n; i++) { p = order[i]; if ((p in mark) && st[p] !~ /^Z/) print p }
    }'
}
