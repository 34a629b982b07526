#!/usr/bin/env bats
# The shape of shell/: sourced libraries apart from entry points, and the standalone
# check_training_status.sh built from them, committed, executable, and fresh.
load test_helper

@test "the committed check_training_status.sh is what shell/build makes now" {
  run bash "$SHELL_DIR/build" --check
  assert_success
  # and --check does fail on a stale copy
  cp "$SHELL_DIR/check_training_status.sh" "$BATS_TEST_TMPDIR/stale.sh"
  echo "# edited by hand" >>"$BATS_TEST_TMPDIR/stale.sh"
  run bash "$SHELL_DIR/build" --check "$BATS_TEST_TMPDIR/stale.sh"
  assert_failure 1
  assert_output --partial "stale"
}

@test "every script is executable in git, libraries are not" {
  git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1 || skip "not a git checkout"
  run bash -c "git -C '$ROOT' ls-files -s shell | awk '{ print \$1, \$4 }'"
  assert_success
  assert_line "100755 shell/check_training_status.sh"
  assert_line "100755 shell/build"
  local line
  while IFS= read -r line; do
    case ${line#* } in
    shell/tmuxkit-*.py) ;;
    shell/tmuxkit-* | *.sh) [ "${line%% *}" = 100755 ] || fail "not executable in git: $line" ;;
    shell/lib/*) [ "${line%% *}" = 100644 ] || fail "a library should not be executable: $line" ;;
    esac
  done <<<"$output"
}

@test "the libraries only define: sourcing one sets no option, runs nothing, creates nothing" {
  run bash -c 'set +euo pipefail; before=$-; . "$1/lib/tmuxkit.bash"; [ "$before" = "$-" ] && echo same-options; trap -p' _ "$SHELL_DIR"
  assert_success
  assert_output "same-options"
  [ ! -e "$TMUXKIT_HOME" ]
  run bash -c 'grep -hvE "^[[:space:]]*#" "$1"/lib/*.bash | grep -E "set -[euo]|\"\\\$0\"|TMUXKIT_LIB_ONLY"' _ "$SHELL_DIR"
  assert_failure 1
}

@test "the standalone report, copied alone, writes nothing on the box it inspects" {
  mkdir -p "$BATS_TEST_TMPDIR/alone"
  cp "$SHELL_DIR/check_training_status.sh" "$BATS_TEST_TMPDIR/alone/"
  find "$HOME" "$WORK" >"$BATS_TEST_TMPDIR/before"
  run "$BATS_TEST_TMPDIR/alone/check_training_status.sh"
  assert_success
  run "$BATS_TEST_TMPDIR/alone/check_training_status.sh" --json --runs-only
  assert_success
  [ ! -e "$TMUXKIT_HOME" ]
  find "$HOME" "$WORK" >"$BATS_TEST_TMPDIR/after"
  run diff "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
  assert_success
}

@test "start --again repeats the stored start: cwd, results, env; only the command may change" {
  mkdir -p elsewhere
  run bash "$SHELL_DIR/tmuxkit-start" again1 --cmd 'echo "first $MYVAR"' --cwd elsewhere --env MYVAR=kept
  assert_success
  wait_for 30 run_over again1
  cd /
  run bash "$SHELL_DIR/tmuxkit-start" again1 --again --cmd 'echo "second $MYVAR in $PWD"'
  assert_success
  assert_output --partial "results=$WORK/elsewhere/results/again1"
  wait_for 10 grep -q "second kept in $WORK/elsewhere" "$WORK/elsewhere/results/again1/tmuxkit/again1.log"
  run bash "$SHELL_DIR/tmuxkit-start" nosuch --again
  assert_failure 4
}
