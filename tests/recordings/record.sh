#!/usr/bin/env bash
# Summary: Install the real trainers into a cache outside the project's virtualenv and record them.
# Usage: tests/recordings/record.sh [NAME...]
#
# The frameworks (torch CPU, transformers, accelerate, lightning, rich, tqdm, keras on jax) go into
# ${TMUXKIT_RECORDERS:-~/.cache/tmuxkit-recorders}/venv, never into the project's .venv. torch is
# installed first and pinned, so nothing after it pulls a CUDA build. Then record.py runs each
# trainer (tiny models built from configs, random data, CPU, a few seconds) under a pty and writes
# NAME.rec (the raw terminal bytes with their timing) and versions.json here. No hub is reached.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd -P)
cache=${TMUXKIT_RECORDERS:-$HOME/.cache/tmuxkit-recorders}
venv=$cache/venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
py=$venv/bin/python
if ! "$py" -c 'import torch' 2>/dev/null; then
  "$py" -m pip install -q 'torch==2.13.0'
fi
have() { "$py" -c "import $1" 2>/dev/null; }
want() { # MODULE PIP-SPEC...: install when missing; a failure is reported, not fatal
  local mod=$1
  shift
  have "$mod" || "$py" -m pip install -q "torch==2.13.0" "$@" || echo "record.sh: could not install $*" >&2
}
want tqdm tqdm
want rich rich
want transformers 'transformers>=5,<6'
want accelerate accelerate
want lightning lightning
want keras keras jax jaxlib
# transformers 4.x for the hf4 recording, in a folder of its own put first on the path (its
# huggingface_hub and tokenizers differ from 5.x's).
tf4=$cache/tf4
[ -d "$tf4/transformers" ] || "$py" -m pip install -q --target "$tf4" 'transformers>=4.50,<5' ||
  echo "record.sh: could not install transformers 4.x; hf4 is skipped" >&2
[ ! -d "$tf4/transformers" ] || export TMUXKIT_TF4=$tf4
exec "$py" "$here/record.py" "$@"
