#!/usr/bin/env bats
# tmuxkit-doctor's nvidia-smi check, with stand-ins for nvidia-smi first on PATH: one that answers,
# one that hangs (a crashed driver: cut at --nvidia-limit, nothing left running) and one that fails.
load test_helper

setup() {
  common_setup
  FAKEBIN="$BATS_TEST_TMPDIR/fakebin"
  mkdir -p "$FAKEBIN"
  export PATH="$FAKEBIN:$PATH"
}

teardown() {
  common_teardown
}

fake_nvidia() {
  printf '#!/bin/sh\n%s\n' "$1" >"$FAKEBIN/nvidia-smi"
  chmod +x "$FAKEBIN/nvidia-smi"
}

@test "doctor: nvidia-smi that answers is a check passed, with what it said" {
  fake_nvidia 'echo "NVIDIA H200, 3 %, 1024 MiB, 143771 MiB"'
  run bash "$SHELL_DIR/tmuxkit-doctor" --nvidia-limit 5
  assert_line --partial $'check=nvidia-smi\tok=1\tvalue=NVIDIA H200, 3 %, 1024 MiB, 143771 MiB'
}

@test "doctor: a hung nvidia-smi is cut at its limit, named, and leaves nothing running" {
  # The stand-in writes its pid, then becomes the sleep: that one process must be gone after.
  # (Not pgrep by command line: the Linux and the Mac pass run side by side, and the other
  # pass's own hung stand-in matched it, a failure of the test, not of the doctor.)
  fake_nvidia "echo \$\$ >'$BATS_TEST_TMPDIR/hung.pid'; exec sleep 371"
  SECONDS=0
  run bash "$SHELL_DIR/tmuxkit-doctor" --nvidia-limit 1
  [ "$SECONDS" -lt 10 ]
  assert_failure
  assert_line --partial $'check=nvidia-smi\tok=0\tvalue=no answer within 1s'
  [ -s "$BATS_TEST_TMPDIR/hung.pid" ]
  run kill -0 "$(cat "$BATS_TEST_TMPDIR/hung.pid")"
  assert_failure
}

@test "doctor: a failing nvidia-smi is a check failed, with its first line" {
  fake_nvidia 'echo "NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver"; exit 9'
  run bash "$SHELL_DIR/tmuxkit-doctor" --nvidia-limit 5
  assert_failure
  assert_line --partial $'check=nvidia-smi\tok=0\tvalue=failed (9): NVIDIA-SMI has failed'
}
