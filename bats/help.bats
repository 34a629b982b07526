#!/usr/bin/env bats
# Every host script prints exactly its header comment for --help (the help is the comment).
load test_helper

header() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$1"; }

@test "--help is the header, for every script" {
  for f in "$SHELL_DIR"/check_training_status.sh "$SHELL_DIR"/tmuxkit-* "$SHELL_DIR"/build; do
    case $f in *.py) continue ;; esac
    run bash "$f" --help
    assert_success
    assert_output "$(header "$f")"
    assert_line --index 0 --regexp "^Summary: "
    assert_line --index 1 --regexp "^Usage: "
  done
}
