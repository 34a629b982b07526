# shellcheck shell=bash
# shellcheck disable=SC2034  # globals (TK_*, LK_*, R_*, S_*) are the results callers read
# Runs: their state files, state, log pipe and JSON.
# Sourced: defines functions only; no options set, nothing created, nothing run.

# --- runs ---------------------------------------------------------------------------
# $TMUXKIT_HOME/runs/RUN/ holds: meta (key=value), cmd, env, runner ("pid\nstart"),
# pid (the command's pid), exit ("code end_epoch"), stopped ("rung epoch"), logs/.

# tk_run_load_or_die HOME RUN: check the name, then load $HOME/runs/RUN, or exit 4 naming the host.
tk_run_load_or_die() {
  tk_check_run "$2"
  [ -f "$1/$TK_RUNS_DIR/$2/meta" ] || tk_die "$EX_NOT_FOUND" "no run named '$2' on $(tk_here)"
  tk_run_load "$1/$TK_RUNS_DIR/$2"
}

# tk_run_load RUNDIR: sets R_* from meta and the state files.
tk_run_load() {
  local d=$1 line m='' IFS=$TK_NL
  R_DIR=$d R_RUN='' R_CWD='' R_RESULTS='' R_LOCK='' R_LOG='' R_STARTED='' R_RUN_ID=''
  R_SOCKET='' R_UMASK='' R_METRICS='' R_STUCK_AFTER=$TK_DEF_STUCK_AFTER R_LOG_MAX=$TK_DEF_LOG_MAX_BYTES R_LOG_KEEP=$TK_DEF_LOG_KEEP
  # The whole file in one read, split into lines (a status call loads many runs).
  { read -r -d '' m <"$d/meta" || true; } 2>/dev/null
  set -f
  # shellcheck disable=SC2086  # split into lines (IFS is a newline here), no globbing
  set -- $m
  set +f
  IFS=$' \t\n'
  for line in "$@"; do
    case $line in
    run=*) R_RUN=${line#run=} ;;
    cwd=*) R_CWD=${line#cwd=} ;;
    results=*) R_RESULTS=${line#results=} ;;
    lock=*) R_LOCK=${line#lock=} ;;
    log=*) R_LOG=${line#log=} ;;
    started_at=*) R_STARTED=${line#started_at=} ;;
    run_id=*) R_RUN_ID=${line#run_id=} ;;
    socket=*) R_SOCKET=${line#socket=} ;;
    stuck_after=*) R_STUCK_AFTER=${line#stuck_after=} ;;
    metrics=*) R_METRICS=${line#metrics=} ;;
    log_max_bytes=*) R_LOG_MAX=${line#log_max_bytes=} ;;
    log_keep=*) R_LOG_KEEP=${line#log_keep=} ;;
    umask=*) R_UMASK=${line#umask=} ;;
    esac
  done
  # Written absolute by start; a hand-edited relative one is still never an option to find or rm.
  case $R_CWD in -*) R_CWD=./$R_CWD ;; esac
  case $R_RESULTS in -*) R_RESULTS=./$R_RESULTS ;; esac
  case $R_LOCK in -*) R_LOCK=./$R_LOCK ;; esac
  case $R_LOG in -*) R_LOG=./$R_LOG ;; esac
  R_RUNNER_PID='' R_RUNNER_START='' R_PID='' R_EXIT='' R_ENDED='' R_STOP_RUNG='' R_STOP_REQ=''
  if [ -f "$d/runner" ]; then
    { IFS= read -r R_RUNNER_PID && IFS= read -r R_RUNNER_START; } <"$d/runner" || true
  fi
  [ -f "$d/pid" ] && { IFS= read -r R_PID <"$d/pid" || true; }
  [ -f "$d/exit" ] && { read -r R_EXIT R_ENDED <"$d/exit" || true; }
  if [ -f "$d/stopped" ]; then
    R_STOP_REQ=1
    read -r R_STOP_RUNG _ <"$d/stopped" || true
  fi
  return 0
}

# tmux socket for a loaded run: the one it was started on.
tk_run_tmux() {
  TMUXKIT_SOCKET=$R_SOCKET tk_tmux "$@"
}

tk_runner_alive() {
  tk_owner_alive "$R_RUNNER_PID" "$R_RUNNER_START"
}

# tk_python_v VAR HOME: VAR = the python3 (3.6+) interpreter itself, not a wrapper found on PATH (a
# pyenv shim needs the PATH that the run's env may replace, and starts a shell and pyenv each time:
# about half a second on a busy box). Asked once (python3 -I -S: no site, no user env), then kept in
# HOME/python with the wrapper it came from; asked again when `command -v python3` names another one
# or the one kept is no longer an executable file. 1: no python3 3.6+ here.
tk_python_v() {
  local _w _k='' _p='' _f="$2/python"
  _w=$(command -v python3 2>/dev/null) || return 1
  # Trusted only when it is this user's own file and names a python (a planted or corrupt one that
  # names /bin/false or another program made every run "exit 1" with no line, or not run at all).
  if [ -f "$_f" ] && [ ! -L "$_f" ] && [ -O "$_f" ]; then
    { IFS= read -r _k && IFS= read -r _p; } <"$_f" 2>/dev/null || _p=''
    case $_p in /*/python | /*/python[0-9]*) ;; *) _p='' ;; esac
    case ${_p##*/} in *[!A-Za-z0-9.]*) _p='' ;; esac
    if [ "$_k" = "$_w" ] && [ -n "$_p" ] && [ -f "$_p" ] && [ -x "$_p" ]; then
      eval "$1=\$_p"
      return 0
    fi
  fi
  _p=$("$_w" -I -S -c 'import sys; print(sys.executable) if sys.version_info >= (3, 6) else sys.exit(1)' 2>/dev/null) || return 1
  case $_p in /*) ;; *) return 1 ;; esac
  [ -x "$_p" ] || return 1
  case $_w$_p in *$'\n'*) ;; *) [ -L "$_f" ] || tk_write "$_f" "$_w$TK_NL$_p$TK_NL" || true ;; esac
  eval "$1=\$_p"
}

# Pipe the run's pane into the log writer. $1: "gap" to write a gap marker first.
# TK_BIN (set by the entry point) is where the tmuxkit-* scripts are.
tk_pipe_log() {
  local w
  # tmux runs this with its server's umask; the log gets the umask of the user who started the run.
  case $R_UMASK in [0-7][0-7][0-7] | [0-7][0-7][0-7][0-7]) ;; *) R_UMASK=077 ;; esac
  case $R_METRICS in *[!A-Za-z0-9_.,]*) R_METRICS='' ;; esac
  tk_private_dir "${R_LOG%/*}" "$R_RUN" || return 1
  w="${TK_NO_BASH_ENV}umask $R_UMASK; ${R_METRICS:+TMUXKIT_METRICS=$R_METRICS }exec bash $(tk_sq "$TK_BIN/tmuxkit-logwriter") $(tk_sq "$R_LOG") $R_LOG_MAX $R_LOG_KEEP ${1:-}"
  # tmux expands formats and then strftime in a pipe-pane command: each "#" and "%" doubled, so
  # a path keeps them ("#(cmd)" in a folder's name never runs cmd; "%a" is not the weekday).
  w=${w//\#/##}
  tk_run_tmux pipe-pane -t "=$R_RUN:" "${w//\%/%%}"
}

# Single-quote a word for sh, bash, dash and zsh alike.
tk_sq() {
  tk_sq_v _TK_SQ "$1"
  printf '%s' "$_TK_SQ"
}

# tk_sq_v VAR WORD: VAR=WORD single-quoted, with no subshell.
tk_sq_v() {
  local _tk_s=$2 _tk_q
  printf -v _tk_q '%s\\%s%s' "'" "'" "'" # the four characters '\''
  _tk_s=${_tk_s//"'"/$_tk_q}
  _tk_s="'$_tk_s'"
  eval "$1=\$_tk_s"
}

# The awk rule both readers of a log's last line share: tmuxkit's own "[tmuxkit] ..." lines are
# skipped, and so is a bare "^C" (the tty's echo of a stop's Ctrl-C, not the program's); a run's
# "[tmuxkit] run X started at" line begins it afresh: a new start that has printed nothing yet has
# no last line, not the previous run's.
# shellcheck disable=SC2016  # an awk program
TK_LAST_AWK='index($0, "[tmuxkit] ") == 1 { if (index($0, "[tmuxkit] run ") == 1 && index($0, " started at ")) ll = ""; next }
  $0 != "^C" { ll = $0 }'

# tk_last_line LOG: the program's last line (see TK_LAST_AWK), read from the log's last 16 KiB only
# and cut to $TK_LAST_LINE_MAX bytes, however long the line is.
tk_last_line() {
  [ -f "$1" ] || return 0
  tail -c 16384 "$1" 2>/dev/null | LC_ALL=C awk -v max="$TK_LAST_LINE_MAX" "$TK_LAST_AWK"'
    END { print substr(ll, 1, max) }' 2>/dev/null || true
}

# tk_run_quiet NOW: the run's watchdog saw it working (runs/RUN/quiet, "EPOCH EVERY WHY", see
# lib/quiet.bash) at its last look, which is at most two of its ticks (and 10 s) old: a silent run
# that works is quiet (S_QUIET), not stuck.
tk_run_quiet() {
  local f=$R_DIR/quiet at every _
  [ -f "$f" ] && [ ! -L "$f" ] || return 1
  { read -r at every _ <"$f"; } 2>/dev/null || return 1
  case $at:$every in *[!0-9:]* | :* | *:) return 1 ;; esac
  [ $(($1 - at)) -le $((2 * every + 10)) ]
}

# tk_run_state: the loaded run's state, from its files, processes and session. Sets S_STATE,
# S_HEADLESS (1: alive with no tmux session, e.g. after tmux kill-server), S_LOG_AGE (seconds since
# any output reached the pane: the newer of the log's mtime, which the python3 log writer moves on
# every byte, and tmux's own #{window_activity}, which any pane output moves, a \r redraw included,
# whatever the writer), S_LAST (the live redraw when a line is unfinished, else the program's last
# line) and S_UPTIME.
tk_run_state() {
  local now=${1:-$(date +%s)} mt='' act='' live
  S_LOG_AGE='' S_LAST='' S_UPTIME='' S_HEADLESS='' S_PIPE='' S_QUIET=''
  if [ -n "${TK_STAT_SNAP:-}" ]; then
    case $TK_STAT_SNAP in *"	$R_LOG$TK_NL"*)
      mt=${TK_STAT_SNAP%%"	$R_LOG$TK_NL"*}
      mt=${mt##*"$TK_NL"}
      mt=${mt%% *}
      ;;
    esac
  elif [ -f "$R_LOG" ]; then
    mt=$(tk_stat mtime "$R_LOG" 2>/dev/null || echo '')
  fi
  if tk_runner_alive; then
    ! tk_uptime_v "$R_RUNNER_PID" || S_UPTIME=$TK_ET
    # One tmux call: whether the session is there, and when its pane last printed anything (and,
    # with a snapshot, whether its log pipe is attached).
    if [ -n "${TK_PS_SNAP:-}" ]; then
      if tk_pane_v; then act=$TK_PANE_ACT S_PIPE=$TK_PANE_PIPE; else S_HEADLESS=1; fi
    else
      act=$(tk_run_tmux display-message -p -t "=$R_RUN:" '#{window_activity}' 2>/dev/null) || S_HEADLESS=1
    fi
    case $act in '' | *[!0-9]*) act='' ;; esac
    [ -z "$act" ] || [ -z "$mt" ] || [ "$act" -le "$mt" ] || mt=$act
    [ -n "$mt" ] || mt=$act
    [ -z "$mt" ] || S_LOG_AGE=$((now - mt))
    [ -z "$S_LOG_AGE" ] || [ "$S_LOG_AGE" -ge 0 ] || S_LOG_AGE=0
    # A live run's unfinished line (a redrawing bar), as the python3 log writer keeps it; with
    # the awk writer, the last line the pane shows.
    live=${R_LOG%"$TK_LOG_SUFFIX"}$TK_LIVE_SUFFIX
    if [ -f "$live" ] && [ ! -L "$live" ]; then
      { IFS= read -r S_LAST <"$live" || true; } 2>/dev/null
      S_LAST=${S_LAST:0:$TK_LAST_LINE_MAX}
    elif [ -z "$S_HEADLESS" ]; then
      S_LAST=$(tk_run_tmux capture-pane -p -t "=$R_RUN:" 2>/dev/null | grep -v '^\[tmuxkit\] ' |
        grep -v '^[[:space:]]*$' | tail -n 1 | cut -b "1-$TK_LAST_LINE_MAX" || true)
    fi
    # Stuck: no output for longer than stuck_after (a stuck_after that is not a number never is).
    S_STATE=$ST_RUNNING
    case $S_LOG_AGE:$R_STUCK_AFTER in *[!0-9:]* | :* | *:) ;; *)
      [ "$S_LOG_AGE" -le "$R_STUCK_AFTER" ] || S_STATE=$ST_STUCK
      ;;
    esac
    [ "$S_STATE" != "$ST_STUCK" ] || ! tk_run_quiet "$now" || S_STATE=$ST_RUNNING S_QUIET=$S_LOG_AGE
  else
    [ -z "$mt" ] || S_LOG_AGE=$((now - mt))
    # The runner may have recorded its end and gone between tk_run_load and now: read it again
    # before calling the run dead with no recorded exit.
    if [ -z "$R_EXIT" ] && [ -f "$R_DIR/exit" ]; then read -r R_EXIT R_ENDED <"$R_DIR/exit" || true; fi
    if [ -z "$R_STOP_REQ" ] && [ -f "$R_DIR/stopped" ]; then
      R_STOP_REQ=1
      read -r R_STOP_RUNG _ <"$R_DIR/stopped" || true
    fi
    if [ -f "$R_DIR/failed" ]; then
      S_STATE=$ST_FAILED
    elif [ -n "$R_STOP_REQ" ]; then
      S_STATE=$ST_STOPPED
    elif [ -n "$R_EXIT" ]; then
      S_STATE=$ST_EXITED
    else
      S_STATE=$ST_DEAD
    fi
  fi
  # With a snapshot (a status call), tk_run_extras reads the last line in the same awk as the rest.
  [ -n "$S_LAST" ] || [ -n "${TK_PS_SNAP:-}" ] || S_LAST=$(tk_last_line "$R_LOG")
}

# tk_pane_v: the loaded run's pane from the tmux snapshot of its socket (one list-panes per socket
# and call): TK_PANE_ACT (#{window_activity}) and TK_PANE_PIPE (1: its log pipe is attached).
# Fails when the run has no session.
tk_pane_v() {
  local rest row
  TK_PANE_ACT='' TK_PANE_PIPE=''
  if [ "${TK_TMUX_SNAP_SOCK-unset}" != "$R_SOCKET" ]; then
    TK_TMUX_SNAP_SOCK=$R_SOCKET
    TK_TMUX_SNAP=$TK_NL$(tk_run_tmux list-panes -a -F '#{session_name}	#{window_activity}	#{pane_pipe}' 2>/dev/null || true)$TK_NL
  fi
  # The session's panes (a user may have split its window): the one with the log pipe, else the
  # first. Only this session's rows are looked at, so many runs cost no more than one each.
  rest=$TK_TMUX_SNAP
  while :; do
    case $rest in *"$TK_NL$R_RUN	"*) ;; *) break ;; esac
    rest=${rest#*"$TK_NL$R_RUN	"}
    row=${rest%%"$TK_NL"*}
    if [ -z "$TK_PANE_ACT" ] || [ "${row#*	}" = 1 ]; then
      TK_PANE_ACT=${row%%	*}
      TK_PANE_PIPE=${row#*	}
    fi
    rest=$TK_NL${rest#*"$TK_NL"}
  done
  [ -n "$TK_PANE_ACT$TK_PANE_PIPE" ]
}

# tk_session_ours NAME OPTION VALUE: true when tmux session NAME exists and its user option
# OPTION is VALUE; TK_SESSION_ID is then that session's tmux id ($N), read in the same query.
# Kill by that id, never by name: a session started under the same name after this check (a
# restart racing cleanup) has another id and is never the one killed.
tk_session_ours() {
  local v
  TK_SESSION_ID=''
  [ -n "$3" ] || return 1
  v=$(tk_run_tmux display-message -p -t "=$1:" "#{session_id} #{$2}" 2>/dev/null) || return 1
  [ "${v#* }" = "$3" ] || return 1
  case ${v%% *} in \$[0-9]*) TK_SESSION_ID=${v%% *} ;; *) return 1 ;; esac
}

# tk_session_kill_if_ours OPTION VALUE: kill session TK_SESSION_ID (from tk_session_ours) only if
# it still carries OPTION=VALUE, checked and killed in one tmux command: the server evaluates the
# condition and runs the kill with nothing in between. (A $id alone is not enough: when the last
# session goes, the tmux server exits, and a new server numbers its sessions from $0 again.)
# Values are run ids and helper marks: no commas, braces or quotes.
tk_session_kill_if_ours() {
  local id=$TK_SESSION_ID
  [ -n "$id" ] || return 1
  tk_run_tmux if-shell -F -t "$id" "#{==:#{$1},$2}" "kill-session -t '$id'" 2>/dev/null || return 1
  # Done when that session is gone or no longer carries the mark; still there and marked, the
  # kill did not happen (say so, never "killed").
  [ "$(tk_run_tmux display-message -p -t "$id" "#{$1}" 2>/dev/null)" != "$2" ]
}

# True when the loaded run's tmux session exists and carries its run id (set by tmuxkit-start);
# TK_SESSION_ID is then its tmux id. Kill it with tk_run_session_kill, never by name.
tk_run_session_is_ours() {
  tk_session_ours "$R_RUN" @tmuxkit_run_id "$R_RUN_ID"
}

# tk_run_session_kill: kill the session tk_run_session_is_ours found, if it is still the run's.
tk_run_session_kill() {
  tk_session_kill_if_ours @tmuxkit_run_id "$R_RUN_ID"
}

# "1" when the run's pane has its log pipe, "0" when not, "" when there is no pane.
tk_run_writer() {
  local v
  v=$(tk_run_tmux display-message -p -t "=$R_RUN:" '#{pane_pipe}' 2>/dev/null) || v=''
  printf '%s\n' "$v"
}

# tk_follow FILE START CHECK: print FILE as it grows (tail -F, which follows
# rotations; START is tail's -n: 0 for new lines only, +1 for all; or cBYTE: from
# byte BYTE on, 1 the first) for as long as the command CHECK succeeds, then one
# second more for the last lines.
tk_follow() {
  [ -f "$1" ] || : >>"$1"
  case $2 in
  c*) tail -c "+${2#c}" -F "$1" 2>/dev/null & ;;
  *) tail -n "$2" -F "$1" 2>/dev/null & ;;
  esac
  TK_TAILPID=$!
  trap 'kill "$TK_TAILPID" 2>/dev/null || true' EXIT
  while "$3"; do sleep 0.5; done
  sleep 1
  kill "$TK_TAILPID" 2>/dev/null || true
}

# The awk function behind tk_run_extras and tk_run_extras_all: extras(ev, pf) reads a run's
# events.jsonl and RUN.progress ("" for none) and sets e (the last event), n (restarts), p (the
# newest progress line) and losses (its last 30 losses, "0.9,0.7,...", oldest first).
# shellcheck disable=SC2016  # an awk program
TK_EXTRAS_AWK='function extras(ev, pf,    line, k, i, l, v, ring) {
  e = ""; n = 0; p = ""; losses = ""
  if (ev != "") {
    last = ""
    while ((getline line < ev) > 0) {
      last = line
      if (index(line, "\"event\":\"resumed\"") || index(line, "\"event\":\"restarted\"")) n++
    }
    close(ev)
    if (match(last, /"event":"[a-z_]*"/)) e = substr(last, RSTART + 9, RLENGTH - 10)
  }
  if (pf != "") {
    k = 0
    while ((getline line < pf) > 0) { k++; ring[k % 30] = line; p = line }
    close(pf)
    for (i = (k > 30 ? k - 29 : 1); i <= k; i++) {
      l = ring[i % 30]
      if (match(l, /[{,]"loss":[-+0-9.eE]+[,}]/)) {
        v = substr(l, RSTART + 8, RLENGTH - 9)
        losses = losses (losses == "" ? "" : ",") v
      }
    }
  }
}
function put() { printf "%s\n%d\n%s\n%s\n", e, n, substr(p, 1, 2000), substr(losses, 1, 2000) }
'

# tk_run_extras_paths: TK_XEV and TK_XPF, the loaded run's events.jsonl and RUN.progress ("" for
# none, and for a RUN.progress that is a symlink: it is never followed).
tk_run_extras_paths() {
  TK_XPF=${R_LOG%"$TK_LOG_SUFFIX"}.progress TK_XEV="$R_DIR/events.jsonl"
  [ -f "$TK_XPF" ] && [ ! -L "$TK_XPF" ] || TK_XPF=''
  [ -f "$TK_XEV" ] || TK_XEV=''
}

# tk_run_extras_split OUT: S_EVENT, S_RESTARTS, S_PROGRESS and S_LOSSES from the four lines put()
# printed; what follows them is left in TK_XREST.
tk_run_extras_split() {
  # A command substitution drops trailing empty lines: a field that is missing is empty.
  TK_XREST=$1
  tk_run_extras_field
  S_EVENT=$TK_XF
  tk_run_extras_field
  S_RESTARTS=$TK_XF
  tk_run_extras_field
  S_PROGRESS=$TK_XF
  tk_run_extras_field
  S_LOSSES=$TK_XF
  case $S_RESTARTS in '' | *[!0-9]*) S_RESTARTS=0 ;; esac
}

# tk_run_extras_field: TK_XF, the first line of TK_XREST (all of it when it has no newline), cut off it.
tk_run_extras_field() {
  case $TK_XREST in
  *"$TK_NL"*)
    TK_XF=${TK_XREST%%"$TK_NL"*}
    TK_XREST=${TK_XREST#*"$TK_NL"}
    ;;
  *) TK_XF=$TK_XREST TK_XREST='' ;;
  esac
}

# tk_run_extras: S_EVENT, S_RESTARTS, S_PROGRESS (the newest line of the run's RUN.progress, the
# JSON object the log writer keeps) and S_LOSSES from events.jsonl and RUN.progress, and S_LAST
# when it is still empty (as tk_last_line: the log's last line that is not tmuxkit's own, from its
# last 16 KiB), all in one awk. Progress and losses go out as JSON strings, for the laptop to
# parse: a damaged file never breaks the host's answer.
tk_run_extras() {
  local out need=0
  S_EVENT='' S_RESTARTS=0 S_PROGRESS='' S_LOSSES=''
  tk_run_extras_paths
  [ -n "$S_LAST" ] || [ ! -f "$R_LOG" ] || need=1
  [ -n "$TK_XPF$TK_XEV" ] || [ "$need" = 1 ] || return 0
  if [ "$need" = 1 ]; then
    # shellcheck disable=SC2016  # an awk program
    out=$(tail -c 16384 "$R_LOG" 2>/dev/null | awk -v ev="$TK_XEV" -v pf="$TK_XPF" -v max="$TK_LAST_LINE_MAX" "$TK_EXTRAS_AWK$TK_LAST_AWK"'
      END { extras(ev, pf); put(); print substr(ll, 1, max) }' 2>/dev/null) || return 0
  else
    out=$(awk -v ev="$TK_XEV" -v pf="$TK_XPF" "$TK_EXTRAS_AWK"'BEGIN { extras(ev, pf); put() }' </dev/null 2>/dev/null) || return 0
  fi
  tk_run_extras_split "$out"
  [ "$need" = 0 ] || S_LAST=$TK_XREST
}

# tk_run_extras_all: the extras of many runs with one awk (a status call with many live runs).
# Reads TK_XLIST (two lines a run: its events.jsonl and RUN.progress, "" for none) and sets
# TK_XOUT to put()'s four lines a run, in the same order; tk_run_extras_next takes them one run
# at a time into S_EVENT, S_RESTARTS, S_PROGRESS and S_LOSSES.
tk_run_extras_all() {
  TK_XOUT=''
  [ -n "${TK_XLIST:-}" ] || return 0
  # shellcheck disable=SC2016  # an awk program
  TK_XOUT=$(printf '%s' "$TK_XLIST" | awk "$TK_EXTRAS_AWK"'NR % 2 == 1 { ev = $0; next } { extras(ev, $0); put() }' 2>/dev/null) || true
  TK_XOUT=$TK_XOUT$TK_NL
}

tk_run_extras_next() {
  tk_run_extras_split "$TK_XOUT"
  TK_XOUT=$TK_XREST
}

# One run as a JSON object (after tk_run_load and tk_run_state).
tk_run_json() {
  tk_run_json_v
  printf '%s' "$TK_RUN_JSON"
}

# tk_run_json_v: the same into TK_RUN_JSON, with no subshell per field.
tk_run_json_v() {
  local writer=none lock_state w j
  if [ "$S_STATE" = "$ST_RUNNING" ] || [ "$S_STATE" = "$ST_STUCK" ]; then
    if [ -n "${TK_PS_SNAP:-}" ]; then w=$S_PIPE; else w=$(tk_run_writer); fi
    case $w in 1) writer=alive ;; 0) writer=dead ;; esac
  fi
  tk_lock_state "$R_LOCK"
  lock_state=$LK_STATE
  TK_RUN_DEFERRED=''
  # Why an ended run ended (named once, at its end, by the runner: lib/cause.bash): a crash's, not
  # a clean exit's nor a stop's (the user's own Ctrl-C is no cause to report).
  local cause=''
  if [ -n "$R_EXIT" ] && [ "$R_EXIT" != 0 ] && [ -z "$R_STOP_REQ" ] && [ -f "$R_DIR/cause" ] && [ ! -L "$R_DIR/cause" ]; then
    IFS= read -r cause <"$R_DIR/cause" || true
  fi
  # A live run whose registered watchdog is gone (see tk_watchdog_lost) shows that as its last event.
  # Its results filesystem, while its watchdog finds it low (runs/RUN/disk_low, lib/alerts.bash).
  local wd_lost='' disk=''
  if [ "$S_STATE" = "$ST_RUNNING" ] || [ "$S_STATE" = "$ST_STUCK" ]; then
    ! tk_watchdog_lost || wd_lost=1
    if [ -f "$R_DIR/disk_low" ] && [ ! -L "$R_DIR/disk_low" ]; then
      read -r disk _ <"$R_DIR/disk_low" || true
      case $disk in '' | *[!0-9]*) disk='' ;; esac
    fi
  fi
  if [ -z "$wd_lost" ] && [ -n "${TK_XDEFER:-}" ] && [ -n "$S_LAST" ] && { [ "$S_STATE" = "$ST_RUNNING" ] || [ "$S_STATE" = "$ST_STUCK" ]; }; then
    # Many runs in one call: their events and progress are read by one awk for all of them
    # (tk_run_extras_all), and tk_run_json_tail ends each object after it.
    tk_run_extras_paths
    case $TK_XEV$TK_XPF in *"$TK_NL"*) tk_run_extras ;; *)
      TK_XLIST="${TK_XLIST:-}$TK_XEV$TK_NL$TK_XPF$TK_NL"
      TK_RUN_DEFERRED=1
      ;;
    esac
  else
    tk_run_extras
    [ -z "$wd_lost" ] || S_EVENT=$EV_WATCHDOG_DEAD
  fi
  case $R_PID$R_RUNNER_PID$R_STARTED$R_ENDED$S_UPTIME$S_LOG_AGE$R_EXIT$R_STUCK_AFTER in *[!0-9]*) ;; *)
    case $R_RUN$S_STATE$R_LOG$S_LAST$R_LOCK$lock_state$R_RESULTS$R_CWD$writer$R_SOCKET in *[\"\\$'\001'-$'\037']*) ;; *)
      # Nothing to escape and every number plain digits (the common case): one assignment.
      tk_json_val_v TK_J "${R_STOP_RUNG#requested}"
      j="{\"run\":\"$R_RUN\",\"session\":\"$R_RUN\",\"state\":\"$S_STATE\",\"pid\":${R_PID:-null},\"runner_pid\":${R_RUNNER_PID:-null}"
      j="$j,\"started_at\":${R_STARTED:-null},\"ended_at\":${R_ENDED:-null},\"uptime_s\":${S_UPTIME:-null}"
      j="$j,\"log_path\":\"$R_LOG\",\"log_age_s\":${S_LOG_AGE:-null},\"last_line\":\"$S_LAST\",\"exit_code\":${R_EXIT:-null}"
      j="$j,\"stop_rung\":$TK_J,\"lock_path\":\"$R_LOCK\",\"lock_state\":\"$lock_state\",\"results\":\"$R_RESULTS\""
      j="$j,\"cwd\":\"$R_CWD\",\"writer\":\"$writer\",\"stuck_after\":${R_STUCK_AFTER:-null},\"socket\":\"$R_SOCKET\""
      if [ -n "$S_HEADLESS" ]; then j="$j,\"headless\":true"; else j="$j,\"headless\":false"; fi
      [ -z "${S_QUIET:-}" ] || j="$j,\"quiet\":true"
      [ -z "$cause" ] || { tk_json_str_v TK_J "$cause" && j="$j,\"cause\":$TK_J"; }
      [ -z "$disk" ] || j="$j,\"disk_low_free_kb\":$disk"
      TK_RUN_JSON=$j
      [ -n "$TK_RUN_DEFERRED" ] || tk_run_json_tail
      return 0
      ;;
    esac
    ;;
  esac
  tk_json_str_v TK_J "$R_RUN"
  j="{\"run\":$TK_J,\"session\":$TK_J"
  tk_json_str_v TK_J "$S_STATE"
  j="$j,\"state\":$TK_J"
  tk_json_val_v TK_J "$R_PID"
  j="$j,\"pid\":$TK_J"
  tk_json_val_v TK_J "$R_RUNNER_PID"
  j="$j,\"runner_pid\":$TK_J"
  tk_json_val_v TK_J "$R_STARTED"
  j="$j,\"started_at\":$TK_J"
  tk_json_val_v TK_J "$R_ENDED"
  j="$j,\"ended_at\":$TK_J"
  tk_json_val_v TK_J "$S_UPTIME"
  j="$j,\"uptime_s\":$TK_J"
  tk_json_str_v TK_J "$R_LOG"
  j="$j,\"log_path\":$TK_J"
  tk_json_val_v TK_J "$S_LOG_AGE"
  j="$j,\"log_age_s\":$TK_J"
  tk_json_str_v TK_J "$S_LAST"
  j="$j,\"last_line\":$TK_J"
  tk_json_val_v TK_J "$R_EXIT"
  j="$j,\"exit_code\":$TK_J"
  tk_json_val_v TK_J "${R_STOP_RUNG#requested}"
  j="$j,\"stop_rung\":$TK_J"
  tk_json_str_v TK_J "$R_LOCK"
  j="$j,\"lock_path\":$TK_J"
  tk_json_str_v TK_J "$lock_state"
  j="$j,\"lock_state\":$TK_J"
  tk_json_str_v TK_J "$R_RESULTS"
  j="$j,\"results\":$TK_J"
  tk_json_str_v TK_J "$R_CWD"
  j="$j,\"cwd\":$TK_J"
  tk_json_str_v TK_J "$writer"
  j="$j,\"writer\":$TK_J"
  tk_json_val_v TK_J "$R_STUCK_AFTER"
  j="$j,\"stuck_after\":$TK_J"
  tk_json_str_v TK_J "$R_SOCKET"
  j="$j,\"socket\":$TK_J"
  if [ -n "$S_HEADLESS" ]; then j="$j,\"headless\":true"; else j="$j,\"headless\":false"; fi
  [ -z "${S_QUIET:-}" ] || j="$j,\"quiet\":true"
  [ -z "$cause" ] || { tk_json_str_v TK_J "$cause" && j="$j,\"cause\":$TK_J"; }
  [ -z "$disk" ] || j="$j,\"disk_low_free_kb\":$disk"
  TK_RUN_JSON=$j
  [ -n "$TK_RUN_DEFERRED" ] || tk_run_json_tail
}

# tk_run_json_tail: end TK_RUN_JSON with the fields from the extras (S_EVENT ... S_LOSSES).
tk_run_json_tail() {
  local j=$TK_RUN_JSON
  tk_json_val_v TK_J "$S_EVENT"
  j="$j,\"last_event\":$TK_J,\"restarts\":${S_RESTARTS:-0}"
  tk_json_val_v TK_J "$S_PROGRESS"
  j="$j,\"progress\":$TK_J"
  tk_json_val_v TK_J "$S_LOSSES"
  TK_RUN_JSON="$j,\"losses\":$TK_J}"
}

# --- many live runs at once (a status call) ---------------------------------------
# tk_run_state and tk_run_json_v judge one run in bash, a few hundred commands each. A status
# call with many live runs has them judged by one awk instead (tk_runs_fast): the same rules, on
# the same snapshots (the process table, each socket's panes, one stat of their files). It answers
# only for the plain case: a live runner (its identity t: or u:, as tk_owner_alive), no exit or
# stop recorded, a last line in RUN.live, a regular lock of at most 4 KiB, numbers that are
# numbers. Every other run it hands back to the bash path, which stays the one definition; a bats
# test holds the two to the same answers.

# tk_runs_fast_paths RUNSDIR CLINES: for the runs of CLINES ("C<TAB>NAME" lines), TK_FAST_SOCKS
# (their tmux sockets, each once, as "K<SOCKET>" lines: "K" alone is tmux's default server) and TK_FAST_PATHS (their log, RUN.live, RUN.progress
# and lock paths, for one stat).
tk_runs_fast_paths() {
  local p1
  # shellcheck disable=SC2016  # an awk program
  p1=$(printf '%s\n' "$2" | awk -v runs="$1" -v logsuf="$TK_LOG_SUFFIX" -v livesuf="$TK_LIVE_SUFFIX" -F '\t' '
    $1 == "C" {
      f = runs "/" $2 "/meta"; lg = ""; lk = ""; sk = ""
      while ((getline l < f) > 0) {
        if (l ~ /^log=/) { lg = substr(l, 5); paths = paths lg "\n" }
        else if (l ~ /^lock=/) lk = substr(l, 6)
        else if (l ~ /^socket=/) sk = substr(l, 8)
      }
      close(f)
      if (lg != "") {
        b = lg
        if (length(b) >= length(logsuf) && substr(b, length(b) - length(logsuf) + 1) == logsuf) b = substr(b, 1, length(b) - length(logsuf))
        paths = paths b livesuf "\n" b ".progress\n"
      }
      if (lk != "") paths = paths lk "\n"
      if (sk ~ /^[A-Za-z0-9_.-]*$/ && !(sk in seen)) { seen[sk] = 1; socks = socks "K" sk "\n" }
    }
    END { printf "%s@@\n%s", socks, paths }')
  TK_FAST_SOCKS=${p1%%"@@$TK_NL"*}
  TK_FAST_PATHS=${p1#*"@@$TK_NL"}
}

# tk_runs_fast_snap RUNSDIR CLINES: the snapshots the runs of CLINES ("C<TAB>NAME" lines) are
# judged on, taken once for all of them: TK_STAT_SNAP (one stat of their log, RUN.live,
# RUN.progress and lock: "MTIME SIZE TYPE<TAB>PATH" lines) and TK_FAST_PANES (each of their
# sockets' panes; the last socket's also kept for tk_pane_v). After tk_snap_take.
tk_runs_fast_snap() {
  local sock all
  tk_runs_fast_paths "$1" "$2"
  TK_STAT_SNAP=$TK_NL$(printf '%s' "$TK_FAST_PATHS" | tk_stat_many_t)$TK_NL
  TK_FAST_PANES=''
  while IFS= read -r sock; do
    case $sock in K*) sock=${sock#K} ;; *) continue ;; esac
    all=$TK_NL$(TMUXKIT_SOCKET=$sock tk_tmux list-panes -a -F '#{session_name}	#{window_activity}	#{pane_pipe}' 2>/dev/null || true)$TK_NL
    TK_TMUX_SNAP_SOCK=$sock TK_TMUX_SNAP=$all
    TK_FAST_PANES="$TK_FAST_PANES@@T	$sock$all"
  done <<EOF
$TK_FAST_SOCKS
EOF
}

# tk_runs_fast RUNSDIR NOW CLINES: after tk_runs_fast_snap, the runs of CLINES judged by one awk.
# TK_FAST is "A<TAB>" and every object, comma-separated, when all were answered; else one line a
# run, in order: "F<TAB>OBJECT" (answered) or "C<TAB>NAME" (for the bash path).
tk_runs_fast() {
  tk_hostname_v # a lock written on another host is alive (as tk_lock_state)
  # shellcheck disable=SC2016  # an awk program
  TK_FAST=$(printf '@@P\n%s\n%s@@S%s@@R\n%s\n' "$TK_PS_RAW" "$TK_FAST_PANES" "$TK_STAT_SNAP" "$3" |
    awk -v runs="$1" -v now="$2" -v max="$TK_LAST_LINE_MAX" -v logsuf="$TK_LOG_SUFFIX" -v livesuf="$TK_LIVE_SUFFIX" \
      -v me="$TK_HOSTNAME" -v def_stuck="$TK_DEF_STUCK_AFTER" -v st_run="$ST_RUNNING" -v st_stuck="$ST_STUCK" -v ev_wd_dead="$EV_WATCHDOG_DEAD" \
      "$TK_EXTRAS_AWK$TK_FAST_AWK" 2>/dev/null) ||
    TK_FAST=$3
}

# shellcheck disable=SC2016  # an awk program
TK_FAST_AWK='
BEGIN { ctl = sprintf("[\"\\\\%c-%c]", 1, 31) }
$0 == "@@P" { sec = "P"; next }
$0 == "@@S" { sec = "S"; next }
$0 == "@@R" { sec = "R"; next }
substr($0, 1, 4) == "@@T\t" { sec = "T"; sock = substr($0, 5); listed[sock] = 1; next }
sec == "P" {
  # "pid stat etime lstart...": as tk_snap_need and tk_pinfo_v take it.
  k = split($0, w, " ")
  if (k < 4 || w[1] !~ /^[1-9][0-9]*$/ || length(w[1]) > 10) next
  pst[w[1]] = w[2]; pet[w[1]] = w[3]; l = w[4]
  for (i = 5; i <= k; i++) l = l " " w[i]
  pls[w[1]] = l
  next
}
sec == "T" {
  # As tk_pane_v: the session pane with the log pipe, else the first.
  if (split($0, w, "\t") < 3) next
  k = sock SUBSEP w[1]
  if (!(k in pact) || pact[k] == "" || w[3] == "1") { pact[k] = w[2]; ppipe[k] = w[3] }
  next
}
sec == "S" {
  i = index($0, "\t")
  if (i == 0) next
  p = substr($0, i + 1); split(substr($0, 1, i - 1), w, " ")
  smt[p] = w[1]; ssz[p] = w[2]; sty[p] = tolower(substr(w[3], 1, 2))
  next
}
sec == "R" && substr($0, 1, 2) == "C\t" {
  name = substr($0, 3)
  j = judge(name)
  if (j == "") { out = out "C\t" name "\n"; deferred = 1 } else { out = out "F\t" j "\n"; objs = objs (objs == "" ? "" : ",") j }
}
END { if (deferred) printf "%s", out; else printf "A\t%s\n", objs }

function first(f,    l, r) {
  # The first line of f; FIRST_OK = 1 when f could be read (an empty file included).
  l = ""; r = (getline l < f); close(f)
  FIRST_OK = (r >= 0)
  return r > 0 ? l : ""
}
function ident(pid,    l, w, f) {
  # As tk_pinfo_v: "t:TICKS" from /proc, else "u:LSTART" from the snapshot; "" for no live process.
  if (!(pid in pst) || substr(pst[pid], 1, 1) == "Z") return ""
  if (pid in idm) return idm[pid]
  f = "/proc/" pid "/stat"; l = "" # probe: where there is no /proc, getline fails and lstart is used
  if ((getline l < f) > 0 && l != "") {
    close(f); sub(/.*\) /, "", l)
    if (split(l, w, " ") >= 20) return idm[pid] = "t:" w[20]
  } else close(f)
  return idm[pid] = "u:" pls[pid]
}
function label1(h) { sub(/\..*/, "", h); return h }
function alive(pid, start,    id) {
  # As tk_owner_alive; -1 for an identity of the old kind (the bash path asks ps for it).
  if (start == "" || pid !~ /^[0-9]+$/) return 0
  if (start !~ /^[tu]:/) return -1
  id = ident(pid)
  return id != "" && id == start
}
function etime(e,    d, n, p, i) {
  # As tk_etime_v: [[dd-]hh:]mm:ss in seconds.
  d = 0; i = index(e, "-")
  if (i) { d = substr(e, 1, i - 1); e = substr(e, i + 1) }
  n = split(e, p, ":")
  if (n >= 3) return d * 86400 + p[1] * 3600 + p[2] * 60 + p[3]
  if (n == 2) return d * 86400 + p[1] * 60 + p[2]
  return d * 86400 + p[1] * 60 + p[1]
}
function js(s,    o, c) {
  # As tk_json_str_v.
  if (s !~ ctl) return "\"" s "\""
  o = ""
  while (match(s, ctl)) {
    c = substr(s, RSTART, 1); o = o substr(s, 1, RSTART - 1)
    if (c == "\"") o = o "\\\""
    else if (c == "\\") o = o "\\\\"
    else if (c == "\t") o = o "\\t"
    else if (c == "\r") o = o "\\r"
    s = substr(s, RSTART + 1)
  }
  return "\"" o s "\""
}
function jv(v) {
  # As tk_json_val_v.
  if (v == "") return "null"
  if (v ~ /^[0-9-]+$/ && v != "-") return v
  return js(v)
}
function judge(name,    wd, wdl, headless, d, f, l, run, cwd, res, lk, lg, started, sk, stuck, rpid, rstart, pid, a, up, mt, act, age, k, b, live, last, state, writer, ls, lpid, lstart, pf, j) {
  d = runs "/" name
  run = ""; cwd = ""; res = ""; lk = ""; lg = ""; started = ""; sk = ""; stuck = def_stuck
  f = d "/meta"; a = 0
  while ((getline l < f) > 0) {
    a = 1
    if (l ~ /^run=/) run = substr(l, 5)
    else if (l ~ /^cwd=/) cwd = substr(l, 5)
    else if (l ~ /^results=/) res = substr(l, 9)
    else if (l ~ /^lock=/) lk = substr(l, 6)
    else if (l ~ /^log=/) lg = substr(l, 5)
    else if (l ~ /^started_at=/) started = substr(l, 12)
    else if (l ~ /^socket=/) sk = substr(l, 8)
    else if (l ~ /^stuck_after=/) stuck = substr(l, 13)
  }
  close(f)
  if (!a || !(sk in listed) || stuck !~ /^[0-9]+$/ || started !~ /^[0-9]*$/) return ""
  # No end or stop recorded (the bash path reads those), and a live runner.
  first(d "/exit"); if (FIRST_OK) return ""
  first(d "/stopped"); if (FIRST_OK) return ""
  first(d "/disk_low"); if (FIRST_OK) return "" # its watchdog found the disk low: the bash path says so
  f = d "/runner"; rpid = ""; rstart = ""
  if ((getline rpid < f) > 0) getline rstart < f
  close(f)
  if (alive(rpid, rstart) != 1) return ""
  pid = first(d "/pid")
  if (pid !~ /^[0-9]*$/) return ""
  up = etime(pet[rpid])
  # Activity: the newer of the log mtime and the pane window activity.
  mt = (lg in smt) ? smt[lg] : ""
  k = sk SUBSEP run
  act = (k in pact) ? pact[k] : ""
  headless = !(k in pact) || pact[k] ppipe[k] == ""
  if (act !~ /^[0-9]+$/) act = ""
  if (act != "" && mt != "" && act + 0 > mt + 0) mt = act
  if (mt == "") mt = act
  age = ""
  if (mt != "") { age = now - mt; if (age < 0) age = 0 }
  b = lg
  if (length(b) >= length(logsuf) && substr(b, length(b) - length(logsuf) + 1) == logsuf) b = substr(b, 1, length(b) - length(logsuf))
  live = b livesuf
  if (sty[live] != "re") return ""
  last = first(live)
  if (last == "" || length(last) > max) return ""
  state = (age != "" && age > stuck + 0) ? st_stuck : st_run
  if (state == st_stuck) { first(d "/quiet"); if (FIRST_OK) return "" } # a watchdog says quiet: the bash path (tk_run_quiet)
  writer = "none"
  if (!headless) { if (ppipe[k] == "1") writer = "alive"; else if (ppipe[k] == "0") writer = "dead" }
  # The lock, as tk_lock_state.
  if (lk == "" || !(lk in sty)) ls = "free"
  else if (sty[lk] == "sy") ls = "symlink"
  else if (sty[lk] != "re") ls = "notfile"
  else if (ssz[lk] + 0 > 4096) return ""
  else {
    lpid = ""; lstart = ""; lhost = ""
    while ((getline l < lk) > 0) {
      if (l ~ /^pid=/) lpid = substr(l, 5)
      else if (l ~ /^start=/) lstart = substr(l, 7)
      else if (l ~ /^host=/) lhost = substr(l, 6)
    }
    close(lk)
    if (lpid !~ /^[0-9]+$/ || lstart == "") ls = "garbage"
    else if (lhost != "" && lhost != "unknown" && me != "" && lhost != me && (label1(lhost) != label1(me) || (lhost ~ /\./ && me ~ /\./))) ls = "alive" # written on another host: as tk_lock_elsewhere
    else {
      a = alive(lpid, lstart)
      if (a < 0) return ""
      ls = a ? "alive" : "stale"
    }
  }
  pf = b ".progress"
  if (sty[pf] != "re") pf = ""
  extras(d "/events.jsonl", pf)
  # As tk_watchdog_lost: a registered watchdog that is no longer alive.
  wdl = first(d "/watchdog")
  if (FIRST_OK && wdl != "") {
    split(wdl, wd, " ")
    a = alive(wd[1], wd[2])
    if (a < 0) return ""
    if (!a) e = ev_wd_dead
  }
  j = "{\"run\":" js(run) ",\"session\":" js(run) ",\"state\":" js(state) ",\"pid\":" jv(pid) ",\"runner_pid\":" jv(rpid)
  j = j ",\"started_at\":" jv(started) ",\"ended_at\":null,\"uptime_s\":" jv(up)
  j = j ",\"log_path\":" js(lg) ",\"log_age_s\":" jv(age) ",\"last_line\":" js(last) ",\"exit_code\":null"
  j = j ",\"stop_rung\":null,\"lock_path\":" js(lk) ",\"lock_state\":" js(ls) ",\"results\":" js(res)
  j = j ",\"cwd\":" js(cwd) ",\"writer\":" js(writer) ",\"stuck_after\":" jv(stuck) ",\"socket\":" js(sk)
  j = j ",\"headless\":" (headless ? "true" : "false")
  j = j ",\"last_event\":" jv(e) ",\"restarts\":" n ",\"progress\":" jv(substr(p, 1, 2000)) ",\"losses\":" jv(substr(losses, 1, 2000)) "}"
  return j
}
'

# Names of all runs known on this host.
tk_run_names() {
  local d
  for d in "$1"/runs/*/; do
    [ -f "$d/meta" ] || continue
    d=${d%/}
    printf '%s\n' "${d##*/}"
  done
}

# --- the run's watchdog: at most one, registered in runs/RUN/watchdog as "PID START" -----------
# PID of the loaded run's registered watchdog while it lives; fails when there is none.
tk_watchdog_pid() {
  local pid='' start=''
  [ -f "$R_DIR/watchdog" ] && [ ! -L "$R_DIR/watchdog" ] || return 1
  read -r pid start <"$R_DIR/watchdog" || true
  tk_owner_alive "$pid" "$start" || return 1
  printf '%s\n' "$pid"
}

# tk_watchdog_lost: true when the loaded run asked for a watchdog (runs/RUN/watchdog, which a
# watchdog removes when it leaves) and that watchdog is no longer alive (killed with -9).
tk_watchdog_lost() {
  [ -f "$R_DIR/watchdog" ] && [ ! -L "$R_DIR/watchdog" ] && ! tk_watchdog_pid >/dev/null 2>&1
}

# tk_watchdog_end [SESSION_TOO]: end the loaded run's watchdog (SIGTERM, SIGKILL after 5 s) and,
# unless SESSION_TOO is 0, its tmux session (only one tmuxkit marked as the run's). Succeeds when a
# live watchdog was ended.
tk_watchdog_end() {
  local pid i=0 name="$R_RUN${TK_HELPER_SEP}watch" ended=1
  if pid=$(tk_watchdog_pid); then
    rm -f "$R_DIR/watchdog"
    kill -TERM "$pid" 2>/dev/null || true
    while tk_pid_alive "$pid" && [ "$i" -lt 50 ]; do
      sleep 0.1
      i=$((i + 1))
    done
    ! tk_pid_alive "$pid" || kill -KILL "$pid" 2>/dev/null || true
    ended=0
  fi
  rm -f "$R_DIR/watchdog"
  if [ "${1:-1}" != 0 ] && tk_session_ours "$name" @tmuxkit_helper "watch:$R_RUN"; then
    tk_session_kill_if_ours @tmuxkit_helper "watch:$R_RUN" || true
  fi
  return "$ended"
}

# tk_watchdog_claim: register this process ($$) as the loaded run's one watchdog, ending any other.
tk_watchdog_claim() {
  local me
  me=$(tk_pstart $$) || return 1
  # Not the session: a detached watchdog runs in it (and --detach has replaced it already).
  tk_watchdog_end 0 || true
  printf '%s %s\n' $$ "$me" >"$R_DIR/watchdog.tmp.$$" && mv -f "$R_DIR/watchdog.tmp.$$" "$R_DIR/watchdog"
}

# True while this process is still the loaded run's registered watchdog.
tk_watchdog_is_me() {
  [ "$(tk_watchdog_pid 2>/dev/null)" = "$$" ]
}
