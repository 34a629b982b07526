#!/usr/bin/env bats
# lib/quiet.bash on its own: the CPU time of a process tree, from /proc and from ps (GNU and BSD
# formats), as the watchdog reads it before it calls a silent run stuck.
load test_helper

@test "quiet: CPU time from /proc and from ps agree on a busy process" {
  . "$SHELL_DIR/lib/tmuxkit.bash"
  [ -r /proc/$$/stat ] || skip "no /proc here (the ps path is all there is)"
  bash -c 'while :; do :; done' &
  busy=$!
  wait_for 60 bash -c '[ "$(ps -o time= -p "$1" | tr -d " :0-")" != "" ]' _ "$busy"
  tk_quiet_cpu_v "$busy"
  a=$TK_CPU
  TK_QUIET_PROC=/nonexistent tk_quiet_cpu_v "$busy"
  b=$TK_CPU
  kill "$busy"
  [[ $a =~ ^[0-9]+$ ]] && [[ $b =~ ^[0-9]+$ ]]
  [ "$a" -ge 100 ] # a second or more of CPU
  [ $((a - b)) -ge -100 ] && [ $((a - b)) -le 200 ] # ps shows whole seconds, taken a moment later
}

@test "quiet: ps's time in BSD (hundredths) and GNU (days) formats is summed" {
  . "$SHELL_DIR/lib/tmuxkit.bash"
  bin="$BATS_TEST_TMPDIR/bin"
  mkdir -p "$bin"
  printf '#!/bin/sh\nprintf "  1:02.50\\n1-02:00:00\\n   0:00.07\\n"\n' >"$bin/ps"
  chmod +x "$bin/ps"
  PATH="$bin:$PATH" TK_QUIET_PROC=/nonexistent tk_quiet_cpu_v 1 2 3
  [ "$TK_CPU" = $(((6250 + 93600 * 100) + 7)) ]
  tk_quiet_cpu_v
  [ -z "$TK_CPU" ]
}
