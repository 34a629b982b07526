# shellcheck shell=bash
# Generated from tmuxkit/contract.py by `python -m tmuxkit.contract`; do not edit.
# The facts the host scripts share with the Python layer. Sourcing it only sets variables.
# shellcheck disable=SC2034

# exit codes
EX_OK=0
EX_FAIL=1
EX_USAGE=2
EX_LOCKED=3
EX_NOT_FOUND=4
EX_BAD_LOCK=5
EX_UNREACHABLE=6
EX_PARTIAL=7
EX_NO_TOOL=127

# run states
ST_RUNNING=running
ST_STUCK=stuck
ST_EXITED=exited
ST_STOPPED=stopped
ST_DEAD=dead
ST_FAILED=failed
ST_PENDING=pending
ST_QUEUED=queued
ST_BLOCKED=blocked
ST_TIMEOUT=timeout

# stop rungs
RUNG_SIGINT=sigint
RUNG_SIGTERM=sigterm
RUNG_SIGKILL=sigkill

# log writer states
WR_ALIVE=alive
WR_DEAD=dead
WR_NONE=none
WR_REPIPED=repiped

# lock states
LS_FREE=free
LS_ALIVE=alive
LS_STALE=stale
LS_SYMLINK=symlink
LS_NOTFILE=notfile
LS_GARBAGE=garbage

# events
EV_STARTED=started
EV_STUCK=stuck
EV_EVIDENCE_SAVED=evidence_saved
EV_STOP_RUNG=stop_rung
EV_RESUMED=resumed
EV_RESUME_FAILED=resume_failed
EV_FINISHED=finished
EV_CRASHED=crashed
EV_STOPPED=stopped
EV_BUDGET_SPENT=budget_spent
EV_GPU_CHECKS_OFF=gpu_checks_off
EV_SYNCED=synced
EV_WRITER_REPIPED=writer_repiped
EV_WATCHDOG_ENDED=watchdog_ended
EV_WATCHDOG_DEAD=watchdog_dead
EV_RESTARTED=restarted
EV_CHECKPOINT_REJECTED=checkpoint_rejected
EV_CHECKPOINT_SKIPPED=checkpoint_skipped
EV_QUIET=quiet
EV_HOME_FULL=home_full
EV_REQUEUED=requeued
EV_QUEUE_REFUSED=queue_refused
EV_BLOCKED=blocked
EV_NAN_LOSS=nan_loss
EV_DISK_LOW=disk_low
EV_DISK_OK=disk_ok
EV_WATCHDOG_GAVE_UP=watchdog_gave_up
EV_ON_DONE=on_done
EV_ON_DONE_SKIPPED=on_done_skipped
EV_CONTROLLER_DOWN=controller_down
EV_CONTROLLER_BACK=controller_back
EV_TIME_LIMIT=time_limit

# run names
TK_RUN_NAME_MAX=64
TK_RUN_NAME_CHARS='A-Za-z0-9_-'
TK_RUN_NAME_RULE='use 1-64 of A-Z a-z 0-9 _ - (not starting with -)'

# layout
TK_LOCK_NAME=.tmuxkit.lock
TK_FOREIGN_LOCK_NAME=training.lock
TK_LOG_DIR=tmuxkit
TK_LOG_SUFFIX=.log
TK_LIVE_SUFFIX=.live
TK_LAST_LINE_MAX=300
TK_PARTIAL_DIR=.tmuxkit-partial
TK_EVENTS_FILE=events.jsonl
TK_RUNS_DIR=runs
TK_HELPER_SEP='+'

# defaults
TK_DEF_STUCK_AFTER=300
TK_DEF_QUIET_MAX_FACTOR=4
TK_DEF_LOG_MAX_BYTES=50000000
TK_DEF_LOG_KEEP=5
TK_DEF_GRACE=60
TK_DEF_TERM_WAIT=10
TK_DEF_WATCH_EVERY=30
TK_DEF_MAX_RESTARTS=3
TK_DEF_RESTART_WINDOW=3600
TK_DEF_BACKOFF=10
TK_DEF_SETTLE=5
TK_DEF_GPU_IDLE_FOR=300
TK_DEF_SYNC_EVERY=60
TK_DEF_ON_NAN=notify
TK_DEF_DISK_MIN_FREE=5%
TK_DEF_ON_DONE_WAIT=3600
TK_DEF_EARLY_EXIT_WAIT=2

# tmuxkit-start options
OPT_CMD=--cmd
OPT_CWD=--cwd
OPT_RESULTS=--results
OPT_ENV=--env
OPT_LOG_MAX_BYTES=--log-max-bytes
OPT_LOG_KEEP=--log-keep
OPT_STUCK_AFTER=--stuck-after
OPT_METRICS=--metrics
OPT_ENV_STDIN=--env-stdin
OPT_AGAIN=--again
OPT_EARLY_WAIT=--early-wait
OPT_GPUS=--gpus
OPT_AFTER=--after
OPT_MAX_RUNS=--max-runs
OPT_FROM_QUEUE=--from-queue
OPT_GPUS_IGNORE_FOREIGN=--gpus-ignore-foreign

# events worth a notification
TK_NOTIFY_EVENTS='blocked budget_spent crashed disk_low finished nan_loss on_done queue_refused requeued restarted resume_failed resumed stuck time_limit watchdog_gave_up'
