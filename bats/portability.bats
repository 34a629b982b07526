#!/usr/bin/env bats
# macOS is a first-class host: bash 3.2 syntax only, BSD tools only, shellcheck clean.
load test_helper

# The bash scripts (tmuxkit-logwriter.py is Python, run only where python3 exists).
scripts() { printf '%s\n' "$SHELL_DIR"/check_training_status.sh "$SHELL_DIR"/tmuxkit-* | grep -v '\.py$'; }

@test "no bash-4-only syntax in shell/" {
  # A newer bash's variable read behind its probe (a line marked "# probe: bash", whose other
  # branch serves bash 3.2) is allowed.
  run bash -c 'grep -nE "declare -A|local -A|mapfile|readarray|\\$\\{[A-Za-z_]+(,,|\\^\\^)|&>>|\\|&|coproc |\\$\\{[A-Za-z_]+@[QEPAa]\\}|EPOCHSECONDS|EPOCHREALTIME|wait -n" "$@" |
    grep -vE "# probe: bash [0-9]"' _ $(scripts)
  assert_failure 1
  assert_output ""
}

@test "no GNU- or Linux-only calls outside the probing wrappers" {
  # /proc only behind its probe ([ -r "/proc/..." ] && ..., as tk_pinfo reads it, or an awk getline
  # marked "# probe:", which fails where there is none); comments aside.
  run bash -c 'grep -nE "date -d|readlink -f|find [^|]*-printf|sed -i[^.]|\btimeout [0-9]|\bflock\b|/proc/|\b(stat|date|sed|ps|readlink|ls|cp|mv|touch|head|tail|sort|wc|mktemp|grep|find) [^|;]*--[a-z]" "$@" |
    grep -vE "^[^:]+:[0-9]+:[[:space:]]*#|\[ -r \"/proc/|/proc/.*# probe: "' _ $(scripts)
  assert_failure 1
}

@test "shellcheck is clean" {
  # .ci/test runs shellcheck once, in .ci/lint, before the bats passes: not again in each pass.
  [ -z "${TMUXKIT_LINTED:-}" ] || skip "shellcheck ran in .ci/lint"
  if ! command -v shellcheck >/dev/null; then
    [ -z "${CI:-}" ] || fail "shellcheck is missing in CI"
    skip "shellcheck not installed"
  fi
  cd "$SHELL_DIR"
  run shellcheck -x $(scripts)
  assert_success
}

@test "the BSD shims refuse GNU-only flags (so the shim run means something)" {
  PATH="$ROOT/bats/shims:$PATH"
  run stat -c %Y /
  assert_failure
  run ps e -p $$
  assert_failure
  run ps -o etimes= -p $$
  assert_failure
  run date -d now
  assert_failure
  run date +%s%N
  assert_failure
  run sed -r s/a/b/ /dev/null
  assert_failure
  run readlink -f /
  assert_failure
  run -127 timeout 1 true
  run -127 flock /tmp true
  run stat -f %m /
  assert_success
  run ps -A -E -ww -o pid= -p $$
  assert_success
}
