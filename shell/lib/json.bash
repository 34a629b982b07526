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
  case $_tk_s in *[![:ascii:]]*) tk_utf8_v _tk_s ;; esac # JSON is UTF-8: never a stray byte
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

# tk_utf8_v VAR: VAR's value as valid UTF-8: every byte that does not belong to a well-formed
# sequence (a hand-made lock, a path or a log line cut mid-character) becomes U+FFFD. Valid text
# is left as it is, checked with one regex; only a broken one is walked. Byte-wise whatever the
# caller's locale. The ASCII range is "not a high byte": bash uses \001 and \177 itself.
tk_utf8_v() {
  local LC_ALL=C _tk_us _tk_uo=''
  eval "_tk_us=\${$1}"
  case $_tk_us in *[$'\200'-$'\377']*) ;; *) return 0 ;; esac
  local _tk_ure=$'^([^\200-\377]|[\302-\337][\200-\277]|\340[\240-\277][\200-\277]|[\341-\354\356\357][\200-\277][\200-\277]|\355[\200-\237][\200-\277]|\360[\220-\277][\200-\277][\200-\277]|[\361-\363][\200-\277][\200-\277][\200-\277]|\364[\200-\217][\200-\277][\200-\277])*$'
  [[ $_tk_us =~ $_tk_ure ]] && return 0
  local _tk_u1=$'^([^\200-\377]|[\302-\337][\200-\277]|\340[\240-\277][\200-\277]|[\341-\354\356\357][\200-\277][\200-\277]|\355[\200-\237][\200-\277]|\360[\220-\277][\200-\277][\200-\277]|[\361-\363][\200-\277][\200-\277][\200-\277]|\364[\200-\217][\200-\277][\200-\277])'
  while [ -n "$_tk_us" ]; do
    if [[ $_tk_us =~ $_tk_u1 ]]; then
      _tk_uo=$_tk_uo${BASH_REMATCH[0]}
      _tk_us=${_tk_us:${#BASH_REMATCH[0]}}
    else
      _tk_uo=$_tk_uo$'\357\277\275'
      _tk_us=${_tk_us:1}
    fi
  done
  eval "$1=\$_tk_uo"
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
