#!/usr/bin/env bats
# GPUs and the host queue (shell/lib/gpu.bash, shell/lib/queue.bash, tmuxkit-queue): the stand-in
# nvidia-smi serves a box of GPUs from the live process table; real tmux, real processes.
load test_helper

setup() {
  common_setup
  export TMUXKIT_QUEUE_POLL=1
}

# gpu_box N: the stand-in nvidia-smi first on PATH, serving N GPUs of 80 GiB.
gpu_box() {
  local i=0
  mkdir -p "$BATS_TEST_TMPDIR/gpu"
  cp "$ROOT/tests/fakes/nvidia-smi" "$BATS_TEST_TMPDIR/gpu/"
  : >"$BATS_TEST_TMPDIR/gpu/gpus"
  while [ "$i" -lt "$1" ]; do
    printf '%s GPU-%08d-fake 81559\n' "$i" "$i" >>"$BATS_TEST_TMPDIR/gpu/gpus"
    i=$((i + 1))
  done
  export PATH="$BATS_TEST_TMPDIR/gpu:$PATH"
}

lib() { bash -c ". '$SHELL_DIR/lib/tmuxkit.bash'; $1"; }

# A foreign GPU user: a process marked as a compute app on GPU $1, not a tmuxkit run's.
foreign() {
  env FAKE_GPU_MIB="${2:-30720}" CUDA_VISIBLE_DEVICES="$1" sleep 300 </dev/null >/dev/null 2>&1 3>&- &
  FOREIGN_PID=$!
}

# The command of a GPU run: a compute app on its GPUs for $1 seconds, recording what it saw.
gpu_cmd() {
  printf 'export FAKE_GPU_MIB=1000; echo "$TMUXKIT_RUN $CUDA_VISIBLE_DEVICES $CUDA_DEVICE_ORDER" >>%q/seen; exec sleep %s' "$WORK" "$1"
}

# As gpu_cmd, but the run holds its GPU until $WORK/go exists (not for a time: on a loaded
# machine a 2 s run could end, freeing its GPU, before a concurrent start had looked).
gpu_gated_cmd() {
  printf 'echo "$TMUXKIT_RUN $CUDA_VISIBLE_DEVICES $CUDA_DEVICE_ORDER" >>%q/seen; exec env FAKE_GPU_MIB=1000 bash -c %q' \
    "$WORK" "while [ ! -e $(printf %q "$WORK/go") ]; do sleep 0.1; done"
}

started() { [ -f "$TMUXKIT_HOME/runs/$1/pid" ]; }
ended() { [ -f "$TMUXKIT_HOME/runs/$1/exit" ]; }

@test "gpu: the inventory reads the stand-in box and the real H100 shapes" {
  gpu_box 2
  run lib 'tk_gpu_inventory; echo "$TK_GPU_STATE $TK_GPU_N ${GI_IDX[1]} ${GI_UUID[1]} ${GI_MTOT[1]}"'
  assert_success
  assert_output "ok 2 1 GPU-00000001-fake 81559"
  echo "$ROOT/tests/fakes/nvidia-smi-h100 _busy" >"$BATS_TEST_TMPDIR/gpu/replay"
  run lib 'tk_gpu_inventory; echo "$TK_GPU_N ${GI_UTIL[0]} ${GI_MUSED[0]} $TK_GPU_NAPPS ${GA_PID[0]} ${GA_MEM[0]}"'
  assert_output "1 100 1395 1 450 1386"
  # the two queries tmuxkit makes, and no other
  run sort -u "$BATS_TEST_TMPDIR/gpu/argv.log"
  assert_output "--query-compute-apps=pid,gpu_uuid,used_memory --format=csv,noheader,nounits
--query-gpu=index,uuid,utilization.gpu,memory.used,memory.total --format=csv,noheader,nounits"
}

# The bounds on wall time below leave room for a loaded box (CI runs four bats files at once
# beside other work): each proves "cut at the limit", not "hung for the stand-in's 300 s".
@test "gpu: no nvidia-smi is no GPU; a hung one is cut at the limit and said" {
  run env PATH="/usr/bin:/bin" bash -c ". '$SHELL_DIR/lib/tmuxkit.bash'; tk_gpu_inventory; echo \"\$TK_GPU_STATE\""
  assert_output "none"
  gpu_box 1
  touch "$BATS_TEST_TMPDIR/gpu/hang"
  local t0=$SECONDS
  run lib 'tk_gpu_inventory; echo "$TK_GPU_STATE: $TK_GPU_WHY"'
  assert_output --partial "hung: nvidia-smi gave no answer within 2 s"
  [ $((SECONDS - t0)) -le 8 ]
}

@test "gpu: nvidia-smi's two queries run side by side: a slow driver (2.5 s a query) is not cut at a 4 s limit" {
  gpu_box 1
  # One after the other the two queries take 5 s, past the limit; side by side 2.5 s, with 1.5 s
  # for a loaded box to start them.
  export TMUXKIT_GPU_TIMEOUT=4
  echo 2.5 >"$BATS_TEST_TMPDIR/gpu/delay"
  run lib 'tk_gpu_inventory; echo "$TK_GPU_STATE $TK_GPU_N $TK_GPU_WHY"'
  assert_output "ok 1 "
}

@test "gpu: status asks nvidia-smi once, its two queries side by side, and waits on it no more than the limit" {
  gpu_box 1
  run bash "$SHELL_DIR/tmuxkit-start" g --gpus 1 --cmd "$(gpu_cmd 300)"
  assert_success
  wait_for 10 grep -q "g 0" "$WORK/seen"
  : >"$BATS_TEST_TMPDIR/gpu/argv.log"
  echo 2.5 >"$BATS_TEST_TMPDIR/gpu/delay"
  # 2.5 s a query: one after the other they would pass the 4 s limit
  export TMUXKIT_GPU_TIMEOUT=4
  run bash "$SHELL_DIR/check_training_status.sh" --runs-only --json g
  unset TMUXKIT_GPU_TIMEOUT
  assert_success
  assert_output --partial '"gpus":[{"index":0,"uuid":"GPU-00000000-fake","util_pct":97,"run_mem_mib":1000'
  [ "$(grep -c . "$BATS_TEST_TMPDIR/gpu/argv.log")" = 2 ]
  # a hung driver: status answers at the limit, with the GPUs unknown and why
  rm -f "$BATS_TEST_TMPDIR/gpu/delay"
  touch "$BATS_TEST_TMPDIR/gpu/hang"
  local t0=$SECONDS
  run bash "$SHELL_DIR/check_training_status.sh" --runs-only --json g
  assert_success
  assert_output --partial '"gpus_error":"nvidia-smi gave no answer within 2 s (a hung driver?)"'
  [ $((SECONDS - t0)) -le 8 ]
  # nothing of the queries is left: no answer files, no nvidia-smi
  [ -z "$(ls -A "$TMUXKIT_HOME/gpus" | grep -v '\.claim$')" ]
  run pgrep -f "$BATS_TEST_TMPDIR/gpu/nvidia-smi"
  assert_failure
}

# spy_tools LOG TOOL...: each TOOL first on PATH as a stand-in that logs its name to LOG and runs
# the real one.
spy_tools() {
  local log=$1 t real
  shift
  mkdir -p "$BATS_TEST_TMPDIR/spy"
  for t in "$@"; do
    real=$(command -v "$t")
    printf '#!/bin/sh\necho %s >>%s\nexec %s "$@"\n' "$t" "$log" "$real" >"$BATS_TEST_TMPDIR/spy/$t"
    chmod +x "$BATS_TEST_TMPDIR/spy/$t"
  done
  export PATH="$BATS_TEST_TMPDIR/spy:$PATH"
}

@test "gpu: status of a GPU run starts no process but nvidia-smi's two queries (no killer, no sleep, no temp file to remove)" {
  gpu_box 1
  run bash "$SHELL_DIR/tmuxkit-start" g --gpus 1 --cmd "$(gpu_cmd 300)"
  assert_success
  run bash "$SHELL_DIR/tmuxkit-start" n --cmd 'exec sleep 300'
  assert_success
  wait_for 10 grep -q "g 0" "$WORK/seen"
  wait_for 10 test -s "$TMUXKIT_HOME/runs/n/pid"
  spy_tools "$BATS_TEST_TMPDIR/tools.log" sh sleep rm mktemp
  : >"$BATS_TEST_TMPDIR/tools.log"
  run bash "$SHELL_DIR/check_training_status.sh" --runs-only --json n
  assert_success
  sort "$BATS_TEST_TMPDIR/tools.log" >"$BATS_TEST_TMPDIR/without"
  : >"$BATS_TEST_TMPDIR/tools.log"
  : >"$BATS_TEST_TMPDIR/gpu/argv.log"
  run bash "$SHELL_DIR/check_training_status.sh" --runs-only --json g
  assert_success
  assert_output --partial '"gpus":[{"index":0,"uuid":"GPU-00000000-fake","util_pct":97,"run_mem_mib":1000'
  [ "$(grep -c . "$BATS_TEST_TMPDIR/gpu/argv.log")" = 2 ]
  run diff "$BATS_TEST_TMPDIR/without" <(sort "$BATS_TEST_TMPDIR/tools.log")
  assert_success
  [ -z "$(ls -A "$TMUXKIT_HOME/gpus" | grep -v '\.claim$')" ]
}

@test "gpu: a compute app's run and program are the same read from /proc as from ps (the Mac's way)" {
  gpu_box 2
  run bash "$SHELL_DIR/tmuxkit-start" g --gpus 1 --cmd "$(gpu_cmd 300)"
  assert_success
  foreign 1 2048
  wait_for 10 lib 'tk_gpu_inventory; [ "$TK_GPU_NAPPS" = 2 ]'
  run lib 'tk_gpu_inventory; _tk_gpu_procs | sort'
  assert_success
  local viaproc=$output
  assert_output --partial " g "
  assert_output --partial "$FOREIGN_PID - sleep"
  run env TK_GPU_PROC="$BATS_TEST_TMPDIR/noproc" bash -c ". '$SHELL_DIR/lib/tmuxkit.bash'; tk_gpu_inventory; _tk_gpu_procs | sort"
  assert_output "$viaproc"
}

@test "gpu: free means no claim and no foreign app; a container's memory counts; the override" {
  gpu_box 3
  foreign 1 30720
  echo 5000 >"$BATS_TEST_TMPDIR/gpu/mem-2" # a container: 4.9 GiB used by PIDs not in ps
  wait_for 10 lib 'tk_gpu_inventory; [ "$TK_GPU_NAPPS" = 1 ]'
  run lib 'tk_gpu_inventory; tk_gpu_assess "$TMUXKIT_HOME"; echo "$TK_GPU_FREE ${GF_STATE[*]}"; tk_gpu_blockers'
  assert_line --index 0 "1 free busy busy"
  assert_line --index 1 "GPU 1 used by PID $FOREIGN_PID (sleep, 30.0 GiB, not tmuxkit's), GPU 2 busy: 4.8 GiB used by processes not listed here (a container?)"
  echo 4000 >"$BATS_TEST_TMPDIR/gpu/mem-2" # under max(5 % of 80 GiB, 1 GiB): free
  run lib 'tk_gpu_inventory; tk_gpu_assess "$TMUXKIT_HOME"; echo "${GF_STATE[*]}"'
  assert_output "free busy free"
  run env TMUXKIT_GPUS_IGNORE_FOREIGN=1 bash -c ". '$SHELL_DIR/lib/tmuxkit.bash'; tk_gpu_inventory; tk_gpu_assess \"\$TMUXKIT_HOME\"; echo \"\${GF_STATE[*]}\""
  assert_output "free free free"
}

@test "gpu: a run gets its GPU as CUDA_VISIBLE_DEVICES, claimed until it ends" {
  gpu_box 2
  run bash "$SHELL_DIR/tmuxkit-start" one --gpus 1 --cmd "$(gpu_cmd 300)"
  assert_success
  wait_for 10 grep -q "one 0 PCI_BUS_ID" "$WORK/seen"
  run lib 'tk_lock_state "$TMUXKIT_HOME/gpus/GPU-00000000-fake.claim"; echo "$LK_STATE $LK_RUN $LK_PID"'
  assert_output "alive one $(runner_pid one)"
  run bash "$SHELL_DIR/tmuxkit-kill" one
  assert_success
  wait_for 10 bash -c "! test -e '$TMUXKIT_HOME/gpus/GPU-00000000-fake.claim'"
}

@test "gpu: bad asks are one line, exit 2, nothing queued" {
  run bash "$SHELL_DIR/tmuxkit-start" x --gpus 1 --env CUDA_VISIBLE_DEVICES=3 --cmd true
  assert_failure 2
  assert_output "tmuxkit: the run's env sets CUDA_VISIBLE_DEVICES while gpus = 1: tmuxkit gives the run its GPUs; drop one of them"
  run env PATH="/usr/bin:/bin" bash "$SHELL_DIR/tmuxkit-start" x --gpus 1 --cmd true
  assert_failure 2
  assert_output --partial "asks for 1 GPU(s), but this host has none"
  gpu_box 2
  run bash "$SHELL_DIR/tmuxkit-start" x --gpus 3 --cmd true
  assert_failure 2
  assert_output --partial "asks for 3 GPUs, but"
  run bash "$SHELL_DIR/tmuxkit-start" x --gpus two --cmd true
  assert_failure 2
  [ ! -d "$TMUXKIT_HOME/queue" ] || [ -z "$(ls "$TMUXKIT_HOME/queue" | grep '^[0-9]')" ]
}

@test "gpu: 4 concurrent 1-GPU starts on 2 GPUs: never two on one GPU, all run, first in first out" {
  gpu_box 2
  local r pids=''
  for r in r1 r2 r3 r4; do
    bash "$SHELL_DIR/tmuxkit-start" "$r" --gpus 1 --cmd "$(gpu_gated_cmd)" >"$BATS_TEST_TMPDIR/out.$r" 2>&1 &
    pids="$pids $!"
  done
  local p failed=''
  for p in $pids; do # (not a bare wait: bats's own timer is a child too)
    wait "$p" || failed=1
  done
  [ -z "$failed" ] || { head -n 20 "$BATS_TEST_TMPDIR"/out.r* >&2; fail "a start failed"; }
  run grep -h "state=queued" "$BATS_TEST_TMPDIR"/out.r*
  [ "${#lines[@]}" = 2 ]
  # the queue's order, as start said it
  local first second
  first=$(cd "$TMUXKIT_HOME/queue" && ls -d 0*.* | head -n 1) second=$(cd "$TMUXKIT_HOME/queue" && ls -d 0*.* | tail -n 1)
  first=${first#*.} second=${second#*.}
  # Only now do the two running runs end (and free their GPUs for the two queued ones).
  touch "$WORK/go"
  for r in r1 r2 r3 r4; do wait_for 30 ended "$r"; done
  # no GPU ever had two runs: each run's life, per GPU, overlaps no other's
  run awk '{ print $2 }' "$WORK/seen"
  [ "$(grep -c . "$WORK/seen")" = 4 ]
  for g in 0 1; do
    local prev_end=0 s e
    for r in $(awk -v g="$g" '$2 == g { print $1 }' "$WORK/seen"); do
      s=$(cat "$TMUXKIT_HOME/runs/$r/pid" >/dev/null && awk -F= '$1 == "started_at" { print $2 }' "$TMUXKIT_HOME/runs/$r/meta")
      e=$(awk '{ print $2 }' "$TMUXKIT_HOME/runs/$r/exit")
      [ "$s" -ge "$prev_end" ] || fail "GPU $g: run $r started at $s before the last ended at $prev_end"
      prev_end=$e
    done
  done
  s=$(awk -F= '$1 == "started_at" { print $2 }' "$TMUXKIT_HOME/runs/$first/meta")
  e=$(awk -F= '$1 == "started_at" { print $2 }' "$TMUXKIT_HOME/runs/$second/meta")
  [ "$s" -le "$e" ] || fail "first queued $first started after $second"
}

@test "gpu: a queued run tried while GPUs are free for the run ahead of it too lets that one start first" {
  gpu_box 2
  # No dispatch pass of the queue's own meanwhile: queue/dispatching held by a process of this test.
  sleep 300 </dev/null >/dev/null 2>&1 3>&- &
  local holder=$! e1 e2
  for r in h1 h2; do
    run bash "$SHELL_DIR/tmuxkit-start" "$r" --gpus 1 --cmd "$(gpu_gated_cmd)"
    assert_success
    refute_output --partial "state=queued"
  done
  run lib "tk_queue_dir \"\$TMUXKIT_HOME\" && tk_lock_acquire \"\$TMUXKIT_HOME/queue/dispatching\" $holder \"\$(tk_pstart $holder)\" queue queue test"
  assert_success
  for r in q1 q2; do
    run bash "$SHELL_DIR/tmuxkit-start" "$r" --gpus 1 --cmd "$(gpu_gated_cmd)"
    assert_success
    assert_output --partial "state=queued"
  done
  e1=$(cd "$TMUXKIT_HOME/queue" && ls -d 0*.q1) e2=$(cd "$TMUXKIT_HOME/queue" && ls -d 0*.q2)
  # Both holders end: both GPUs are free, as when a pass tried q1 (none free then) and then q2.
  touch "$WORK/go"
  wait_for 30 ended h1
  wait_for 30 ended h2
  wait_for 30 lib 'tk_gpu_inventory; tk_gpu_assess "$TMUXKIT_HOME" q2; [ "$TK_GPU_FREE" = 2 ]'
  run lib "TK_BIN=$(printf %q "$SHELL_DIR"); _tk_queue_try \"\$TMUXKIT_HOME\" $e2"
  assert_success
  # q2 did not start ahead of q1, though a GPU was left for it: still queued, saying why, and one
  # more pass asked for (from the head of the queue), in which q1 starts first.
  [ ! -f "$TMUXKIT_HOME/runs/q2/meta" ] || fail "q2 started ahead of q1"
  [ -d "$TMUXKIT_HOME/queue/$e2" ] && [ -d "$TMUXKIT_HOME/queue/$e1" ]
  run cat "$TMUXKIT_HOME/queue/$e2/waiting_for"
  assert_output "1 run(s) ahead of it start first"
  [ -f "$TMUXKIT_HOME/queue/again" ]
  # The queue's own passes again: q1 starts first, then q2.
  kill "$holder"
  wait "$holder" 2>/dev/null || true
  wait_for 30 ended q1
  wait_for 30 ended q2
  local s e
  s=$(awk -F= '$1 == "started_at" { print $2 }' "$TMUXKIT_HOME/runs/q1/meta")
  e=$(awk -F= '$1 == "started_at" { print $2 }' "$TMUXKIT_HOME/runs/q2/meta")
  [ "$s" -le "$e" ] || fail "q1 started after q2"
}

@test "gpu: a runner killed -9 leaves a stale claim that the next start reclaims" {
  gpu_box 1
  run bash "$SHELL_DIR/tmuxkit-start" k --gpus 1 --cmd "$(gpu_cmd 300)"
  assert_success
  local rp cp
  rp=$(runner_pid k) cp=$(cat "$TMUXKIT_HOME/runs/k/pid")
  kill -9 "$rp" "$cp"
  wait_for 10 bash -c "! kill -0 $rp 2>/dev/null"
  run lib 'tk_lock_state "$TMUXKIT_HOME/gpus/GPU-00000000-fake.claim"; echo "$LK_STATE"'
  assert_output "stale"
  run bash "$SHELL_DIR/tmuxkit-start" k2 --gpus 1 --cmd "$(gpu_cmd 300)"
  assert_success
  refute_output --partial "state=queued"
  wait_for 10 grep -q "k2 0" "$WORK/seen"
}

@test "gpu: a foreign process is never given out, is named, and when it ends the waiting run starts by itself" {
  gpu_box 1
  foreign 0 30720
  wait_for 10 lib 'tk_gpu_inventory; [ "$TK_GPU_NAPPS" = 1 ]'
  run bash "$SHELL_DIR/tmuxkit-start" w --gpus 1 --cmd "$(gpu_cmd 300)"
  assert_success
  assert_output --partial "queued (1st): needs 1 GPU; GPU 0 used by PID $FOREIGN_PID (sleep, 30.0 GiB, not tmuxkit's)"
  sleep 2 # polls of the dispatcher meanwhile must not start it
  run started w
  assert_failure
  kill "$FOREIGN_PID"
  wait_for 15 started w
  wait_for 10 grep -q "w 0 PCI_BUS_ID" "$WORK/seen"
  [ -z "$(ls "$TMUXKIT_HOME/queue" | grep '^[0-9]')" ]
}

@test "queue: stop of a queued run takes it out; the queue survives tmux kill-server" {
  gpu_box 1
  run bash "$SHELL_DIR/tmuxkit-start" h --gpus 1 --cmd "$(gpu_cmd 300)"
  run bash "$SHELL_DIR/tmuxkit-start" q --gpus 1 --cmd "$(gpu_cmd 300)"
  assert_output --partial "state=queued"
  run bash "$SHELL_DIR/tmuxkit-start" q --gpus 1 --cmd true
  assert_failure 3
  assert_output --partial "already queued"
  run bash "$SHELL_DIR/tmuxkit-queue" list
  assert_output --partial '"run":"q","session":"q","state":"queued","queue_position":1'
  run bash "$SHELL_DIR/tmuxkit-kill" q
  assert_success
  run bash "$SHELL_DIR/tmuxkit-queue" list
  assert_output ""
  run bash "$SHELL_DIR/tmuxkit-start" q2 --gpus 1 --cmd "$(gpu_cmd 300)"
  assert_output --partial "state=queued"
  tmux -L "$TMUXKIT_SOCKET" kill-server
  run bash "$SHELL_DIR/tmuxkit-queue" list
  assert_output --partial '"run":"q2"'
}

@test "queue: --after OTHER starts once OTHER exited 0; a failed OTHER blocks it, named" {
  # a and c end on the test's word, once the run after them is queued (a fixed "sleep 1" ended
  # them before a slow start on a loaded box had queued b or d).
  run bash "$SHELL_DIR/tmuxkit-start" a --cmd "while [ ! -e $WORK/a-go ]; do sleep 0.1; done; exit 0"
  assert_success
  run bash "$SHELL_DIR/tmuxkit-start" b --after a --cmd 'echo b ran'
  assert_success
  assert_output --partial "queued (1st): waits for run a to exit 0"
  touch "$WORK/a-go"
  wait_for 10 started b
  run bash "$SHELL_DIR/tmuxkit-start" c --cmd "while [ ! -e $WORK/c-go ]; do sleep 0.1; done; exit 3"
  run bash "$SHELL_DIR/tmuxkit-start" d --after c --cmd 'echo d ran'
  assert_output --partial "state=queued"
  touch "$WORK/c-go"
  wait_for 15 bash -c "bash '$SHELL_DIR/tmuxkit-queue' list | grep -q '\"state\":\"blocked\"'"
  run bash "$SHELL_DIR/tmuxkit-queue" list
  assert_output --partial '"waiting_for":"never started: run c failed (exit 3)"'
  run started d
  assert_failure
  grep -q '"event":"blocked"' "$TMUXKIT_HOME/runs/d/events.jsonl"
}

@test "gpu: on a Mac the Apple GPU is one device: runs take turns, no CUDA_VISIBLE_DEVICES; its use and the memory pressure shown" {
  mkdir -p "$BATS_TEST_TMPDIR/mac"
  cat >"$BATS_TEST_TMPDIR/mac/ioreg" <<'SH'
#!/bin/sh
[ "$*" = "-r -d 1 -w 0 -c IOAccelerator" ] || exit 2
echo '+-o AGXAcceleratorG13X  <class AGXAcceleratorG13X, id 0x1000000, registered>'
echo '    "PerformanceStatistics" = {"In use system memory"=1234,"Device Utilization %"=42,"Renderer Utilization %"=40}'
SH
  printf '#!/bin/sh\n[ "$*" = "-n kern.memorystatus_vm_pressure_level" ] && echo 2 && exit 0\nexit 1\n' >"$BATS_TEST_TMPDIR/mac/sysctl"
  chmod +x "$BATS_TEST_TMPDIR/mac/ioreg" "$BATS_TEST_TMPDIR/mac/sysctl"
  export PATH="$BATS_TEST_TMPDIR/mac:$PATH"
  run bash "$SHELL_DIR/tmuxkit-gpus"
  assert_success
  assert_output --partial '"state":"ok","why":"","pressure":2,"gpus":[{"index":0,"uuid":"APPLE-GPU","util_pct":42'
  run bash "$SHELL_DIR/tmuxkit-start" m1 --gpus 1 --cmd "echo \"m1 [\${CUDA_VISIBLE_DEVICES-unset}]\" >>$WORK/seen; while [ ! -f $WORK/go ]; do sleep 0.1; done"
  assert_success
  run bash "$SHELL_DIR/tmuxkit-start" m2 --gpus 1 --cmd "echo \"m2 [\${CUDA_VISIBLE_DEVICES-unset}]\" >>$WORK/seen"
  assert_output --partial "queued (1st): needs 1 GPU; GPU 0 held by run m1"
  # status shows the run's Apple GPU and its use (no per-process memory on a Mac)
  run bash "$SHELL_DIR/check_training_status.sh" --runs-only --json m1
  assert_output --partial '"gpus":[{"index":0,"uuid":"APPLE-GPU","util_pct":42,"run_mem_mib":0,"mem_used_mib":null,"mem_total_mib":null}]'
  touch "$WORK/go"
  wait_for 15 grep -q "m2 \[unset\]" "$WORK/seen"
  grep -q "m1 \[unset\]" "$WORK/seen"
  run bash "$SHELL_DIR/tmuxkit-start" m3 --gpus 2 --cmd true
  assert_failure 2
}

@test "queue: cleanup of a queued run's earlier life leaves it queued" {
  gpu_box 1
  run bash "$SHELL_DIR/tmuxkit-start" old --cmd true
  wait_for 10 ended old
  run bash "$SHELL_DIR/tmuxkit-start" h --gpus 1 --cmd "$(gpu_cmd 300)"
  run bash "$SHELL_DIR/tmuxkit-start" old --gpus 1 --cmd "$(gpu_cmd 300)"
  assert_output --partial "state=queued"
  run bash "$SHELL_DIR/tmuxkit-forget" old
  run bash "$SHELL_DIR/tmuxkit-queue" list
  assert_output --partial '"run":"old","session":"old","state":"queued"'
}

@test "gpu: a run keeps its GPU across its watchdog's restart; another start meanwhile waits" {
  gpu_box 1
  local cmd
  cmd="export FAKE_GPU_MIB=1000; echo \"w \$CUDA_VISIBLE_DEVICES\" >>$WORK/seen; if [ ! -f $WORK/once ]; then touch $WORK/once; while [ ! -f $WORK/go ]; do sleep 0.1; done; exit 1; fi; exec sleep 300"
  run bash "$SHELL_DIR/tmuxkit-start" w --gpus 1 --cmd "$cmd"
  assert_success
  run bash "$SHELL_DIR/tmuxkit-watch" w --every 1 --auto-resume --max-restarts 2 --backoff 4 --detach
  assert_success
  # the crash comes once the watchdog is registered (a crash before it is a plain end: GPUs freed)
  wait_for 15 test -s "$TMUXKIT_HOME/runs/w/watchdog"
  touch "$WORK/go"
  wait_for 15 ended w
  # the crash's gap: the GPU is still the run's (its watchdog holds it)
  run lib 'tk_gpu_inventory; tk_gpu_assess "$TMUXKIT_HOME"; echo "${GF_STATE[0]} ${GF_WHO[0]}"'
  assert_output "claimed run w"
  run bash "$SHELL_DIR/tmuxkit-start" x --gpus 1 --cmd "$(gpu_cmd 300)"
  assert_output --partial "queued (1st): needs 1 GPU; GPU 0 held by run w"
  wait_for 20 bash -c "[ \$(grep -c '^w 0' '$WORK/seen') = 2 ]"
  run lib 'tk_lock_state "$TMUXKIT_HOME/gpus/GPU-00000000-fake.claim"; echo "$LK_STATE $LK_RUN $LK_PID"'
  assert_output "alive w $(runner_pid w)"
  run started x
  assert_failure
}

@test "queue: max_runs queues by count on a box without GPUs, first in first out" {
  # m1 holds its slot until the test has queued the others (a loaded machine must not end it first).
  run bash "$SHELL_DIR/tmuxkit-start" m1 --max-runs 1 --cmd "echo m1 >>$WORK/order; while [ ! -e $WORK/go ]; do sleep 0.1; done"
  assert_success
  refute_output --partial "state=queued"
  run bash "$SHELL_DIR/tmuxkit-start" m2 --max-runs 1 --cmd "echo m2 >>$WORK/order; sleep 1"
  assert_output --partial "queued (1st): waits for a run slot: 1 of max_runs 1 live"
  run bash "$SHELL_DIR/tmuxkit-start" m3 --max-runs 1 --cmd "echo m3 >>$WORK/order"
  assert_output --partial "queued (2nd)"
  touch "$WORK/go"
  wait_for 30 started m3
  run cat "$WORK/order"
  assert_output "m1
m2
m3"
}

@test "queue: a queued run refused at its turn (its results locked meanwhile) is taken out with an event, never dropped in silence" {
  gpu_box 1
  run bash "$SHELL_DIR/tmuxkit-start" h --gpus 1 --cmd "$(gpu_cmd 2)"
  run bash "$SHELL_DIR/tmuxkit-start" q --gpus 1 --results "$WORK/shared" --cmd "$(gpu_cmd 300)"
  assert_output --partial "state=queued"
  live_pid
  echo "$LIVE_PID" >"$WORK/shared/training.lock"
  wait_for 20 test -f "$TMUXKIT_HOME/runs/q/events.jsonl"
  run cat "$TMUXKIT_HOME/runs/q/events.jsonl"
  assert_output --partial '"event":"queue_refused","why":"not started at its turn: locked by PID '"$LIVE_PID"
  run bash "$SHELL_DIR/tmuxkit-queue" list
  assert_output ""
  run started q
  assert_failure
}

@test "queue: --after OTHER stopped by the user blocks the run for good, naming OTHER, with an event" {
  run bash "$SHELL_DIR/tmuxkit-start" c --cmd 'sleep 300'
  assert_success
  run bash "$SHELL_DIR/tmuxkit-start" d --after c --cmd "echo d ran >>$WORK/seen"
  assert_output --partial "queued (1st): waits for run c to exit 0"
  run bash "$SHELL_DIR/tmuxkit-kill" c
  assert_success
  wait_for 15 bash -c "bash '$SHELL_DIR/tmuxkit-queue' list | grep -q '\"state\":\"blocked\"'"
  run bash "$SHELL_DIR/tmuxkit-queue" list
  assert_output --partial '"run":"d","session":"d","state":"blocked","queue_position":null,"waiting_for":"never started: run c was stopped (exit'
  run grep -c '"event":"blocked"' "$TMUXKIT_HOME/runs/d/events.jsonl"
  assert_output 1
  # a later start of c, and its clean exit, do not revive d: it never starts
  run bash "$SHELL_DIR/tmuxkit-start" c --cmd 'exit 0'
  wait_for 10 ended c
  sleep 1.5 # two polls of the dispatcher
  [ ! -f "$WORK/seen" ]
  run started d
  assert_failure
}

@test "queue: no starvation: a later 1-GPU run does not take the GPU a waiting 2-GPU run needs; it goes after it" {
  gpu_box 2
  run bash "$SHELL_DIR/tmuxkit-start" a --gpus 1 --cmd "$(gpu_cmd 300)"
  assert_success
  wait_for 10 grep -q "^a 0" "$WORK/seen"
  run bash "$SHELL_DIR/tmuxkit-start" big --gpus 2 --cmd "$(gpu_cmd 2)"
  assert_output --partial "queued (1st): needs 2 GPUs; GPU 0 held by run a"
  # GPU 1 is free, but big (first in) needs it: small waits behind it, saying so
  run bash "$SHELL_DIR/tmuxkit-start" small --gpus 1 --cmd "$(gpu_cmd 1)"
  assert_output --partial "queued (2nd): needs 1 GPU; GPU 0 held by run a; 1 run(s) ahead of it wait for 2"
  run started small
  assert_failure
  run bash "$SHELL_DIR/tmuxkit-kill" a
  assert_success
  wait_for 20 ended small
  # big ran first, on both GPUs; small only after big ended
  run grep -c "^big 0,1 PCI_BUS_ID" "$WORK/seen"
  assert_output 1
  local big_end small_start
  big_end=$(awk '{ print $2 }' "$TMUXKIT_HOME/runs/big/exit")
  small_start=$(awk -F= '$1 == "started_at" { print $2 }' "$TMUXKIT_HOME/runs/small/meta")
  [ "$small_start" -ge "$big_end" ] || fail "small started at $small_start, before big ended at $big_end"
}

@test "queue: a later run starts ahead of one that waits for --after (it cannot start yet: nothing is delayed)" {
  gpu_box 1
  run bash "$SHELL_DIR/tmuxkit-start" c --cmd 'sleep 300'
  assert_success
  run bash "$SHELL_DIR/tmuxkit-start" d --after c --gpus 1 --cmd "$(gpu_cmd 300)"
  assert_output --partial "queued (1st): waits for run c to exit 0"
  run bash "$SHELL_DIR/tmuxkit-start" e --gpus 1 --cmd "$(gpu_cmd 300)"
  assert_success
  refute_output --partial "state=queued"
  wait_for 10 grep -q "^e 0" "$WORK/seen"
}

@test "gpu: in a container, unexplained memory makes a GPU busy; the host's gpus_ignore_foreign (--gpus-ignore-foreign) overrides it, kept by the queue" {
  gpu_box 2
  echo 5000 >"$BATS_TEST_TMPDIR/gpu/mem-0" # 4.9 GiB used by PIDs this container cannot see
  echo 5000 >"$BATS_TEST_TMPDIR/gpu/mem-1"
  run bash "$SHELL_DIR/tmuxkit-start" x --gpus 1 --cmd "$(gpu_cmd 300)"
  assert_output --partial "queued (1st): needs 1 GPU; GPU 0 busy: 4.8 GiB used by processes not listed here (a container?)"
  run bash "$SHELL_DIR/tmuxkit-kill" x
  run bash "$SHELL_DIR/tmuxkit-start" y --gpus 1 --gpus-ignore-foreign --cmd "$(gpu_cmd 300)"
  assert_success
  refute_output --partial "state=queued"
  wait_for 10 grep -q "^y 0 PCI_BUS_ID" "$WORK/seen"
  # queued with the override (GPU 1's claim is taken), it keeps it when the queue starts it
  run bash "$SHELL_DIR/tmuxkit-start" h --gpus 1 --gpus-ignore-foreign --cmd "$(gpu_cmd 300)"
  assert_success
  run bash "$SHELL_DIR/tmuxkit-start" z --gpus 1 --gpus-ignore-foreign --cmd "$(gpu_cmd 300)"
  assert_output --partial "queued (1st): needs 1 GPU; GPU 0 held by run y, GPU 1 held by run h"
  run bash "$SHELL_DIR/tmuxkit-kill" h
  wait_for 15 grep -q "^z 1 PCI_BUS_ID" "$WORK/seen"
}

@test "gpu: the answers a killed status left behind are removed by the next status" {
  gpu_box 1
  run bash "$SHELL_DIR/tmuxkit-start" g --gpus 1 --cmd "$(gpu_cmd 300)"
  assert_success
  # a status killed by its deadline (its PID gone) between asking nvidia-smi and reading the answers
  local dead
  sh -c 'exit 0' &
  dead=$!
  wait "$dead" || true
  : >"$TMUXKIT_HOME/gpus/.query.$dead.gpu"
  : >"$TMUXKIT_HOME/gpus/.query.$dead.apps"
  : >"$TMUXKIT_HOME/gpus/.query.$dead.err"
  run bash "$SHELL_DIR/check_training_status.sh" --runs-only --json g
  assert_success
  assert_output --partial '"gpus":[{"index":0'
  [ -z "$(ls -A "$TMUXKIT_HOME/gpus" | grep -v '\.claim$')" ]
}
