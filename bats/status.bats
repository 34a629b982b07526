#!/usr/bin/env bats
# check_training_status.sh: standalone SOP report, text and JSON.
load test_helper

@test "runs alone: copied to an empty directory, with no tmuxkit around" {
  mkdir -p "$BATS_TEST_TMPDIR/alone"
  cp "$SHELL_DIR/check_training_status.sh" "$BATS_TEST_TMPDIR/alone/"
  run bash "$BATS_TEST_TMPDIR/alone/check_training_status.sh"
  assert_success
  assert_line --partial "[1] Running training processes"
  assert_line "[2] Lock files"
  assert_line "[3] Recent log activity"
  assert_line "[4] tmux sessions"
  assert_line "[5] tmuxkit runs"
}

@test "foreign training.lock: stale with a removal hint, alive when its PID lives" {
  mkdir -p results/a results/b
  echo 999999 >results/a/training.lock
  live_pid
  echo "$LIVE_PID" >results/b/training.lock
  run bash "$SHELL_DIR/check_training_status.sh"
  assert_success
  assert_line --partial "STALE   ./results/a/training.lock  pid 999999"
  assert_line --partial "-> owner is gone; remove with: rm './results/a/training.lock'"
  assert_line --partial "ALIVE   ./results/b/training.lock  pid $LIVE_PID"
  kill "$LIVE_PID"
}

@test "tmuxkit lock in ./results: stale one named with its run" {
  mkdir -p results/x
  lock_file_for 999999 "Mon Jan  1 00:00:00 2001" oldrun >results/x/.tmuxkit.lock
  run bash "$SHELL_DIR/check_training_status.sh" --json
  assert_success
  run python3 -c 'import json,sys; d=json.load(sys.stdin); l=d["locks"][0]; print(l["state"], l["run"], l["pid"], "rm" in l["hint"])' <<<"$output"
  assert_output "stale oldrun 999999 True"
}

@test "processes by pattern, logs with age and last 3 lines, sessions" {
  mkdir -p results/r
  printf 'one\ntwo\nthree\nfour\n' >results/r/train.log
  bash -c 'exec -a "fake_trainer_tmuxkit-bats-marker-$1" sleep 300' _ "$TMUXKIT_SOCKET" </dev/null >/dev/null 2>&1 3>&- &
  tmux -L "$TMUXKIT_SOCKET" new-session -d -s sess_one 'sleep 300'
  run bash "$SHELL_DIR/check_training_status.sh" --pattern 'fake_trainer'
  assert_success
  assert_line --regexp "PID [0-9]+ +up [0-9]+s +fake_trainer_tmuxkit-bats-marker-$TMUXKIT_SOCKET 300"
  assert_line --regexp "./results/r/train.log  last written [0-9-]+ [0-9:]+, [0-9]+s ago"
  assert_line "      | two"
  assert_line "      | four"
  refute_line "      | one"
  assert_line --partial "sess_one"
}

@test "20 training processes (a trainer's DataLoader workers) are listed with their ages from one process table" {
  local real_ps
  # Started by a shell that ends at once: orphans, as a trainer's workers are to this test.
  bash -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
    bash -c "exec -a worker_tmuxkit-bats-marker-$1 sleep 300" &
  done' _ "$TMUXKIT_SOCKET" </dev/null >/dev/null 2>&1 3>&-
  wait_for 10 eval '[ "$(ps -A -o args= | grep -c "^worker_tmuxkit-bats-marker-$TMUXKIT_SOCKET ")" = 20 ]'
  real_ps=$(command -v ps)
  mkdir -p "$WORK/count"
  printf '#!/bin/sh\necho ps >>%q\nPATH=%q exec %q "$@"\n' "$WORK/ps.log" "$PATH" "$real_ps" >"$WORK/count/ps"
  chmod +x "$WORK/count/ps"
  for mode in --json --text; do
    : >"$WORK/ps.log"
    run env PATH="$WORK/count:$PATH" bash "$SHELL_DIR/check_training_status.sh" --pattern worker_tmuxkit ${mode%--text}
    assert_success
    # (before: one ps per process for its age, 20 more)
    [ "$(grep -c . "$WORK/ps.log")" -le 5 ] || fail "ps ran $(grep -c . "$WORK/ps.log") times for 20 processes"
  done
  [ "$(grep -cE "PID [0-9]+ +up [0-9]+s +worker_tmuxkit-bats-marker-$TMUXKIT_SOCKET 300" <<<"$output")" = 20 ] ||
    fail "not 20 processes with their ages: $output"
}

@test "--json is one valid object with every section" {
  run bash "$SHELL_DIR/check_training_status.sh" --json --stale-after 5
  assert_success
  run python3 -c 'import json,sys; d=json.load(sys.stdin); print(sorted(d))' <<<"$output"
  assert_output "['generated_at', 'host', 'locks', 'logs', 'processes', 'runs', 'sessions', 'tmux']"
}

@test "--json, full report and runs only, with a live run and an ended one: valid JSON, exit 0" {
  run bash "$SHELL_DIR/tmuxkit-start" ended --cmd true
  assert_success
  run bash "$SHELL_DIR/tmuxkit-start" live --cmd 'sleep 30'
  assert_success
  wait_for 30 run_over ended
  for mode in --json "--json --runs-only"; do
    # shellcheck disable=SC2086  # two words on purpose
    run bash "$SHELL_DIR/check_training_status.sh" $mode
    assert_success
    run python3 -c 'import json,sys; d=json.load(sys.stdin); print(sorted((r["run"], r["state"]) for r in d["runs"]))' <<<"$output"
    assert_output "[('ended', 'exited'), ('live', 'running')]"
  done
  bash "$SHELL_DIR/tmuxkit-kill" live --grace 1 >/dev/null
}

@test "unknown run exits 4, bad option exits 2" {
  run -4 bash "$SHELL_DIR/check_training_status.sh" --runs-only nosuch
  assert_output --partial "no run named 'nosuch'"
  run -2 bash "$SHELL_DIR/check_training_status.sh" --bogus
  run -2 bash "$SHELL_DIR/check_training_status.sh" --stale-after soon
}

@test "1000 lock files (owners dead) are reported with no process per lock: the process table is read once" {
  local i n=1000 mode ref cpu ratio=4 real_ps
  mkdir -p results
  (cd results && mkdir r{1..1000})
  for ((i = 1; i <= n; i++)); do
    lock_file_for $((90000000 + i)) "t:1" "r$i" >"results/r$i/.tmuxkit.lock"
  done
  # bash 3.2 reads a file byte by byte under read -n: twice the time there.
  if [ "$(bash -c 'echo ${BASH_VERSINFO[0]}')" -lt 4 ]; then ratio=8; fi
  # The process table is read once, whatever the number of locks: every ps the report starts is counted.
  real_ps=$(command -v ps)
  mkdir -p "$WORK/count"
  printf '#!/bin/sh\necho ps >>%q\nPATH=%q exec %q "$@"\n' "$WORK/ps.log" "$PATH" "$real_ps" >"$WORK/count/ps"
  chmod +x "$WORK/count/ps"
  # The time is CPU time (user + sys, children included), measured against what one subshell per
  # lock costs on this machine at this moment (the reference, run just before): a loaded machine
  # slows both alike, so no wall-clock limit that load can break. (Before the process table was read
  # once, a ps per lock, the report took 34-57 s: many times the reference.)
  TIMEFORMAT='%R %U %S'
  for mode in --json --text; do
    { time bash -c 'for ((i = 0; i < 1000; i++)); do x=$(:); done'; } 2>"$WORK/time.ref"
    : >"$WORK/ps.log"
    { time PATH="$WORK/count:$PATH" bash "$SHELL_DIR/check_training_status.sh" ${mode%--text} >"$WORK/out$mode"; } 2>"$WORK/time"
    ref=$(awk '{ printf "%.3f", $2 + $3 }' "$WORK/time.ref") cpu=$(awk '{ printf "%.3f", $2 + $3 }' "$WORK/time")
    echo "$mode: $(awk '{ printf "wall %ss", $1 }' "$WORK/time"), cpu ${cpu}s; 1000 subshells: cpu ${ref}s (limit ${ratio}x); ps started $(grep -c . "$WORK/ps.log") time(s)" >&3
    run awk -v c="$cpu" -v r="$ref" -v k="$ratio" 'BEGIN { exit !(c <= k * r) }'
    assert_success
    # (a few for the report's other parts; one per lock would be thousands)
    [ "$(grep -c . "$WORK/ps.log")" -le 10 ] || fail "ps ran $(grep -c . "$WORK/ps.log") times for $n locks"
  done
  run python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["locks"]), {l["state"] for l in d["locks"]})' "$WORK/out--json"
  assert_output "1000 {'stale'}"
  run grep -c '^  STALE ' "$WORK/out--text"
  assert_output 1000
}

@test "a lock under a directory whose name holds a newline is found and named whole" {
  mkdir -p "results/a
b" results/c
  lock_file_for 99999998 "t:1" nl >"results/a
b/.tmuxkit.lock"
  echo 99999997 >"results/c/training.lock"
  run bash "$SHELL_DIR/check_training_status.sh" --json
  assert_success
  run python3 -c 'import json,sys; d=json.load(sys.stdin); print(sorted((l["path"], l["state"], l["run"]) for l in d["locks"]))' <<<"$output"
  assert_output "[('./results/a\nb/.tmuxkit.lock', 'stale', 'nl'), ('./results/c/training.lock', 'stale', '')]"
  run bash "$SHELL_DIR/check_training_status.sh"
  assert_line --partial "-> owner is gone; remove with: rm './results/a"
  assert_line "b/.tmuxkit.lock'" # named whole (a lock of no run known here: rm, not cleanup)
}

@test "a live owner's tmuxkit lock is ALIVE in the report: the one reading of the process table agrees with ps" {
  mkdir -p results/live results/reused
  live_pid
  bash "$SHELL_DIR/tmuxkit-lock" acquire results/live/.tmuxkit.lock --run live --pid "$LIVE_PID"
  lock_file_for "$LIVE_PID" "t:1" reused >results/reused/.tmuxkit.lock # the pid lives, but started at another time
  run bash "$SHELL_DIR/check_training_status.sh"
  assert_line --partial "ALIVE   ./results/live/.tmuxkit.lock  pid $LIVE_PID (run live"
  assert_line --partial "STALE   ./results/reused/.tmuxkit.lock  pid $LIVE_PID (run reused"
  kill "$LIVE_PID"
}

# The status call's JSON for runs, with the fields that move with the clock taken out.
runs_json() {
  bash "$SHELL_DIR/check_training_status.sh" --runs-only --json "$@" |
    sed -e 's/"uptime_s":[0-9]*,//g' -e 's/"log_age_s":[0-9]*,//g' -e 's/"generated_at":[0-9]*,//'
}

# clone_run FROM TO LINE...: a second state directory for FROM's live runner, its meta's last lines
# replaced or added (the last of a key wins), so one real run gives many shapes.
clone_run() {
  local from="$TMUXKIT_HOME/runs/$1" to="$TMUXKIT_HOME/runs/$2"
  shift 2
  cp -R "$from" "$to"
  rm -f "$to/status.cache"
  printf 'run=%s\n' "${to##*/}" >>"$to/meta"
  for line in "$@"; do printf '%s\n' "$line" >>"$to/meta"; done
}

@test "status: the one awk that judges many live runs answers as the bash path does, shape by shape" {
  local i big=''
  bash "$SHELL_DIR/tmuxkit-start" p1 --cmd 'echo up; sleep 300' >/dev/null
  bash "$SHELL_DIR/tmuxkit-start" p2 --cmd 'echo first; sleep 300' --stuck-after 1 >/dev/null
  bash "$SHELL_DIR/tmuxkit-start" p3 --cmd 'echo bye; exit 3' >/dev/null
  wait_for 10 test -s "$WORK/results/p1/tmuxkit/p1.live"
  wait_for 10 test -s "$WORK/results/p2/tmuxkit/p2.live"
  wait_for 30 run_over p3
  # A redraw with everything JSON must escape, and progress and events to read.
  printf 'a"b\\c\td\re\001f 76%%|###   |\n' >"$WORK/results/p2/tmuxkit/p2.live"
  printf '{"step":1,"loss":0.9}\n{"step":2,"loss":0.7,"note":"a\\"b"}\n' >"$WORK/results/p1/tmuxkit/p1.progress"
  printf '{"event":"started"}\n{"event":"resumed"}\n' >"$TMUXKIT_HOME/runs/p1/events.jsonl"
  mkdir -p "$WORK/locks/dir"
  lock_file_for 999999 t:1 x >"$WORK/locks/stale"
  printf 'not a lock\n' >"$WORK/locks/garbage"
  ln -s "$WORK/locks/stale" "$WORK/locks/link"
  lock_file_for "$(runner_pid p1)" "Mon Jan  1 00:00:00 2001" x >"$WORK/locks/legacy"
  for i in $(seq 1 300); do big="${big}pad=$i$i$i$i$i$i"$'\n'; done
  { lock_file_for 999999 t:1 x; printf '%s' "$big"; } >"$WORK/locks/big"
  clone_run p1 headless                                   # no session of that name: headless
  clone_run p1 lstale "lock=$WORK/locks/stale"
  clone_run p1 lgarbage "lock=$WORK/locks/garbage"
  clone_run p1 llink "lock=$WORK/locks/link"
  clone_run p1 ldir "lock=$WORK/locks/dir"
  clone_run p1 lnone "lock=$WORK/locks/none"
  clone_run p1 llegacy "lock=$WORK/locks/legacy"
  clone_run p1 lbig "lock=$WORK/locks/big"
  clone_run p1 sockbad 'socket=no@such'                   # a socket the awk is not given: bash path
  clone_run p1 sockidle "socket=$TMUXKIT_SOCKET-idle"     # a socket with no server: headless
  clone_run p1 stuckodd 'stuck_after=soon'
  clone_run p1 stopping && echo "requested $(date +%s)" >"$TMUXKIT_HOME/runs/stopping/stopped"
  clone_run p1 wrongstart && printf '%s\nt:1\n' "$(runner_pid p1)" >"$TMUXKIT_HOME/runs/wrongstart/runner"
  clone_run p1 nolive "log=$WORK/results/p1/tmuxkit/elsewhere.log"
  wait_for 10 bash -c 'bash "$1" --runs-only --json p2 | grep -q "\"state\":\"stuck\""' _ "$SHELL_DIR/check_training_status.sh"

  fast=$(runs_json)
  slow=$(TMUXKIT_STATUS_JUDGE=bash runs_json)
  [ "$fast" = "$slow" ] || { diff <(tr '{' '\n' <<<"$slow") <(tr '{' '\n' <<<"$fast") >&2; false; }
  # Every shape is there, and the awk did answer the plain ones (the bash path never loaded them).
  run python3 -c 'import json,sys; d=json.load(sys.stdin); print(" ".join(sorted(r["run"] + ":" + r["state"] for r in d["runs"])))' <<<"$fast"
  assert_output "headless:running lbig:running ldir:running lgarbage:running llegacy:running llink:running lnone:running lstale:running nolive:running p1:running p2:stuck p3:exited sockbad:running sockidle:running stopping:running stuckodd:running wrongstart:dead"
  assert [ "$(grep -o '"lock_state":"[a-z]*"' <<<"$fast" | sort | uniq -c | wc -l)" -eq 6 ]
  grep -qF '"last_line":"a\"b\\c\td\re' <<<"$fast"
  grep -qF '"progress":"{\"step\":2,\"loss\":0.7,\"note\":\"a\\\"b\"}","losses":"0.9,0.7"' <<<"$fast"
  grep -qF '"last_event":"resumed","restarts":1' <<<"$fast"
  run bash -c 'TMUXKIT_DEBUG=1 bash "$1" --runs-only --json 2>&1 >/dev/null | grep -o "tk_run_load [^ ]*/runs/[a-z0-9]*$" | sed "s|.*/||" | LC_ALL=C sort | tr "\n" " "' _ "$SHELL_DIR/check_training_status.sh"
  assert_output "lbig llegacy nolive p3 sockbad stopping stuckodd wrongstart "
}

# --- issue 29.6: the report reads like the rest of tmuxkit ------------------------------------

@test "report: a run's lock is listed once (found under ./results and named by the run's meta)" {
  bash "$SHELL_DIR/tmuxkit-start" once --cmd 'sleep 300' >/dev/null
  wait_for 10 test -f "$WORK/results/once/.tmuxkit.lock"
  run bash "$SHELL_DIR/check_training_status.sh"
  assert_success
  run grep -c 'once/\.tmuxkit\.lock' <<<"$output"
  assert_output 1
  run bash "$SHELL_DIR/check_training_status.sh" --json
  run python3 -c 'import json,sys; print(len(json.load(sys.stdin)["locks"]))' <<<"$output"
  assert_output 1
  bash "$SHELL_DIR/tmuxkit-kill" once --grace 1 >/dev/null
}

@test "report: a lock's time is a local date and an age, never clock ticks" {
  mkdir -p results/old
  # created 1700000000 = 2023-11-14 22:13:20 UTC = 2023-11-15 03:43:20 at UTC+5:30 (a POSIX TZ: no tzdata needed).
  printf 'pid=99999996\nstart=t:123456\nhost=%s\nrun=old\nsession=old\nrun_id=old.1.1\ncreated=1700000000\n' "$(hostname)" \
    >results/old/.tmuxkit.lock
  TZ=IST-5:30 run bash "$SHELL_DIR/check_training_status.sh"
  assert_success
  assert_line --regexp '^  STALE   \./results/old/\.tmuxkit\.lock  pid 99999996 \(run old, started 2023-11-15 03:43:20, [0-9]+d ago\)$'
  refute_output --partial 't:123456'
}

@test "report: a finished run's log is not STALE, and the run shows its last line" {
  bash "$SHELL_DIR/tmuxkit-start" fin --cmd 'echo working; echo the-last-line' >/dev/null
  wait_for 30 run_over fin
  wait_for 15 grep -q 'exited with code 0' "$WORK/results/fin/tmuxkit/fin.log"
  touch -t 202001010000 "$WORK/results/fin/tmuxkit/fin.log" # silent for years: still finished, not stale
  run bash "$SHELL_DIR/check_training_status.sh" --stale-after 60
  assert_success
  assert_line --regexp '^  \./results/fin/tmuxkit/fin\.log  last written 2020-01-01 00:00:00, [0-9]+d ago  \(run ended\)$'
  refute_output --partial '(STALE)'
  assert_line --regexp '^  fin +exited .*\| the-last-line$'
  run bash "$SHELL_DIR/check_training_status.sh" --json --stale-after 60
  run python3 -c 'import json,sys; l=json.load(sys.stdin)["logs"][0]; print(l["stale"], l["ended"])' <<<"$output"
  assert_output "False True"
}

@test "report: the watchdog's notify.log is not log activity" {
  bash "$SHELL_DIR/tmuxkit-start" quietrun --cmd 'echo hi' >/dev/null
  wait_for 30 run_over quietrun
  printf '%s run_exited notify sent\n' "$(date +%s)" >"$TMUXKIT_HOME/runs/quietrun/notify.log"
  printf 'x\n' >"$TMUXKIT_HOME/runs/quietrun/watch.log"
  run bash "$SHELL_DIR/check_training_status.sh"
  assert_success
  refute_output --partial 'notify.log'
  refute_output --partial 'watch.log'
  assert_output --partial './results/quietrun/tmuxkit/quietrun.log'
}
