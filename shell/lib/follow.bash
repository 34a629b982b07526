# shellcheck shell=bash
# Following a rotated log by position (tmuxkit-logs -f --heartbeat): each stretch of complete lines
# is followed by a mark "<0x1E>INODE:OFFSET" (where the next byte comes from), so a reader whose
# link dropped asks again --from INODE:OFFSET and gets exactly the lines it had not had, across
# rotations (the old part is found by its inode among LOG.1 ... LOG.999), or a line saying that lines
# were lost, when that part was rotated away meanwhile. Never by a line's text: a log whose lines
# repeat (a blank line after each step) resumed at the wrong copy and lost the lines between.
# Sourced: defines only. Needs core.bash/proc.bash (tk_stat's probe).

TK_FOLLOW_CAP=1048576 # bytes per stretch: a reader keeps at most this much before a mark
TK_FOLLOW_GAP='[tmuxkit] some lines were lost here: the log rotated past them while the link was down'

# tk_ino_size FILE...: "INODE SIZE PATH" for each FILE that exists, one stat call, no link followed.
tk_ino_size() {
  tk_stat mtime / >/dev/null 2>&1 || true # probes GNU or BSD stat once
  if [ "$_TK_STAT" = gnu ]; then
    stat -c '%i %s %n' "$@" 2>/dev/null || true
  else
    stat -f '%i %z %N' "$@" 2>/dev/null || true
  fi
}

# tk_log_find LOG INODE: of the parts of LOG (LOG, LOG.1 ... LOG.999) in one snapshot, the one whose
# inode is INODE: TK_FIND_IDX its number (0 for LOG itself; -1 when no part is), TK_FIND_PATH,
# TK_FIND_SIZE, and TK_NEXT_INO the inode of the next newer part ('' for none); TK_LOG_INO, LOG's.
# A part is named gone only when a second and a third snapshot, a moment apart, agree: the names are
# listed before they are stat'ed, and a rotation between the two moves a part to a name not listed
# (the first rotation of all moves LOG to LOG.1, which did not exist yet): a follower under load
# took that for lines rotated away, said so, and skipped the rest of the part (12 steps lost).
tk_log_find() {
  local try=0
  while :; do
    tk_log_find_once "$1" "$2"
    [ "$TK_FIND_IDX" = -1 ] || return 0
    case $2 in '' | *[!0-9]*) return 0 ;; esac # no part looked for ("none"): nothing to confirm
    [ "$try" -lt 2 ] || return 0
    try=$((try + 1))
    sleep 0.1
  done
}

# tk_log_find_once LOG INODE: tk_log_find's one snapshot. Listed beside the parts that exist: the two
# names past the last of them, where a rotation or two moves the oldest listed part meanwhile.
tk_log_find_once() {
  local line n=0 f i
  for f in "$1".[1-9] "$1".[1-9][0-9] "$1".[1-9][0-9][0-9]; do
    i=${f##*.}
    [ ! -e "$f" ] || [ "$i" -le "$n" ] || n=$i
  done
  # shellcheck disable=SC2016  # an awk program
  line=$(tk_ino_size "$1" "$1".[1-9] "$1".[1-9][0-9] "$1".[1-9][0-9][0-9] "$1.$((n + 1))" "$1.$((n + 2))" |
    awk -v lg="$1" -v want="$2" '
    { path = substr($0, length($1) + length($2) + 3)
      i = (path == lg) ? 0 : substr(path, length(lg) + 2) + 0
      ino[i] = $1; size[i] = $2; have[i] = 1
      if ($1 == want) { hit = i } }
    END { if (hit == "") hit = -1
      printf "%s %s %s %s\n", hit, (hit >= 0 ? size[hit] : 0), (hit > 0 && have[hit - 1] ? ino[hit - 1] : "-"),
        (have[0] ? ino[0] : "-") }')
  read -r TK_FIND_IDX TK_FIND_SIZE TK_NEXT_INO TK_LOG_INO <<<"$line"
  [ "$TK_NEXT_INO" != - ] || TK_NEXT_INO=''
  [ "$TK_LOG_INO" != - ] || TK_LOG_INO=''
  case $TK_FIND_IDX in 0) TK_FIND_PATH=$1 ;; -1) TK_FIND_PATH='' ;; *) TK_FIND_PATH=$1.$TK_FIND_IDX ;; esac
}

# tk_emit FILE OFF SIZE: the complete lines of FILE (- for stdin, a file opened before) between
# byte OFF and SIZE (at most TK_FOLLOW_CAP bytes of them; a longer line goes out cut), then sets
# TK_OFF past them.
tk_emit() {
  local len=$(($3 - $2)) n
  [ "$len" -gt 0 ] || return 0
  [ "$len" -le "$TK_FOLLOW_CAP" ] || len=$TK_FOLLOW_CAP
  # awk prints the lines on stdout (fd 4 here) and their byte count on stderr, captured. The
  # "\n\001" after the bytes ends whatever partial line they end with (empty when they end with a
  # newline): every record before that one is a whole line.
  # shellcheck disable=SC2016  # an awk program
  n=$({ { { if [ "$1" = - ]; then tail -c "+$(($2 + 1))"; else tail -c "+$(($2 + 1))" "$1"; fi 2>/dev/null ||
    true; } | head -c "$len"; printf '\n\001'; } |
    LC_ALL=C awk -v cap="$TK_FOLLOW_CAP" '
      { if (NR > 2) { print pp; n += length(pp) + 1 }; pp = p; p = $0 }
      END {
        if (n == 0 && length(pp) >= cap) { print pp; n = length(pp) }
        printf "%d\n", n + 0 > "/dev/stderr"
      }'; } 2>&1 1>&4)
  case $n in '' | *[!0-9]*) n=0 ;; esac
  TK_OFF=$(($2 + n))
}

# tk_emit_part: tk_emit of the part whose inode is TK_INO, found at TK_FIND_PATH by tk_log_find,
# from TK_OFF, read from the file opened there and proved to be that part: a new snapshot taken
# after the open still has it at that name (a rotation only moves a part to an older name, never
# back). Reading by name instead read the part rotated into that name meanwhile (its bytes at that
# offset went out under this part's mark: a line from later in place of one, which was lost).
# 1 when a rotation landed between (TK_FIND_* are then of the new snapshot: find it again).
tk_emit_part() {
  local idx=$TK_FIND_IDX
  # fd 6 keeps stderr for the body; only a failed open (the part just moved) is silenced.
  { {
    tk_log_find "$LOGF" "$TK_INO"
    [ "$TK_FIND_IDX" = "$idx" ] || return 1
    tk_emit - "$TK_OFF" "$TK_FIND_SIZE" <&5
  } 2>&6; } 6>&2 2>/dev/null 5<"$TK_FIND_PATH" || return 1
}

# tk_part_read LOG INODE CMD...: CMD with its stdin the part of LOG whose inode is INODE, opened and
# proved to be it (as tk_emit_part); 1 when no part has that inode (rotated away).
tk_part_read() {
  local log=$1 ino=$2 idx
  shift 2
  while :; do
    tk_log_find "$log" "$ino"
    [ "$TK_FIND_IDX" != -1 ] || return 1
    idx=$TK_FIND_IDX
    { {
      tk_log_find "$log" "$ino"
      if [ "$TK_FIND_IDX" = "$idx" ]; then
        "$@" <&5
        return
      fi
    } 2>&6; } 6>&2 2>/dev/null 5<"$TK_FIND_PATH" || true
  done
}

# tk_follow_pos LOG INODE OFF CHECK: print LOG from byte OFF of the part whose inode is INODE on,
# through the newer parts, as it grows and rotates, a mark after each stretch and every 2 s, while
# CHECK succeeds (then once more, a second later). When that part is gone: the gap line, then LOG
# from its start. INODE '': LOG from OFF (0 when LOG does not exist yet).
tk_follow_pos() {
  local check=$4 last=$SECONDS ending=0
  LOGF=$1 TK_INO=$2 TK_OFF=$3
  exec 4>&1
  while :; do
    tk_log_find "$LOGF" "${TK_INO:-none}"
    if [ "$TK_FIND_IDX" = -1 ]; then
      if [ -n "$TK_LOG_INO" ]; then
        [ -z "$TK_INO" ] || printf '%s\n' "$TK_FOLLOW_GAP"
        [ -z "$TK_INO" ] || TK_OFF=0
        TK_INO=$TK_LOG_INO
        continue
      fi
    else
      if [ "$TK_FIND_SIZE" -lt "$TK_OFF" ]; then # truncated under us (not by tmuxkit's own writer)
        printf '%s\n' "$TK_FOLLOW_GAP"
        TK_OFF=0
      fi
      if [ "$TK_FIND_SIZE" -gt "$TK_OFF" ]; then
        tk_emit_part || continue
        printf '\036%s:%s\n' "$TK_INO" "$TK_OFF"
        last=$SECONDS
        [ "$TK_FIND_SIZE" -le "$TK_OFF" ] || continue # more of it (a stretch is capped)
      fi
      if [ "$TK_FIND_IDX" != 0 ] && [ -n "$TK_NEXT_INO" ]; then # an older part, read to its end
        TK_INO=$TK_NEXT_INO TK_OFF=0
        continue
      fi
    fi
    [ "$ending" = 0 ] || return 0
    if ! "$check"; then
      ending=1
      sleep 1
      continue
    fi
    if [ $((SECONDS - last)) -ge 2 ]; then
      printf '\036%s:%s\n' "$TK_INO" "$TK_OFF"
      last=$SECONDS
    fi
    sleep 0.5
  done
}
