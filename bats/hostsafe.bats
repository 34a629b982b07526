#!/usr/bin/env bats
# The host scripts against what a real box or a careless hand puts in their way: no UTF-8 locale,
# paths that look like options, links where state lives, a full $TMUXKIT_HOME, stray folders and
# hand-made locks, a BASH_ENV that prints.
load test_helper

teardown() {
  local rc=0
  common_teardown || rc=$?
  unmount_all
  return "$rc"
}

start_run() { # RUN CMD
  run bash "$SHELL_DIR/tmuxkit-start" "$1" --cmd "$2"
  assert_success
}

@test "locale: with no locale at all, and with LC_ALL=C, a live run's pane and log writer are found" {
  start_run loc1 'echo ready; sleep 60'
  wait_for 10 grep -q ready "$WORK/results/loc1/tmuxkit/loc1.log"
  local how
  for how in "-u LANG -u LC_ALL -u LC_CTYPE" "-u LANG -u LC_CTYPE LC_ALL=C"; do
    # shellcheck disable=SC2086
    run env $how bash "$SHELL_DIR/check_training_status.sh" --runs-only --json loc1
    assert_success
    assert_output --partial '"state":"running"'
    assert_output --partial '"writer":"alive"'
    assert_output --partial '"headless":false'
    # shellcheck disable=SC2086
    run env $how bash "$SHELL_DIR/check_training_status.sh" --root "$WORK/results"
    assert_success
    assert_output --regexp $'\n  loc1 +1 window\\(s\\)'
    # shellcheck disable=SC2086
    run env $how bash "$SHELL_DIR/tmuxkit-zombies"
    assert_success
    refute_output --partial headless
    refute_output --partial writer_dead
  done
}

@test "locale: doctor reports it, as a check that passes" {
  run env -u LANG -u LC_CTYPE LC_ALL=C bash "$SHELL_DIR/tmuxkit-doctor"
  assert_line --regexp $'^check=locale\tok=1\tvalue=LC_ALL=C: not UTF-8'
  run env -u LANG -u LC_CTYPE -u LC_ALL bash "$SHELL_DIR/tmuxkit-doctor"
  assert_line --regexp $'^check=locale\tok=1\tvalue=none set'
  run env -u LC_CTYPE -u LC_ALL LANG=C.UTF-8 bash "$SHELL_DIR/tmuxkit-doctor"
  assert_line $'check=locale\tok=1\tvalue=LANG=C.UTF-8 (UTF-8)\tfix='
}

# Files that must outlive every call below: in the cwd, under it, and inside the folders whose
# names look like find expressions.
plant_sentinels() {
  mkdir -p ./-delete ./-exec sub
  touch keep1 sub/keep2.log training.lock ./-delete/keep3.log ./-exec/keep4 ./-delete/training.lock
  find . | LC_ALL=C sort >"$BATS_TEST_TMPDIR/sentinels"
}

sentinels_kept() {
  local f
  while IFS= read -r f; do
    [ -e "$f" ] || fail "deleted: $f"
  done <"$BATS_TEST_TMPDIR/sentinels"
}

@test "paths that look like options: the report with --root -delete / -exec deletes nothing and reads them as folders" {
  plant_sentinels
  run bash "$SHELL_DIR/check_training_status.sh" --root -delete
  assert_success
  assert_output --partial "./-delete/training.lock"
  assert_output --partial "./-delete/keep3.log"
  sentinels_kept
  run bash "$SHELL_DIR/check_training_status.sh" --json --root -exec --root -delete --root -
  assert_success
  printf '%s' "$output" | python3 -c 'import json, sys; json.load(sys.stdin)'
  sentinels_kept
  # The built report and its source agree (the test runs the built one above).
  run bash "$SHELL_DIR/check_training_status.sh" --root -delete --pattern -delete --stale-after 0
  assert_success
  sentinels_kept
}

@test "paths that look like options: doctor, checkpoints, lock, start, zombies and forget take them as paths" {
  plant_sentinels
  run bash "$SHELL_DIR/tmuxkit-doctor" --dir -delete --dir -exec
  assert_line --regexp $'^check=disk ./-delete\tok='
  sentinels_kept
  run bash "$SHELL_DIR/tmuxkit-checkpoints" --results -delete --all
  assert_success
  run bash "$SHELL_DIR/tmuxkit-checkpoints" --cwd -exec --results . --all
  assert_success
  sentinels_kept
  live_pid
  run bash "$SHELL_DIR/tmuxkit-lock" acquire -delete.lock --run pl --pid "$LIVE_PID"
  assert_success
  assert_output --partial $'path=./-delete.lock'
  [ -f ./-delete.lock ]
  run bash "$SHELL_DIR/tmuxkit-lock" check -delete.lock
  assert_failure 3
  kill "$LIVE_PID"
  run bash "$SHELL_DIR/tmuxkit-lock" release -delete.lock --if-stale
  assert_success
  [ ! -e ./-delete.lock ]
  sentinels_kept
  run bash "$SHELL_DIR/tmuxkit-start" pd1 --cwd -delete --results -exec --cmd 'echo "in $PWD"'
  assert_success
  assert_output --partial "results=$WORK/-delete/-exec"
  wait_for 30 run_over pd1
  wait_for 10 grep -q "in $WORK/-delete" "$WORK/-delete/-exec/tmuxkit/pd1.log"
  run bash "$SHELL_DIR/tmuxkit-zombies" --fix
  assert_success
  run bash "$SHELL_DIR/tmuxkit-forget" pd1
  assert_success
  sentinels_kept
  [ -f "$WORK/-delete/-exec/tmuxkit/pd1.log" ]
  # A home that looks like an option: ./-delete is read as the folder it is.
  mkdir -p ./-delete/runs
  run env TMUXKIT_HOME=-delete bash "$SHELL_DIR/check_training_status.sh" --runs-only --json
  assert_success
  run env TMUXKIT_HOME=-delete bash "$SHELL_DIR/tmuxkit-zombies" --fix
  assert_success
  run env TMUXKIT_HOME=-delete bash "$SHELL_DIR/tmuxkit-forget" --older-than 0
  assert_success
  sentinels_kept
}

# A folder outside the home that looks like a run's state (it holds a file named meta).
plant_outside() {
  mkdir -p "$BATS_TEST_TMPDIR/outside/data" "$BATS_TEST_TMPDIR/outside/old"
  echo precious >"$BATS_TEST_TMPDIR/outside/data/meta"
  echo precious >"$BATS_TEST_TMPDIR/outside/old/meta"
  touch -t 202001010000 "$BATS_TEST_TMPDIR/outside/old/meta"
}

@test "links: forget and cleanup refuse a symlinked home, runs/ or run folder, and delete nothing outside" {
  plant_outside
  local out=$BATS_TEST_TMPDIR/outside
  # runs/ itself a link
  mkdir -p "$TMUXKIT_HOME"
  ln -s "$out" "$TMUXKIT_HOME/runs"
  for cmd in "tmuxkit-forget --older-than 0" "tmuxkit-forget old" "tmuxkit-zombies --fix" "tmuxkit-zombies"; do
    # shellcheck disable=SC2086
    run bash "$SHELL_DIR"/$cmd
    assert_failure 2
    assert_output --regexp "^tmuxkit: refusing state directory .*runs: it is a symlink"
    [ "${#lines[@]}" = 1 ]
    [ -f "$out/data/meta" ] && [ -f "$out/old/meta" ]
  done
  # the home a link
  rm "$TMUXKIT_HOME/runs"
  rmdir "$TMUXKIT_HOME"
  mkdir -p "$BATS_TEST_TMPDIR/realhome"
  ln -s "$out" "$BATS_TEST_TMPDIR/realhome/runs"
  ln -s "$BATS_TEST_TMPDIR/realhome" "$TMUXKIT_HOME"
  run bash "$SHELL_DIR/tmuxkit-forget" --older-than 0
  assert_failure 2
  assert_output --partial "refusing state directory $TMUXKIT_HOME: it is a symlink"
  [ -f "$out/data/meta" ] && [ -f "$out/old/meta" ]
  # one run folder a link
  rm "$TMUXKIT_HOME"
  mkdir -p "$TMUXKIT_HOME/runs"
  ln -s "$out/old" "$TMUXKIT_HOME/runs/old"
  for cmd in "tmuxkit-forget --older-than 0" "tmuxkit-zombies --fix"; do
    # shellcheck disable=SC2086
    run bash "$SHELL_DIR"/$cmd
    assert_failure 2
    assert_output --partial "old in it is a symlink (to $out/old)"
    [ "${#lines[@]}" = 1 ]
    [ -f "$out/old/meta" ]
  done
}

@test "stray folders in runs/: cleanup and forget skip one whose name is not a run's, with a note, exit 0" {
  run bash "$SHELL_DIR/tmuxkit-start" s1 --cmd 'echo done'
  assert_success
  wait_for 30 run_over s1
  cp -R "$TMUXKIT_HOME/runs/s1" "$TMUXKIT_HOME/runs/live.bak"
  cp -R "$TMUXKIT_HOME/runs/s1" "$TMUXKIT_HOME/runs/my copy"
  run bash "$SHELL_DIR/tmuxkit-zombies" --fix
  assert_success
  assert_line --regexp $'^kind=stray\trun=live.bak\tdetail=.*runs/live.bak is not a run .*\taction=skipped$'
  assert_line --regexp $'^kind=stray\trun=my copy\t'
  run bash "$SHELL_DIR/tmuxkit-forget" --older-than 0
  assert_success
  assert_output --partial "left $TMUXKIT_HOME/runs/live.bak as it is: not a run's name"
  assert_line --regexp $'^forgot=s1\tended=[0-9]+$'
  [ -f "$TMUXKIT_HOME/runs/live.bak/meta" ] && [ -f "$TMUXKIT_HOME/runs/my copy/meta" ]
  [ ! -e "$TMUXKIT_HOME/runs/s1" ]
}

@test "a hand-made training.lock that names another node is never judged by a local PID: left, and said" {
  run bash "$SHELL_DIR/tmuxkit-start" fl --cmd 'echo done'
  assert_success
  wait_for 30 run_over fl
  local lock="$WORK/results/fl/training.lock"
  for content in "node17" "node17 4242" "pid=999999 host=node17.cluster" "999999@10.1.2.3"; do
    printf '%s\n' "$content" >"$lock"
    run bash "$SHELL_DIR/tmuxkit-zombies" --fix
    assert_success
    assert_line --regexp $'^kind=foreign_lock\trun=fl\tdetail=.*training.lock names (node17|node17.cluster|10.1.2.3), not this host .*left as it is\taction=left$'
    refute_output --partial stale_training_lock
    [ -f "$lock" ] || fail "removed: a lock with '$content'"
    run bash "$SHELL_DIR/check_training_status.sh" --root "$WORK/results"
    assert_line --partial "ELSEWHERE $lock"
    refute_line --partial "STALE   $lock"
  done
  # One that names this host (or nothing but a PID) is still judged here.
  printf 'pid=999999 host=%s\n' "$(hostname)" >"$lock"
  run bash "$SHELL_DIR/tmuxkit-zombies" --fix
  assert_line --regexp $'^kind=stale_training_lock\trun=fl\t.*\taction=removed$'
  [ ! -e "$lock" ]
}

@test "report --json is valid UTF-8 whatever a hand-made lock, a folder name or a log holds" {
  mkdir -p "results/a"$'\xff'"b" results/c results/d
  echo 999999 >"results/a"$'\xff'"b/training.lock"
  printf 'pid=999999\nstart=\xff\xfe9\nrun=r\xe9x\nhost=h\n' >results/c/.tmuxkit.lock
  printf 'node17\xff\xfe 4242\n' >results/d/training.lock
  # A log whose last 16 KiB start in the middle of a character.
  python3 -c 'import sys; sys.stdout.buffer.write(("é" * 10000 + "ab\n").encode())' >results/d/train.log
  run bash "$SHELL_DIR/check_training_status.sh" --json --root "$WORK/results"
  assert_success
  printf '%s' "$output" >"$BATS_TEST_TMPDIR/out.json"
  run python3 -c '
import json, sys
d = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))  # strict: invalid UTF-8 raises
locks = {l["path"].rsplit("/", 2)[-2]: l for l in d["locks"]}
print(sorted(locks), locks["c"]["started"], locks["c"]["run"], locks["d"]["state"])
print(d["logs"][0]["last_lines"][:3])
' "$BATS_TEST_TMPDIR/out.json"
  assert_success
  assert_line "['a"$'\xef\xbf\xbd'"b', 'c', 'd'] "$'\xef\xbf\xbd\xef\xbf\xbd'"9 r"$'\xef\xbf\xbd'"x other_host"
  assert_line "�éé"
}

# ro_mount DIR: DIR a small read-only tmpfs (unmounted by the test's teardown); skips where this
# user may not mount.
ro_mount() {
  mkdir -p "$1"
  mount -t tmpfs -o size=1m,mode=0755 tmpfs "$1" 2>/dev/null || skip "cannot mount a tmpfs here (not root, or no mount rights)"
  MOUNTS="${MOUNTS:-} $1"
  mkdir -p "$1/res"
  mount -o remount,ro "$1" 2>/dev/null || skip "cannot remount a tmpfs read-only here"
}

unmount_all() {
  local m
  for m in ${MOUNTS:-}; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
}

@test "an unwritable results folder is said to be not writable (exit 2), not blamed on a planted link" {
  ro_mount "$WORK/ro"
  run bash "$SHELL_DIR/tmuxkit-start" rw1 --results "$WORK/ro/res" --cmd 'echo hi'
  unmount_all
  assert_failure 2
  assert_output "tmuxkit: cannot create the log folder $WORK/ro/res/tmuxkit: $WORK/ro/res is not writable by $(id -un) (read-only, or its permissions)"
  [ ! -e "$TMUXKIT_HOME/runs/rw1" ]
  run tmux -L "$TMUXKIT_SOCKET" has-session -t =rw1
  assert_failure
}

@test "a full \$TMUXKIT_HOME: the watchdog waits for room instead of leaving, and says so once space is back" {
  local h="$BATS_TEST_TMPDIR/smallhome"
  mkdir -p "$h"
  mount -t tmpfs -o size=1m,mode=0700 tmpfs "$h" 2>/dev/null || skip "cannot mount a tmpfs here (not root, or no mount rights)"
  MOUNTS="${MOUNTS:-} $h"
  export TMUXKIT_HOME=$h
  run bash "$SHELL_DIR/tmuxkit-start" fh --cmd "echo ready; while [ ! -e '$WORK/crash' ]; do sleep 0.1; done; exit 3"
  assert_success
  bash "$SHELL_DIR/tmuxkit-watch" fh --auto-resume --every 1 --backoff 1 --grace 1 --settle 0 >"$WORK/watch.out" 2>&1 &
  local wpid=$!
  wait_for 20 grep -q '"event":"started"' "$h/runs/fh/events.jsonl"
  # Fill it: no byte more can be written there.
  local i=0
  # (each probe a new file, kept: removing one would free the page the next one needs)
  while printf x 2>/dev/null >"$h/fill.probe.$i"; do
    dd if=/dev/zero of="$h/fill.$i" bs=4096 2>/dev/null || true
    i=$((i + 1))
    [ "$i" -lt 20 ] || fail "could not fill $h: $(df "$h" | tail -n 1)"
  done
  touch "$WORK/crash"
  wait_for 30 grep -q '^\[tmuxkit\] run fh exited with code 3' "$WORK/results/fh/tmuxkit/fh.log"
  wait_for 30 grep -q "is full (no room to write): waiting for space" "$WORK/watch.out"
  kill -0 "$wpid" # still watching
  rm -f "$WORK/crash" "$h"/fill.*
  wait_for 30 grep -q '"event":"home_full"' "$h/runs/fh/events.jsonl"
  run grep '"event":"home_full"' "$h/runs/fh/events.jsonl"
  assert_output --regexp '"since":[0-9]+,"for_s":[0-9]+,"detail":".*had no room to write; the watchdog waited and watches again"'
  # Then it does what it would have done: the crash is judged and the run started again.
  wait_for 30 grep -q '"event":"restarted"' "$h/runs/fh/events.jsonl"
  kill -0 "$wpid"
  bash "$SHELL_DIR/tmuxkit-watch" fh --off
  wait_for 10 bash -c '! kill -0 "$1" 2>/dev/null' _ "$wpid"
}
