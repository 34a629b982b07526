# shellcheck shell=bash
# Sending one notification from a host with bash alone (curl, else python3): the tmux watchdog
# (shell/tmuxkit-watch) and the Slurm watchdog (lib/slurm_watch.bash, on the login host) both send
# through it. Targets are "KIND URL" lines kept in a 0600 file, never on a command line.
# Sourced: defines functions only; no options set, nothing created, nothing run.

# curl config-file quoting ("..." with \ and " escaped): the URL goes to curl on stdin, not argv.
_tk_cq() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

# tk_notify_one KIND URL TITLE MESSAGE: succeeds on a 2xx answer only. A redirect (3xx) is a failure,
# not followed: a POST that is redirected was not delivered (and a 301/302/303 would turn it into a
# GET without the message), so the URL to give is the final one.
tk_notify_one() {
  local kind=$1 url=$2 title=$3 msg=$4 body ctype=application/json code
  case $kind in
  json) body="{\"version\":\"1.0\",\"title\":$(tk_json_str "$title"),\"message\":$(tk_json_str "$msg"),\"type\":\"info\"}" ;;
  slack) body="{\"text\":$(tk_json_str "*$title*: $msg")}" ;;
  discord) body="{\"content\":$(tk_json_str "**$title**: $msg")}" ;;
  ntfy) body=$msg ctype=text/plain ;;
  *) return 1 ;;
  esac
  if command -v curl >/dev/null 2>&1; then
    code=$({
      printf 'url = %s\n' "$(_tk_cq "$url")"
      printf 'header = %s\n' "$(_tk_cq "Content-Type: $ctype")"
      [ "$kind" != ntfy ] || printf 'header = %s\n' "$(_tk_cq "Title: $title")"
      printf 'data-binary = %s\n' "$(_tk_cq "$body")"
    } | curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -K - 2>/dev/null) || return 1
    case $code in 2[0-9][0-9]) ;; *) return 1 ;; esac
  elif command -v python3 >/dev/null 2>&1; then
    printf '%s\n%s\n%s\n%s' "$url" "$ctype" "$([ "$kind" = ntfy ] && printf '%s' "$title")" "$body" | python3 -c '
import sys, urllib.request
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx answer raises, as a failure
url, ctype, title, body = sys.stdin.read().split("\n", 3)
h = {"Content-Type": ctype}
if title:
    h["Title"] = title
req = urllib.request.Request(url, data=body.encode(), headers=h, method="POST")
urllib.request.build_opener(NoRedirect).open(req, timeout=10)
' 2>/dev/null
  else
    return 1
  fi
}

# tk_notify_save_targets FILE: stdin's "KIND URL" lines into FILE (0600); none: FILE goes.
tk_notify_save_targets() {
  (
    umask 077
    grep -E '^(json|slack|discord|ntfy) [^ ]+$' >"$1.tmp.$$" || true
  )
  if [ -s "$1.tmp.$$" ]; then mv -f "$1.tmp.$$" "$1"; else rm -f "$1.tmp.$$" "$1"; fi
}
