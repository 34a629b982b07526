#!/usr/bin/env bats
# The cause of a run's end, named from its log's tail (shell/lib/cause.bash), for the crash shapes
# real trainers and launchers print (tests/fakes/crashes/).
load test_helper

CRASHES="$ROOT/tests/fakes/crashes"

cause() {
  bash -c '. "$1/lib/tmuxkit.bash" && shift && tk_cause "$@"' _ "$SHELL_DIR" "$@"
}

@test "CUDA out of memory is named with the allocation it tried, not W&B's closing lines" {
  run cause "$CRASHES/oom_wandb.log" 1
  assert_success
  assert_output "CUDA out of memory (tried to allocate 2.00 GiB)"
}

@test "torchrun: the root-cause rank's error, not the launcher's ChildFailedError nor another rank's" {
  run cause "$CRASHES/torchrun_ranks.log" 1
  assert_success
  assert_output "CUDA out of memory (tried to allocate 512.00 MiB) (rank 1)"
}

@test "accelerate launch: the script's error, not the launcher's CalledProcessError" {
  run cause "$CRASHES/accelerate_launch.log" 1
  assert_output "KeyError: 'labels'"
}

@test "an NCCL timeout names the collective that timed out" {
  run cause "$CRASHES/nccl_timeout.log" 134
  assert_output --partial "NCCL timeout: Watchdog caught collective operation timeout: WorkNCCL(SeqNum=9912, OpType=ALLREDUCE"
}

@test "a full disk, a device-side assert, a NaN loss" {
  run cause "$CRASHES/nospace.log" 1
  assert_output "No space left on device: '/home/me/src/kssm/results/kssm_v3/ckpt/step_500.pt'"
  run cause "$CRASHES/cuda_assert.log" 1
  assert_output "CUDA error: device-side assert triggered"
  run cause "$CRASHES/nan_loss.log" 1
  assert_output "loss became NaN"
}

@test "only the latest start counts: an earlier attempt's OOM is not this one's cause" {
  run cause "$CRASHES/two_starts.log" 1
  assert_output "ModuleNotFoundError: No module named 'wandb'"
}

@test "the last traceback, not the first: an OOM caught and survived is not the cause" {
  {
    echo "[tmuxkit] run r started at 2026-12-05 00:00:01 in /tmp"
    echo "Traceback (most recent call last):"
    echo '  File "find_batch.py", line 3, in <module>'
    echo "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 9.00 GiB."
    echo "batch size 64 does not fit; trying 32"
    echo "step 10/100 loss=1.5"
    echo "Traceback (most recent call last):"
    echo '  File "train.py", line 30, in <module>'
    echo "ValueError: expected 3 channels, got 4"
    echo "wandb: Find logs at: wandb/run-1/logs"
  } >"$WORK/r.log"
  run cause "$WORK/r.log" 1
  assert_output "ValueError: expected 3 channels, got 4"
}

@test "no message at all: SIGKILL tmuxkit did not send, a segfault, a signal, an exit code" {
  run cause "$CRASHES/quiet.log" 137
  assert_output "killed by SIGKILL that tmuxkit did not send (the host's out-of-memory killer, most likely)"
  run cause "$CRASHES/quiet.log" 137 kill
  assert_output "signal 9 (SIGKILL)"
  run cause "$CRASHES/quiet.log" 139
  assert_output "segmentation fault (SIGSEGV)"
  run cause "$CRASHES/quiet.log" 143
  assert_output "signal 15 (SIGTERM)"
  run cause "$CRASHES/quiet.log" 1
  assert_output "exit 1"
  run cause "$WORK/no-such.log" 2
  assert_output "exit 2"
}

@test "one line of at most 300 bytes, never half a UTF-8 character" {
  local long i
  long="RuntimeError: "
  for i in $(seq 1 60); do long="$long é步"; done
  printf '%s\n' "[tmuxkit] run r started at 2026-12-05 00:00:01 in /tmp" "$long" >"$WORK/r.log"
  run cause "$WORK/r.log" 1
  assert_success
  [ "${#lines[@]}" = 1 ]
  [ "$(printf '%s' "$output" | wc -c)" -le 300 ]
  printf '%s' "$output" | iconv -f UTF-8 -t UTF-8 >/dev/null
  assert_output --regexp '^RuntimeError: .*\.\.\.$'
}

@test "the tail is bounded: only the last 64 KiB are read, the rotated log only when the current is short" {
  {
    echo "[tmuxkit] run r started at 2026-12-05 00:00:01 in /tmp"
    echo "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.00 GiB."
    yes "step 1/2 loss=0.5" | head -n 5000
  } >"$WORK/r.log"
  run cause "$WORK/r.log" 1
  assert_output "exit 1"
  printf 'KeyError: %s\n' "'x'" >"$WORK/s.log.1"
  echo "step 1/2 loss=0.5" >"$WORK/s.log"
  run cause "$WORK/s.log" 1
  assert_output "KeyError: 'x'"
}

@test "a clean exit (0) is named as such, not by an error the trainer caught and survived; a NaN loss still is" {
  printf '%s\n' "[tmuxkit] run r started at 2026-12-05 00:00:01 in /tmp" "Traceback (most recent call last):" \
    '  File "train.py", line 9, in upload' "ConnectionError: wandb upload failed, retrying" "step 100" "training done" >"$WORK/r.log"
  run cause "$WORK/r.log" 0
  assert_success
  assert_output "exit 0"
  run cause "$WORK/r.log" 1
  assert_output "ConnectionError: wandb upload failed, retrying"
  run cause "$CRASHES/nan_loss.log" 0
  assert_output "loss became NaN"
}
