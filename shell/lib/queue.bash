# shellcheck shell=bash
# shellcheck disable=SC2034,SC2153  # globals (TK_Q_*, Q_*) are the results callers read; ST_* come from contract.bash
# The host's queue: runs that wait for GPUs (or for another run) with the laptop gone.
# Sourced: defines functions only; no options set, nothing created, nothing run.
#
# $TMUXKIT_HOME/queue/ (0700) holds one folder per waiting run, SEQ.RUN (SEQ: 10 digits, first in,
# first out): argv (tmuxkit-start's arguments, NUL-separated), env (0600, NAME=VALUE lines: what
# came on stdin never goes on a command line), pwd (where start was called), gpus, after,
# queued_at; blocked (one line) once it can never start (its --after run failed or was stopped).
# Plain files: the queue survives `tmux kill-server`. A mutex (a results-lock file, queue/mutex,
# owned by one start at a time: PID plus start time, reclaimed only from a dead owner) makes the
# look at free GPUs and the runner's claim of them one step, so two starts never take one GPU.
#
# Who goes next: first in, first out. A waiting run reserves the free GPUs up to its count, so a
# later, smaller run starts ahead of it only onto GPUs that no earlier waiting run needs: it never
# delays one, and no run starves. A run waiting for --after OTHER reserves nothing until OTHER
# exited 0.

tk_queue_dir() {
  local d="$1/queue"
  if [ -L "$d" ] || { [ -e "$d" ] && { [ ! -d "$d" ] || [ ! -O "$d" ]; }; }; then
    TK_ERR="refusing $d: not a directory owned by you"
    return 1
  fi
  [ -d "$d" ] || (umask 077 && mkdir -p "$d") || {
    TK_ERR="cannot create $d"
    return 1
  }
}

# tk_queue_mutex_take HOME: this process ($$) holds queue/mutex; waits up to 60 s for another.
tk_queue_mutex_take() {
  local m="$1/queue/mutex" me i=0 rc
  tk_queue_dir "$1" || return 1
  me=$(tk_pstart $$) || {
    TK_ERR="cannot read this process's start time (ps)"
    return 1
  }
  while :; do
    rc=0
    tk_lock_acquire "$m" $$ "$me" queue queue "queue.$$" || rc=$?
    [ "$rc" != 0 ] || {
      TK_Q_MUTEX=$m TK_Q_MUTEX_START=$me
      return 0
    }
    [ "$rc" = "$EX_LOCKED" ] || return 1
    i=$((i + 1))
    [ "$i" -lt 3000 ] || {
      TK_ERR="the host queue's mutex stayed busy for a minute: $m"
      return 1
    }
    sleep 0.02
  done
}

tk_queue_mutex_drop() {
  [ -z "${TK_Q_MUTEX:-}" ] || tk_lock_release "$TK_Q_MUTEX" $$ "$TK_Q_MUTEX_START" 2>/dev/null || true
  TK_Q_MUTEX=''
}

# tk_queue_entries HOME: the entries' folder names, oldest first.
tk_queue_entries() {
  local d
  for d in "$1"/queue/[0-9]*.*/; do
    if [ ! -d "$d" ] || [ -L "${d%/}" ]; then continue; fi
    d=${d%/}
    printf '%s\n' "${d##*/}"
  done
}

# tk_queue_find HOME RUN: the entry of RUN (its folder name), if it is queued.
tk_queue_find() {
  local e
  for e in $(tk_queue_entries "$1"); do
    [ "${e#*.}" != "$2" ] || {
      printf '%s\n' "$e"
      return 0
    }
  done
  return 1
}

# tk_queue_read DIR: Q_GPUS Q_AFTER Q_AT Q_BLOCKED of an entry folder.
tk_queue_read() {
  Q_GPUS=0 Q_AFTER='' Q_AT='' Q_BLOCKED=''
  [ ! -f "$1/gpus" ] || read -r Q_GPUS <"$1/gpus" || true
  [ ! -f "$1/after" ] || read -r Q_AFTER <"$1/after" || true
  [ ! -f "$1/queued_at" ] || read -r Q_AT <"$1/queued_at" || true
  [ ! -f "$1/blocked" ] || IFS= read -r Q_BLOCKED <"$1/blocked" || true
  case $Q_GPUS in '' | *[!0-9]*) Q_GPUS=0 ;; esac
}

# tk_queue_after HOME OTHER SINCE: where OTHER stands for a run waiting on it. TK_Q_AFTER:
# done (exited 0 after SINCE) | wait (running, queued, not yet started again) | failed (TK_Q_WHY).
tk_queue_after() {
  local d="$1/$TK_RUNS_DIR/$2" code='' ended=''
  TK_Q_AFTER=wait TK_Q_WHY=''
  if tk_queue_find "$1" "$2" >/dev/null; then return 0; fi
  [ -f "$d/meta" ] || {
    TK_Q_AFTER=failed TK_Q_WHY="run $2 does not exist on $(tk_here)"
    return 0
  }
  [ -f "$d/exit" ] || return 0 # running (or starting)
  read -r code ended <"$d/exit" || true
  # An exit from before this run was queued belongs to an earlier life of OTHER.
  case $ended in '' | *[!0-9]*) ended=0 ;; esac
  [ "$ended" -ge "${3:-0}" ] || return 0
  if [ -f "$d/stopped" ]; then
    TK_Q_AFTER=failed TK_Q_WHY="run $2 was stopped (exit $code)"
  elif [ "$code" = 0 ]; then
    TK_Q_AFTER="done"
  else
    TK_Q_AFTER=failed TK_Q_WHY="run $2 failed (exit $code)"
  fi
}

# tk_queue_reserved HOME SELF: GPUs that the eligible waiting entries before SELF (an entry name;
# "" = all of them: a new start goes last) reserve, into TK_Q_RESERVED; TK_Q_AHEAD: how many wait
# before it.
tk_queue_reserved() {
  local e
  TK_Q_RESERVED=0 TK_Q_AHEAD=0
  for e in $(tk_queue_entries "$1"); do
    [ "$e" != "$2" ] || break
    tk_queue_read "$1/queue/$e"
    [ -z "$Q_BLOCKED" ] || continue
    TK_Q_AHEAD=$((TK_Q_AHEAD + 1))
    if [ -n "$Q_AFTER" ]; then
      tk_queue_after "$1" "$Q_AFTER" "$Q_AT"
      [ "$TK_Q_AFTER" = "done" ] || continue
    fi
    TK_Q_RESERVED=$((TK_Q_RESERVED + Q_GPUS))
  done
}

# tk_queue_live_runs HOME: how many runs live on this host (their runner alive).
tk_queue_live_runs() {
  local n=0 r
  for r in $(tk_run_names "$1"); do
    tk_run_load "$1/$TK_RUNS_DIR/$r"
    if tk_runner_alive; then n=$((n + 1)); fi
  done
  printf '%s\n' "$n"
}

# tk_ordinal N: 1st 2nd 3rd 4th... 11th 12th 13th 21st
tk_ordinal() {
  case $1 in
  *1[123]) printf '%sth' "$1" ;;
  *1) printf '%sst' "$1" ;;
  *2) printf '%snd' "$1" ;;
  *3) printf '%srd' "$1" ;;
  *) printf '%sth' "$1" ;;
  esac
}

# tk_queue_add HOME RUN GPUS AFTER WHY: a new entry at the queue's end, from TK_START_ARGV (the
# start's arguments) and the caller's envs array; the mutex is held. TK_Q_ENTRY: its name.
tk_queue_add() {
  local home=$1 run=$2 seq=0 tmp a kv
  [ ! -f "$home/queue/seq" ] || read -r seq <"$home/queue/seq" || true
  case $seq in '' | *[!0-9]*) seq=0 ;; esac
  seq=$((10#$seq + 1))
  tk_write "$home/queue/seq" "$seq$TK_NL" || return 1
  tmp=$(mktemp -d "$home/queue/.new.XXXXXX") || return 1
  (
    umask 077
    for a in ${TK_START_ARGV[@]+"${TK_START_ARGV[@]}"}; do printf '%s\0' "$a"; done >"$tmp/argv"
    : >"$tmp/env"
    # shellcheck disable=SC2154  # envs: the calling start's array (dynamic scope)
    for kv in ${envs[@]+"${envs[@]}"}; do printf '%s\n' "$kv"; done >"$tmp/env"
    printf '%s\n' "$PWD" >"$tmp/pwd"
    printf '%s\n' "$3" >"$tmp/gpus"
    printf '%s\n' "$4" >"$tmp/after"
    printf '%s\n' "$5" >"$tmp/waiting_for"
    date +%s >"$tmp/queued_at"
  ) || {
    rm -rf "$tmp"
    return 1
  }
  TK_Q_ENTRY=$(printf '%010d.%s' "$seq" "$run")
  mv "$tmp" "$home/queue/$TK_Q_ENTRY" || {
    rm -rf "$tmp"
    return 1
  }
}

# tk_queue_remove HOME ENTRY: the entry's folder, gone (only a folder of ours under queue/).
tk_queue_remove() {
  local d="$1/queue/$2"
  case $2 in '' | */* | .*) return 1 ;; esac
  [ -d "$d" ] && [ ! -L "$d" ] && [ -O "$d" ] || return 1
  rm -rf "$d"
}

# tk_queue_event HOME RUN KIND WHY: an event in runs/RUN/events.jsonl (the folder made if need be),
# a line on stderr, and, for an event worth a notification (blocked, queue_refused) of a run with
# targets (runs/RUN/notify, kept there when it was queued), the notification, sent from this host
# by tmuxkit-watch --notify-event in the background (the laptop may be gone).
tk_queue_event() {
  local d="$1/$TK_RUNS_DIR/$2"
  [ -d "$d" ] || (umask 077 && mkdir -p "$d") 2>/dev/null || true
  if [ -d "$d" ] && [ ! -L "$d" ] && [ ! -L "$d/$TK_EVENTS_FILE" ]; then
    printf '{"ts":%s,"id":"%s","run":%s,"event":%s,"why":%s}\n' "$(date +%s)" "$(tk_event_id)" \
      "$(tk_json_str "$2")" "$(tk_json_str "$3")" "$(tk_json_str "$4")" >>"$d/$TK_EVENTS_FILE" 2>/dev/null || true
  fi
  tk_warn "$2: $3: $4"
  case " $TK_NOTIFY_EVENTS " in *" $3 "*)
    if [ ! -L "$d" ] && [ -s "$d/notify" ]; then
      (
        trap '' HUP INT TERM
        TMUXKIT_HOME=$1 exec bash "$TK_BIN/tmuxkit-watch" "$2" --notify-event "$3" ",\"reason\":$(tk_json_str "$4")"
      ) </dev/null >/dev/null 2>&1 &
    fi
    ;;
  esac
}

# tk_queue_watch_later HOME RUN ARGS...: the options of RUN's watchdog (tmuxkit-watch --detach),
# kept with its queue entry (watch: NUL-separated) for tmuxkit-queue to start it once RUN runs.
tk_queue_watch_later() {
  local home=$1 run=$2 e a
  shift 2
  e=$(tk_queue_find "$home" "$run") || {
    TK_ERR="run '$run' is not queued on $(tk_here)"
    return 1
  }
  if (
    umask 077
    for a in "$@"; do printf '%s\0' "$a"; done >"$home/queue/$e/watch.tmp.$$"
  ) && mv -f "$home/queue/$e/watch.tmp.$$" "$home/queue/$e/watch"; then
    return 0
  fi
  rm -f "$home/queue/$e/watch.tmp.$$"
  TK_ERR="cannot write $home/queue/$e/watch"
  return 1
}

# tk_queue_notify_prep HOME RUN STDIN EVENT: for tmuxkit-watch, whether the notification work is the
# queue's: EVENT given (a queue event: the run may never have started), or STDIN=1 (targets
# coming) for a run that waits in the queue. Then RUN's folder is there (0700, made if need be) and
# loaded as far as it holds anything (R_DIR), with no earlier life's start or log to describe.
tk_queue_notify_prep() {
  local d="$1/$TK_RUNS_DIR/$2"
  if [ -z "$4" ]; then
    [ "$3" = 1 ] && tk_valid_run "$2" && tk_queue_find "$1" "$2" >/dev/null || return 1
  fi
  tk_check_run "$2"
  case $4 in '' | *[!a-z_]*) [ -z "$4" ] || tk_die "$EX_USAGE" "--notify-event: not an event name: '$4'" ;; esac
  if [ -L "$d" ] || { [ -e "$d" ] && [ ! -d "$d" ]; }; then tk_die "$EX_FAIL" "refusing $d: not a folder of ours"; fi
  [ -d "$d" ] || (umask 077 && mkdir -p "$d") || tk_die "$EX_FAIL" "cannot create $d"
  tk_run_load "$d"
  R_STARTED='' R_LOG=''
}

# tk_queue_kick HOME: a dispatch pass in the background (tk_queue_dispatch), out of the caller's
# way and its signals: the runner's end, so the next queued run starts within moments of it, with no
# laptop and no poll. A subshell of the runner, which has every library loaded (no bash to start).
# HUP, INT and TERM are ignored by the caller before the fork, not by the child: the runner's end
# closes its pane's terminal, and a SIGHUP that came before the child had set a trap of its own
# ended the pass (the next run then waited for the dispatcher's poll, 5 s).
tk_queue_kick() {
  [ -d "$1/queue" ] || return 0
  trap '' HUP INT TERM
  (
    exec </dev/null >/dev/null 2>&1
    # This subshell's own PID (bash 3.2 has no BASHPID): sh's parent, as sh is exec'd in place.
    # shellcheck disable=SC2016  # sh expands it
    tk_queue_dispatch "$1" "${BASHPID:-$(exec sh -c 'echo "$PPID"')}"
  ) &
}

# _tk_queue_try HOME ENTRY: one entry's turn: tmuxkit-start with its stored arguments, from where it
# was called. A refusal takes it out of the queue, with an event; a run waiting for --after OTHER
# whose OTHER failed or was stopped is marked blocked, naming OTHER, with an event.
_tk_queue_try() {
  local home=$1 e=$2 d="$1/queue/$2" run=${2#*.} wd out rc=0 a
  local -a argv wargs
  local watch=0
  argv=() wargs=()
  tk_queue_read "$d"
  [ -z "$Q_BLOCKED" ] || return 0
  if [ -n "$Q_AFTER" ]; then
    tk_queue_after "$home" "$Q_AFTER" "$Q_AT"
    case $TK_Q_AFTER in
    wait) return 0 ;;
    failed)
      tk_write "$d/blocked" "never started: $TK_Q_WHY$TK_NL" || true
      tk_queue_event "$home" "$run" blocked "never started: $TK_Q_WHY"
      return 0
      ;;
    esac
  fi
  while IFS= read -r -d '' a; do argv+=("$a"); done <"$d/argv"
  # Its watchdog's options (start --watch of a queued run): read now, the entry goes once it starts.
  if [ -f "$d/watch" ] && [ ! -L "$d/watch" ]; then
    watch=1
    while IFS= read -r -d '' a; do wargs+=("$a"); done <"$d/watch"
  fi
  IFS= read -r wd <"$d/pwd" || wd=/
  out=$(cd "$wd" 2>/dev/null || cd /; TMUXKIT_HOME=$home exec bash "$TK_BIN/tmuxkit-start" ${argv[@]+"${argv[@]}"} \
    "$OPT_ENV_STDIN" "$OPT_EARLY_WAIT" 0 "$OPT_FROM_QUEUE" "$e" <"$d/env" 2>&1) || rc=$?
  if [ "$rc" = 0 ] && [ "$watch" = 1 ]; then
    case $out in *$'\t'state=*) ;; *)
      # Started (not queued still, not gone): its watchdog now, as start --watch would have started it.
      TMUXKIT_HOME=$home bash "$TK_BIN/tmuxkit-watch" "$run" --detach ${wargs[@]+"${wargs[@]}"} </dev/null >/dev/null 2>&1 ||
        tk_warn "$run: started by the queue, but its watchdog did not start"
      ;;
    esac
  fi
  if [ "$rc" != 0 ]; then
    # Refused at its turn: out of the queue, and said, never dropped in silence.
    tk_queue_remove "$home" "$e" || true
    out=${out%"$TK_NL"}
    out=${out##*"$TK_NL"}
    tk_queue_event "$home" "$run" queue_refused "not started at its turn: ${out#tmuxkit: }"
  fi
}

# tk_queue_again HOME: ask for one more dispatch pass (queue/again, an empty file). Never through a
# link planted there: `: >` truncated the file it pointed to.
tk_queue_again() {
  [ ! -L "$1/queue/again" ] || rm -f "$1/queue/again"
  { : >"$1/queue/again"; } 2>/dev/null || true
}

# tk_queue_dispatch HOME PID: one pass over the queue, oldest entry first, by process PID (this
# one: $$, or a subshell's own PID). One pass at a time (queue/dispatching, a results-lock file
# owned by PID and its start time); a pass asked for meanwhile (queue/again) runs after it.
tk_queue_dispatch() {
  local home=$1 me rc e
  tk_pstart_v "$2" || return 1
  me=$TK_PS
  tk_queue_dir "$home" || tk_die "$EX_FAIL" "$TK_ERR"
  local passes=0
  while :; do
    tk_queue_again "$home"
    rc=0
    tk_lock_acquire "$home/queue/dispatching" "$2" "$me" queue queue "dispatch.$2" || rc=$?
    # Another pass runs: it sees "again" and makes one more.
    [ "$rc" = 0 ] || return 0
    # (At most 20 passes at a time: a pass that keeps asking for another is left to the poll.)
    while [ -f "$home/queue/again" ] && [ "$passes" -lt 20 ]; do
      rm -f "$home/queue/again"
      passes=$((passes + 1))
      for e in $(tk_queue_entries "$home"); do _tk_queue_try "$home" "$e"; done
    done
    tk_lock_release "$home/queue/dispatching" "$2" "$me" || true
    [ -f "$home/queue/again" ] && [ "$passes" -lt 20 ] || return 0
  done
}

# tk_queue_dispatcher_up: the dispatcher's own tmux session (tmuxkit+queue), unless one runs: it
# polls while the queue is not empty (a foreign process freeing a GPU tells no one) and then ends.
tk_queue_dispatcher_up() {
  local name="tmuxkit${TK_HELPER_SEP}queue" i=0
  tk_lock_state "$(tk_home)/queue/dispatcher"
  [ "$LK_STATE" != alive ] || return 0
  # One that is ending (it saw the queue empty a moment ago) still has its session: wait it out.
  while tk_session_exists "$name" && [ "$i" -lt 100 ]; do
    sleep 0.02
    i=$((i + 1))
  done
  tk_tmux new-session -d -s "$name" "exec bash $(tk_sq "$TK_BIN/tmuxkit-queue") serve" 2>/dev/null || true
  tk_tmux set-option -t "=$name:" @tmuxkit_helper queue >/dev/null 2>&1 || true
}

# tk_queue_json HOME: each entry as a status row (state queued, or blocked), comma-separated.
tk_queue_json() {
  local home=$1 e pos=0 out='' st why w p
  for e in $(tk_queue_entries "$home"); do
    tk_queue_read "$home/queue/$e"
    w=''
    [ ! -f "$home/queue/$e/waiting_for" ] || IFS= read -r w <"$home/queue/$e/waiting_for" || true
    if [ -n "$Q_BLOCKED" ]; then
      st=$ST_BLOCKED why=$Q_BLOCKED
      p=null
    else
      pos=$((pos + 1))
      st=$ST_QUEUED why=$w p=$pos
    fi
    out="$out,{\"run\":$(tk_json_str "${e#*.}"),\"session\":$(tk_json_str "${e#*.}"),\"state\":\"$st\""
    out="$out,\"queue_position\":$p,\"waiting_for\":$(tk_json_str "$why"),\"gpus_wanted\":$Q_GPUS"
    out="$out,\"after\":$(tk_json_val "$Q_AFTER"),\"started_at\":$(tk_json_val "$Q_AT")}"
  done
  printf '%s' "${out#,}"
}

# tk_queue_gate HOME RUN GPUS AFTER ENTRY: tmuxkit-start's turn at the queue, after its own checks.
# Returns when the run may start now: with GPUS > 0, TK_GPU_PICK_IDX and TK_GPU_PICK_UUID are the
# GPUs it gets, and the queue's mutex stays held until its runner has claimed them (the caller
# drops it). When it must wait, it is queued (ENTRY: it stays queued), a line says so, and this
# exits 0. ENTRY: the queue's own dispatch of that entry.
tk_queue_gate() {
  local home=$1 run=$2 n=$3 after=$4 entry=$5 why='' since=0 pos note avail
  TK_GPU_PICK_IDX='' TK_GPU_PICK_UUID=''
  if [ -z "$entry" ] && tk_queue_find "$home" "$run" >/dev/null; then
    tk_die "$EX_LOCKED" "run '$run' is already queued on $(tk_here); 'tmuxkit stop $run' takes it out of the queue"
  fi
  local max=${TK_Q_MAX_RUNS:-0} live
  [ "$n" -gt 0 ] || [ -n "$after" ] || [ -n "$entry" ] || [ "$max" -gt 0 ] || return 0
  if [ "$n" -gt 0 ]; then
    tk_gpu_inventory
    case $TK_GPU_STATE in
    none) tk_die "$EX_USAGE" "run '$run' asks for $n GPU(s), but this host has none ($TK_GPU_WHY)" ;;
    hung | error) tk_die "$EX_FAIL" "run '$run' asks for $n GPU(s), but the GPUs cannot be read: $TK_GPU_WHY" ;;
    esac
    [ "$n" -le "$TK_GPU_N" ] || tk_die "$EX_USAGE" "run '$run' asks for $n GPUs, but $(tk_here) has $TK_GPU_N"
  fi
  tk_queue_mutex_take "$home" || tk_die "$EX_FAIL" "$TK_ERR"
  trap 'tk_queue_mutex_drop' EXIT
  if [ -n "$entry" ]; then
    if [ ! -d "$home/queue/$entry" ]; then # taken out (stopped) meanwhile
      tk_queue_mutex_drop
      printf 'run=%s\tstate=gone\n' "$run"
      exit 0
    fi
    tk_queue_read "$home/queue/$entry"
    since=$Q_AT
  fi
  if [ -n "$after" ]; then
    tk_queue_after "$home" "$after" "$since"
    case $TK_Q_AFTER in
    failed) tk_die "$EX_FAIL" "run '$run' not started: $TK_Q_WHY" ;;
    wait) why="waits for run $after to exit 0" ;;
    esac
  fi
  tk_queue_reserved "$home" "$entry"
  if [ -z "$why" ] && [ "$n" -gt 0 ]; then
    tk_gpu_assess "$home" "$run"
    # Its own GPUs (kept by its watchdog across a restart) are no one else's to reserve.
    avail=$((TK_GPU_FREE - TK_GPU_MINE - TK_Q_RESERVED))
    [ "$avail" -ge 0 ] || avail=0
    if [ $((TK_GPU_MINE + avail)) -ge "$n" ] && [ -n "$entry" ] && [ "$TK_Q_RESERVED" -gt 0 ] &&
      [ $((TK_GPU_FREE - TK_GPU_MINE)) -ge "$TK_Q_RESERVED" ]; then
      # GPUs were freed since this pass tried the runs ahead of it, and they can all start now: they
      # start first (first in, first out), in the pass this asks for, and this one right after them.
      # (Before the pick, whose success returns: checked after it, this was never reached.)
      tk_queue_again "$home"
      why="$TK_Q_AHEAD run(s) ahead of it start first"
    elif [ $((TK_GPU_MINE + avail)) -ge "$n" ] && tk_gpu_pick "$n"; then
      return 0
    else
      why="needs $n GPU"
      [ "$n" = 1 ] || why="${why}s"
      note=$(tk_gpu_blockers)
      [ -z "$note" ] || why="$why; $note"
      [ "$TK_Q_RESERVED" = 0 ] || why="$why; $TK_Q_AHEAD run(s) ahead of it wait for $TK_Q_RESERVED"
    fi
  fi
  if [ -z "$why" ] && [ "$max" -gt 0 ]; then
    # A box without GPUs to count: runs by number. The waiting runs ahead take their slots first.
    live=$(tk_queue_live_runs "$home")
    if [ $((live + TK_Q_AHEAD)) -ge "$max" ]; then
      why="waits for a run slot: $live of max_runs $max live"
      [ "$TK_Q_AHEAD" = 0 ] || why="$why, $TK_Q_AHEAD queued ahead of it"
    fi
  fi
  if [ -z "$why" ]; then
    # With max_runs the mutex stays held until the runner lives (the caller drops it): counted by the next start.
    [ "$max" -gt 0 ] || tk_queue_mutex_drop
    return 0
  fi
  pos=$((TK_Q_AHEAD + 1))
  if [ -n "$entry" ]; then
    tk_write "$home/queue/$entry/waiting_for" "$why$TK_NL" || true
  else
    tk_queue_add "$home" "$run" "$n" "$after" "$why" || tk_die "$EX_FAIL" "cannot write the queue entry under $home/queue"
  fi
  tk_queue_mutex_drop
  [ -n "$entry" ] || tk_queue_dispatcher_up
  note="queued ($(tk_ordinal "$pos")): $why"
  printf '%s\n' "$note" >&2
  printf 'run=%s\tstate=queued\tposition=%s\twaiting_for=%s\tnote=%s\n' "$run" "$pos" "$why" "$note"
  exit 0
}

# tk_queue_take_out HOME RUN: stop of a queued (or blocked) run: its entry removed. 1 when RUN is
# not in the queue. A run both queued and with an earlier life on the host: only the entry goes.
tk_queue_take_out() {
  local e
  tk_valid_run "$2" || return 1
  tk_queue_find "$1" "$2" >/dev/null || return 1
  tk_queue_mutex_take "$1" || return 1
  if e=$(tk_queue_find "$1" "$2"); then
    tk_queue_remove "$1" "$e" || true
  fi
  tk_queue_mutex_drop
}

# tk_queue_rows HOME [RUN...]: the queue's entries (all, or the named ones) appended to J_RUNS as
# status rows, and each one found taken off J_UNKNOWN (the status report's lists).
tk_queue_rows() {
  local home=$1 rows row e n keep='' IFS
  shift
  [ -d "$home/queue" ] || return 0
  rows=$(tk_queue_json "$home")
  [ -n "$rows" ] || return 0
  # One object a line: the run names are [A-Za-z0-9_-], so '},{"run":' only ever splits rows.
  rows=${rows//\},\{\"run\":/\}$'\n'\{\"run\":}
  while IFS= read -r row; do
    e=${row#\{\"run\":\"}
    e=${e%%\"*}
    if [ $# -gt 0 ]; then
      for n in "$@"; do [ "$n" != "$e" ] || break; done
      [ "$n" = "$e" ] || continue
      J_UNKNOWN=${J_UNKNOWN//\"$e\"/}
      J_UNKNOWN=${J_UNKNOWN//,,/,}
      J_UNKNOWN=${J_UNKNOWN#,}
      J_UNKNOWN=${J_UNKNOWN%,}
    fi
    keep="$keep,$row"
  done <<EOF2
$rows
EOF2
  [ -z "$keep" ] || J_RUNS="$J_RUNS${J_RUNS:+,}${keep#,}"
}
