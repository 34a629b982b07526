#!/usr/bin/env bats
# tmuxkit-checkpoints and tmuxkit-watch on their own, with a fake nvidia-smi where needed.
load test_helper

start_run() { # RUN CMD
  run bash "$SHELL_DIR/tmuxkit-start" "$1" --cmd "$2"
  assert_success
}

@test "checkpoints: newest complete first; empty, temp-named and fresh ones left out" {
  start_run c1 'sleep 60'
  d="$WORK/results/c1/ckpt"
  mkdir -p "$d"
  for i in 1 2 3; do echo "w$i" >"$d/step_$i.pt"; done
  : >"$d/step_4.pt"                    # empty
  echo partial >"$d/step_5.pt.tmp"     # a temp name
  touch -t 202001010000 "$d/step_1.pt"
  touch -t 202001010001 "$d/step_2.pt"
  touch -t 202001010002 "$d/step_3.pt"
  echo fresh >"$d/step_6.pt"           # still being written: changed just now
  run bash "$SHELL_DIR/tmuxkit-checkpoints" c1 --settle 5
  assert_success
  assert_line --index 0 --regexp "	$d/step_3.pt$"
  assert_line --index 1 --regexp "	$d/step_2.pt$"
  assert_line --index 2 --regexp "	$d/step_1.pt$"
  refute_output --partial step_4
  refute_output --partial step_5
  refute_output --partial step_6
  run bash "$SHELL_DIR/tmuxkit-checkpoints" c1 --glob 'results/c1/ckpt/step_[12].pt' --newest 1
  assert_output --regexp "	$d/step_2.pt$"
}

@test "checkpoints: units are files or HF/kohya directories, ordered by step, with reasons" {
  start_run c2 'sleep 60'
  r="$WORK/results/c2"
  for s in 9 10; do
    mkdir -p "$r/checkpoint-$s"
    for f in model.safetensors optimizer.pt scheduler.pt rng_state.pth trainer_state.json; do echo w >"$r/checkpoint-$s/$f"; done
  done
  mkdir -p "$r/checkpoint-11" "$r/lora-step00000012-state" "$r/lora-step00000008-state"
  echo w >"$r/checkpoint-11/optimizer.pt"                       # no trainer_state.json yet
  echo w >"$r/lora-step00000012-state/model.safetensors"         # no random_states_0.pkl yet
  echo w >"$r/lora-step00000008-state/model.safetensors"
  echo w >"$r/lora-step00000008-state/random_states_0.pkl"
  echo w >"$r/a&b_step_7.pt"
  touch -t 202001010000 "$r"/checkpoint-* "$r"/checkpoint-*/* "$r"/lora-* "$r"/lora-*/* "$r/a&b_step_7.pt"
  run bash "$SHELL_DIR/tmuxkit-checkpoints" c2 --all
  assert_success
  assert_line --index 0 --regexp "^12	.*	no	no random_states_.*	$r/lora-step00000012-state$"
  assert_line --index 1 --regexp "^11	.*	no	no trainer_state.json yet.*	$r/checkpoint-11$"
  assert_line --index 2 --regexp "^10	.*	yes		$r/checkpoint-10$"
  assert_line --index 3 --regexp "^9	.*	yes		$r/checkpoint-9$"
  assert_line --index 4 --regexp "^8	.*	yes		$r/lora-step00000008-state$"
  assert_line --index 5 --partial "a&b_step_7.pt"
  run bash "$SHELL_DIR/tmuxkit-checkpoints" c2 --json --newest 1
  assert_output --partial '"path":"'"$r"'/checkpoint-10","step":10,'
  assert_output --partial '"kind":"hf","complete":true,"reason":null}]'
}

@test "watch: exit 0 is finished and the watchdog ends" {
  start_run w1 'echo ok'
  wait_for 30 run_over w1
  run bash "$SHELL_DIR/tmuxkit-watch" w1 --every 1 --auto-resume
  assert_success
  run cat "$TMUXKIT_HOME/runs/w1/events.jsonl"
  assert_line --index 0 --partial '"event":"started"'
  assert_line --index 1 --partial '"event":"finished","exit_code":0'
  run bash "$SHELL_DIR/tmuxkit-events" w1
  assert_line --index 1 --partial finished
}

@test "watch: a crash is resumed, and the budget ends it as failed" {
  start_run w2 'exit 4'
  run bash "$SHELL_DIR/tmuxkit-watch" w2 --every 1 --auto-resume --max-restarts 1 --backoff 1
  assert_success
  run bash -c "sed -n 's/.*\"event\":\"\\([a-z_]*\\)\".*/\\1/p' '$TMUXKIT_HOME/runs/w2/events.jsonl' | tr '\n' ' '"
  assert_output "started crashed restarted crashed budget_spent "
  run bash "$SHELL_DIR/check_training_status.sh" --runs-only --json w2
  assert_output --partial '"state":"failed"'
  assert_output --partial '"restarts":1'
}

@test "watch: GPU idle by a scripted nvidia-smi; argv checked" {
  mkdir -p "$BATS_TEST_TMPDIR/gpu"
  cp "$ROOT/tests/fakes/nvidia-smi" "$BATS_TEST_TMPDIR/gpu/"
  echo 2 >"$BATS_TEST_TMPDIR/gpu/util"
  export PATH="$BATS_TEST_TMPDIR/gpu:$PATH"
  start_run w3 'while :; do echo busy; sleep 0.2; done'
  run bash "$SHELL_DIR/tmuxkit-watch" w3 --detach --every 1 --gpu-idle-below 10 --gpu-idle-for 1
  assert_success
  assert_output --partial "session=w3+watch"
  wait_for 15 grep -q '"reason":"gpu idle"' "$TMUXKIT_HOME/runs/w3/events.jsonl"
  run sort -u "$BATS_TEST_TMPDIR/gpu/argv.log"
  assert_output $'--query-compute-apps=pid,gpu_uuid --format=csv,noheader,nounits\n--query-gpu=uuid,utilization.gpu --format=csv,noheader,nounits'
}

@test "watch: real H100 nvidia-smi output, replayed: idle flags the run, busy does not" {
  mkdir -p "$BATS_TEST_TMPDIR/gpu"
  cp "$ROOT/tests/fakes/nvidia-smi" "$BATS_TEST_TMPDIR/gpu/"
  echo "$ROOT/tests/fakes/nvidia-smi-h100 _busy" >"$BATS_TEST_TMPDIR/gpu/replay"
  export PATH="$BATS_TEST_TMPDIR/gpu:$PATH"
  start_run w4 'while :; do echo training; sleep 0.2; done'
  run bash "$SHELL_DIR/tmuxkit-watch" w4 --detach --every 1 --gpu-idle-below 5 --gpu-idle-for 1
  assert_success
  # Busy (100%): let the watchdog look at least four times, then no gpu idle event.
  busy_looks() { [ "$(grep -c query-gpu "$BATS_TEST_TMPDIR/gpu/argv.log" 2>/dev/null)" -ge 4 ]; }
  wait_for 15 busy_looks
  run grep -c '"reason":"gpu idle"' "$TMUXKIT_HOME/runs/w4/events.jsonl"
  assert_output 0
  # Idle (0%, no compute apps): flagged.
  echo "$ROOT/tests/fakes/nvidia-smi-h100 _idle" >"$BATS_TEST_TMPDIR/gpu/replay"
  wait_for 15 grep -q '"reason":"gpu idle","gpu_util":0' "$TMUXKIT_HOME/runs/w4/events.jsonl"
}
