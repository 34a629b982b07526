# Shared by the BSD-flavoured shims: find the real tool, refuse GNU-only flags.
# Each shim behaves as the macOS tool does for the flags tmuxkit may use, and
# fails (like BSD does) on flags that only GNU has, so a script that would break
# on a Mac breaks here too.
SHIM_NAME=${0##*/}
SHIM_DIR=$(cd "$(dirname "$0")" && pwd -P)

shim_real() {
  local d IFS=:
  for d in $PATH; do
    [ "$(cd "$d" 2>/dev/null && pwd -P)" = "$SHIM_DIR" ] && continue
    if [ -x "$d/$SHIM_NAME" ]; then
      printf '%s\n' "$d/$SHIM_NAME"
      return 0
    fi
  done
  echo "$SHIM_NAME: shim finds no real $SHIM_NAME" >&2
  exit 127
}

shim_refuse() {
  echo "$SHIM_NAME: illegal option -- $1 (BSD shim: GNU-only, not on macOS)" >&2
  exit 1
}
