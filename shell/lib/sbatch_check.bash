# shellcheck shell=bash
# shellcheck disable=SC2034  # TK_ERR and TK_NOTE are the results callers read
# sbatch --test-only: Slurm's own judgement of a job request (partition, gres, time, account,
# qos, a misspelled option), before anything is submitted. Nothing is queued by it.
# Sourced: defines functions only; no options set, nothing created, nothing run.

# tk_sbatch_test SBATCH_ARG...: 0 when Slurm would take the request (TK_NOTE: its estimate, one
# line); else 1 and TK_ERR is Slurm's reason in its own words, one line.
tk_sbatch_test() {
  local out rc=0
  TK_ERR='' TK_NOTE=''
  out=$(printf '#!/bin/sh\ntrue\n' | sbatch --test-only "$@" 2>&1) || rc=$?
  if [ "$rc" = 0 ]; then
    TK_NOTE=$(printf '%s\n' "$out" | grep -v '^[[:space:]]*$' | tail -n 1 | sed 's/^sbatch: //')
    return 0
  fi
  # The first error is the specific one ("invalid partition specified: x"); "Batch job
  # submission failed: " only prefixes Slurm's general reason.
  TK_ERR=$(printf '%s\n' "$out" | sed -n 's/^sbatch: error: //p' | sed 's/^Batch job submission failed: //' |
    grep -v '^[[:space:]]*$' | head -n 1)
  [ -n "$TK_ERR" ] || TK_ERR=$(printf '%s\n' "$out" | grep -v '^[[:space:]]*$' | tail -n 1 | sed 's/^sbatch: //')
  TK_ERR=${TK_ERR:-sbatch --test-only failed with exit code $rc}
  return 1
}
