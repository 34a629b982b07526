#!/usr/bin/env bats
# tmuxkit-lock: acquire, check, release, stale reclaim, symlinks and garbage.
load test_helper

@test "acquire writes the owner and its start time; check says alive" {
  live_pid
  run bash "$SHELL_DIR/tmuxkit-lock" acquire "$WORK/L" --run r1 --pid "$LIVE_PID"
  assert_success
  assert_output --partial "state=acquired"
  run cat "$WORK/L"
  assert_line "pid=$LIVE_PID"
  assert_line "start=$(pstart "$LIVE_PID")"
  assert_line "run=r1"
  run -3 bash "$SHELL_DIR/tmuxkit-lock" check "$WORK/L"
  assert_output --partial "state=alive"
  kill "$LIVE_PID"
}

@test "a live lock refuses a second owner with who holds it" {
  live_pid
  lock_file_for "$LIVE_PID" "$(pstart "$LIVE_PID")" holder >"$WORK/L"
  run -3 bash "$SHELL_DIR/tmuxkit-lock" acquire "$WORK/L" --run other --pid $$
  assert_output --regexp "locked by PID $LIVE_PID \(run holder, started .*\): $WORK/L"
  kill "$LIVE_PID"
}

@test "a dead owner's lock is reclaimed with a message" {
  sleep 0 &
  dead=$!
  wait "$dead"
  lock_file_for "$dead" "Mon Jan  1 00:00:00 2001" ghost >"$WORK/L"
  run bash "$SHELL_DIR/tmuxkit-lock" acquire "$WORK/L" --run fresh --pid $$
  assert_success
  assert_output --partial "reclaimed stale lock of dead PID $dead (run ghost"
  run grep -c "^run=fresh$" "$WORK/L"
  assert_output 1
}

@test "a live but unrelated PID with another start time is stale" {
  live_pid
  lock_file_for "$LIVE_PID" "Mon Jan  1 00:00:00 2001" old >"$WORK/L"
  run bash "$SHELL_DIR/tmuxkit-lock" check "$WORK/L"
  assert_success
  assert_output --partial "state=stale"
  kill "$LIVE_PID"
}

@test "a symlink at the lock path is refused and left alone" {
  ln -s "$WORK/target" "$WORK/L"
  run -5 bash "$SHELL_DIR/tmuxkit-lock" acquire "$WORK/L" --run r --pid $$
  assert_output --partial "symlink"
  [ -L "$WORK/L" ]
  [ ! -e "$WORK/target" ]
  run -5 bash "$SHELL_DIR/tmuxkit-lock" release "$WORK/L" --pid $$ --start x
  [ -L "$WORK/L" ]
}

@test "garbage in a lock is reported as such and never removed" {
  printf 'hello\nworld\n' >"$WORK/L"
  run -5 bash "$SHELL_DIR/tmuxkit-lock" acquire "$WORK/L" --run r --pid $$
  assert_output --partial "garbage"
  run -5 bash "$SHELL_DIR/tmuxkit-lock" release "$WORK/L" --if-stale
  run cat "$WORK/L"
  assert_output $'hello\nworld'
}

@test "release only by the owner" {
  live_pid
  bash "$SHELL_DIR/tmuxkit-lock" acquire "$WORK/L" --run r --pid "$LIVE_PID"
  run -3 bash "$SHELL_DIR/tmuxkit-lock" release "$WORK/L" --pid $$ --start "$(pstart $$)"
  [ -f "$WORK/L" ]
  run bash "$SHELL_DIR/tmuxkit-lock" release "$WORK/L" --pid "$LIVE_PID" --start "$(pstart "$LIVE_PID")"
  assert_success
  [ ! -e "$WORK/L" ]
  kill "$LIVE_PID"
}

@test "ten concurrent acquirers: exactly one wins" {
  live_pid
  local pids=()
  for i in 1 2 3 4 5 6 7 8 9 10; do
    (
      rc=0
      bash "$SHELL_DIR/tmuxkit-lock" acquire "$WORK/L" --run "r$i" --pid "$LIVE_PID" >"$WORK/out.$i" 2>&1 || rc=$?
      echo "$rc" >"$WORK/rc.$i"
    ) &
    pids+=($!)
  done
  wait "${pids[@]}"
  run bash -c "cat '$WORK'/rc.* | sort | uniq -c | awk '{ print \$2 \":\" \$1 }' | tr '\n' ' '"
  assert_output "0:1 3:9 "
  kill "$LIVE_PID"
}
