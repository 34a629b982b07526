#!/usr/bin/env bats
# tmuxkit-checkpoints' rules (shell/lib/ckpt.bash), on results folders laid out as real trainers
# lay them: completeness by format (torn files from writers killed with -9), which files count,
# which unit is newest, bounded listings. The watchdog and the sync list through the same script.
load test_helper

# A Python for the writers of real formats: TMUXKIT_CKPT_WRITERS_PY, else the project's .venv (its
# test extra has safetensors, numpy and h5py), else python3 (zip kinds only).
writers_py() {
  local p=${TMUXKIT_CKPT_WRITERS_PY:-}
  if [ -z "$p" ] && [ -x "$ROOT/.venv/bin/python" ]; then p=$ROOT/.venv/bin/python; fi
  [ -n "$p" ] || p=$(command -v python3 || true)
  printf '%s' "$p"
}

# write KIND PATH: a whole checkpoint by the real writer (exit 3: its package is missing).
write() {
  "$(writers_py)" "$ROOT/tests/fakes/ckpt_writer.py" "$1" "$2" >/dev/null
}

# torn KIND PATH: the writer stops half-way through the file and is killed with -9 there.
torn() {
  local out="$BATS_TEST_TMPDIR/writer.$RANDOM" pid
  "$(writers_py)" "$ROOT/tests/fakes/ckpt_writer.py" "$1" "$2" --hang >"$out" 2>&1 &
  pid=$!
  wait_for 30 grep -sqE '^(half|missing)' "$out"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if grep -q '^missing' "$out"; then return 3; fi
}

list() { # the listing of ./results, nothing settling (no run: nothing is writing)
  run bash "$SHELL_DIR/tmuxkit-checkpoints" --results results --settle 0 --all "$@"
  assert_success
}

old() { # old PATH...: mtimes far apart, oldest first (a minute each)
  local i=0 p
  for p in "$@"; do
    touch -t "2020010100$(printf %02d $i)" "$p"
    if [ -d "$p" ]; then find "$p" -exec touch -t "2020010100$(printf %02d $i)" {} +; fi
    i=$((i + 1))
  done
}

@test "ckpt: a torch zip killed with -9 while written is torn; a whole one, a Lightning last.ckpt and a zip .bin are complete" {
  [ -n "$(writers_py)" ] || skip "no python3 to write zips with"
  mkdir -p results/ckpt
  write zip results/ckpt/step_100.pt
  torn zip results/ckpt/step_200.pt
  write zip results/ckpt/optimizer.bin
  torn lightning results/last.ckpt
  old results/ckpt/optimizer.bin results/ckpt/step_100.pt results/ckpt/step_200.pt results/last.ckpt
  list
  # (its step, 280, is read from data.pkl, whole at the head of the torn file)
  assert_line --regexp "^280	.*	no	no end-of-central-directory record: a torn zip.*	$WORK/results/last.ckpt$"
  assert_line --regexp "^200	.*	no	no end-of-central-directory record.*	$WORK/results/ckpt/step_200.pt$"
  assert_line --regexp "^100	.*	yes		$WORK/results/ckpt/step_100.pt$"
  assert_line --regexp "	yes		$WORK/results/ckpt/optimizer.bin$"
  run bash "$SHELL_DIR/tmuxkit-checkpoints" --results results --settle 0 --newest 1
  assert_output --regexp "^100	.*	$WORK/results/ckpt/step_100.pt$"
}

@test "ckpt: safetensors and HDF5 files killed with -9 while written are torn" {
  mkdir -p results/ckpt
  write safetensors results/ckpt/model-00001.safetensors || skip "the safetensors and numpy packages are not installed for $(writers_py) (set TMUXKIT_CKPT_WRITERS_PY)"
  torn safetensors results/ckpt/model-00002.safetensors
  write h5 results/model-01.weights.h5 || skip "the h5py package is not installed for $(writers_py) (set TMUXKIT_CKPT_WRITERS_PY)"
  torn h5 results/model-02.weights.h5
  old results/ckpt/model-00001.safetensors results/model-01.weights.h5 results/ckpt/model-00002.safetensors results/model-02.weights.h5
  list
  assert_line --regexp "^1	.*	yes		$WORK/results/ckpt/model-00001.safetensors$"
  assert_line --regexp "^2	.*	no	shorter than its safetensors header says .*: torn	$WORK/results/ckpt/model-00002.safetensors$"
  assert_line --regexp "^1	.*	yes		$WORK/results/model-01.weights.h5$"
  assert_line --regexp "^2	.*	no	flagged open for writing in its HDF5 superblock.*	$WORK/results/model-02.weights.h5$"
}

# le64 N: N as 8 little-endian bytes, for printf.
le64() {
  local n=$1 i s=''
  for i in 1 2 3 4 5 6 7 8; do
    s="$s\\$(printf %03o $((n % 256)))"
    n=$((n / 256))
  done
  printf '%s' "$s"
}

@test "ckpt: formats judged in bash from headers and tails alone (safetensors length, HDF5 superblock's end of file)" {
  mkdir -p results/ckpt
  hdr='{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'
  # shellcheck disable=SC2059  # the format carries the bytes
  { printf "$(le64 ${#hdr})"; printf '%s' "$hdr"; printf '0123456789abcdef'; } >results/ckpt/whole.safetensors
  head -c $((8 + ${#hdr} + 10)) results/ckpt/whole.safetensors >results/ckpt/cut.safetensors
  # An HDF5 file with a version 2 superblock (offsets 8 bytes) that says the file is 200 bytes long.
  sb() { # EOF-ADDRESS FLAGS
    printf '\211HDF\r\n\032\n\002\010\010'
    # shellcheck disable=SC2059
    printf "\\$(printf %03o "$2")$(le64 0)\377\377\377\377\377\377\377\377$(le64 "$1")$(le64 48)\0\0\0\0"
  }
  { sb 200 0; head -c 152 /dev/zero; } >results/ckpt/whole.h5
  { sb 200 0; head -c 100 /dev/zero; } >results/ckpt/short.h5
  { sb 200 0; head -c 300 /dev/zero; } >results/ckpt/long.h5
  { sb 200 1; head -c 152 /dev/zero; } >results/ckpt/open.h5
  echo 'TORCH legacy pickle' >results/ckpt/legacy.pt # no zip signature: not judged by format
  old results/ckpt/*
  list
  assert_line --regexp "	yes		$WORK/results/ckpt/whole.safetensors$"
  assert_line --regexp "	no	shorter than its safetensors header says \\($((8 + ${#hdr} + 10)) of $((8 + ${#hdr} + 16)) bytes\\): torn	$WORK/results/ckpt/cut.safetensors$"
  assert_line --regexp "	yes		$WORK/results/ckpt/whole.h5$"
  assert_line --regexp "	no	shorter than its HDF5 superblock says \\(148 of 200 bytes\\): torn	$WORK/results/ckpt/short.h5$"
  assert_line --regexp "	no	longer than its HDF5 superblock says .*	$WORK/results/ckpt/long.h5$"
  assert_line --regexp "	no	flagged open for writing.*	$WORK/results/ckpt/open.h5$"
  assert_line --regexp "	yes		$WORK/results/ckpt/legacy.pt$"
}

@test "ckpt: the newest is the unit completed last: last.ckpt after the stale best, the final model after every stepped one" {
  [ -n "$(writers_py)" ] || skip "no python3 to write zips with"
  mkdir -p results/lightning/checkpoints results/hf/checkpoint-200 results/d2 results/ckpt
  # Lightning save_top_k=1 + save_last=True: the best is from step 40, last.ckpt is step 280 (read inside).
  write zip "results/lightning/checkpoints/epoch=0-step=40.ckpt"
  write lightning results/lightning/checkpoints/last.ckpt
  old "results/lightning/checkpoints/epoch=0-step=40.ckpt" results/lightning/checkpoints/last.ckpt
  run bash "$SHELL_DIR/tmuxkit-checkpoints" --results results/lightning --settle 0 --json --newest 1
  assert_output --partial '"path":"'"$WORK"'/results/lightning/checkpoints/last.ckpt","step":280,"step_from":"inside",'
  # HF's final save_model beside its last checkpoint-N; detectron's model_final.pth; ckpt/final.pt.
  echo '{"global_step": 200}' >results/hf/checkpoint-200/trainer_state.json
  echo w >results/hf/checkpoint-200/optimizer.pt
  echo w >results/hf/model.safetensors
  old results/hf/checkpoint-200 results/hf/model.safetensors
  run bash "$SHELL_DIR/tmuxkit-checkpoints" --results results/hf --settle 0 --newest 1
  assert_output --regexp "^-1	.*	$WORK/results/hf/model.safetensors$"
  echo w >results/d2/model_0000999.pth
  echo w >results/d2/model_final.pth
  old results/d2/model_0000999.pth results/d2/model_final.pth
  run bash "$SHELL_DIR/tmuxkit-checkpoints" --results results/d2 --settle 0 --newest 1
  assert_output --regexp "	$WORK/results/d2/model_final.pth$"
  for f in step_100.pt step_200.pt final.pt; do echo w >"results/ckpt/$f"; done
  old results/ckpt/step_100.pt results/ckpt/step_200.pt results/ckpt/final.pt
  run bash "$SHELL_DIR/tmuxkit-checkpoints" --results results/ckpt/.. --glob 'results/ckpt/*.pt' --settle 0 --newest 1
  assert_output --regexp "	$WORK/results/ckpt/final.pt$"
}

@test "ckpt: accelerate's checkpoints/checkpoint_N: the random_states rule, the step from inside, else the save index as such" {
  [ -n "$(writers_py)" ] || skip "no python3 to write zips with"
  mkdir -p results/checkpoints/checkpoint_3
  CKPT_STEP=100 write accelerate results/checkpoints/checkpoint_0
  CKPT_STEP=200 write accelerate results/checkpoints/checkpoint_1
  torn accelerate results/checkpoints/checkpoint_2 # killed in optimizer.bin, before random_states_0.pkl
  echo w >results/checkpoints/checkpoint_3/model.safetensors
  echo w >results/checkpoints/checkpoint_3/random_states_0.pkl # no step inside that can be read
  old results/checkpoints/checkpoint_0 results/checkpoints/checkpoint_1 results/checkpoints/checkpoint_2 results/checkpoints/checkpoint_3
  list --json
  assert_output --partial '"path":"'"$WORK"'/results/checkpoints/checkpoint_3","step":3,"step_from":"index",'
  assert_output --partial '"path":"'"$WORK"'/results/checkpoints/checkpoint_2","step":2,"step_from":"index","mtime":'
  assert_output --regexp '"path":"[^"]*/checkpoint_2",[^}]*"kind":"state","complete":false,"reason":"no random_states_\*.pkl yet'
  assert_output --regexp '"path":"[^"]*/checkpoint_1","step":200,"step_from":"inside",[^}]*"complete":true'
  assert_output --regexp '"path":"[^"]*/checkpoint_0","step":100,"step_from":"inside",[^}]*"complete":true'
  # random_states_0.pkl there but optimizer.bin torn: still incomplete, by its format.
  torn accelerate results/checkpoints/checkpoint_4
  write zip results/checkpoints/checkpoint_4/random_states_0.pkl
  list
  assert_line --regexp "^4	.*	no	optimizer.bin: no end-of-central-directory record.*	$WORK/results/checkpoints/checkpoint_4$"
}

@test "ckpt: a plain folder is whole only with all its shards, its index's shards and DeepSpeed's latest (a writer pausing between shards)" {
  mkdir -p results/ckpt/step_100 results/ckpt/step_200 results/ckpt/step_300 results/ds/global_step50 results/ds/global_step60
  echo w >results/ckpt/step_100/model-00001-of-00002.safetensors # the writer paused before shard 2
  echo w >results/ckpt/step_200/model-00001-of-00002.safetensors
  echo w >results/ckpt/step_200/model-00002-of-00002.safetensors
  echo w >results/ckpt/step_300/pytorch_model-00001-of-00002.bin
  printf '{"metadata": {}, "weight_map": {"a": "pytorch_model-00001-of-00002.bin", "b": "pytorch_model-00002-of-00002.bin"}}' \
    >results/ckpt/step_300/pytorch_model.bin.index.json
  # DeepSpeed save_checkpoint(results/ds): global_stepN/ tags, "latest" written after every rank saved.
  for t in 50 60; do echo w >"results/ds/global_step$t/mp_rank_00_model_states.pt"; done
  echo global_step50 >results/ds/latest
  old results/ckpt/step_100 results/ckpt/step_200 results/ckpt/step_300 results/ds/global_step50 results/ds/global_step60
  list
  assert_line --regexp "^100	.*	no	shard 2 of 2 is missing \\(model-00002-of-00002.safetensors\\)	$WORK/results/ckpt/step_100$"
  assert_line --regexp "^200	.*	yes		$WORK/results/ckpt/step_200$"
  assert_line --regexp "^300	.*	no	shard 2 of 2 is missing .*	$WORK/results/ckpt/step_300$"
  assert_line --regexp "^50	.*	yes		$WORK/results/ds/global_step50$"
  assert_line --regexp "^60	.*	no	DeepSpeed's latest file beside it does not name it yet.*	$WORK/results/ds/global_step60$"
  echo global_step60 >results/ds/latest
  list
  assert_line --regexp "^60	.*	yes		$WORK/results/ds/global_step60$"
  assert_line --regexp "^50	.*	yes		$WORK/results/ds/global_step50$"
  refute_output --partial "results/ds/latest"
  # An index that lists a shard not there yet (its name not numbered): incomplete.
  echo w >results/ckpt/step_300/pytorch_model-00002-of-00002.bin
  sed 's/pytorch_model-00002-of-00002.bin/extra.bin/' results/ckpt/step_300/pytorch_model.bin.index.json >results/ckpt/step_300/x.index.json
  old results/ckpt/step_300
  list
  assert_line --regexp "^300	.*	no	x.index.json lists extra.bin, which is not there yet	$WORK/results/ckpt/step_300$"
  # The HF Trainer with DeepSpeed: checkpoint-N/ holds global_stepN/ and "latest"; trainer_state.json alone is not enough.
  mkdir -p results/hf/checkpoint-100/global_step100
  echo '{"global_step": 100}' >results/hf/checkpoint-100/trainer_state.json
  echo w >results/hf/checkpoint-100/global_step100/mp_rank_00_model_states.pt
  old results/hf/checkpoint-100
  list
  assert_line --regexp "^100	.*	no	DeepSpeed's latest file is not written yet.*	$WORK/results/hf/checkpoint-100$"
  echo global_step100 >results/hf/checkpoint-100/latest
  old results/hf/checkpoint-100
  list
  assert_line --regexp "^100	.*	yes		$WORK/results/hf/checkpoint-100$"
}

@test "ckpt: outside ckpt/ and checkpoints/ a file counts only when its name says checkpoint; Keras's model-06.weights.h5 is step 6" {
  mkdir -p results/preds results/ckpt results/keras
  echo w >results/preds/embeddings_100000.pt
  echo w >results/preds/features_7.safetensors
  echo w >results/ckpt/step_500.pt
  echo w >results/ckpt/notes.txt
  echo w >results/keras/model-06.weights.h5
  echo w >results/keras/best.keras
  echo w >results/run_weights_3.bin
  old results/preds/* results/ckpt/* results/keras/* results/run_weights_3.bin
  list
  refute_output --partial embeddings_100000
  refute_output --partial features_7
  refute_output --partial notes.txt
  assert_line --regexp "^500	.*	yes		$WORK/results/ckpt/step_500.pt$"
  assert_line --regexp "^6	.*	yes		$WORK/results/keras/model-06.weights.h5$"
  assert_line --regexp "^3	.*	yes		$WORK/results/run_weights_3.bin$"
  assert_line --regexp "	no	not a zip: torn, or not a .keras file	$WORK/results/keras/best.keras$"
}

@test "ckpt: a listing is bounded: a checkpoints glob through a link to / is not walked, 3000 cache tensors cost nothing" {
  mkdir -p results/cache
  ln -s / checkpoints
  local t0=$SECONDS
  run bash "$SHELL_DIR/tmuxkit-checkpoints" --results results --glob 'checkpoints/*' --settle 0 --all
  assert_success
  [ $((SECONDS - t0)) -lt 20 ] || fail "a glob through a link to / took $((SECONDS - t0))s"
  assert_line --regexp "	no	reached through a link out of the run's cwd and results: not followed	$WORK/checkpoints/usr$"
  i=0
  while [ $i -lt 3000 ]; do
    : >"results/cache/emb_$i.pt"
    i=$((i + 1))
  done
  echo w >results/cache/model_step_9.pt
  old results/cache/model_step_9.pt
  t0=$SECONDS
  list
  [ $((SECONDS - t0)) -lt 10 ] || fail "3000 cache tensors made the listing take $((SECONDS - t0))s"
  assert_line --index 0 --regexp "^9	.*	$WORK/results/cache/model_step_9.pt$"
  [ "${#lines[@]}" = 1 ] || fail "cache tensors were listed: ${#lines[@]} lines"
  # At most TK_CKPT_MAX_UNITS units are judged, with a note.
  mkdir -p results/ckpt
  for i in 1 2 3 4 5; do echo w >"results/ckpt/step_$i.pt"; done
  run env TK_CKPT_MAX_UNITS=3 bash "$SHELL_DIR/tmuxkit-checkpoints" --results results --settle 0 --all
  assert_success
  assert_output --partial "listed the first 3 units only"
}
