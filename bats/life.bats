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

# writer_of LOGNAME: pids of live log writers (python3 or awk) writing LOGNAME.
writer_of() {
  ps -A -ww -o pid=,args= 2>/dev/null | awk -v n=" $1 " 'index($0 " ", n) && /tmuxkit-logwriter/ { print $1 }'
}
found_writer() { W=$(writer_of "$1") && [ -n "$W" ]; }
gone() {
  local p
  for p in $1; do ! kill -0 "$p" 2>/dev/null || return 1; done
}

# writer_ends WRITER: a run logged by WRITER (python3 or awk; the tmux server's environment
# picks it, so each test has its own) ends, and so does its log writer, with no line lost.
writer_ends() {
  local r="wend$1"
  export TMUXKIT_LOG_WRITER=$1
  run bash "$SHELL_DIR/tmuxkit-start" "$r" --cmd 'for i in 1 2 3; do echo "line $i"; done; printf "no newline"; sleep 2'
  assert_success
  wait_for 20 found_writer "$r.log"
  wait_for 20 test -f "$TMUXKIT_HOME/runs/$r/exit"
  wait_for 10 gone "$W"
  run cat "$WORK/results/$r/tmuxkit/$r.log"
  assert_line --index 1 "line 1"
  assert_line --index 3 "line 3"
  assert_line --index 4 "no newline"
  assert_line --index 5 --regexp "^\[tmuxkit\] run $r exited with code 0 at "
  # The pane is kept (remain-on-exit), without its pipe.
  run tmux -L "$TMUXKIT_SOCKET" display-message -p -t "=$r:" '#{pane_dead} #{pane_pipe}'
  assert_output "1 0"
}

@test "a run's python3 log writer ends with the run (it stayed until a cleanup), no line lost" {
  writer_ends python3
}

@test "a run's awk log writer ends with the run, no line lost" {
  writer_ends awk
}
