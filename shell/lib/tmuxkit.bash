# shellcheck shell=bash
# Loads every library, from the directory this file is in. Entry points source this one file.
# Sourced: defines variables and functions only; no options set, nothing created, nothing run.
_tk_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=contract.bash
. "$_tk_lib/contract.bash"
# shellcheck source=core.bash
. "$_tk_lib/core.bash"
# shellcheck source=proc.bash
. "$_tk_lib/proc.bash"
# shellcheck source=json.bash
. "$_tk_lib/json.bash"
# shellcheck source=lock.bash
. "$_tk_lib/lock.bash"
# shellcheck source=run.bash
. "$_tk_lib/run.bash"
# shellcheck source=ckpt.bash
. "$_tk_lib/ckpt.bash"
# shellcheck source=budget.bash
. "$_tk_lib/budget.bash"
# shellcheck source=gpu.bash
. "$_tk_lib/gpu.bash"
# shellcheck source=queue.bash
. "$_tk_lib/queue.bash"
# shellcheck source=cause.bash
. "$_tk_lib/cause.bash"
# shellcheck source=quiet.bash
. "$_tk_lib/quiet.bash"
# shellcheck source=progress.bash
. "$_tk_lib/progress.bash"
# shellcheck source=life.bash
. "$_tk_lib/life.bash"
# shellcheck source=sbatch_check.bash
. "$_tk_lib/sbatch_check.bash"
# shellcheck source=ranks.bash
. "$_tk_lib/ranks.bash"
# shellcheck source=alerts.bash
. "$_tk_lib/alerts.bash"
# shellcheck source=done.bash
. "$_tk_lib/done.bash"
# shellcheck source=notify.bash
. "$_tk_lib/notify.bash"
