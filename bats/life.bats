#!/usr/bin/env bats
# A run's life and end: it outlives its tmux server, its log writer ends with it, the log
# survives a full disk, and its end is notified without a watchdog.
load test_helper

log_lines() { wc -l <"$WORK/results/$1/tmuxkit/$1.log" | tr -d ' '; }
log_has() { grep -q -- "$2" "$WORK/results/$1/tmuxkit/$1.log"; }
grows_past() { [ "$(log_lines "$1")" -gt "$2" ]; }

@test "a printing run outlives tmux kill-server: it goes on headless, its log grows, stop ends it with its save" {
  command -v python3 >/dev/null 2>&1 || skip "the relay needs python3"
  run bash "$SHELL_DIR/tmuxkit-start" ks --cmd "python3 '$ROOT/tests/fakes/trainer.py' --steps 100000 --delay 0.05"
  assert_success
  wait_for 20 log_has ks 'step 3'
  local pid n
  pid=$(cat "$TMUXKIT_HOME/runs/ks/pid")
  tmux -L "$TMUXKIT_SOCKET" kill-server
  run ! tmux -L "$TMUXKIT_SOCKET" has-session -t =ks
  # The run prints on: its log keeps growing (it died of its first write to the dead pane).
  n=$(log_lines ks)
  wait_for 20 grows_past ks "$((n + 5))"
  log_has ks 'its tmux pane is gone'
  kill -0 "$pid"
  [ ! -e "$TMUXKIT_HOME/runs/ks/exit" ]
  run bash "$SHELL_DIR/check_training_status.sh" --runs-only --json ks
  assert_output --partial '"state":"running"'
  assert_output --partial '"headless":true'
  # stop reaches it with no pane (SIGINT to the command): its Ctrl-C handler runs and is logged.
  run bash "$SHELL_DIR/tmuxkit-kill" ks --grace 20
  assert_success
  assert_output --partial "rung=sigint"
  assert_output --partial "exit=0"
  wait_for 10 log_has ks '^interrupted$'
  wait_for 10 log_has ks '^\[tmuxkit\] run ks exited with code 0 at '
}

@test "the command's output is still a terminal through the relay, and Ctrl-C from the pane still reaches it" {
  command -v python3 >/dev/null 2>&1 || skip "the relay needs python3"
  run bash "$SHELL_DIR/tmuxkit-start" tt --cmd "python3 -c 'import sys; print(\"out\", sys.stdout.isatty(), \"err\", sys.stderr.isatty(), \"in\", sys.stdin.isatty(), flush=True)'; python3 '$ROOT/tests/fakes/trainer.py' --steps 100000 --delay 0.05"
  assert_success
  wait_for 20 log_has tt 'step 2'
  run grep -c '^out True err True in True$' "$WORK/results/tt/tmuxkit/tt.log"
  assert_output 1
  run bash "$SHELL_DIR/tmuxkit-kill" tt --grace 20
  assert_success
  assert_output --partial "rung=sigint"
  wait_for 10 log_has tt 'interrupted$' # after the terminal's own ^C echo
}
