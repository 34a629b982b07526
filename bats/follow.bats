#!/usr/bin/env bats
# lib/follow.bash: a rotated log read by position (tmuxkit-logs -f --heartbeat, --from).
load test_helper

lib() { # SCRIPT: run it with the libraries loaded
  run bash -c '. "$1/lib/tmuxkit.bash" && . "$1/lib/follow.bash" && eval "$2"' _ "$SHELL_DIR" "$1"
}

@test "tk_emit: only whole lines, and the offset just past them" {
  printf 'one\n\ntwo\nthr' >"$WORK/f"
  lib 'tk_emit "$PWD/f" 0 13 4>&1; echo "off=$TK_OFF"; tk_emit "$PWD/f" 4 13 4>&1; echo "off=$TK_OFF"'
  assert_success
  assert_output "one

two
off=9

two
off=9"
}

@test "tk_log_find: a part by its inode across rotations, and the next newer part's inode" {
  printf 'old\n' >"$WORK/r.log.2"
  printf 'mid\n' >"$WORK/r.log.1"
  printf 'new\n' >"$WORK/r.log"
  ino2=$(ls -i "$WORK/r.log.2" | awk '{ print $1 }')
  ino1=$(ls -i "$WORK/r.log.1" | awk '{ print $1 }')
  ino0=$(ls -i "$WORK/r.log" | awk '{ print $1 }')
  lib "tk_log_find \"\$PWD/r.log\" $ino2; echo \"\$TK_FIND_IDX \$TK_FIND_SIZE \$TK_NEXT_INO \$TK_LOG_INO \${TK_FIND_PATH##*/}\""
  assert_output "2 4 $ino1 $ino0 r.log.2"
  lib "tk_log_find \"\$PWD/r.log\" $ino0; echo \"\$TK_FIND_IDX [\$TK_NEXT_INO]\""
  assert_output "0 []"
  lib 'tk_log_find "$PWD/r.log" 1; echo "$TK_FIND_IDX"'
  assert_output "-1"
}

@test "tk_follow_pos: a rotation between finding a part and reading it reads that part, not the one now at its name" {
  printf 'old 1\nold 2\n' >"$WORK/r.log"
  ino=$(ls -i "$WORK/r.log" | awk '{ print $1 }')
  # The first read of the log's bytes rotates it first: r.log is then another part, as long as the old one.
  lib 'tail() {
      if [ "$1" = -c ] && [ ! -e rotated ]; then
        : >rotated && mv r.log r.log.1 && printf "new 1\nnew 2\nnew 3\n" >r.log
      fi
      command tail "$@"
    }
    tk_follow_pos "$PWD/r.log" '"$ino"' 0 false'
  assert_success
  new=$(ls -i "$WORK/r.log" | awk '{ print $1 }')
  assert_output "old 1
old 2
"$'\036'"$ino:12
new 1
new 2
new 3
"$'\036'"$new:18"
}

@test "logs -f --heartbeat: a rotation between sizing the log and reading its last lines reads the part that was sized" {
  run bash "$SHELL_DIR/tmuxkit-start" rr --cmd 'echo old 1; echo old 2'
  assert_success
  log=$WORK/results/rr/tmuxkit/rr.log
  wait_for 10 grep -q 'exited with code 0' "$log"
  ino=$(ls -i "$log" | awk '{ print $1 }')
  size=$(wc -c <"$log" | tr -d ' ')
  # The first read of the log's bytes rotates it first: rr.log is then another, longer part.
  tail() {
    if [ "$1" = -c ] && [ ! -e "$WORK/rotated" ]; then
      : >"$WORK/rotated" && mv "$LOG" "$LOG.1" && awk '{ print "new " $0 } END { print "new end" }' "$LOG.1" >"$LOG"
    fi
    command tail "$@"
  }
  export -f tail
  export LOG=$log WORK
  run bash "$SHELL_DIR/tmuxkit-logs" rr -n 2 -f --heartbeat
  unset -f tail
  assert_success
  new=$(ls -i "$log" | awk '{ print $1 }')
  # The sized part's last 2 lines and its mark, then the new part whole, once.
  [ "${lines[2]}" = $'\036'"$ino:$size" ]
  [ "${lines[3]}" = "new $(sed -n 1p "$log.1")" ]
  [ "${lines[1]}" = "$(tail -n 1 "$log.1")" ]
  [ "$(printf '%s\n' "$output" | grep -c '^new ')" = "$(wc -l <"$log" | tr -d ' ')" ]
  [ "${lines[${#lines[@]} - 1]}" = $'\036'"$new:$(wc -c <"$log" | tr -d ' ')" ]
}

@test "tk_log_find: a part rotated past LOG.9 (log_keep over 9) is still found by its inode" {
  local i
  for i in "" .1 .2 .3 .4 .5 .6 .7 .8 .9 .10 .11; do echo "part$i" >"$WORK/r.log$i"; done
  local ino
  ino=$(bash -c '. "$1/lib/tmuxkit.bash" && . "$1/lib/follow.bash" && tk_ino_size "$2"' _ "$SHELL_DIR" "$WORK/r.log.11" | awk '{ print $1 }')
  run bash -c '. "$1/lib/tmuxkit.bash" && . "$1/lib/follow.bash" && tk_log_find "$2" "$3" && echo "$TK_FIND_IDX $TK_FIND_PATH"' _ "$SHELL_DIR" "$WORK/r.log" "$ino"
  assert_success
  assert_output "11 $WORK/r.log.11"
}

@test "tk_follow_pos: the log's first rotation between listing its parts and reading their inodes is not a gap" {
  printf 'old 1\nold 2\n' >"$WORK/r.log"
  ino=$(ls -i "$WORK/r.log" | awk '{ print $1 }')
  # The first stat of the log's parts rotates it first: the names were listed when r.log.1 did not
  # exist, and the part being read is r.log.1 by the time its inode is read. (Before: the part was
  # taken for rotated away, the gap line said lines were lost, and "old 2" was skipped.)
  lib 'stat() {
      case " $* " in *" $PWD/r.log "*)
        if [ ! -e rotated ]; then
          : >rotated && mv r.log r.log.1 && printf "new 1\n" >r.log
        fi
        ;;
      esac
      command stat "$@"
    }
    tk_follow_pos "$PWD/r.log" '"$ino"' 6 false'
  assert_success
  [ -e "$WORK/rotated" ]
  refute_line --partial "lines were lost"
  new=$(ls -i "$WORK/r.log" | awk '{ print $1 }')
  assert_output "old 2
"$'\036'"$ino:12
new 1
"$'\036'"$new:6"
}
