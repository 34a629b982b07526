#!/usr/bin/env bats
# Alerts while a run lives (shell/lib/alerts.bash), judged by tmuxkit-watch: nan_loss and disk_low.
load test_helper

start_run() { # RUN CMD
  run bash "$SHELL_DIR/tmuxkit-start" "$1" --cmd "$2"
  assert_success
}

events_of() { sed -n 's/.*"event":"\([a-z_]*\)".*/\1/p' "$TMUXKIT_HOME/runs/$1/events.jsonl" 2>/dev/null | tr '\n' ' '; }

count_events() { grep -c "\"event\":\"$2\"" "$TMUXKIT_HOME/runs/$1/events.jsonl" 2>/dev/null || true; }

@test "alerts: a NaN loss is one nan_loss event per start, not one per line" {
  start_run n1 'for i in 1 2 3; do echo "step $i loss=0.5"; sleep 0.2; done; i=4; while :; do echo "step $i loss=nan"; i=$((i + 1)); sleep 0.2; done'
  run bash "$SHELL_DIR/tmuxkit-watch" n1 --detach --every 1
  assert_success
  wait_for 30 grep -q '"event":"nan_loss"' "$TMUXKIT_HOME/runs/n1/events.jsonl"
  run grep '"event":"nan_loss"' "$TMUXKIT_HOME/runs/n1/events.jsonl"
  assert_output --partial '"metric":"loss","value":"nan"'
  assert_output --partial '"action":"notify"'
  # Three more rounds of the watchdog, each seeing the NaN: still one event, and the run lives on.
  sleep 3.5 # three more rounds (--every 1): a second event would be written by now
  [ "$(count_events n1 nan_loss)" = 1 ]
  run bash "$SHELL_DIR/check_training_status.sh" --runs-only --json n1
  assert_output --partial '"state":"running"'
}

@test "alerts: on_nan stop stops the run by the ladder (its Ctrl-C save runs); ignore says nothing" {
  start_run n2 "trap 'echo saved on ctrl-c; exit 0' INT; echo 'step 1 loss=inf'; while :; do sleep 0.2; done"
  run bash "$SHELL_DIR/tmuxkit-watch" n2 --detach --every 1 --on-nan stop --grace 10
  assert_success
  wait_for 40 grep -q '"event":"stopped"' "$TMUXKIT_HOME/runs/n2/events.jsonl"
  run events_of n2
  assert_output --partial "nan_loss"
  run grep '"event":"nan_loss"' "$TMUXKIT_HOME/runs/n2/events.jsonl"
  assert_output --partial '"value":"inf","step":1,"action":"stop"'
  wait_for 20 grep -q 'saved on ctrl-c' "$WORK/results/n2/tmuxkit/n2.log"
  run cat "$TMUXKIT_HOME/runs/n2/stopped"
  assert_output --partial sigint
  start_run n3 "echo 'step 1 loss=nan'; while :; do sleep 0.2; done"
  run bash "$SHELL_DIR/tmuxkit-watch" n3 --detach --every 1 --on-nan ignore
  wait_for 20 test -s "$WORK/results/n3/tmuxkit/n3.progress"
  wait_for 20 grep -q '"loss":"nan"' "$WORK/results/n3/tmuxkit/n3.progress"
  sleep 2.5 # two rounds of the watchdog after the NaN was read
  [ "$(count_events n3 nan_loss)" = 0 ]
  run bash "$SHELL_DIR/tmuxkit-watch" n3 --on-nan maybe
  assert_failure 2
  assert_output --partial "--on-nan takes notify, stop or ignore"
}

# A small tmpfs for the results (root, or a system that lets this user mount one), else skipped.
small_fs() {
  MNT="$BATS_TEST_TMPDIR/fs"
  mkdir -p "$MNT"
  mount -t tmpfs -o size=4m tmpfs "$MNT" 2>/dev/null || skip "cannot mount a small tmpfs here (needs root)"
  MNT=$(cd -P "$MNT" && pwd)
}

teardown() {
  common_teardown
  if [ -n "${MNT:-}" ]; then umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true; fi
}

@test "alerts: a results filesystem that fills is one disk_low per crossing, re-armed when space returns" {
  small_fs
  run bash "$SHELL_DIR/tmuxkit-start" d1 --results "$MNT/d1" --cmd 'while :; do echo working; sleep 0.5; done'
  assert_success
  run bash "$SHELL_DIR/tmuxkit-watch" d1 --detach --every 1 --disk-min-free 50%
  assert_success
  ev="$TMUXKIT_HOME/runs/d1/events.jsonl"
  wait_for 20 grep -q '"event":"started"' "$ev"
  sleep 1.5 # a round with room: nothing said
  [ "$(count_events d1 disk_low)" = 0 ]
  dd if=/dev/zero of="$MNT/d1/fill" bs=1024 count=3000 2>/dev/null
  wait_for 20 grep -q '"event":"disk_low"' "$ev"
  run grep '"event":"disk_low"' "$ev"
  assert_output --partial '"min_kb":2048'
  assert_output --partial ' MiB free of 4.0 MiB where the results are (under 50%)'
  test -f "$TMUXKIT_HOME/runs/d1/disk_low"
  run bash "$SHELL_DIR/check_training_status.sh" --runs-only --json d1
  assert_output --regexp '"disk_low_free_kb":[0-9]+'
  sleep 2.5 # still low, two more rounds: still one alert
  [ "$(count_events d1 disk_low)" = 1 ]
  rm "$MNT/d1/fill"
  wait_for 20 grep -q '"event":"disk_ok"' "$ev"
  test ! -e "$TMUXKIT_HOME/runs/d1/disk_low"
  run bash "$SHELL_DIR/check_training_status.sh" --runs-only --json d1
  refute_output --partial disk_low_free_kb
  dd if=/dev/zero of="$MNT/d1/fill" bs=1024 count=3000 2>/dev/null
  wait_for 20 bash -c "[ \$(grep -c '\"event\":\"disk_low\"' '$ev') = 2 ]"
  run bash "$SHELL_DIR/tmuxkit-watch" d1 --disk-min-free 5G
  assert_failure 2
  assert_output --partial "--disk-min-free takes N% (0-100) or a whole number of KiB"
}

@test "alerts: doctor checks a results dir against its run's disk_min_free" {
  run bash "$SHELL_DIR/tmuxkit-doctor" --disk-min-free 100% --dir "$WORK"
  assert_failure 1
  assert_line --regexp "^check=disk $WORK	ok=0	value=.* free, under disk_min_free \(100%: .*\)	fix=free space there, or lower the run's disk_min_free"
  run bash "$SHELL_DIR/tmuxkit-doctor" --disk-min-free 0 --dir "$WORK"
  assert_line --regexp "^check=disk $WORK	ok=1	"
  run bash "$SHELL_DIR/tmuxkit-doctor" --disk-min-free lots --dir "$WORK"
  assert_failure 2
  assert_output --partial "--disk-min-free takes N% (0-100) or a whole number of KiB"
}

@test "alerts: a watchdog that ends on an error of its own says so once (watchdog_gave_up) and leaves the registry" {
  start_run g1 'while :; do sleep 0.5; done'
  mv "$TMUXKIT_HOME/runs/g1/cmd" "$TMUXKIT_HOME/runs/g1/cmd.aside" # its first read fails under set -e
  run bash "$SHELL_DIR/tmuxkit-watch" g1 --every 1
  assert_failure
  run grep '"event":"watchdog_gave_up"' "$TMUXKIT_HOME/runs/g1/events.jsonl"
  assert_success
  assert_output --partial '"reason":"the watchdog ended on an error of its own (exit 1): tmuxkit watch g1 starts a new one"'
  [ "$(count_events g1 watchdog_gave_up)" = 1 ]
  test ! -e "$TMUXKIT_HOME/runs/g1/watchdog"
  # An ending by the user (--off: SIGTERM) is no giving up.
  mv "$TMUXKIT_HOME/runs/g1/cmd.aside" "$TMUXKIT_HOME/runs/g1/cmd"
  run bash "$SHELL_DIR/tmuxkit-watch" g1 --detach --every 1
  wait_for 20 test -f "$TMUXKIT_HOME/runs/g1/watchdog"
  run bash "$SHELL_DIR/tmuxkit-watch" g1 --off
  assert_output --partial "watchdog=ended"
  wait_for 20 grep -q '"event":"watchdog_ended"' "$TMUXKIT_HOME/runs/g1/events.jsonl"
  [ "$(count_events g1 watchdog_gave_up)" = 1 ]
}
