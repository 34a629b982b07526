# shellcheck shell=bash
# shellcheck disable=SC2034  # globals (TK_*, LK_*, R_*, S_*) are the results callers read
# Errors, help, tool checks, run names, $TMUXKIT_HOME and tmux.
# Sourced: defines functions only; no options set, nothing created, nothing run.

tk_die() {
  local code=$1
  shift
  printf 'tmuxkit: %s\n' "$*" >&2
  exit "$code"
}

# tk_write FILE TEXT: FILE holds TEXT, written whole (a temp file beside it, then renamed): never
# through a link planted at FILE, and a reader never sees half of it.
tk_write() {
  local tmp="$1.tmp.$$"
  rm -f "$tmp"
  { printf '%s' "$2" >"$tmp" && mv -f "$tmp" "$1"; } 2>/dev/null || {
    rm -f "$tmp"
    return 1
  }
}

# tk_append FILE TEXT: TEXT added at FILE's end; refused when FILE is a symlink (not followed).
tk_append() {
  [ ! -L "$1" ] || return 1
  printf '%s' "$2" >>"$1"
}

tk_warn() {
  printf 'tmuxkit: %s\n' "$*" >&2
}

# tk_usage FILE: print the header comment of FILE (an entry point passes "$0"): its help text.
tk_usage() {
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$1"
}

tk_need() {
  command -v "$1" >/dev/null 2>&1 ||
    tk_die "$EX_NO_TOOL" "$1: command not found on $(hostname 2>/dev/null || echo this host)${2:+; $2}"
}

TK_TMUX_HINT="install it with 'sudo apt-get install tmux' (Linux) or 'brew install tmux' (macOS)"

# Run names: 1-$TK_RUN_NAME_MAX of [$TK_RUN_NAME_CHARS], no leading '-' (contract.bash).
tk_valid_run() {
  local LC_ALL=C
  case $1 in
  '' | -* | *[!A-Za-z0-9_-]*) return 1 ;;
  esac
  [ "${#1}" -le "$TK_RUN_NAME_MAX" ]
}

tk_check_run() {
  tk_valid_run "$1" || tk_die "$EX_USAGE" "invalid run name '$1': $TK_RUN_NAME_RULE"
}

# $TMUXKIT_HOME (default ~/.tmuxkit). Reading never creates it.
tk_home() {
  case ${TMUXKIT_HOME:-} in -*) printf './%s\n' "$TMUXKIT_HOME" ;; *) printf '%s\n' "${TMUXKIT_HOME:-$HOME/.tmuxkit}" ;; esac
}

# tk_home_init: $TMUXKIT_HOME and its runs/, created 0700, for the scripts that write state.
# Refuses a home or runs/ that is a symlink or that someone else owns: state written there could be
# redirected through links planted by its owner.
tk_home_init() {
  local h d m
  h=$(tk_home)
  for d in "$h" "$h/$TK_RUNS_DIR"; do
    if [ -L "$d" ] || { [ -e "$d" ] && [ ! -O "$d" ]; }; then
      tk_die "$EX_USAGE" "refusing state directory $d: not a directory owned by you (uid $(id -u))"
    fi
    # One that others can write may hold what they planted there: refused, not just chmod'ed.
    [ -d "$d" ] || continue
    if tk_others_write "$d"; then
      m=$(ls -ld "$d" 2>/dev/null) || m=''
      tk_die "$EX_USAGE" "refusing state directory $d: others can write to it (${m%% *})"
    fi
  done
  if [ ! -d "$h/$TK_RUNS_DIR" ]; then
    (umask 077 && mkdir -p "$h/$TK_RUNS_DIR")
  fi
  chmod 700 "$h" "$h/$TK_RUNS_DIR" 2>/dev/null || true
  printf '%s\n' "$h"
}

# tk_home_deletable HOME: die (exit 2, one line) unless HOME's state can be deleted in without
# reaching outside it: HOME and its runs/ are real directories of this user (not symlinks), and no
# entry of runs/ is a symlink. For the scripts that delete run state (forget, cleanup): through a
# link, rm -rf of a run's folder removes whatever folder it leads to that holds a file named meta.
# A HOME that does not exist passes (there is nothing to delete).
tk_home_deletable() {
  local d
  for d in "$1" "$1/$TK_RUNS_DIR"; do
    if [ -L "$d" ]; then
      tk_die "$EX_USAGE" "refusing state directory $d: it is a symlink, and tmuxkit deletes run state in it; make it a real directory (or point TMUXKIT_HOME at where it leads)"
    fi
    if [ -e "$d" ] && { [ ! -d "$d" ] || [ ! -O "$d" ]; }; then
      tk_die "$EX_USAGE" "refusing state directory $d: not a directory owned by you (uid $(id -u))"
    fi
  done
  for d in "$1/$TK_RUNS_DIR"/*; do
    [ ! -L "$d" ] || tk_die "$EX_USAGE" "refusing state directory $1/$TK_RUNS_DIR: ${d##*/} in it is a symlink (to $(tk_readlink "$d" | tr -d '\n')), and tmuxkit deletes run folders there; move it out"
  done
}

# tk_readlink LINK: where LINK points (its text, not resolved), or "?".
tk_readlink() {
  readlink "$1" 2>/dev/null || printf '?'
}

# tk_others_write DIR: whether someone other than its owner may write to DIR (group or other
# write bit; ls, as BSD and GNU both print it).
tk_others_write() {
  local m
  m=$(ls -ld "$1" 2>/dev/null) || return 1
  case $m in ?????w* | ????????w*) return 0 ;; esac
  return 1
}

# tk_private_dir DIR [RUN]: DIR (made with mkdir -p; DIR as pwd -P gives it) as a directory that
# only this user can write, so that no one else can plant a link in it between a check and a use:
# a run's log folder, in a results directory others may share. A symlink, or a directory someone
# else owns, is refused (1, TK_ERR says why); a DIR that cannot be made or written (a read-only
# results folder, or permissions that do not let this user write) is 2, said as such. One of ours that others can write is made go-w, from
# inside it (never through a link swapped in meanwhile); where the filesystem ignores that (FAT,
# some network mounts), a warning says so. With RUN, what may have been planted before the go-w is
# refused: at any of the run's names (RUN.log and its rotations, RUN.live, RUN.progress...), a
# symlink, anything but a regular file of ours, or a file with another hard link.
tk_private_dir() {
  local f any=0 n p
  mkdir -p "$1" 2>/dev/null || true
  if [ ! -e "$1" ] && [ ! -L "$1" ]; then
    p=${1%/*}
    while [ -n "$p" ] && [ ! -e "$p" ]; do p=${p%/*}; done
    TK_ERR="cannot create the log folder $1: ${p:-/} is not writable by $(id -un 2>/dev/null || echo you) (read-only, or its permissions)"
    return 2
  fi
  if [ -d "$1" ] && [ ! -L "$1" ] && [ -O "$1" ] && [ ! -w "$1" ]; then
    TK_ERR="the log folder $1 is not writable by $(id -un 2>/dev/null || echo you) (read-only, or its permissions)"
    return 2
  fi
  if [ -L "$1" ] || [ ! -d "$1" ] || [ ! -O "$1" ]; then
    TK_ERR="refusing log folder $1: not a directory owned by you (uid $(id -u)), so a link planted in it could redirect the run's log; give the run a results directory of its own"
    return 1
  fi
  if tk_others_write "$1"; then
    (cd -P "$1" 2>/dev/null && [ "$(pwd -P)" = "$1" ] && chmod go-w .) 2>/dev/null || true
    if tk_others_write "$1"; then tk_warn "log folder $1 stays writable by others (chmod has no effect there)"; fi
  fi
  [ -n "${2:-}" ] || return 0
  for f in "$1/$2".*; do
    if [ -L "$f" ]; then
      TK_ERR="log path is a symlink; refusing to follow it: $f"
      return 1
    fi
    [ -e "$f" ] || continue
    if [ ! -f "$f" ] || [ ! -O "$f" ]; then
      TK_ERR="refusing $f: not a regular file of yours (someone else's, a folder or a FIFO could take or lose the run's log)"
      return 1
    fi
    any=1
  done
  [ "$any" = 1 ] || return 0
  n=$(find "$1" -maxdepth 1 -name "$2.*" -links +1 2>/dev/null | head -n 1)
  if [ -n "$n" ]; then
    TK_ERR="refusing the run's files in $1: one has another hard link, so the log would be written into another file too"
    return 1
  fi
}

# tk_die_private_dir RC: exit for tk_private_dir's answer RC: 2 (a folder that cannot be written)
# is bad input (exit 2), anything else a refused path (a link, someone else's file: exit 5).
tk_die_private_dir() {
  if [ "$1" = 2 ]; then tk_die "$EX_USAGE" "$TK_ERR"; fi
  tk_die "$EX_BAD_LOCK" "$TK_ERR"
}

# tk_tilde_v VAR: a leading "~" or "~/" in VAR's value made this host's $HOME, as a shell would
# have done had the path been typed unquoted (a config file's cwd = "~/proj"). "~user" and a "~"
# anywhere else are left as they are, and so is everything when HOME is unset.
tk_tilde_v() {
  local _tk_p
  eval "_tk_p=\${$1}"
  [ -n "${HOME:-}" ] || return 0
  # shellcheck disable=SC2088  # a literal "~" and "~/": that is what is matched and replaced
  case $_tk_p in
  "~") _tk_p=$HOME ;;
  "~/"*) _tk_p="${HOME%/}/${_tk_p#"~/"}" ;;
  *) return 0 ;;
  esac
  eval "$1=\$_tk_p"
}

# tk_path_v VAR: VAR's path made one that no tool takes for an option or a find expression: a
# relative path that starts with "-" ("-delete", "-", "--") gets "./" in front. Every path a script
# is given is passed through it where it comes in, before any find, rm, ls, stat, mv, cd, df... sees
# it ("--" alone would not do: find has no such end of options).
tk_path_v() {
  local _tk_p
  eval "_tk_p=\${$1}"
  case $_tk_p in -*) eval "$1=./\$_tk_p" ;; esac
}

# TK_NO_BASH_ENV: sh code that takes BASH_ENV out of the environment before tmuxkit's own bash
# starts (a BASH_ENV that prints, as some HPC logins export, would land in every answer, in the
# pane and so in the run's log), keeping its value in TMUXKIT_USER_BASH_ENV: the run's command
# gets it back (tmuxkit-runner). For the command strings tmux runs (a pane, a pipe).
# shellcheck disable=SC2016  # expanded by the shell that runs the snippet
TK_NO_BASH_ENV='if [ -n "${BASH_ENV+x}" ]; then TMUXKIT_USER_BASH_ENV=$BASH_ENV; export TMUXKIT_USER_BASH_ENV; unset BASH_ENV; fi; '

tk_here() {
  hostname 2>/dev/null || echo this host
}

# tmux on $TMUXKIT_SOCKET (tmux -L) when set, else the user's normal server. Always as a UTF-8
# client (-u): for a client whose locale is not UTF-8 (LC_ALL=C, no LANG at all, as in docker-based
# boxes), tmux prints a TAB or any non-ASCII byte in -F output as "_", and the scripts' fields (and
# the paths in them) would not be found. -u changes what tmux prints to this client only, never
# the locale a run's command sees.
tk_tmux() {
  if [ -n "${TMUXKIT_SOCKET:-}" ]; then
    tmux -u -L "$TMUXKIT_SOCKET" "$@"
  else
    tmux -u "$@"
  fi
}

tk_session_exists() {
  tk_tmux has-session -t "=$1" 2>/dev/null
}

# An event's id: its time, the writer's pid and a random part, so a new run that reuses a name
# never repeats an id (notifications are sent once per id).
tk_event_id() {
  printf '%s-%s-%s%s\n' "$(date +%s)" "$$" "$RANDOM" "$RANDOM"
}

# tk_bounded SECONDS COMMAND [ARG]...: run COMMAND, killed (SIGKILL) once it has run SECONDS;
# its status, or 124 when it was killed. For tools that hang (nvidia-smi on a crashed driver);
# macOS has no timeout(1).
tk_bounded() {
  local limit=$1 pid i=0
  shift
  "$@" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$i" -ge $((limit * 10)) ]; then
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      return 124
    fi
    sleep 0.1
    i=$((i + 1))
  done
  wait "$pid"
}

# tk_one_line_path WHAT PATH: exit 2 (bad input) when PATH holds a newline or a carriage return.
# Paths go into the run's key=value files and the scripts' one-line answers, which such a
# character would break or inject lines into.
tk_one_line_path() {
  case $2 in *[$'\n\r']*)
    tk_die "$EX_USAGE" "the $1 path contains a line break; tmuxkit refuses such paths (they would inject lines into the run's meta file): $(printf '%s' "$2" | tr '\n\r' '??')"
    ;;
  esac
}
