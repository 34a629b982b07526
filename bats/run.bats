#!/usr/bin/env bats
# A run through the host scripts alone: start, log, status, kill ladder, zombies, logs.
load test_helper

start_run() { # RUN CMD
  run bash "$SHELL_DIR/tmuxkit-start" "$1" --cmd "$2"
  assert_success
}


@test "start: session, first line logged, lock held, exit recorded and lock freed" {
  start_run r1 'echo FIRST; sleep 1; exit 4'
  assert_output --regexp "^run=r1	session=r1	pid=[0-9]+	runner_pid=[0-9]+	log=.*r1.log	lock=$WORK/results/r1/.tmuxkit.lock"
  tmux -L "$TMUXKIT_SOCKET" has-session -t =r1
  [ -f "$WORK/results/r1/.tmuxkit.lock" ]
  wait_for 30 run_over r1
  run log_of r1
  assert_line --index 1 FIRST
  run cat "$TMUXKIT_HOME/runs/r1/exit"
  assert_output --regexp "^4 [0-9]+$"
  wait_for 5 test ! -e "$WORK/results/r1/.tmuxkit.lock"
  run bash "$SHELL_DIR/check_training_status.sh" --runs-only --json r1
  assert_output --partial '"state":"exited"'
  assert_output --partial '"exit_code":4'
}

@test "kill: Ctrl-C first; a second kill says not running" {
  start_run r2 'trap "echo saved; exit 0" INT; echo ready; while :; do sleep 0.1; done'
  wait_for 10 grep -q ready "$WORK/results/r2/tmuxkit/r2.log"
  run bash "$SHELL_DIR/tmuxkit-kill" r2 --grace 10
  assert_success
  assert_output "state=stopped	run=r2	rung=sigint	survivors=0	watchdog=none	exit=0"
  run bash "$SHELL_DIR/tmuxkit-kill" r2
  assert_success
  assert_output --partial "state=not_running"
}

@test "kill: after an unhandled Ctrl-C, or a line left without its newline, tmuxkit's own line is a line of its own" {
  start_run r9 'echo ready; sleep 60'
  start_run r10 'printf "half a line"; sleep 0.3'
  wait_for 10 grep -q ready "$WORK/results/r9/tmuxkit/r9.log"
  run bash "$SHELL_DIR/tmuxkit-kill" r9 --grace 10
  assert_success
  for r in r9 r10; do
    wait_for 10 grep -q 'exited with code' "$WORK/results/$r/tmuxkit/$r.log"
    run tail -n 1 "$WORK/results/$r/tmuxkit/$r.log"
    assert_output --regexp "^\[tmuxkit\] run $r exited with code [0-9]+ at "
  done
  run grep -c '^half a line$' "$WORK/results/r10/tmuxkit/r10.log"
  assert_output 1
}

@test "kill: SIGKILL for what ignores INT and TERM; no survivors, lock released" {
  start_run r3 "trap '' INT TERM; echo ready; while :; do sleep 0.1; done"
  wait_for 10 grep -q ready "$WORK/results/r3/tmuxkit/r3.log"
  run bash "$SHELL_DIR/tmuxkit-kill" r3 --grace 0 --term-wait 1
  assert_success
  assert_output --partial "rung=sigkill	survivors=0"
  [ ! -e "$WORK/results/r3/.tmuxkit.lock" ]
}

@test "zombies: a dead runner leaves a stale lock and a dead session; --fix clears both" {
  start_run r4 'sleep 300'
  pid=$(cat "$TMUXKIT_HOME/runs/r4/pid")
  kill -9 "$(runner_pid r4)" "$pid"
  wait_for 5 bash -c "bash '$SHELL_DIR/check_training_status.sh' --runs-only --json r4 | grep -q '\"state\":\"dead\"'"
  run bash "$SHELL_DIR/tmuxkit-zombies"
  assert_line --partial "kind=stale_lock	run=r4"
  assert_line --partial "kind=dead_session	run=r4"
  [ -f "$WORK/results/r4/.tmuxkit.lock" ]
  run bash "$SHELL_DIR/tmuxkit-zombies" --fix
  assert_line --partial "action=removed"
  assert_line --partial "action=killed"
  [ ! -e "$WORK/results/r4/.tmuxkit.lock" ]
  run bash "$SHELL_DIR/tmuxkit-zombies"
  assert_output ""
}

@test "logs -f: no line lost or shown twice between the first lines and the follow, however fast the run prints" {
  start_run r7 'sleep 0.5; i=0; while [ $i -lt 20000 ]; do i=$((i + 1)); echo "tick $i"; done; sleep 1'
  wait_for 10 grep -q 'tick 1$' "$WORK/results/r7/tmuxkit/r7.log"
  # Started while lines pour in; it ends by itself once the run has ended.
  run bash "$SHELL_DIR/tmuxkit-logs" r7 -n 5 -f
  assert_success
  run awk '/^tick / { n = substr($0, 6) + 0; if (prev && n != prev + 1) { print "gap after " prev ": " n; bad = 1 } prev = n }
    END { if (prev != 20000) print "ended at " prev; exit bad || prev != 20000 }' <<<"$output"
  assert_success
}

@test "a follow that ends exits 0, even when its tail was reaped before the exit trap (events -f had exited 1)" {
  printf 'one\n' >"$WORK/f.txt"
  # The tail is killed and reaped (wait) before the script exits: the exit trap's kill then finds no
  # such process. Under set -e (as every script runs) its failure must not become the exit status.
  run bash -c 'set -euo pipefail; . "$1/lib/tmuxkit.bash"; done_() { false; }; tk_follow "$2" +1 done_; wait 2>/dev/null' _ "$SHELL_DIR" "$WORK/f.txt"
  assert_success
  assert_output one
}

@test "logs -n 0: no lines and exit 0, with -f too (it died of SIGPIPE, 141)" {
  start_run r8 'echo old; while [ ! -e go ]; do sleep 0.05; done; echo new'
  wait_for 10 grep -q '^old$' "$WORK/results/r8/tmuxkit/r8.log"
  run bash "$SHELL_DIR/tmuxkit-logs" r8 -n 0
  assert_success
  assert_output ""
  touch go
  wait_for 10 grep -q 'exited with code 0' "$WORK/results/r8/tmuxkit/r8.log"
  run bash "$SHELL_DIR/tmuxkit-logs" r8 -n 0 -f # the run has ended: nothing new comes, and it ends
  assert_success
  assert_output ""
}

@test "logs: the last lines, across a rotation" {
  run bash "$SHELL_DIR/tmuxkit-start" r5 --cmd 'seq 1 400' --log-max-bytes 600 --log-keep 50
  assert_success
  wait_for 10 grep -q 'exited with code 0' "$WORK/results/r5/tmuxkit/r5.log"
  run bash "$SHELL_DIR/tmuxkit-logs" r5 -n 3
  assert_success
  assert_line --index 0 399
  assert_line --index 1 400
  assert_line --index 2 --partial "exited with code 0"
}

@test "log writer folds carriage-return redraws and strips colours" {
  printf 'a\r\n10%%\r50%%\r100%%\r\n\033[1;31mred\033[0m\r\n\r\r\nx\r\ry\r\r\n' |
    bash "$SHELL_DIR/tmuxkit-logwriter" "$WORK/l.log" 1000 2
  run cat "$WORK/l.log"
  assert_output $'a\n100%\nred\n\ny'
}

@test "start refuses bad input before creating anything" {
  run -2 bash "$SHELL_DIR/tmuxkit-start" 'bad;name' --cmd true
  run -2 bash "$SHELL_DIR/tmuxkit-start" ok --cmd true --env '1X=y'
  run -2 bash "$SHELL_DIR/tmuxkit-start" ok --cmd true --cwd /nonexistent
  run -2 bash "$SHELL_DIR/tmuxkit-start" ok
  [ ! -e "$WORK/results" ]
  run tmux -L "$TMUXKIT_SOCKET" list-sessions
  assert_failure
}

@test "start: a cwd or results of ~ or ~/... is this host's home, as a shell would make it; ~user and a later ~ are kept" {
  mkdir -p "$HOME/proj" "$WORK/~nobody-such"
  run bash "$SHELL_DIR/tmuxkit-start" t1 --cwd '~/proj' --results '~/res/t1' --cmd 'pwd -P > "$TMUXKIT_RESULTS/cwd"'
  assert_success
  wait_for 10 test -s "$HOME/res/t1/cwd"
  run cat "$HOME/res/t1/cwd"
  assert_output "$(cd "$HOME/proj" && pwd -P)"
  wait_for 10 grep -q "exited with code 0" "$HOME/res/t1/tmuxkit/t1.log"
  run bash "$SHELL_DIR/tmuxkit-start" t2 --cwd "$WORK" --results '~nobody-such/a~' --cmd true
  assert_success
  [ -d "$WORK/~nobody-such/a~/tmuxkit" ]
}

@test "the log writer refuses a log folder swapped for a link since it was checked, with either writer" {
  mkdir -p "$WORK/res/tmuxkit" "$WORK/elsewhere"
  rmdir "$WORK/res/tmuxkit"
  ln -s "$WORK/elsewhere" "$WORK/res/tmuxkit" # a folder of ours, but not the one checked
  for w in python3 awk; do
    run bash -c 'echo line | TMUXKIT_LOG_WRITER=$1 bash "$2/tmuxkit-logwriter" "$3/res/tmuxkit/r.log" 1000 2' _ "$w" "$SHELL_DIR" "$WORK"
    assert_failure
    assert_output --partial "refusing to write r.log"
  done
  run ls -A "$WORK/elsewhere"
  assert_output ""
}

@test "both log writers (python3 and awk) write the same bytes, rotations included" {
  gen() {
    local i
    for i in $(seq 1 1500); do
      printf 'line %s\r\n' "$i"
      [ $((i % 100)) = 0 ] && printf 'bar 10%%\rbar 60%%\rbar 100%%\r\n\033[1;32mok\033[0m %s\r\n\033]0;title\007t\r\r\n' "$i"
    done
    # Lines that outgrow 64 KiB (cut where a read leaves 64 KiB of a line unfinished, by either writer):
    # a tqdm-like redraw with no newline for 200 KB, and a plain 70000-byte line.
    awk 'BEGIN { for (i = 1; i <= 2000; i++) printf "\r  step %5d/2000 %s", i, sprintf("%90s", "#"); printf "\n" }'
    awk 'BEGIN { for (i = 0; i < 7000; i++) printf "xxxxxxxxxx"; printf "\n" }'
    printf 'unterminated'
  }
  gen >"$WORK/in"
  for w in awk python3; do
    mkdir "$WORK/$w"
    TMUXKIT_LOG_WRITER=$w bash "$SHELL_DIR/tmuxkit-logwriter" "$WORK/$w/l.log" 2000 100 <"$WORK/in"
  done
  run diff -r -x '*.live' -x '*.progress' "$WORK/awk" "$WORK/python3" # live line and progress: python3's alone
  assert_success
  run bash -c "ls '$WORK/awk' | wc -l"
  assert_output --regexp '^ *([2-9]|[1-9][0-9])$'  # it rotated
  run tail -n 1 "$WORK/awk/l.log"
  assert_output unterminated
}

@test "the awk writer cuts a never-ending line every 64 KiB: 8 MB of redraws in bounded time" {
  awk 'BEGIN { for (i = 1; i <= 20000; i++) printf "\r  step %6d/20000 %s", i, sprintf("%400s", "#") }' >"$WORK/in"
  SECONDS=0
  TMUXKIT_LOG_WRITER=awk bash "$SHELL_DIR/tmuxkit-logwriter" "$WORK/l.log" 50000000 3 <"$WORK/in"
  [ "$SECONDS" -lt 30 ] # whole, it took mawk minutes (quadratic)
  run awk 'length($0) > 65536 { n++ } END { print n + 0, NR }' "$WORK/l.log"
  assert_output --regexp '^0 1[0-9][0-9]$' # ~129 pieces, none longer than 64 KiB
  run tail -n 1 "$WORK/l.log"
  assert_output --regexp '^  step  20000/20000 +#$'
}

@test "a run logs through the awk writer when python3 is not used" {
  export TMUXKIT_LOG_WRITER=awk
  local r="r6x$$" # this pass's own name: the python3 writer is named by its log's name alone
  start_run "$r" "echo via-awk; seq 1 3000; while [ ! -e '$WORK/go' ]; do sleep 0.1; done"
  wait_for 30 grep -q '^3000$' "$WORK/results/$r/tmuxkit/$r.log"
  # While the run lives: its writer is the awk one (its bash has the log's path), no python3 one.
  run bash -c "ps -A -ww -o args= | grep -c 'tmuxkit-logwriter[.]py $r[.]log '"
  assert_output 0
  run bash -c "ps -A -ww -o args= | grep -c '^bash .*tmuxkit-logwriter .*/$r/tmuxkit/$r[.]log '"
  [ "$output" -ge 1 ] # the writer's bash (and the subshells of its pipeline)
  : >"$WORK/go"
  wait_for 30 run_over "$r"
  run log_of "$r"
  assert_line --index 1 via-awk
}

@test "status --cache: an ended run's answer is kept, reused, and dropped on a restart; forget" {
  start_run r9 'echo LAST9; exit 2'
  wait_for 30 run_over r9
  wait_for 10 grep -q LAST9 "$WORK/results/r9/tmuxkit/r9.log"
  echo "2 $(($(date +%s) - 100))" >"$TMUXKIT_HOME/runs/r9/exit"
  touch -t 202001010000 "$TMUXKIT_HOME/runs/r9/meta" "$TMUXKIT_HOME/runs/r9/runner" # started long before
  run bash "$SHELL_DIR/check_training_status.sh" --runs-only --json --cache
  assert_output --partial '"last_line":"LAST9"'
  [ -f "$TMUXKIT_HOME/runs/r9/status.cache" ]
  sed 's/LAST9/KEPT9/' "$TMUXKIT_HOME/runs/r9/status.cache" >"$BATS_TEST_TMPDIR/c" && cat "$BATS_TEST_TMPDIR/c" >"$TMUXKIT_HOME/runs/r9/status.cache"
  run bash "$SHELL_DIR/check_training_status.sh" --runs-only --json --cache
  assert_output --partial '"last_line":"KEPT9"'
  assert_output --regexp '"log_age_s":[0-9]+,'
  run bash "$SHELL_DIR/check_training_status.sh" --runs-only --json --cache --ended-within 50
  assert_output --partial '"runs":[]'
  start_run r9 'echo NEW9; sleep 30'
  run bash "$SHELL_DIR/check_training_status.sh" --runs-only --json --cache r9
  assert_output --partial '"state":"running"'
  run -3 bash "$SHELL_DIR/tmuxkit-forget" r9
  bash "$SHELL_DIR/tmuxkit-kill" r9 --grace 5 >/dev/null
  run bash "$SHELL_DIR/tmuxkit-forget" r9
  assert_output --regexp "^forgot=r9	ended=[0-9]+$"
  [ ! -e "$TMUXKIT_HOME/runs/r9" ]
  [ -f "$WORK/results/r9/tmuxkit/r9.log" ]
}

@test "state: a runner that recorded its exit and went between load and judgement is exited, not dead" {
  local d="$TMUXKIT_HOME/runs/gone"
  mkdir -p "$d"
  printf 'run=gone\nlog=%s/gone.log\nlock=%s/lock\n' "$WORK" "$WORK" >"$d/meta"
  sleep 0 &
  local dead=$!
  wait "$dead"
  printf '%s\nt:1\n' "$dead" >"$d/runner"
  run bash -c '. "$1/lib/tmuxkit.bash" && tk_run_load "$2" && printf "3 1700000000\n" >"$2/exit" && tk_run_state && echo "$S_STATE $R_EXIT"' _ "$SHELL_DIR" "$d"
  assert_success
  assert_output "exited 3"
}

@test "start: an ended run's dead session removed by a cleanup between start's two looks is no live session" {
  run bash "$SHELL_DIR/tmuxkit-start" gone1 --cmd true
  assert_success
  wait_for 30 run_over gone1
  wait_for 20 bash -c '[ "$(tmux -L "$1" display-message -p -t =gone1: "#{pane_dead}")" = 1 ]' _ "$TMUXKIT_SOCKET"
  # A tmux whose answer to start's pane_dead look comes after a cleanup removed the session (the
  # window between start seeing the session and asking about its pane).
  local real shim="$BATS_TEST_TMPDIR/shim"
  real=$(command -v tmux)
  mkdir -p "$shim"
  printf '#!/bin/sh\ncase "$*" in *display-message*pane_dead*) "%s" -L "%s" kill-session -t =gone1 ;; esac\nexec "%s" "$@"\n' \
    "$real" "$TMUXKIT_SOCKET" "$real" >"$shim/tmux"
  chmod +x "$shim/tmux"
  run env PATH="$shim:$PATH" bash "$SHELL_DIR/tmuxkit-start" gone1 --again
  assert_success
  wait_for 30 run_over gone1
}

@test "a start right after the run's end waits for its runner to finish, never 'already running'" {
  # The runner's tail after the command's end (the log's last line, the lock's release) made slow:
  # its tmux query of the cursor takes 2 s.
  local real
  real=$(command -v tmux)
  mkdir -p "$BATS_TEST_TMPDIR/slowtail"
  printf '#!/bin/sh\ncase "$*" in *cursor_x*) sleep 2 ;; esac\nexec %q "$@"\n' "$real" >"$BATS_TEST_TMPDIR/slowtail/tmux"
  chmod +x "$BATS_TEST_TMPDIR/slowtail/tmux"
  export PATH="$BATS_TEST_TMPDIR/slowtail:$PATH"
  run bash "$SHELL_DIR/tmuxkit-start" tail1 --cmd 'echo first'
  assert_success
  wait_for 10 test -f "$TMUXKIT_HOME/runs/tail1/exit"
  run bash "$SHELL_DIR/tmuxkit-start" tail1 --again --cmd 'echo second'
  assert_success
  wait_for 10 grep -q '^second' "$WORK/results/tail1/tmuxkit/tail1.log"
}
