# shellcheck shell=bash
# JSON output and key=value files.
# Sourced: defines functions only; no options set, nothing created, nothing run.

# --- JSON --------------------------------------------------------------------

tk_json_str() {
  tk_json_str_v "$1"
  printf '%s' "$TK_J"
}

# tk_json_str_v STRING: the JSON string into TK_J, without a subshell.
tk_json_str_v() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\t'/\\t}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  case $s in *[$'\001'-$'\037']*) s=$(printf '%s' "$s" | LC_ALL=C tr -d '\000-\037') ;; esac
  TK_J="\"$s\""
}

# A JSON value: a number as-is, empty as null, anything else a string.
tk_json_val() {
  tk_json_val_v "$1"
  printf '%s' "$TK_J"
}

tk_json_val_v() {
  case $1 in
  '') TK_J=null ;;
  *[!0-9-]* | -) tk_json_str_v "$1" ;;
  *) TK_J=$1 ;;
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
