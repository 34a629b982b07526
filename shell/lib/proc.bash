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

# tk_stat_many: "MTIME SIZE PATH" for each path read from stdin (one per line) that exists, in one call.
tk_stat_many() {
  tk_stat mtime / >/dev/null 2>&1 || true # probes GNU or BSD stat once
  if [ "$_TK_STAT" = gnu ]; then
    tr '\n' '\0' | xargs -0 stat -c '%Y %s %n' 2>/dev/null || true
  else
    tr '\n' '\0' | xargs -0 stat -f '%m %z %N' 2>/dev/null || true
  fi
}

# tk_stat_many_t: "MTIME SIZE TYPE<TAB>PATH" for each path read from stdin that exists, in one
# call, not following a symlink. TYPE is stat's own words (GNU "regular file", "symbolic link";
# BSD "Regular File", "Symbolic Link"): its first two letters, lowercased, tell them apart.
tk_stat_many_t() {
  tk_stat mtime / >/dev/null 2>&1 || true
  if [ "$_TK_STAT" = gnu ]; then
    tr '\n' '\0' | xargs -0 stat -c "%Y %s %F	%n" 2>/dev/null || true
  else
    tr '\n' '\0' | xargs -0 stat -f "%m %z %HT	%N" 2>/dev/null || true
  fi
}

# The descendants of root (not self's), from "pid ppid" lines: an awk program.
# shellcheck disable=SC2016
TK_DESC_AWK='{ kids[$2] = kids[$2] " " $1 }
END {
  todo = root
  while (todo != "") {
    split(todo, now, " "); todo = ""
    for (i in now) {
      n = split(kids[now[i]], k, " ")
      for (j = 1; j <= n; j++) if (k[j] != self) { print k[j]; todo = todo " " k[j] }
    }
  }
}'

# tk_deadline SECONDS: end this script and everything it started after SECONDS, so a caller that
# gave up on the answer leaves nothing running here. Disarmed when the script exits.
tk_deadline() {
  # shellcheck disable=SC2016  # the sh script expands its own arguments
  # Its stdio is not the script's: a leftover sleep never holds the caller's pipe (an ssh channel) open.
  sh -c '
    s=""
    trap "[ -z \"\$s\" ] || kill \$s 2>/dev/null; exit 0" TERM
    sleep "$1" &
    s=$!
    wait "$s" || exit 0
    t=$(ps -A -o pid=,ppid=)
    # Only while $2 is still this watcher'"'"'s parent, the script (a pid reused since is left alone).
    printf "%s\n" "$t" | awk -v self="$$" -v root="$2" "\$1 == self && \$2 == root { ok = 1 } END { exit !ok }" || exit 0
    kill -KILL $(printf "%s\n" "$t" | awk -v root="$2" -v self="$$" "$3") "$2" 2>/dev/null
  ' tmuxkit-deadline "$1" "$$" "$TK_DESC_AWK" </dev/null >/dev/null 2>&1 &
  TK_DEADLINE_PID=$!
  trap tk_deadline_off EXIT
}

tk_deadline_off() {
  [ -z "${TK_DEADLINE_PID:-}" ] || kill -TERM "$TK_DEADLINE_PID" 2>/dev/null || true
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
  tk_pinfo_v "$1" || return 1
  printf '%s\n' "$TK_PI"
}

# tk_pinfo_v PID: the same into TK_PI, without a subshell; from the process table taken by
# tk_snap_take when there is one (a status call looks at many processes: one ps for all).
tk_pinfo_v() {
  local pid=$1 s st rest
  TK_PI=''
  case $pid in '' | *[!0-9]*) return 1 ;; esac
  if [ -n "${TK_PS_SNAP:-}" ]; then
    # The same pid again (a run's runner is also its lock's owner): the answer already worked out.
    if [ "$pid" = "${TK_PI_MEMO_PID:-}" ]; then
      TK_PI=$TK_PI_MEMO
      return 0
    fi
    tk_snap_pid "$pid" || return 1
    tk_snap_need
    s=${TK_PSA[pid]:-}
    [ -n "$s" ] || return 1
    set -f
    # shellcheck disable=SC2086
    set -- $s
    set +f
    [ $# -gt 2 ] || return 1
    st=$1
    shift 2 # stat, etime
    s=$*
  else
    s=$(LC_ALL=C TZ=UTC0 ps -o stat=,lstart= -p "$pid" 2>/dev/null) || return 1
    set -f
    # shellcheck disable=SC2086
    set -- $s
    set +f
    [ $# -gt 1 ] || return 1
    st=$1
    shift
    s=$*
  fi
  if [ -r "/proc/$pid/stat" ] && { IFS= read -r rest <"/proc/$pid/stat"; } 2>/dev/null && [ -n "$rest" ]; then
    rest=${rest##*) } # the fields after the command name, which may hold spaces and parentheses
    set -f
    # shellcheck disable=SC2086
    set -- $rest
    set +f
    if [ $# -ge 20 ]; then
      TK_PI="$st t:${20}"
      [ -z "${TK_PS_SNAP:-}" ] || TK_PI_MEMO_PID=$pid TK_PI_MEMO=$TK_PI
      return 0
    fi
  fi
  TK_PI="$st u:$s"
  [ -z "${TK_PS_SNAP:-}" ] || TK_PI_MEMO_PID=$pid TK_PI_MEMO=$TK_PI
}

# shellcheck disable=SC2034  # used by run.bash
TK_NL='
'

# tk_snap_take: one process table for the calls that follow ("pid stat etime lstart" lines in
# TK_PS_RAW, lstart in UTC and the C locale), for tk_pinfo_v and tk_uptime_v, and for the status
# awk that judges many live runs at once. The bash table (TK_PSA, by pid) is built on first use
# (tk_snap_need): a status call whose runs awk judges never builds it. tk_snap_drop forgets it.
tk_snap_take() {
  TK_PSA=() TK_PSA_BUILT='' TK_PS_SNAP='' TK_PI_MEMO_PID=''
  TK_PS_RAW=$(LC_ALL=C TZ=UTC0 ps -A -o pid=,stat=,etime=,lstart= 2>/dev/null) || TK_PS_RAW=''
  # A ps that cannot list the table so (it lists this shell at least): ask pid by pid, as before.
  case $TK_PS_RAW in *[0-9]*) TK_PS_SNAP=1 ;; esac
}

# tk_snap_need: TK_PSA from TK_PS_RAW, once per snapshot.
tk_snap_need() {
  local pid rest
  [ -z "${TK_PSA_BUILT:-}" ] || return 0
  TK_PSA_BUILT=1
  while read -r pid rest; do
    case $pid in '' | 0* | *[!0-9]*) continue ;; esac
    TK_PSA[pid]=$rest
  done <<EOF
$TK_PS_RAW
EOF
}

tk_snap_drop() {
  TK_PS_SNAP='' TK_PSA=() TK_PSA_BUILT='' TK_PS_RAW='' TK_PI_MEMO_PID=
}

# The start time as locks written before identities had a kind recorded it: lstart in the
# caller's TZ. Only for comparing with such a lock, never written anew.
tk_pstart_legacy() {
  ps -o lstart= -p "$1" 2>/dev/null | awk '{ $1 = $1; print }'
}

# Start time of a live (non-zombie) pid.
tk_pstart() {
  tk_pstart_v "$1" || return 1
  printf '%s\n' "$TK_PS"
}

# tk_pstart_v PID: the same into TK_PS, without a subshell.
tk_pstart_v() {
  TK_PS=''
  tk_pinfo_v "$1" || return 1
  case $TK_PI in Z*) return 1 ;; esac
  TK_PS=${TK_PI#* }
}

# tk_ps_snapshot: tk_snap_take for a report that judges many lock owners; _TK_SNAP=1 when the
# table could be read (else tk_owner_alive and the report ask pid by pid, as before).
tk_ps_snapshot() {
  tk_snap_take
  _TK_SNAP=${TK_PS_SNAP:-}
}

# tk_snap_pid PID: a pid the snapshot can be asked about: 1-10 digits, no leading zero (an
# array index is arithmetic: "08" would be an error, "1+1" something else).
tk_snap_pid() {
  case $1 in '' | 0* | *[!0-9]*) return 1 ;; esac
  [ "${#1}" -le 10 ]
}

# tk_snap_has PID: PID is in the snapshot's process table (a zombie included, as ps -p has it).
tk_snap_has() {
  tk_snap_pid "$1" || return 1
  tk_snap_need
  [ -n "${TK_PSA[$1]:-}" ]
}

# True when PID is alive and was started at START (so a reused PID is not the owner).
tk_owner_alive() {
  [ -n "$2" ] || return 1
  tk_pstart_v "$1" || return 1
  case $2 in
  t:* | u:*) [ "$TK_PS" = "$2" ] ;;
  *) [ "$(tk_pstart_legacy "$1")" = "$2" ] ;;
  esac
}

# [[dd-]hh:]mm:ss -> seconds
tk_etime_s() {
  tk_etime_v "$1"
  echo "$TK_ET"
}

# tk_etime_v ETIME: the same into TK_ET.
tk_etime_v() {
  local e=$1 d=0 h=0 m=0 s=0 a b c
  case $e in *-*)
    d=${e%%-*}
    e=${e#*-}
    ;;
  esac
  a=${e%%:*}
  e=${e#*:}
  b=${e%%:*}
  case $e in *:*) c=${e#*:} ;; *) c='' ;; esac
  if [ -n "$c" ]; then h=$a m=$b s=$c; else m=$a s=${b:-0}; fi
  TK_ET=$((10#$d * 86400 + 10#$h * 3600 + 10#$m * 60 + 10#$s))
}

tk_uptime_s() {
  tk_uptime_v "$1" || return 1
  echo "$TK_ET"
}

# tk_uptime_v PID: seconds since PID started, into TK_ET (from tk_snap_take's table when taken).
tk_uptime_v() {
  local e
  case $1 in '' | *[!0-9]*) return 1 ;; esac
  if [ -n "${TK_PS_SNAP:-}" ]; then
    tk_snap_pid "$1" || return 1
    tk_snap_need
    e=${TK_PSA[$1]:-}
    set -f
    # shellcheck disable=SC2086
    set -- $e # stat, etime, lstart...
    set +f
    e=${2:-}
  else
    e=$(ps -o etime= -p "$1" 2>/dev/null) || return 1
    e=${e// /}
  fi
  [ -n "$e" ] || return 1
  tk_etime_v "$e"
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

# tk_is_python PID: the process runs a python interpreter: its command name, or the basename of
# the first word of its args (a launcher such as torchrun or accelerate is a python script whose
# command name is its own: its args start with the interpreter), begins with "python", in any
# case (macOS's framework build is "Python").
tk_is_python() {
  local comm args
  comm=$(ps -o comm= -p "$1" 2>/dev/null) || return 1
  args=$(ps -ww -o args= -p "$1" 2>/dev/null) || args=''
  args=${args%% *}
  printf '%s\n%s\n' "${comm##*/}" "${args##*/}" | awk 'tolower($0) ~ /^python/ { y = 1 } END { exit !y }'
}
