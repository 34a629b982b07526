# shellcheck shell=bash
# shellcheck disable=SC2034  # globals (TK_*) are the results callers read
# The cause of a run's end, named from its log's tail: what a tired person can act on at 3 a.m.
# Sourced: defines functions only; no options set, nothing created, nothing run.
#
# tk_cause reads at most the last TK_CAUSE_TAIL bytes of the run's log (and of the rotated log
# before it when the current one is short), only what the latest start printed, and names the
# cause in one line of at most TK_CAUSE_MAX bytes. In this order, within the last traceback that
# is not a launcher's (torchrun's ChildFailedError, accelerate's CalledProcessError): when the
# launcher names a root-cause rank, only that rank's ([rankN]:) lines count:
#   CUDA out of memory (with the allocation it tried) > No space left on device > CUDA error: ...
#   > NCCL errors and timeouts > a NaN or inf loss as the last value printed > the error line
#   (SomethingError: message) > killed by SIGKILL tmuxkit did not send (the host's OOM killer,
#   from the kernel log where it can be read) > a segfault > a 'Killed' line > exit N or signal S.
# A clean exit (0) is 'exit 0' (or the NaN loss it ended on), whatever errors were caught before.

TK_CAUSE_TAIL=65536
TK_CAUSE_MAX=300

# tk_cause LOG RC [STOP_RUNG] [PID]: print the cause of an end with exit status RC (the shell's:
# 128+N for signal N). STOP_RUNG is the rung of tmuxkit's own stop, if it stopped the run; PID the
# command's pid (for the kernel log).
tk_cause() {
  local log=$1 rc=${2:-} rung=${3:-} pid=${4:-} size=0 kern=''
  case $rc in '' | *[!0-9]*) rc='' ;; esac
  [ ! -f "$log" ] || size=$(wc -c <"$log" 2>/dev/null | tr -d ' ') || size=0
  case $size in '' | *[!0-9]*) size=0 ;; esac
  # A SIGKILL that tmuxkit did not send: the kernel log says whether the OOM killer sent it.
  if [ "$rc" = 137 ] && [ "$rung" != kill ] && [ -n "$pid" ]; then
    kern=$(dmesg 2>/dev/null | grep -E "(Killed process |oom-kill.*pid=)${pid}[^0-9]" 2>/dev/null | tail -n 1) || kern=''
  fi
  {
    if [ "$size" -lt "$TK_CAUSE_TAIL" ] && [ -f "$log.1" ] && [ ! -L "$log.1" ]; then
      tail -c "$((TK_CAUSE_TAIL - size))" -- "$log.1" 2>/dev/null
    fi
    [ ! -f "$log" ] || tail -c "$TK_CAUSE_TAIL" -- "$log" 2>/dev/null
  } | LC_ALL=C awk -v rc="$rc" -v rung="$rung" -v kern="$kern" -v max="$TK_CAUSE_MAX" "$_TK_CAUSE_AWK"
}

# tk_cause_write RUNDIR RC: the cause of the run's end, computed once, into RUNDIR/cause.
tk_cause_write() {
  local d=$1 rc=$2 rung='' pid='' log=''
  [ ! -f "$d/stopped" ] || read -r rung _ <"$d/stopped" 2>/dev/null || true
  [ ! -f "$d/pid" ] || read -r pid <"$d/pid" 2>/dev/null || true
  log=$(awk -F= '$1 == "log" { sub(/^log=/, ""); print; exit }' "$d/meta" 2>/dev/null) || log=''
  tk_write "$d/cause" "$(tk_cause "$log" "$rc" "$rung" "$pid")$TK_NL"
}

# shellcheck disable=SC2016  # an awk program: its $ are awk's
# The reader. Lines arrive as the log writer wrote them (escapes already dropped); a '\r' left in
# one is a redraw, and only what follows the last one is the line.
_TK_CAUSE_AWK='
function sig(n) {
  return n == 1 ? "SIGHUP" : n == 2 ? "SIGINT" : n == 3 ? "SIGQUIT" : n == 4 ? "SIGILL" : \
    n == 6 ? "SIGABRT" : n == 7 ? "SIGBUS" : n == 8 ? "SIGFPE" : n == 9 ? "SIGKILL" : \
    n == 11 ? "SIGSEGV" : n == 13 ? "SIGPIPE" : n == 15 ? "SIGTERM" : n == 24 ? "SIGXCPU" : \
    n == 25 ? "SIGXFSZ" : "signal " n
}
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
function launcher(s) {
  return s ~ /ChildFailedError/ || (s ~ /^subprocess\.CalledProcessError: Command / && s ~ /returned non-zero exit status/)
}
function errline(s) {
  return s ~ /^[A-Za-z_][A-Za-z0-9_.]*(Error|Exception|Interrupt|Exit)(: |:$|$)/ && s !~ /^(Traceback|During handling)/
}
function cut(s,   t) {
  gsub(/[\001-\010\013-\037\177]/, "", s)
  s = trim(s)
  if (length(s) <= max) return s
  t = substr(s, 1, max - 3)
  # never half a UTF-8 character
  sub(/[\300-\367][\200-\277]*$/, "", t)
  return t "..."
}
{
  sub(/\r+$/, "")
  if (index($0, "\r")) sub(/^.*\r/, "")
  if ($0 ~ /^\[tmuxkit\] run [^ ]+ started /) { n = 0; rootrank = ""; inroot = 0; next }
  if ($0 ~ /^\[tmuxkit\] /) next
  line = $0; rk = ""
  if (match(line, /^\[rank[0-9]+\]: ?/)) {
    rk = substr(line, 6, RLENGTH - 6); sub(/\].*$/, "", rk)
    line = substr(line, RLENGTH + 1)
  } else if (match(line, /^\[default[0-9]+\]:/)) {
    rk = substr(line, 9, RLENGTH - 10); line = substr(line, RLENGTH + 1)
  }
  n++; T[n] = line; R[n] = rk
  if (line ~ /^Root Cause \(first observed failure\):/) inroot = 1
  else if (inroot && match(line, /^ *rank *: *[0-9]+/)) { v = substr(line, RSTART, RLENGTH); sub(/^.*: */, "", v); rootrank = v; inroot = 0 }
}
END {
  # The lines that count: the root-cause rank'"'"'s, when the launcher named one and it printed.
  m = 0
  if (rootrank != "") for (i = 1; i <= n; i++) if (R[i] == rootrank) L[++m] = T[i]
  if (m == 0) { for (i = 1; i <= n; i++) L[i] = T[i]; m = n; rootrank = "" }
  # The last error line that is not a launcher'"'"'s, and the traceback it ends.
  e = 0
  for (i = m; i >= 1; i--) if (errline(L[i]) && !launcher(L[i])) { e = i; break }
  from = 1
  if (e) for (i = e; i >= 1; i--) if (L[i] ~ /^Traceback \(most recent call last\)/) { from = i; break }
  oom = ""; nospace = ""; cuda = ""; nccl = ""; nan = ""; killed = 0; segv = 0
  for (i = from; i <= m; i++) {
    s = L[i]
    if (s ~ /CUDA out of memory|OutOfMemoryError|CUDA error: out of memory/) {
      oom = "CUDA out of memory"
      if (match(s, /Tried to allocate [0-9.]+ *[KMGT]?i?B/)) { t = substr(s, RSTART, RLENGTH); sub(/^Tried/, "tried", t); oom = oom " (" t ")" }
    } else if (s ~ /No space left on device/) {
      nospace = s; sub(/^.*No space left on device/, "No space left on device", nospace)
    } else if (match(s, /CUDA error: .*/)) {
      cuda = substr(s, RSTART, RLENGTH)
    }
    if (s ~ /Watchdog caught collective operation timeout/) {
      if (nccl !~ /Watchdog/) { t = s; sub(/^.*Watchdog caught/, "Watchdog caught", t); nccl = "NCCL timeout: " t }
    } else if (nccl !~ /Watchdog/ && s ~ /NCCL/ && s ~ /[Tt]imeout|timed out|timing out/) {
      t = s; if (match(t, /Watchdog caught collective operation timeout.*/)) t = substr(t, RSTART, RLENGTH)
      nccl = "NCCL timeout: " t
    } else if (nccl !~ /^NCCL timeout/ && (s ~ /NCCL (error|WARN)|ncclInternalError|ncclSystemError|ncclUnhandledCudaError|ncclInvalidUsage|ncclRemoteError/)) {
      t = s; if (match(t, /NCCL error.*/)) t = substr(t, RSTART, RLENGTH)
      nccl = "NCCL error: " t; sub(/^NCCL error: NCCL error/, "NCCL error", nccl)
    }
    if (s ~ /^(.*[: ])?Killed$/) killed = 1
    if (s ~ /Segmentation fault/) segv = 1
  }
  # A NaN or inf loss as the last value printed (anywhere in the tail: a trainer that stops on a
  # NaN often raises nothing).
  for (i = m; i >= 1 && nan == ""; i--) {
    s = L[i]
    if (match(s, /loss['"'"'"]?[=:]? *['"'"'"]?[-+]?[A-Za-z0-9.]+/)) {
      t = substr(s, RSTART, RLENGTH); sub(/^loss['"'"'"]?[=:]? *['"'"'"]?/, "", t)
      if (tolower(t) ~ /^[-+]?(nan|inf|infinity)$/) nan = "loss became " (tolower(t) ~ /nan/ ? "NaN" : "inf")
      else if (t ~ /^[-+]?[0-9.]+(e[-+]?[0-9]+)?$/) break
    }
  }
  # A clean exit is no crash: an error the trainer caught and survived is not its cause (a NaN
  # loss it ended on still is named).
  if (rc == "0") { print (nan != "" ? nan : "exit 0"); exit }
  r = ""
  if (oom != "") r = oom
  else if (nospace != "") r = nospace
  else if (cuda != "") r = cuda
  else if (nccl != "") r = nccl
  else if (nan != "") r = nan
  else if (e) r = L[e]
  if (r == "" && rc == 137 && rung != "kill") {
    if (kern != "") r = "killed by the host'"'"'s out-of-memory killer (" trim(kern) ")"
    else r = "killed by SIGKILL that tmuxkit did not send (the host'"'"'s out-of-memory killer, most likely)"
  }
  if (r == "" && (rc == 139 || segv)) r = "segmentation fault (SIGSEGV)"
  if (r == "" && killed) r = "killed (a Killed line: SIGKILL, often the host'"'"'s out-of-memory killer)"
  if (r == "" && e == 0) for (i = m; i >= 1; i--) if (errline(L[i])) { r = L[i]; break }
  if (r == "" && rc != "") r = rc > 128 && rc < 160 ? "signal " (rc - 128) " (" sig(rc - 128) ")" : "exit " rc
  if (r != "" && rootrank != "") r = r " (rank " rootrank ")"
  if (r != "") print cut(r)
}'
