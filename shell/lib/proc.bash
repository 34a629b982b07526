# shellcheck shell=bash
# Processes and files, portably (GNU and BSD tools probed, never guessed from the OS).
# Sourced: defines functions only; no options set, nothing created, nothing run.

# --- portability wrappers (GNU vs BSD), each probed once -----------------------

# tk_stat mtime|size FILE
tk_stat() {
  if [ -z "${_TK_STAT:-}" ]; then
    if stat -c %Y / >/dev/null 2>&1; then _TK_STAT=gnu; else _TK_STAT=bsd; fi
  fi
  case $_TK_STAT:$1 in
  gnu:mtime) stat -c %Y "$2" ;;
  gnu:size) stat -c %s "$2" ;;
  bsd:mtime) stat -f %m "$2" ;;
  bsd:size) stat -f %z "$2" ;;
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

# "STAT LSTART" of a pid, whitespace squeezed; fails when there is no such process.
tk_pinfo() {
  local s
  s=$(ps -o stat=,lstart= -p "$1" 2>/dev/null) || return 1
  set -f
  # shellcheck disable=SC2086
  set -- $s
  set +f
  [ $# -gt 1 ] || return 1
  printf '%s\n' "$*"
}

# Start time of a live (non-zombie) pid.
tk_pstart() {
  local info
  case $1 in '' | *[!0-9]*) return 1 ;; esac
  info=$(tk_pinfo "$1") || return 1
  case $info in Z*) return 1 ;; esac
  printf '%s\n' "${info#* }"
}

# True when PID is alive and was started at START (so a reused PID is not the owner).
tk_owner_alive() {
  local cur
  [ -n "$2" ] || return 1
  cur=$(tk_pstart "$1") || return 1
  [ "$cur" = "$2" ]
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
