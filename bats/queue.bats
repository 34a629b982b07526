#!/usr/bin/env bats
# The host queue's speed (issue 24: a run's end to the next queued run's start within 2 s): what
# the path from one to the other forks, counted; the runner's end dispatching the next run itself.
# Real tmux, real processes, the stand-in nvidia-smi (tests/fakes/nvidia-smi).
load test_helper

setup() {
  common_setup
  # No poll to help: what starts the next run must be the ending runner itself.
  export TMUXKIT_QUEUE_POLL=300
}

started() { [ -f "$TMUXKIT_HOME/runs/$1/pid" ]; }
ended() { [ -f "$TMUXKIT_HOME/runs/$1/exit" ]; }

# py_wrapper: a python3 first on PATH that logs each call's arguments to $PYLOG and runs the real
# one (as a pyenv shim does, minus its cost).
py_wrapper() {
  local real
  real=$(python3 -c 'import sys; print(sys.executable)')
  mkdir -p "$BATS_TEST_TMPDIR/py"
  PYLOG="$BATS_TEST_TMPDIR/py/calls"
  : >"$PYLOG"
  printf '#!/usr/bin/env bash\nprintf "%%s\\n" "$*" >>%q\nexec %q "$@"\n' "$PYLOG" "$real" >"$BATS_TEST_TMPDIR/py/python3"
  chmod +x "$BATS_TEST_TMPDIR/py/python3"
  export PATH="$BATS_TEST_TMPDIR/py:$PATH"
}

relay_args() { ps -ww -A -o args= | grep -F "tmuxkit-relay.py $TMUXKIT_HOME/runs/$1/env" | grep -v grep; }

@test "queue: the runner asks python3 for its interpreter once per host (not twice a run); relay and reaper run it with -I -S" {
  command -v python3 >/dev/null || skip "no python3"
  py_wrapper
  local r
  for r in p1 p2; do
    run bash "$SHELL_DIR/tmuxkit-start" "$r" --cmd 'echo hello; exec sleep 300'
    assert_success
  done
  wait_for 20 started p1
  wait_for 20 started p2
  run grep -c 'sys.executable' "$PYLOG"
  assert_output 1
  run relay_args p2
  assert_success
  assert_output --partial " -I -S "
  # The one it keeps is asked again when it is gone (a python uninstalled): the run still starts.
  printf '%s\n%s\n' "$BATS_TEST_TMPDIR/py/python3" "$BATS_TEST_TMPDIR/gone/python3" >"$TMUXKIT_HOME/python"
  run bash "$SHELL_DIR/tmuxkit-start" p3 --cmd 'echo hello; exec sleep 300'
  assert_success
  wait_for 20 started p3
  run grep -c 'sys.executable' "$PYLOG"
  assert_output 2
  run relay_args p3
  assert_success
  run sed -n 2p "$TMUXKIT_HOME/python"
  refute_output "$BATS_TEST_TMPDIR/gone/python3"
  wait_for 20 grep -q hello "$WORK/results/p3/tmuxkit/p3.log"
}

# queue_by_hand RUN CMD: an entry for RUN at the queue's end (no GPUs, no --after: it may start at
# once), and no dispatcher session: only a dispatch pass starts it.
queue_by_hand() {
  TMUXKIT_HOME="$TMUXKIT_HOME" bash -c '. "$1/lib/tmuxkit.bash"; set -e
    TK_START_ARGV=("$2" --cmd "$3"); envs=()
    tk_queue_dir "$TMUXKIT_HOME"; tk_queue_add "$TMUXKIT_HOME" "$2" 0 "" "by hand"' _ "$SHELL_DIR" "$1" "$2"
}

@test "queue: the runner's kick survives the hang-up of its pane's end (a SIGHUP right after the fork): the next run starts with no poll" {
  queue_by_hand b 'echo hello; exec sleep 300'
  # As the runner's end: the kick, then its process group hung up at once (the pane's terminal
  # closing), in a process group of its own (job control), so that bats is not hung up with it.
  set -m
  TK_BIN=$SHELL_DIR bash -c '. "$1/lib/tmuxkit.bash"; tk_queue_kick "$TMUXKIT_HOME"; kill -HUP 0; sleep 1' _ "$SHELL_DIR" &
  local pid=$!
  set +m
  wait "$pid" || true
  wait_for 40 started b # (a loaded box: the dispatch, then a start with a new tmux server)
  wait_for 20 grep -q hello "$WORK/results/b/tmuxkit/b.log"
  [ ! -d "$TMUXKIT_HOME/queue/0000000001.b" ]
}
