# shellcheck shell=bash
# shellcheck disable=SC2034  # TK_LAUNCH is the result callers read
# Ranks: a Slurm batch job with more than one task (a run's nodes > 1 or ntasks_per_node > 1)
# runs its command once per rank through srun, so the log, the exit code (srun's: the worst
# rank's) and every signal cover each rank. The batch wrapper (tmuxkit-sbatch-run) asks here.
# Sourced: defines functions only; no options set, nothing created, nothing run.

# tk_ranks: 0 inside a batch job of more than one task.
tk_ranks() {
  [ -n "${SLURM_JOB_ID:-}" ] || return 1
  case ${SLURM_NTASKS:-1} in '' | *[!0-9]*) return 1 ;; esac
  [ "${SLURM_NTASKS:-1}" -gt 1 ]
}

# tk_ranks_launcher: the words that go before the command (none for a single task).
tk_ranks_launcher() {
  if tk_ranks; then TK_LAUNCH=(srun --kill-on-bad-exit=1); else TK_LAUNCH=(); fi
}

# tk_ranks_signal SIG: SIG to every rank: each step of this job, not the batch shell (srun
# itself would only print its status on a single INT).
tk_ranks_signal() {
  scancel --signal="$1" "$SLURM_JOB_ID" 2>/dev/null || true
}
