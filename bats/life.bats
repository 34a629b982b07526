#!/usr/bin/env bats
# A run's life and end: it outlives its tmux server, its log writer ends with it, the log
# survives a full disk, and its end is notified without a watchdog.
load test_helper

# use_writer python3|awk: the log writer of the runs this test starts (the tmux server's environment picks it).
use_writer() { export TMUXKIT_LOG_WRITER=$1; }
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

@test "stop of a headless run whose command is more than one line: Ctrl-C reaches the trainer, not only its bash, and its save runs" {
  command -v python3 >/dev/null 2>&1 || skip "the relay needs python3"
  run bash "$SHELL_DIR/tmuxkit-start" ml --cmd "python3 '$ROOT/tests/fakes/trainer.py' --steps 100000 --delay 0.05
echo \"after \$?\""
  assert_success
  wait_for 20 log_has ml 'step 3'
  tmux -L "$TMUXKIT_SOCKET" kill-server
  run bash "$SHELL_DIR/tmuxkit-kill" ml --grace 20
  assert_success
  assert_output --partial "rung=sigint"
  wait_for 10 log_has ml '^interrupted$'
  wait_for 10 log_has ml '^after 0$'
}

@test "a headless run's end leaves alone the pane of a new tmux server that has its pane's id (another run's log pipe)" {
  command -v python3 >/dev/null 2>&1 || skip "the relay needs python3"
  run bash "$SHELL_DIR/tmuxkit-start" pa --cmd 'echo a-started; sleep 3; echo a-done'
  assert_success
  wait_for 20 log_has pa 'a-started'
  local id
  id=$(tmux -L "$TMUXKIT_SOCKET" display-message -p -t "=pa:" '#{pane_id}')
  tmux -L "$TMUXKIT_SOCKET" kill-server
  # A new server on the same socket: its first pane has the same id as the dead one.
  run bash "$SHELL_DIR/tmuxkit-start" pb --cmd 'echo b-started; sleep 60'
  assert_success
  [ "$(tmux -L "$TMUXKIT_SOCKET" display-message -p -t "=pb:" '#{pane_id}')" = "$id" ]
  wait_for 20 log_has pb 'b-started'
  wait_for 30 run_over pa
  wait_for 20 log_has pa '^\[tmuxkit\] run pa exited with code 0 at '
  # pa's runner is done with its end (its lock freed): pb's log pipe is still there.
  wait_for 20 test ! -e "$WORK/results/pa/.tmuxkit.lock"
  writer_attached pb
}

# writer_of LOGNAME: pids of live log writers (python3 or awk) writing LOGNAME: the python3 one is
# given the log's name, the bash one (awk's parent) its path. The process table is read before it
# is filtered: an awk reading ps's output live has the name and "tmuxkit-logwriter" in its own
# arguments and would find itself (a pid gone at once, so the awk writer's end was never waited for).
writer_of() {
  local table
  table=$(ps -A -ww -o pid=,args= 2>/dev/null) || return 1
  printf '%s\n' "$table" | awk -v n="$1" '/tmuxkit-logwriter/ && (index($0 " ", " " n " ") || index($0 " ", "/" n " ")) { print $1 }'
}
found_writer() { W=$(writer_of "$1") && [ -n "$W" ]; }
gone() {
  local p
  for p in $1; do ! kill -0 "$p" 2>/dev/null || return 1; done
}

# writer_ends WRITER: a run logged by WRITER (python3 or awk; the tmux server's environment
# picks it, so each test has its own) ends, and so does its log writer, with no line lost.
writer_ends() {
  # A run name of this pass's own: the python3 writer is named by its log's name alone, and the
  # Linux and the Mac pass run side by side.
  local r="wend$1$$"
  use_writer "$1"
  run bash "$SHELL_DIR/tmuxkit-start" "$r" --cmd 'for i in 1 2 3; do echo "line $i"; done; printf "no newline"; sleep 2'
  assert_success
  wait_for 20 found_writer "$r.log"
  wait_for 20 test -f "$TMUXKIT_HOME/runs/$r/exit"
  wait_for 10 gone "$W"
  run cat "$WORK/results/$r/tmuxkit/$r.log"
  # Shown only when the test fails: the whole log, and what of the run is left.
  printf 'log:\n%s\n' "$output"
  ls -la "$TMUXKIT_HOME/runs/$r" || true
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

# A small disk of its own for the results (root can mount a tmpfs); skipped where it cannot.
small_disk() {
  DISK="$BATS_TEST_TMPDIR/disk"
  mkdir -p "$DISK"
  [ "$(id -u)" = 0 ] || skip "mounting a small tmpfs needs root"
  mount -t tmpfs -o size=1m tmpfs "$DISK" 2>/dev/null || skip "cannot mount a tmpfs here"
  DISK=$(cd -P "$DISK" && pwd)
}
disk_full() { [ "$(df -Pk "$DISK" | awk 'NR == 2 { print $4 }')" = 0 ]; }
writer_attached() { [ "$(tmux -L "$TMUXKIT_SOCKET" display-message -p -t "=$1:" '#{pane_pipe}')" = 1 ]; }

teardown() {
  common_teardown
  if [ -n "${DISK:-}" ]; then umount "$DISK" 2>/dev/null || umount -l "$DISK" 2>/dev/null || true; fi
}

@test "a full results disk: the log writer lives on, drops and counts what it cannot write, and says so on a line of its own when space returns" {
  command -v python3 >/dev/null 2>&1 || skip "the python3 log writer"
  small_disk
  use_writer python3
  # Most of the disk taken by a file of the test's, so the log fills the rest at once.
  dd if=/dev/zero of="$DISK/filler" bs=1024 count=900 2>/dev/null
  run bash "$SHELL_DIR/tmuxkit-start" full --results "$DISK/r" --cmd \
    'i=0; while :; do i=$((i + 1)); printf "line %06d %0100d\n" "$i" 0; sleep 0.005; done'
  assert_success
  local log="$DISK/r/tmuxkit/full.log"
  wait_for 30 disk_full
  sleep 1 # lines are dropped meanwhile (the run never blocks: it keeps printing)
  writer_attached full
  rm -f "$DISK/filler"
  wait_for 20 grep -q 'output are missing here: no space left' "$log"
  # The marker starts a line of its own (not glued to a torn one), and the log goes on after it.
  run grep -c '^\[tmuxkit\] log writer: [0-9][0-9]* lines ([0-9][0-9]* bytes) of output are missing here: no space left' "$log"
  assert_output 1
  run grep -c '.\[tmuxkit\] log writer' "$log"
  assert_output 0
  local n
  n=$(wc -l <"$log")
  wait_for 20 grows_in "$log" "$((n + 20))"
  writer_attached full
  run bash "$SHELL_DIR/tmuxkit-kill" full --grace 5
  assert_success
}
grows_in() { [ "$(wc -l <"$1")" -gt "$2" ]; }

writer_detached() { [ "$(tmux -L "$TMUXKIT_SOCKET" display-message -p -t "=$1:" '#{pane_pipe}')" = 0 ]; }

watchdog_registered() { [ -s "$TMUXKIT_HOME/runs/$1/watchdog" ]; }

@test "status shows a live run's watchdog killed with -9 as dead, on the bash path and the many-runs path alike" {
  run bash "$SHELL_DIR/tmuxkit-start" wdk --cmd 'while :; do echo tick; sleep 0.2; done'
  assert_success
  run bash "$SHELL_DIR/tmuxkit-start" wdk2 --cmd 'while :; do echo tick; sleep 0.2; done'
  assert_success
  wait_for 20 grep -q tick "$WORK/results/wdk/tmuxkit/wdk.log"
  run bash "$SHELL_DIR/tmuxkit-watch" wdk --detach --every 1
  assert_success
  wait_for 20 watchdog_registered wdk
  run bash "$SHELL_DIR/check_training_status.sh" --runs-only --json wdk
  refute_output --partial '"last_event":"watchdog_dead"'
  local pid
  read -r pid _ <"$TMUXKIT_HOME/runs/wdk/watchdog"
  kill -9 "$pid"
  wait_for 10 bash -c "! kill -0 $pid 2>/dev/null"
  # The one-awk path (the default) and the bash path alike; none for the run without a watchdog.
  local judge
  for judge in fast bash; do
    run env TMUXKIT_STATUS_JUDGE=$judge bash "$SHELL_DIR/check_training_status.sh" --runs-only --json wdk
    assert_output --partial '"last_event":"watchdog_dead"'
    run bash -c "TMUXKIT_STATUS_JUDGE=$judge bash '$SHELL_DIR/check_training_status.sh' --runs-only --json | grep -o '\"last_event\":\"[a-z_]*\"'"
    assert_output '"last_event":"watchdog_dead"'
  done
}

@test "zombies --fix (cleanup) kills a finished run's ended watchdog session, only tmuxkit's own" {
  run bash "$SHELL_DIR/tmuxkit-start" wfin --cmd 'echo working; sleep 1; exit 0'
  assert_success
  run bash "$SHELL_DIR/tmuxkit-watch" wfin --detach --every 1
  assert_success
  wait_for 30 grep -q '"event":"finished"' "$TMUXKIT_HOME/runs/wfin/events.jsonl"
  wait_for 10 bash -c "[ \"\$(tmux -L '$TMUXKIT_SOCKET' display-message -p -t '=wfin+watch:' '#{pane_dead}')\" = 1 ]"
  # A user's own session named like a watchdog's, for a run whose watchdog ended too: never touched.
  run bash "$SHELL_DIR/tmuxkit-start" wuser --cmd 'exit 0'
  assert_success
  tmux -L "$TMUXKIT_SOCKET" new-session -d -s 'wuser+watch' 'sleep 300'
  wait_for 30 run_over wuser
  run bash "$SHELL_DIR/tmuxkit-zombies" --fix
  assert_success
  assert_output --partial "kind=dead_session	run=wfin	detail=watchdog session wfin+watch (its watchdog has ended)	action=killed"
  refute_output --partial "wuser+watch"
  run tmux -L "$TMUXKIT_SOCKET" has-session -t '=wfin+watch'
  assert_failure
  tmux -L "$TMUXKIT_SOCKET" has-session -t '=wuser+watch'
}

@test "zombies --fix on a full disk: a writer that dies again at once is no repair (awk writer, which a full disk still ends)" {
  small_disk
  use_writer awk
  dd if=/dev/zero of="$DISK/filler" bs=1024 count=900 2>/dev/null
  run bash "$SHELL_DIR/tmuxkit-start" fullawk --results "$DISK/r" --cmd \
    'i=0; while :; do i=$((i + 1)); printf "line %06d %0100d\n" "$i" 0; sleep 0.005; done'
  assert_success
  wait_for 30 disk_full
  wait_for 30 writer_detached fullawk
  run bash "$SHELL_DIR/tmuxkit-zombies" --fix fullawk
  assert_output --partial "kind=writer_dead"
  assert_output --partial "action=failed"
  refute_output --partial "action=repiped"
  rm -f "$DISK/filler"
  run bash "$SHELL_DIR/tmuxkit-kill" fullawk --grace 5
  assert_success
}
