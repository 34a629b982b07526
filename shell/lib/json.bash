# shellcheck shell=bash
# JSON output and key=value files.
# Sourced: defines functions only; no options set, nothing created, nothing run.

# --- JSON --------------------------------------------------------------------

tk_json_str() {
  tk_json_str_v _TK_JSON "$1"
  printf '%s' "$_TK_JSON"
}

# tk_json_str_v VAR STRING: VAR=STRING as a JSON string, with no subshell (reports with many rows).
tk_json_str_v() {
  local _tk_s=$2
  case $_tk_s in *[\"\\$'\001'-$'\037']*) # else nothing to escape (the common case)
    _tk_s=${_tk_s//\\/\\\\}
    _tk_s=${_tk_s//\"/\\\"}
    _tk_s=${_tk_s//$'\t'/\\t}
    _tk_s=${_tk_s//$'\n'/\\n}
    _tk_s=${_tk_s//$'\r'/\\r}
    case $_tk_s in *[$'\001'-$'\037']*) _tk_s=$(printf '%s' "$_tk_s" | LC_ALL=C tr -d '\000-\037') ;; esac
    ;;
  esac
  _tk_s="\"$_tk_s\""
  eval "$1=\$_tk_s"
}

# A JSON value: a number as-is, empty as null, anything else a string.
tk_json_val() {
  tk_json_val_v _TK_JSON "$1"
  printf '%s' "$_TK_JSON"
}

# tk_json_val_v VAR VALUE: VAR=VALUE as a JSON value, with no subshell.
tk_json_val_v() {
  case $2 in
  '') eval "$1=null" ;;
  *[!0-9-]* | -) tk_json_str_v "$1" "$2" ;;
  *) eval "$1=\$2" ;;
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
