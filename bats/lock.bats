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
  assert_output --regexp "locked by PID $LIVE_PID \(run holder, started [0-9dhms]+ ago\): $WORK/L"
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

@test "a directory at the lock path never counts as acquired, and nothing is left inside it" {
  mkdir "$WORK/L"
  run -5 bash "$SHELL_DIR/tmuxkit-lock" acquire "$WORK/L" --run r --pid $$
  assert_output --partial "not a regular file"
  run ls -A "$WORK/L"
  assert_output ""
}

@test "a symlink to a directory at the lock path is not followed (a planted one, at the runner's acquire)" {
  mkdir "$WORK/elsewhere"
  ln -s "$WORK/elsewhere" "$WORK/L"
  run -5 bash "$SHELL_DIR/tmuxkit-lock" acquire "$WORK/L" --run r --pid $$
  assert_output --partial "symlink"
  [ -L "$WORK/L" ]
  run ls -A "$WORK/elsewhere"
  assert_output ""
  # ... and no temp file or directory is left beside the lock path either
  run bash -c "ls -A '$WORK' | tr '\n' ' '"
  assert_output "L elsewhere "
}

@test "tk_lock_acquire itself refuses a directory planted after the caller's check" {
  # start checks the lock path, then the runner acquires: plant between the two.
  run bash -c '. "$1/lib/tmuxkit.bash"; tk_lock_state "$2/L"; echo "checked $LK_STATE"; mkdir "$2/L"
    rc=0; tk_lock_acquire "$2/L" $$ "$(tk_pstart $$)" r r r || rc=$?; echo "rc=$rc $TK_ERR"' _ "$SHELL_DIR" "$WORK"
  assert_line "checked free"
  assert_line --partial "rc=5 lock path is not a regular file"
  run ls -A "$WORK/L"
  assert_output ""
}

@test "another user's stale lock in a sticky directory is named at once, not waited on" {
  [ "$(id -u)" = 0 ] || skip "needs root to act as a second user (setpriv to nobody)"
  command -v setpriv >/dev/null 2>&1 || skip "needs setpriv to run as nobody"
  # A /tmp-like directory that nobody can reach (the bats temp dir may be private).
  sticky=$(mktemp -d /tmp/tmuxkit-sticky.XXXXXX)
  chmod 1777 "$sticky"
  # The scripts as nobody can read them, wherever the checkout lives (a 0700 home hides it).
  scripts=$(mktemp -d /tmp/tmuxkit-scripts.XXXXXX)
  cp -R "$SHELL_DIR/." "$scripts/"
  chmod -R a+rX "$scripts"
  lock_file_for 99999999 "t:1" ghost >"$sticky/L" # a dead owner: stale
  chown daemon "$sticky/L" # a third user: neither the acquirer (nobody) nor root
  chmod 644 "$sticky/L"
  t0=$(date +%s)
  run setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/ bash "$scripts/tmuxkit-lock" acquire "$sticky/L" --run mine
  t1=$(date +%s)
  rc=$status out=$output
  [ -f "$sticky/L" ]
  left=$(ls -A "$sticky" | tr '\n' ' ')
  rm -rf "$sticky" "$scripts"
  [ "$rc" = 5 ]
  [[ $out == *"stale lock owned by daemon (pid 99999999 not running) in a sticky directory; ask daemon or root to remove $sticky/L"* ]]
  [ $((t1 - t0)) -le 3 ]
  [ "$left" = "L " ]
}

@test "a lock written on another host (a shared filesystem) is never judged by a PID here: alive, never reclaimed nor removed" {
  sleep 0 &
  dead=$!
  wait "$dead"
  # Its owner's PID is dead here: on node17 it may well be running.
  printf 'pid=%s\nstart=t:1\nhost=node17.cluster\nrun=far\nsession=far\nrun_id=far.1.1\ncreated=1\n' "$dead" >"$WORK/L"
  cp "$WORK/L" "$WORK/L.orig"
  run -3 bash "$SHELL_DIR/tmuxkit-lock" check "$WORK/L"
  assert_output --partial "state=alive"
  run -3 bash "$SHELL_DIR/tmuxkit-lock" acquire "$WORK/L" --run mine --pid $$
  assert_output --partial "locked by PID $dead on host node17.cluster (run far"
  run -3 bash "$SHELL_DIR/tmuxkit-lock" release "$WORK/L" --if-stale
  run -3 bash "$SHELL_DIR/tmuxkit-lock" release "$WORK/L" --pid "$dead" --start t:1
  cmp "$WORK/L" "$WORK/L.orig"
  # A start into that results folder is refused with who holds it, and the lock stays.
  mkdir -p "$WORK/results/far"
  cp "$WORK/L.orig" "$WORK/results/far/.tmuxkit.lock"
  run bash "$SHELL_DIR/tmuxkit-start" far --cmd 'echo never'
  assert_failure 3
  assert_output --partial "locked by PID $dead on host node17.cluster (run far"
  assert_output --partial "(whether its owner lives cannot be told from here; if no run on node17.cluster holds it, remove it by hand: rm '$WORK/results/far/.tmuxkit.lock')"
  [ "${#lines[@]}" = 1 ]
  cmp "$WORK/results/far/.tmuxkit.lock" "$WORK/L.orig"
  # The report names it as another host's, with no removal hint.
  run bash "$SHELL_DIR/check_training_status.sh"
  assert_line --regexp '^  ELSEWHERE +\./results/far/\.tmuxkit\.lock .*'
  assert_output --partial "it names node17.cluster, not this host"
  refute_output --partial "rm ./results/far"
  # A live run's lock (the status report's fast path) replaced by another host's: alive, not stale.
  run bash "$SHELL_DIR/tmuxkit-start" near --cmd 'echo working; sleep 60'
  assert_success
  wait_for 20 grep -q working "$WORK/results/near/tmuxkit/near.log"
  run bash "$SHELL_DIR/check_training_status.sh" --runs-only --json near
  assert_output --partial '"lock_state":"alive"'
  printf 'pid=%s\nstart=t:1\nhost=node17.cluster\nrun=near\n' "$dead" >"$WORK/results/near/.tmuxkit.lock"
  run bash "$SHELL_DIR/check_training_status.sh" --runs-only --json near
  assert_output --partial '"state":"running"'
  assert_output --partial '"lock_state":"alive"'
  # The same lock written here (this host's name, or its first label) is judged by its PID: stale.
  printf 'pid=%s\nstart=t:1\nhost=%s\nrun=near\n' "$dead" "$(hostname).example" >"$WORK/results/near/.tmuxkit.lock"
  run bash "$SHELL_DIR/check_training_status.sh" --runs-only --json near
  assert_output --partial '"lock_state":"stale"'
  printf 'pid=%s\nstart=t:1\nhost=%s\nrun=near\n' "$dead" "$(hostname).example" >"$WORK/L2"
  run bash "$SHELL_DIR/tmuxkit-lock" check "$WORK/L2"
  assert_success
  assert_output --partial "state=stale"
}
