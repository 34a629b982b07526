# Sealed environment for every bats test: temporary HOME and TMUXKIT_HOME, a
# private tmux socket, and, with TMUXKIT_BSD_SHIMS=1, the BSD-flavoured shims
# first on PATH (for the tmux server, the runner and the log writer too).
ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
SHELL_DIR="$ROOT/shell"
bats_require_minimum_version 1.5.0
export BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-120}
load "$ROOT/node_modules/bats-support/load"
load "$ROOT/node_modules/bats-assert/load"

common_setup() {
  export HOME="$BATS_TEST_TMPDIR/home"
  export TMUXKIT_HOME="$BATS_TEST_TMPDIR/tkhome"
  export TMUXKIT_SOCKET="bats-$$-${BATS_TEST_NUMBER}-$RANDOM"
  export TMUXKIT_EARLY_WAIT=0 # start does not watch for an early exit (tests that want it set it back)
  unset TMUX TMUXKIT_DEBUG
  mkdir -p "$HOME"
  mkdir -p "$BATS_TEST_TMPDIR/work"
  # As the scripts see it, with no symlink in it (macOS's /var is one): the log writer refuses a
  # log folder whose path is not its real one.
  WORK=$(cd -P "$BATS_TEST_TMPDIR/work" && pwd)
  cd "$WORK" || return 1
  if [ -n "${TMUXKIT_BSD_SHIMS:-}" ]; then
    export PATH="$ROOT/bats/shims:$PATH"
  fi
}

# Pids of live processes started by this test: everything that inherited its
# TMUXKIT_HOME (runs, runners, writers, watchdogs; tmux kill-server does not end a
# run whose start ignored SIGHUP), and the lock-owner stand-ins.
test_pids() {
  local list="$BATS_TEST_TMPDIR/.ps"
  # The lister runs without TMUXKIT_HOME, and the list is read after it ended, so it never counts itself.
  env -u TMUXKIT_HOME bash -c '. "$1/lib/tmuxkit.bash" && tk_ps_env' _ "$SHELL_DIR" >"$list" 2>/dev/null || true
  awk -v h="TMUXKIT_HOME=$TMUXKIT_HOME " -v m="tmuxkit-bats-marker-$TMUXKIT_SOCKET " \
    '$3 !~ /^Z/ && (index($0 " ", h) || index($0 " ", m)) { print $1 }' "$list"
}

# Ends the test's tmux server and every process it left, then proves none is left.
common_teardown() {
  tmux -L "$TMUXKIT_SOCKET" kill-server 2>/dev/null || true
  local pids left i
  for i in 1 2 3 4 5 6 7 8 9 10; do
    pids=$(test_pids)
    [ -n "$pids" ] || return 0
    # shellcheck disable=SC2086
    kill -9 $pids 2>/dev/null || true
    sleep 0.1
  done
  left=$(test_pids)
  if [ -n "$left" ]; then
    echo "teardown: processes left behind: $left" >&2
    return 1
  fi
}

setup() { common_setup; }
teardown() { common_teardown; }

# wait_for SECONDS COMMAND...: poll until COMMAND succeeds, fail at the deadline.
wait_for() {
  local deadline=$(($(date +%s) + $1 + 1))
  shift
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || {
      echo "timed out waiting for: $*" >&2
      return 1
    }
    sleep 0.05
  done
}

# A process with a chosen start time we can rely on, for lock owners.
# Its output is closed so that bats does not wait for it; teardown kills it.
live_pid() {
  # Its name is this test's own: a teardown ends only its own test's stand-ins, never another's
  # (bats files, or two suites, running side by side).
  bash -c 'exec -a "tmuxkit-bats-marker-$1" sleep 300' _ "$TMUXKIT_SOCKET" </dev/null >/dev/null 2>&1 3>&- &
  LIVE_PID=$!
}

lock_file_for() { # pid start run (this host's name asked once: a test writes 2000 of them)
  [ -n "${_LF_HOST:-}" ] || _LF_HOST=$(hostname)
  printf 'pid=%s\nstart=%s\nhost=%s\nrun=%s\nsession=%s\nrun_id=%s.1.1\ncreated=1\n' "$1" "$2" "$_LF_HOST" "$3" "$3" "$3"
}

runner_pid() { head -n 1 "$TMUXKIT_HOME/runs/$1/runner"; }

# run_over RUN: its exit is recorded and its runner is gone. The runner's tail after the exit file
# (the log writer's last line, up to 15 s; the cause; the lock's release) takes a while on a loaded
# box, and a forget or cleanup in it rightly calls the run still running: wait on it with 30 s.
# Gone is what tmuxkit calls gone: no process, or a zombie (a tmux server may leave its pane's
# process unreaped for minutes: kill -0 still finds it).
run_over() {
  [ -f "$TMUXKIT_HOME/runs/$1/exit" ] || return 1
  local p st
  p=$(runner_pid "$1" 2>/dev/null) || return 1
  st=$(ps -o stat= -p "$p" 2>/dev/null) || return 0
  case $st in '' | *Z*) return 0 ;; esac
  return 1
}

pstart() { (. "$SHELL_DIR/lib/tmuxkit.bash" && tk_pstart "$1"); }

log_of() { cat "$WORK/results/$1/tmuxkit/$1.log" 2>/dev/null; }
