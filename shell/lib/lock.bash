# shellcheck shell=bash
# shellcheck disable=SC2034  # globals (TK_*, LK_*, R_*, S_*) are the results callers read
# The results lock.
# Sourced: defines functions only; no options set, nothing created, nothing run.

# --- locks -----------------------------------------------------------------------
# A lock is a file of key=value lines: pid, start (the owner's process start
# time), host, run, session, run_id, created. It is created whole and at once:
# written to a temp file in a private directory, then hard-linked into place,
# which fails if anything exists there, a symlink included (see tk_lock_acquire).

# tk_lock_read FILE: sets LK_PID LK_START LK_HOST LK_RUN LK_SESSION LK_RUN_ID; 1 if garbage.
# One read of at most 4 KiB, taken apart in the shell: no process started (a report reads thousands).
tk_lock_read() {
  local c='' line IFS=$'\n'
  LK_PID='' LK_START='' LK_HOST='' LK_RUN='' LK_SESSION='' LK_RUN_ID='' LK_CREATED=''
  { IFS= read -r -d '' -n 4096 c <"$1" || true; } 2>/dev/null
  set -f
  # shellcheck disable=SC2086  # split into lines (IFS is a newline here), no globbing
  set -- $c
  set +f
  for line in "$@"; do
    case $line in
    pid=*) LK_PID=${line#pid=} ;;
    start=*) LK_START=${line#start=} ;;
    host=*) LK_HOST=${line#host=} ;;
    run=*) LK_RUN=${line#run=} ;;
    session=*) LK_SESSION=${line#session=} ;;
    run_id=*) LK_RUN_ID=${line#run_id=} ;;
    created=*) LK_CREATED=${line#created=} ;;
    esac
  done
  case $LK_PID in '' | *[!0-9]*) return 1 ;; esac
  [ -n "$LK_START" ]
}

# tk_lock_state FILE: sets LK_STATE to free | symlink | notfile | garbage | alive
# | stale, and LK_* to the owner. (Not for $(...): the fields would be lost.)
# A lock written on another host (its host= field names another machine: a results folder on a
# shared filesystem) is never judged by a PID here: it is alive (LK_ELSEWHERE=1), so never stale
# and never removed; its owner, or a person on that host, frees it.
tk_lock_state() {
  LK_PID='' LK_START='' LK_HOST='' LK_RUN='' LK_SESSION='' LK_RUN_ID='' LK_CREATED='' LK_ELSEWHERE=''
  if [ -L "$1" ]; then
    LK_STATE=symlink
  elif [ ! -e "$1" ]; then
    LK_STATE=free
  elif [ ! -f "$1" ]; then
    LK_STATE=notfile
  elif ! tk_lock_read "$1"; then
    LK_STATE=garbage
  elif tk_lock_elsewhere "$LK_HOST"; then
    LK_STATE=alive LK_ELSEWHERE=1
  elif tk_owner_alive "$LK_PID" "$LK_START"; then
    LK_STATE=alive
  else
    LK_STATE=stale
  fi
}

# tk_lock_elsewhere HOST: HOST (a lock's host= field) names another machine than this one. A
# lock with no host, or "unknown" (its writer could not tell), is judged here, as before. Names
# compare whole, or by their first label when one of them is a bare name (node1 and node1.cluster
# are one host); two qualified names that differ are two hosts (gpu1.clusterA is not gpu1.clusterB:
# two clusters' nodes on one shared filesystem, where a live lock of the other was judged by a PID
# here, found stale and removed).
tk_lock_elsewhere() {
  case $1 in '' | unknown) return 1 ;; esac
  tk_hostname_v
  [ -n "$TK_HOSTNAME" ] || return 1
  [ "$1" != "$TK_HOSTNAME" ] || return 1
  case $1 in *.*) ;; *) [ "$1" != "${TK_HOSTNAME%%.*}" ]; return ;; esac
  case $TK_HOSTNAME in *.*) ;; *) [ "${1%%.*}" != "$TK_HOSTNAME" ]; return ;; esac
  return 0
}

# tk_hostname_v: TK_HOSTNAME, this host's name as a lock records it (hostname(1)), read once a
# process: from /proc where there is one (no process started), else hostname(1). Never $HOSTNAME:
# an environment can carry another host's (sbatch exports the submitting host's).
tk_hostname_v() {
  [ -z "${TK_HOSTNAME:-}" ] || return 0
  TK_HOSTNAME=''
  if [ -r "/proc/sys/kernel/hostname" ]; then { IFS= read -r TK_HOSTNAME </proc/sys/kernel/hostname || true; } 2>/dev/null; fi
  [ -n "$TK_HOSTNAME" ] || TK_HOSTNAME=$(hostname 2>/dev/null) || TK_HOSTNAME=''
}

# tk_lock_elsewhere_hint LOCK: for a lock of another host (LK_ELSEWHERE, from tk_lock_state), what
# to do about it: nothing here can tell whether its owner lives; nothing, otherwise.
tk_lock_elsewhere_hint() {
  [ -n "${LK_ELSEWHERE:-}" ] || return 0
  printf ' (whether its owner lives cannot be told from here; if no run on %s holds it, remove it by hand: rm %s)' \
    "$LK_HOST" "$(tk_sq "$1")"
}

# Remove a stale lock, guarded by a mkdir mutex so two reclaimers never remove
# a lock that a third party has freshly taken. 0 removed; 1 busy (another reclaimer);
# 2 it cannot be removed by this user (TK_ERR says why).
tk_lock_reclaim() {
  local lock=$1 m="$1.reclaim" pid=$2 start=$3 age rc=0
  if tk_lock_unremovable "$lock"; then
    return 2
  fi
  if ! mkdir "$m" 2>/dev/null; then
    age=$(($(date +%s) - $(tk_stat mtime "$m" 2>/dev/null || date +%s)))
    [ "$age" -gt 10 ] && rmdir "$m" 2>/dev/null
    return 1
  fi
  tk_lock_state "$lock"
  if [ "$LK_STATE" = stale ] && [ "$LK_PID" = "$pid" ] && [ "$LK_START" = "$start" ]; then
    if ! rm -f "$lock" 2>/dev/null && { [ -e "$lock" ] || [ -L "$lock" ]; }; then
      TK_ERR="stale lock of dead $(tk_lock_describe) cannot be removed by $(id -un 2>/dev/null || echo you); remove it by hand: $lock"
      rc=2
    fi
  fi
  rmdir "$m"
  return "$rc"
}

# tk_lock_unremovable LOCK: true (and TK_ERR says so) when LOCK (stale, LK_* loaded) sits in a
# sticky directory (like /tmp) and belongs to another user: only its owner or root may remove it,
# so waiting for it is pointless.
tk_lock_unremovable() {
  local dir owner who
  case $1 in */*) dir=${1%/*} ;; *) dir=. ;; esac
  [ -n "$dir" ] || dir=/
  [ "${EUID:-$(id -u)}" != 0 ] && [ -k "$dir" ] && [ ! -O "$1" ] || return 1
  owner=$(tk_stat owner "$1" 2>/dev/null) || owner="uid $(tk_stat uid "$1" 2>/dev/null || echo '?')"
  who="$owner or root"
  if [ "$owner" = root ]; then who=root; fi
  TK_ERR="stale lock owned by $owner (pid $LK_PID not running) in a sticky directory; ask $who to remove $1"
}

# "PID 123 (run x, started 2h05m ago)": when, from the lock's wall-clock "created" (its "start"
# is the owner's identity, clock ticks since boot, which say nothing to a reader).
tk_lock_describe() {
  local when=$LK_START s
  case $LK_CREATED in '' | *[!0-9]*) ;; *)
    s=$(($(date +%s) - LK_CREATED))
    [ "$s" -ge 0 ] || s=0
    if [ "$s" -lt 60 ]; then when="${s}s ago"
    elif [ "$s" -lt 3600 ]; then when="$((s / 60))m ago"
    elif [ "$s" -lt 86400 ]; then when="$((s / 3600))h$(printf '%02d' $((s % 3600 / 60)))m ago"
    else when="$((s / 86400))d$((s % 86400 / 3600))h ago"; fi
    ;;
  esac
  printf 'PID %s%s (run %s, started %s)' "$LK_PID" "${LK_ELSEWHERE:+ on host $LK_HOST}" "${LK_RUN:-?}" "$when"
}

# tk_lock_ours LOCK TMP: LOCK itself (not followed) is a regular file and the same inode as TMP.
tk_lock_ours() {
  [ ! -L "$1" ] && [ -f "$1" ] && [ "$1" -ef "$2" ] && [ ! -L "$1" ]
}

# tk_lock_acquire LOCK PID START RUN SESSION RUN_ID
# 0 on success (TK_NOTE says if a stale lock was reclaimed); else an exit code and TK_ERR.
# The lock is written whole in a private directory (mktemp -d: 0700, ours, so nothing can be
# planted at the temp path), then hard-linked into place: link(2) never follows a symlink at the
# lock path and fails if anything is there. A directory at the lock path (or a symlink to one,
# with an ln that has no -n) would take the link INSIDE it: so success counts only when the lock
# path itself is a regular file with the temp file's inode; anything else is refused, and a link
# that landed inside a directory is taken out again.
tk_lock_acquire() {
  local lock=$1 pid=$2 start=$3 run=$4 session=$5 run_id=$6 dir tdir tmp tries=0 rc ln_n=''
  TK_ERR='' TK_NOTE=''
  case $lock in */*) dir=${lock%/*} ;; *) dir=. ;; esac
  [ -n "$dir" ] || dir=/
  if ! tdir=$(mktemp -d "$dir/.tmuxkit-lock.XXXXXX" 2>/dev/null) || [ -z "$tdir" ]; then
    TK_ERR="cannot write lock file next to $lock"
    return "$EX_FAIL"
  fi
  tmp="$tdir/${tdir##*/}"
  if ! printf 'pid=%s\nstart=%s\nhost=%s\nrun=%s\nsession=%s\nrun_id=%s\ncreated=%s\n' \
    "$pid" "$start" "$(hostname 2>/dev/null || echo unknown)" "$run" "$session" "$run_id" "$(date +%s)" >"$tmp" 2>/dev/null; then
    rm -rf "$tdir"
    TK_ERR="cannot write lock file next to $lock"
    return "$EX_FAIL"
  fi
  # ln -n (GNU, BSD, busybox): a symlink to a directory at the destination is not followed.
  ln -n "$tmp" "$tdir/probe" 2>/dev/null && ln_n=-n
  rm -f "$tdir/probe"
  while :; do
    if ln $ln_n "$tmp" "$lock" 2>/dev/null; then
      if tk_lock_ours "$lock" "$tmp"; then
        rm -rf "$tdir"
        return 0
      fi
      # The link went inside whatever is at the lock path: take it out again, and refuse.
      if [ -e "$lock/${tmp##*/}" ] && [ ! -L "$lock/${tmp##*/}" ] && [ "$lock/${tmp##*/}" -ef "$tmp" ]; then
        rm -f "$lock/${tmp##*/}"
      fi
    fi
    tk_lock_state "$lock"
    case $LK_STATE in
    free) ;;
    alive)
      rm -rf "$tdir"
      TK_ERR="locked by $(tk_lock_describe): $lock$(tk_lock_elsewhere_hint "$lock")"
      return "$EX_LOCKED"
      ;;
    stale)
      rc=0
      tk_lock_reclaim "$lock" "$LK_PID" "$LK_START" || rc=$?
      case $rc in
      0) TK_NOTE="reclaimed stale lock of dead $(tk_lock_describe): $lock" ;;
      2)
        rm -rf "$tdir"
        return "$EX_BAD_LOCK"
        ;;
      esac
      ;;
    symlink)
      rm -rf "$tdir"
      TK_ERR="lock path is a symlink; refusing to follow it: $lock"
      return "$EX_BAD_LOCK"
      ;;
    notfile)
      rm -rf "$tdir"
      TK_ERR="lock path is not a regular file (a directory?); refusing it: $lock"
      return "$EX_BAD_LOCK"
      ;;
    *)
      rm -rf "$tdir"
      TK_ERR="lock file is not a valid tmuxkit lock (garbage); inspect and remove it by hand: $lock"
      return "$EX_BAD_LOCK"
      ;;
    esac
    tries=$((tries + 1))
    if [ "$tries" -ge 200 ]; then
      rm -rf "$tdir"
      TK_ERR="could not take lock (contended): $lock"
      return "$EX_LOCKED"
    fi
    sleep 0.05
  done
}

# tk_foreign_lock_pid FILE: the PID a hand-made training.lock holds (FL_PID, see
# tk_foreign_lock_parse), if any; fails when it has none, or when it names another host (a PID
# there says nothing about this host's processes).
tk_foreign_lock_pid() {
  local c=''
  [ -f "$1" ] && [ ! -L "$1" ] || return 1
  { IFS= read -r -d '' -n 4096 c <"$1" || true; } 2>/dev/null
  tk_foreign_lock_parse "$c"
  [ -n "$FL_PID" ] && [ -z "$FL_HOST" ] || return 1
  printf '%s\n' "$FL_PID"
}

# tk_foreign_lock_parse CONTENT: what a hand-made training.lock says, read by the shell alone (a
# report reads many). FL_PID: its first number that is a word of its own ("node17" holds none).
# FL_HOST: the first word in it that may name another host: one with a letter in it that is not
# a usual key (pid, host, user, started...) nor this host's name, or an IPv4 address other than
# 127.0.0.1. A lock that names another host is never judged by a local PID: its owner may live
# there (a shared filesystem), and removing it would let two trainers write one results folder.
tk_foreign_lock_parse() {
  local w words ncm=0 LC_ALL=C
  FL_PID='' FL_HOST=''
  if [ -z "${TK_ME_NAMES:-}" ]; then
    w=$(hostname 2>/dev/null) || w=''
    TK_ME_NAMES=" $w ${w%%.*} localhost localhost.localdomain "
  fi
  words=${1//[!A-Za-z0-9_.-]/ }
  shopt -q nocasematch && ncm=1
  shopt -s nocasematch
  set -f
  # shellcheck disable=SC2086  # split into words, no globbing
  set -- $words
  set +f
  for w in "$@"; do
    case $w in
    *[!0-9]*) ;;
    *)
      [ -n "$FL_PID" ] || FL_PID=$w
      continue
      ;;
    esac
    if [[ $w =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
      [ "$w" = 127.0.0.1 ] || { [ -n "$FL_HOST" ] || FL_HOST=$w; }
      continue
    fi
    case $w in *[A-Za-z]*) ;; *) continue ;; esac
    case $w in
    pid | ppid | host | hostname | node | nodename | user | owner | by | on | at | started | start | created | time | date | lock | locked | job | jobid | run) continue ;;
    esac
    case $TK_ME_NAMES in *" $w "* | *" ${w%%.*} "*) continue ;; esac
    [ -n "$FL_HOST" ] || FL_HOST=$w
  done
  [ "$ncm" = 1 ] || shopt -u nocasematch
  return 0
}

# tk_pid_alive PID: a live, non-zombie process.
tk_pid_alive() {
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  case $st in '' | *Z*) return 1 ;; esac
}

# tk_lock_release LOCK PID START: remove LOCK only if PID/START own it.
tk_lock_release() {
  [ -L "$1" ] && return 1
  [ -f "$1" ] || return 0
  tk_lock_read "$1" || return 1
  ! tk_lock_elsewhere "$LK_HOST" || return 1
  [ "$LK_PID" = "$2" ] && [ "$LK_START" = "$3" ] || return 1
  rm -f "$1"
}
