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
  wait_for 30 run_over pc
  wait_for 5 grep -q RAN-IT "$WORK/results/pc/tmuxkit/pc.log"
}

@test "a lock of gpu1.clusterB read on gpu1.clusterA (two clusters, one shared filesystem) is another host's: never judged stale here" {
  sleep 0 &
  local dead=$!
  wait "$dead"
  # This host seen as gpu1.clusterA (TK_HOSTNAME is read once a process, as tk_hostname_v sets it).
  run bash -c '. "$1/lib/tmuxkit.bash"; TK_HOSTNAME=gpu1.clusterA
    for h in gpu1.clusterB gpu1 gpu1.clusterA gpu2 gpu2.clusterA; do
      if tk_lock_elsewhere "$h"; then echo "$h elsewhere"; else echo "$h here"; fi; done
    TK_HOSTNAME=gpu1
    for h in gpu1.clusterB gpu1; do if tk_lock_elsewhere "$h"; then echo "bare: $h elsewhere"; else echo "bare: $h here"; fi; done
    printf "pid=%s\nstart=t:1\nhost=gpu1.clusterB\nrun=far\n" "$2" >"$3/L"
    TK_HOSTNAME=gpu1.clusterA; tk_lock_state "$3/L"; echo "state=$LK_STATE elsewhere=$LK_ELSEWHERE"' _ "$SHELL_DIR" "$dead" "$WORK"
  assert_success
  assert_line "gpu1.clusterB elsewhere"
  assert_line "gpu1 here"
  assert_line "gpu1.clusterA here"
  assert_line "gpu2 elsewhere"
  assert_line "gpu2.clusterA elsewhere"
  assert_line "bare: gpu1.clusterB here"
  assert_line "bare: gpu1 here"
  assert_line "state=alive elsewhere=1"
  # The status report's fast path judges it alike (its awk is given this host's name as TK_HOSTNAME).
  run bash "$SHELL_DIR/tmuxkit-start" near --cmd 'echo working; sleep 60'
  assert_success
  wait_for 20 grep -q working "$WORK/results/near/tmuxkit/near.log"
  local me
  me=$(hostname)
  case $me in *.*) ;; *) me=$me.clusterA ;; esac
  printf 'pid=%s\nstart=t:1\nhost=%s\nrun=near\n' "$dead" "${me%%.*}.otherCluster" >"$WORK/results/near/.tmuxkit.lock"
  TK_HOSTNAME=$me run bash "$SHELL_DIR/check_training_status.sh" --runs-only --json near
  assert_output --partial '"lock_state":"alive"'
}

@test "queue: a link planted at queue/again is never written through (its target was truncated by a dispatch pass)" {
  mkdir -p "$TMUXKIT_HOME/queue"
  chmod 700 "$TMUXKIT_HOME/queue"
  printf 'precious\n' >"$WORK/precious"
  ln -s "$WORK/precious" "$TMUXKIT_HOME/queue/again"
  run bash -c '. "$1/lib/tmuxkit.bash" && tk_queue_dispatch "$2" $$' _ "$SHELL_DIR" "$TMUXKIT_HOME"
  assert_success
  run cat "$WORK/precious"
  assert_output precious
}

@test "report: a lock's host= or run= written by another host or user never sends a control character to the terminal" {
  mkdir -p "$WORK/results/far"
  printf 'pid=4242\nstart=t:1\nhost=node17\033]0;pwned\007.cluster\nrun=far\033[2J\ncreated=1\n' >"$WORK/results/far/.tmuxkit.lock"
  run bash "$SHELL_DIR/check_training_status.sh"
  assert_output --partial ELSEWHERE
  assert_output --partial "node17?]0;pwned?.cluster"
  refute_output --partial $'\033'
  refute_output --partial $'\007'
}
