#!/usr/bin/env bats
# Attacks on what landed for issues 24 and 25 (host side): each test is a defect an attack found.
load test_helper

@test "python cache: a corrupt or planted \$TMUXKIT_HOME/python naming a program that is not a python is not trusted" {
  mkdir -p "$TMUXKIT_HOME"
  local w
  w=$(command -v python3)
  printf '%s\n/bin/false\n' "$w" >"$TMUXKIT_HOME/python"
  run bash -c '. "$1/lib/tmuxkit.bash" && tk_python_v py "$2" && printf "%s\n" "$py"' _ "$SHELL_DIR" "$TMUXKIT_HOME"
  assert_success
  refute_output /bin/false
  assert_output --regexp '/python[0-9.]*$'
  # ...and the cache says the real one again
  run sed -n 2p "$TMUXKIT_HOME/python"
  refute_output /bin/false
}

@test "python cache: a run's command runs when the cache named another program (the run exited 0, its command never run)" {
  mkdir -p "$TMUXKIT_HOME"
  printf '#!/bin/sh\nexit 0\n' >"$BATS_TEST_TMPDIR/notpy"
  chmod +x "$BATS_TEST_TMPDIR/notpy"
  printf '%s\n%s\n' "$(command -v python3)" "$BATS_TEST_TMPDIR/notpy" >"$TMUXKIT_HOME/python"
  run bash "$SHELL_DIR/tmuxkit-start" pc --cmd 'echo RAN-IT'
  assert_success
  wait_for 10 test -f "$TMUXKIT_HOME/runs/pc/exit"
  wait_for 5 grep -q RAN-IT "$WORK/results/pc/tmuxkit/pc.log"
}
