# shellcheck shell=bash
# shellcheck disable=SC2034  # globals (AL_*) are the results callers read
# Alerts while a run lives, judged by its watchdog: a NaN or inf metric (nan_loss) and a results
# filesystem running out of room (disk_low). Each says what it saw in AL_* variables; the
# watchdog writes the event and sends the notification.
# Sourced: defines functions only; no options set, nothing created, nothing run.

# tk_claim_once FILE KEY: true once for KEY (a run id) in FILE (one key a line): of two callers
# at once, one claims. FILE is never followed when it is a link. The claim is a tmuxkit lock at
# FILE.claim (lib/lock.bash: written whole with its owner, linked into place at once), so a claimer
# killed while it held it (SIGKILL, a reboot) leaves a stale lock that the next claimer takes over,
# not a claim no one can ever make again.
tk_claim_once() {
  local f=$1 key=$2 me rc=0 age
  [ ! -L "$f" ] || return 1
  ! grep -qxF -- "$key" "$f" 2>/dev/null || return 1
  me=$(tk_pstart $$) || return 1
  # An earlier version's claim was a folder: one older than a claim ever takes was left by a killed
  # claimer, and is taken away (rmdir: only while it is empty, as that version left it).
  if [ -d "$f.claim" ] && [ ! -L "$f.claim" ]; then
    age=$(($(date +%s) - $(tk_stat mtime "$f.claim" 2>/dev/null || date +%s)))
    [ "$age" -gt 10 ] && rmdir "$f.claim" 2>/dev/null || return 1
  fi
  tk_lock_acquire "$f.claim" $$ "$me" claim claim "$key" || return 1
  if grep -qxF -- "$key" "$f" 2>/dev/null; then
    rc=1
  else
    { cat "$f" 2>/dev/null || true; printf '%s\n' "$key"; } | tail -n 20 >"$f.tmp.$$" && mv -f "$f.tmp.$$" "$f" || rc=1
  fi
  tk_lock_release "$f.claim" $$ "$me" || true
  return "$rc"
}

# tk_alert_nan: for the loaded run, the first metric that the log writer read as NaN or inf
# (its newest reading, RUN.progress beside the log, of this start: "t" not before its start).
# Once per start (runs/RUN/alert_nan keeps the run ids alerted). Sets AL_METRIC AL_VALUE AL_STEP
# and succeeds only when this call is the one that alerts.
tk_alert_nan() {
  local pf line
  AL_METRIC='' AL_VALUE='' AL_STEP=''
  pf=${R_LOG%"$TK_LOG_SUFFIX"}.progress
  [ -f "$pf" ] && [ ! -L "$pf" ] || return 1
  line=$(tail -n 1 "$pf" 2>/dev/null | cut -b 1-4000) || return 1
  case $line in *'":"nan"'* | *'":"inf"'* | *'":"-inf"'*) ;; *) return 1 ;; esac
  local t
  t=$(printf '%s' "$line" | sed -n 's/^{"t":\([0-9]*\).*/\1/p')
  [ -z "$R_STARTED" ] || [ -z "$t" ] || [ "$t" -ge "$R_STARTED" ] || return 1
  # The first such member (the loss first when it is one of them).
  read -r AL_METRIC AL_VALUE <<EOF
$(printf '%s\n' "$line" | awk -F, '{
    for (i = 1; i <= NF; i++) {
      f = $i
      sub(/^[{]/, "", f)
      sub(/[}]$/, "", f)
      if (f !~ /^"[A-Za-z0-9_.]+":"-?(nan|inf)"$/) continue
      k = f; sub(/":".*/, "", k); sub(/^"/, "", k)
      v = f; sub(/.*":"/, "", v); sub(/"$/, "", v)
      if (k == "loss") { lk = k; lv = v }
      else if (fk == "") { fk = k; fv = v }
    }
    if (lk != "") print lk, lv; else if (fk != "") print fk, fv
  }')
EOF
  [ -n "$AL_METRIC" ] || return 1
  AL_STEP=$(printf '%s' "$line" | sed -n 's/.*"step":\([0-9]*\).*/\1/p')
  tk_claim_once "$R_DIR/alert_nan" "$R_RUN_ID"
}

# tk_disk_free_kb DIR: "AVAIL_KB TOTAL_KB" of the filesystem DIR is on (POSIX df -P: Linux and
# macOS alike); fails when df cannot tell.
tk_disk_free_kb() {
  df -Pk "$1" 2>/dev/null | awk 'NR == 2 && $4 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/ { print $4, $2; ok = 1 } END { exit !ok }'
}

# tk_disk_min_kb MIN TOTAL_KB: the threshold in KiB: MIN is "N%" (of TOTAL_KB) or N KiB.
tk_disk_min_kb() {
  case $1 in
  *%) echo $(($2 * ${1%\%} / 100)) ;;
  *) echo "$1" ;;
  esac
}

# tk_disk_min_valid MIN: N% (0-100) or a whole number of KiB.
tk_disk_min_valid() {
  case $1 in
  '' | *[!0-9%]* | %* | *%*%) return 1 ;;
  *%) [ "${1%\%}" -le 100 ] ;;
  esac
}

# tk_alert_disk MIN: the loaded run's results filesystem against MIN (see tk_disk_min_kb). Once
# per crossing: runs/RUN/disk_low ("AVAIL_KB TOTAL_KB MIN_KB SINCE") exists while it is low and
# goes once there is room again. Sets AL_DISK to "low" or "ok" when it crossed (else ''), and
# AL_FREE_KB AL_TOTAL_KB AL_MIN_KB.
tk_alert_disk() {
  local min=$1 dir=$R_RESULTS f="$R_DIR/disk_low" df
  AL_DISK='' AL_FREE_KB='' AL_TOTAL_KB='' AL_MIN_KB=''
  [ -n "$min" ] && [ "$min" != 0 ] && [ "$min" != 0% ] || return 0
  # The results folder may not exist yet: the nearest folder above it that does.
  while [ -n "$dir" ] && [ ! -d "$dir" ]; do
    case $dir in */*) dir=${dir%/*} ;; *) dir='' ;; esac
  done
  [ -n "$dir" ] || dir=$R_CWD
  df=$(tk_disk_free_kb "$dir") || return 0
  read -r AL_FREE_KB AL_TOTAL_KB <<EOF
$df
EOF
  AL_MIN_KB=$(tk_disk_min_kb "$min" "$AL_TOTAL_KB")
  [ ! -L "$f" ] || return 0
  if [ "$AL_FREE_KB" -lt "$AL_MIN_KB" ]; then
    [ ! -f "$f" ] || return 0
    tk_write "$f" "$AL_FREE_KB $AL_TOTAL_KB $AL_MIN_KB $(date +%s)$TK_NL" || return 0
    AL_DISK=low
  elif [ -f "$f" ]; then
    rm -f "$f"
    AL_DISK=ok
  fi
}

# tk_kb_words KB: 1.5 GiB, 800 MiB, 12 KiB.
tk_kb_words() {
  awk -v k="$1" 'BEGIN {
    if (k >= 1048576) printf "%.1f GiB\n", k / 1048576
    else if (k >= 1024) printf "%.1f MiB\n", k / 1024
    else printf "%d KiB\n", k }'
}

# tk_alerts_watch ON_NAN DISK_MIN: the watchdog's look at the loaded, live run (called each round
# by tmuxkit-watch, whose `event` writes and notifies). nan_loss once per start: with ON_NAN "stop"
# the run is stopped by the ladder (its Ctrl-C save runs; runs/RUN/nan_stopped names the start,
# so it is no user's stop for on_done); "ignore": not looked at. disk_low once per crossing.
tk_alerts_watch() {
  local on_nan=$1 min=$2 why
  if [ "$on_nan" != ignore ] && tk_alert_nan; then
    why="$AL_METRIC is $AL_VALUE"
    [ "$on_nan" != stop ] || why="$why: stopping it (on_nan = stop)"
    event "$EV_NAN_LOSS" ",\"metric\":$(tk_json_str "$AL_METRIC"),\"value\":$(tk_json_str "$AL_VALUE"),\"step\":${AL_STEP:-null},\"action\":$(tk_json_str "$on_nan"),\"reason\":$(tk_json_str "$why")"
    if [ "$on_nan" = stop ] && tk_runner_alive; then
      tk_write "$R_DIR/nan_stopped" "$R_RUN_ID$TK_NL" || true
      "$TK_BIN/tmuxkit-kill" "$R_RUN" --grace "${GRACE:-$TK_DEF_GRACE}" --keep-watchdog >/dev/null 2>&1 || true
    fi
  fi
  tk_alert_disk "$min"
  case $AL_DISK in
  low)
    why="$(tk_kb_words "$AL_FREE_KB") free of $(tk_kb_words "$AL_TOTAL_KB") where the results are (under $min)"
    event "$EV_DISK_LOW" ",\"free_kb\":$AL_FREE_KB,\"total_kb\":$AL_TOTAL_KB,\"min_kb\":$AL_MIN_KB,\"reason\":$(tk_json_str "$why")"
    ;;
  ok) event "$EV_DISK_OK" ",\"free_kb\":$AL_FREE_KB,\"total_kb\":$AL_TOTAL_KB,\"min_kb\":$AL_MIN_KB" ;;
  esac
}
