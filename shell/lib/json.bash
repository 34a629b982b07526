# shellcheck shell=bash
# JSON output and key=value files.
# Sourced: defines functions only; no options set, nothing created, nothing run.

# --- JSON --------------------------------------------------------------------

tk_json_str() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\t'/\\t}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  case $s in *[$'\001'-$'\037']*) s=$(printf '%s' "$s" | LC_ALL=C tr -d '\000-\037') ;; esac
  printf '"%s"' "$s"
}

# A JSON value: a number as-is, empty as null, anything else a string.
tk_json_val() {
  case $1 in
  '') printf 'null' ;;
  *[!0-9-]* | -) tk_json_str "$1" ;;
  *) printf '%s' "$1" ;;
  esac
}

# --- key=value files ------------------------------------------------------------

# tk_kv_get FILE KEY -> value of the first KEY= line
tk_kv_get() {
  local line
  [ -f "$1" ] || return 1
  while IFS= read -r line || [ -n "$line" ]; do
    case $line in "$2="*)
      printf '%s\n' "${line#"$2"=}"
      return 0
      ;;
    esac
  done <"$1"
  return 1
}
