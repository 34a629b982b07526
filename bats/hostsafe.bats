#!/usr/bin/env bats
# The host scripts against what a real box or a careless hand puts in their way: no UTF-8 locale,
# paths that look like options, links where state lives, a full $TMUXKIT_HOME, stray folders and
# hand-made locks, a BASH_ENV that prints.
load test_helper

start_run() { # RUN CMD
  run bash "$SHELL_DIR/tmuxkit-start" "$1" --cmd "$2"
  assert_success
}

@test "locale: with no locale at all, and with LC_ALL=C, a live run's pane and log writer are found" {
  start_run loc1 'echo ready; sleep 60'
  wait_for 10 grep -q ready "$WORK/results/loc1/tmuxkit/loc1.log"
  local how
  for how in "-u LANG -u LC_ALL -u LC_CTYPE" "-u LANG -u LC_CTYPE LC_ALL=C"; do
    # shellcheck disable=SC2086
    run env $how bash "$SHELL_DIR/check_training_status.sh" --runs-only --json loc1
    assert_success
    assert_output --partial '"state":"running"'
    assert_output --partial '"writer":"alive"'
    assert_output --partial '"headless":false'
    # shellcheck disable=SC2086
    run env $how bash "$SHELL_DIR/check_training_status.sh" --root "$WORK/results"
    assert_success
    assert_output --regexp $'\n  loc1 +1 window\\(s\\)'
    # shellcheck disable=SC2086
    run env $how bash "$SHELL_DIR/tmuxkit-zombies"
    assert_success
    refute_output --partial headless
    refute_output --partial writer_dead
  done
}

@test "locale: doctor reports it, as a check that passes" {
  run env -u LANG -u LC_CTYPE LC_ALL=C bash "$SHELL_DIR/tmuxkit-doctor"
  assert_line --regexp $'^check=locale\tok=1\tvalue=LC_ALL=C: not UTF-8'
  run env -u LANG -u LC_CTYPE -u LC_ALL bash "$SHELL_DIR/tmuxkit-doctor"
  assert_line --regexp $'^check=locale\tok=1\tvalue=none set'
  run env -u LC_CTYPE -u LC_ALL LANG=C.UTF-8 bash "$SHELL_DIR/tmuxkit-doctor"
  assert_line $'check=locale\tok=1\tvalue=LANG=C.UTF-8 (UTF-8)\tfix='
}
