#!/usr/bin/env bats
# on_done (shell/lib/done.bash, shell/tmuxkit-done): a harmless command (it writes a file), run
# once, after the run ended for good, when its results are safe.
load test_helper

setup() {
  common_setup
  export TMUXKIT_DONE_POLL=1
}

start_run() { # RUN CMD [START OPTIONS...]
  local r=$1 c=$2
  shift 2
  run bash "$SHELL_DIR/tmuxkit-start" "$r" --cmd "$c" "$@"
  assert_success
}

set_done() { # RUN WAIT: on_done appends a line to $WORK/ran.RUN
  printf 'echo "ran in $PWD for $TMUXKIT_RUN" >>%q\necho bye from on_done\n' "$WORK/ran.$1" |
    bash "$SHELL_DIR/tmuxkit-done" "$1" --set --wait "$2"
}

ended() { test -f "$TMUXKIT_HOME/runs/$1/exit"; }

@test "on_done: reaches the host on stdin into a 0600 file; runs once, only after the sync's ack" {
  start_run a1 'while [ ! -f go ]; do sleep 0.1; done; echo trained'
  run set_done a1 3600
  assert_success
  assert_output $'on_done=set\trun=a1\twait=3600'
  run bash -c "ls -l '$TMUXKIT_HOME/runs/a1/on_done' | cut -c 1-10"
  assert_output "-rw-------"
  touch go
  wait_for 20 ended a1
  wait_for 20 grep -q "waiting for the laptop's final sync" "$TMUXKIT_HOME/runs/a1/on_done.log"
  sleep 2 # two rounds of the waiter with no ack: not run
  test ! -e "$WORK/ran.a1"
  run bash "$SHELL_DIR/tmuxkit-done" a1 --ack
  assert_output $'ack=kept\trun=a1'
  wait_for 20 test -f "$WORK/ran.a1"
  wait_for 20 grep -q '"event":"on_done"' "$TMUXKIT_HOME/runs/a1/events.jsonl"
  run grep '"event":"on_done"' "$TMUXKIT_HOME/runs/a1/events.jsonl"
  assert_output --partial '"exit_code":0,"output":"bye from on_done "'
  assert_output --partial "the laptop's sync acknowledged its final pass"
  run cat "$WORK/ran.a1"
  assert_output "ran in $WORK for a1"
  # Never twice: another waiter (the watchdog's, a --set again) does nothing for this start.
  run bash "$SHELL_DIR/tmuxkit-done" a1 --waiter
  assert_success
  set_done a1 0
  sleep 1.5
  [ "$(wc -l <"$WORK/ran.a1")" -eq 1 ]
  [ "$(grep -c '"event":"on_done"' "$TMUXKIT_HOME/runs/a1/events.jsonl")" = 1 ]
}

@test "on_done: an ack of a run that still lives, or of another start, is not kept" {
  start_run a2 'sleep 300'
  run bash "$SHELL_DIR/tmuxkit-done" a2 --ack
  assert_output $'ack=ignored\trun=a2'
  test ! -e "$TMUXKIT_HOME/runs/a2/done_ack"
  run bash "$SHELL_DIR/tmuxkit-done" a2 --set --wait x
  assert_failure 2
  assert_output --partial "--wait needs a whole number of seconds"
}

@test "on_done: with no sync, it runs after on_done_wait" {
  start_run b1 'while [ ! -f go ]; do sleep 0.1; done'
  set_done b1 2
  touch go
  wait_for 20 ended b1
  wait_for 20 grep -q '"event":"on_done"' "$TMUXKIT_HOME/runs/b1/events.jsonl"
  test -f "$WORK/ran.b1"
  run grep '"event":"on_done"' "$TMUXKIT_HOME/runs/b1/events.jsonl"
  assert_output --partial 'no sync acknowledged a final pass within on_done_wait (2s)'
  # It waited: not before on_done_wait after the end.
  read -r _ end <"$TMUXKIT_HOME/runs/b1/exit"
  ts=$(sed -n 's/.*"ts":\([0-9]*\).*"event":"on_done".*/\1/p' "$TMUXKIT_HOME/runs/b1/events.jsonl")
  [ $((ts - end)) -ge 2 ]
}

@test "on_done: a run that ended before its on_done arrived gets it then" {
  start_run b2 'true'
  wait_for 20 ended b2
  set_done b2 0
  wait_for 20 test -f "$WORK/ran.b2"
}

@test "on_done: never after the user's stop" {
  start_run c1 'sleep 300'
  set_done c1 0
  run bash "$SHELL_DIR/tmuxkit-kill" c1 --grace 2
  assert_success
  wait_for 20 grep -q '"event":"on_done_skipped"' "$TMUXKIT_HOME/runs/c1/events.jsonl"
  run grep '"event":"on_done_skipped"' "$TMUXKIT_HOME/runs/c1/events.jsonl"
  assert_output --partial '"why":"stopped by the user"'
  sleep 1.5
  test ! -e "$WORK/ran.c1"
}

@test "on_done: not while another run is queued or live; then once they ended" {
  start_run o1 'while [ ! -f go1 ]; do sleep 0.1; done'
  start_run o2 'while [ ! -f go2 ]; do sleep 0.1; done'
  start_run q1 'while [ ! -f go3 ]; do sleep 0.1; done' --after o2
  assert_output --partial "queued"
  set_done o1 0
  touch go1
  wait_for 20 ended o1
  wait_for 20 grep -q "run q1 is queued" "$TMUXKIT_HOME/runs/o1/on_done.log"
  touch go2 # o2 ends well: q1 starts
  wait_for 40 grep -q "run q1 is live" "$TMUXKIT_HOME/runs/o1/on_done.log"
  test ! -e "$WORK/ran.o1"
  touch go3
  wait_for 20 test -f "$WORK/ran.o1"
  ended q1
}

@test "on_done: a user's new start drops the earlier on_done (a key removed from the config stops nothing)" {
  start_run e1 'true'
  wait_for 20 ended e1
  printf 'touch %q\n' "$WORK/ran.e1" | bash "$SHELL_DIR/tmuxkit-done" e1 --set --wait 3600
  test -f "$TMUXKIT_HOME/runs/e1/on_done"
  start_run e1 'true'
  test ! -e "$TMUXKIT_HOME/runs/e1/on_done"
  wait_for 20 ended e1
  sleep 1.5
  test ! -e "$WORK/ran.e1"
}

@test "on_done: not while the watchdog will restart a crash; once it gave up (budget spent), it runs" {
  # The first attempt crashes only once the watchdog watches it (with no watchdog yet, on_done would
  # rightly run at that crash: a loaded box once took more than the attempt's 1 s to start one).
  start_run w1 "echo start >>'$WORK/starts'; while [ ! -f '$WORK/go.w1' ]; do sleep 0.1; done; sleep 1; exit 3"
  set_done w1 0
  run bash "$SHELL_DIR/tmuxkit-watch" w1 --detach --every 1 --auto-resume --max-restarts 1 --backoff 1
  assert_success
  wait_for 20 grep -q '"event":"started"' "$TMUXKIT_HOME/runs/w1/events.jsonl"
  touch "$WORK/go.w1"
  wait_for 60 grep -q '"event":"on_done"' "$TMUXKIT_HOME/runs/w1/events.jsonl"
  # It ran after the restart's crash and the watchdog's end, not after the first crash.
  [ "$(wc -l <"$WORK/starts")" -eq 2 ]
  run bash -c "sed -n 's/.*\"event\":\"\\([a-z_]*\\)\".*/\\1/p' '$TMUXKIT_HOME/runs/w1/events.jsonl' | tr '\n' ' '"
  assert_output --regexp "crashed .*restarted .*crashed .*budget_spent .*on_done $"
  [ "$(wc -l <"$WORK/ran.w1")" -eq 1 ]
}

@test "on_done: a crash whose watchdog is ended by watch --off (no restart comes) gets its on_done" {
  start_run w2 'while [ ! -f go ]; do sleep 0.1; done; exit 3'
  set_done w2 0
  # A watchdog that would restart it once its backoff is over.
  run bash "$SHELL_DIR/tmuxkit-watch" w2 --detach --every 1 --auto-resume --backoff 30
  wait_for 20 grep -q '"event":"started"' "$TMUXKIT_HOME/runs/w2/events.jsonl"
  touch go
  wait_for 20 grep -q '"event":"crashed"' "$TMUXKIT_HOME/runs/w2/events.jsonl"
  sleep 1.5 # the waiter's rounds while the watchdog lives: it leaves it to the watchdog
  test ! -e "$WORK/ran.w2"
  run bash "$SHELL_DIR/tmuxkit-watch" w2 --off
  assert_output --partial "watchdog=ended"
  wait_for 20 grep -q '"event":"on_done"' "$TMUXKIT_HOME/runs/w2/events.jsonl"
  [ "$(wc -l <"$WORK/ran.w2")" -eq 1 ]
}

@test "on_done: not while a new start of the run waits in the queue; once, at that start's end" {
  # A 1-GPU box whose GPU a foreign process holds: the new start of b3 waits in the queue with no
  # other tmuxkit run live or queued (the earlier start's on_done ran at once here before).
  mkdir -p "$BATS_TEST_TMPDIR/gpu"
  cp "$ROOT/tests/fakes/nvidia-smi" "$BATS_TEST_TMPDIR/gpu/"
  printf '0 GPU-00000000-fake 81559\n' >"$BATS_TEST_TMPDIR/gpu/gpus"
  export PATH="$BATS_TEST_TMPDIR/gpu:$PATH"
  start_run b3 'true'
  wait_for 20 ended b3
  env FAKE_GPU_MIB=30720 CUDA_VISIBLE_DEVICES=0 sleep 300 </dev/null >/dev/null 2>&1 3>&- &
  local foreign=$!
  start_run b3 'echo second start' --gpus 1
  assert_output --partial "queued"
  set_done b3 0
  sleep 2 # the waiter's polls (1 s) meanwhile must not run it
  test ! -e "$WORK/ran.b3"
  kill "$foreign" # the GPU is free: the queued start runs, ends, and its own end runs on_done
  wait_for 40 test -f "$WORK/ran.b3"
  grep -q 'second start' "$WORK/results/b3/tmuxkit/b3.log"
  sleep 1.5
  [ "$(wc -l <"$WORK/ran.b3" | tr -d ' ')" = 1 ]
}

@test "on_done: past its time limit, what it started is killed with it (not left orphaned)" {
  export TMUXKIT_ON_DONE_TIMEOUT=1
  start_run t1 'true'
  wait_for 20 ended t1
  printf 'sleep 300 &\necho $! >%q\nwait\n' "$WORK/child.t1" | bash "$SHELL_DIR/tmuxkit-done" t1 --set --wait 0
  wait_for 20 grep -q '"event":"on_done"' "$TMUXKIT_HOME/runs/t1/events.jsonl"
  run grep '"event":"on_done"' "$TMUXKIT_HOME/runs/t1/events.jsonl"
  assert_output --partial 'past 1s and was killed'
  local child
  child=$(cat "$WORK/child.t1")
  wait_for 5 bash -c "! kill -0 $child 2>/dev/null"
}

@test "on_done: not while another run's watchdog lives (it may restart that run); once it ended, it runs" {
  # o5 crashed; its watchdog waits out its backoff to start it again: the host is not done.
  start_run o5 'while [ ! -f go5 ]; do sleep 0.1; done; exit 3'
  run bash "$SHELL_DIR/tmuxkit-watch" o5 --detach --every 1 --auto-resume --backoff 60
  assert_success
  wait_for 20 grep -q '"event":"started"' "$TMUXKIT_HOME/runs/o5/events.jsonl"
  touch go5
  wait_for 20 grep -q '"event":"crashed"' "$TMUXKIT_HOME/runs/o5/events.jsonl"
  start_run d5 'true'
  wait_for 20 ended d5
  set_done d5 0
  wait_for 20 grep -q "run o5 has a live watchdog (it may restart it)" "$TMUXKIT_HOME/runs/d5/on_done.log"
  sleep 1.5 # more rounds of the waiter while that watchdog lives: not run
  test ! -e "$WORK/ran.d5"
  run bash "$SHELL_DIR/tmuxkit-watch" o5 --off
  assert_output --partial "watchdog=ended"
  wait_for 20 test -f "$WORK/ran.d5"
  [ "$(wc -l <"$WORK/ran.d5" | tr -d ' ')" = 1 ]
}

@test "on_done: one waiter a run, even when the first is slow between taking its lock and naming itself in it" {
  # A loaded box: the first waiter is held up right after its lock appeared (a mkdir that is slow
  # to hand back). A second waiter that looks then must not take the lock for a dead waiter's.
  # A run name of this pass's own: the Linux and the Mac pass run side by side, and waiters are
  # counted in the whole process table.
  local real r="slowlk$$"
  real=$(command -v mkdir)
  mkdir -p "$BATS_TEST_TMPDIR/slow"
  printf '#!/usr/bin/env bash\n%q "$@" || exit\nfor a; do case $a in */done.lock) : >%q; sleep 2 ;; esac; done\n' \
    "$real" "$WORK/in-window" >"$BATS_TEST_TMPDIR/slow/mkdir"
  chmod +x "$BATS_TEST_TMPDIR/slow/mkdir"
  start_run "$r" 'true'
  wait_for 20 ended "$r"
  PATH="$BATS_TEST_TMPDIR/slow:$PATH" set_done "$r" 3600 # no ack comes: its waiter waits (and logs so)
  wait_for 20 bash -c "test -e '$WORK/in-window' || test -s '$TMUXKIT_HOME/runs/$r/on_done.log'"
  PATH="$BATS_TEST_TMPDIR/slow:$PATH" bash "$SHELL_DIR/tmuxkit-done" "$r" --waiter </dev/null >/dev/null 2>&1 &
  local second=$!
  wait_for 20 test -s "$TMUXKIT_HOME/runs/$r/on_done.log"
  # The second leaves at once (the first holds the lock): one waiter lives on.
  wait_for 20 bash -c "! kill -0 $second 2>/dev/null"
  sleep 1.5 # were the second a waiter too, the first might have been the one to leave
  # Waiters, not their subshells: a waiter's $(...) child shows the same args for an instant.
  [ "$(ps -A -o pid= -o ppid= -o args= | awk -v m="tmuxkit-done $r --waiter" 'index($0, m) && !/awk/ { w[$1] = $2 }
    END { n = 0; for (p in w) if (!(w[p] in w)) n++; print n }')" = 1 ]
}

@test "on_done: a claim whose claimer was killed (SIGKILL) in it does not stop on_done for good" {
  start_run k1 'true'
  wait_for 20 ended k1
  # A claimer of runs/k1/done_ran, held inside its claim (its tail), then killed there.
  HOLD="$WORK/holding" bash -c '. "$1/lib/tmuxkit.bash"; tail() { : >"$HOLD"; sleep 60; }; tk_claim_once "$2" other.1.1' \
    _ "$SHELL_DIR" "$TMUXKIT_HOME/runs/k1/done_ran" </dev/null >/dev/null 2>&1 &
  local claimer=$!
  wait_for 20 test -e "$WORK/holding"
  kill -9 "$claimer"
  set_done k1 0
  wait_for 30 test -f "$WORK/ran.k1"
  wait_for 20 grep -q '"event":"on_done"' "$TMUXKIT_HOME/runs/k1/events.jsonl"
  # An earlier version's claim folder, left by a claimer killed long ago, is taken away too.
  start_run k2 'true'
  wait_for 20 ended k2
  mkdir "$TMUXKIT_HOME/runs/k2/done_ran.claim"
  touch -t 202001010000 "$TMUXKIT_HOME/runs/k2/done_ran.claim"
  set_done k2 0
  wait_for 30 test -f "$WORK/ran.k2"
}
