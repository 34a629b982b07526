# shellcheck shell=bash
# Checkpoints as units: a file (model.pt, last.ckpt, x.safetensors) or a directory (HF
# checkpoint-500/, kohya/accelerate my-lora-step-150-state/), found, ordered and judged complete
# the same way by tmuxkit-checkpoints, the watchdog and the sync (through tmuxkit-checkpoints).
# Needs core.bash (tk_stat) and run.bash (a loaded run: R_CWD, R_RESULTS, R_DIR).

# tk_ckpt_step NAME: the training step a checkpoint's name carries (step_000130 -> 130,
# checkpoint-500 -> 500, epoch=3-step=1200 -> 1200, my-lora-000003-state -> 3), or -1.
tk_ckpt_step() {
  local b=$1 re n=''
  b=${b%/}
  b=${b##*/}
  re='[Ss][Tt][Ee][Pp][-_=]?([0-9]+)'
  if [[ $b =~ $re ]]; then
    n=${BASH_REMATCH[1]}
  else
    re='[Cc][Hh][Ee][Cc][Kk][Pp][Oo][Ii][Nn][Tt][-_=]?([0-9]+)'
    if [[ $b =~ $re ]]; then
      n=${BASH_REMATCH[1]}
    else
      re='[Ee][Pp][Oo][Cc][Hh][-_=]?([0-9]+)'
      if [[ $b =~ $re ]]; then
        n=${BASH_REMATCH[1]}
      else
        re='[-_]([0-9]+)(-state)?(\.[A-Za-z0-9]+)?$'
        [[ $b =~ $re ]] && n=${BASH_REMATCH[1]}
      fi
    fi
  fi
  case $n in '' | *[!0-9]*) echo -1 ;; *) echo $((10#$n)) ;; esac
}

# tk_ckpt_kind PATH: hf (an HF Trainer checkpoint-N/ directory), state (an accelerate/kohya
# *-state/ directory), dir, or file.
tk_ckpt_kind() {
  local b=${1##*/}
  if [ -d "$1" ] && [ ! -L "$1" ]; then
    case $b in
    checkpoint-[0-9]*) echo hf ;;
    *-state) echo state ;;
    *) if [ -f "$1/trainer_state.json" ] || [ -f "$1/optimizer.pt" ]; then echo hf; else echo dir; fi ;;
    esac
  else
    echo file
  fi
}

# tk_ckpt_candidates GLOB: every checkpoint unit of the loaded run, NUL-terminated, absolute.
# With GLOB (relative to the run's cwd), its matches; else, under the results directory: each
# entry of a ckpt/ or checkpoints/ folder, each checkpoint-N/ and *-state/ directory, and each
# file with a checkpoint's name outside those. tmuxkit's own folders are never looked into.
tk_ckpt_candidates() {
  local g=$1 f
  if [ -n "$g" ]; then
    (
      cd "$R_CWD" 2>/dev/null || exit 0
      # shellcheck disable=SC2086  # the glob is meant to expand
      for f in $g; do
        if [ -e "$f" ] || [ -L "$f" ]; then
          case $f in /*) printf '%s\0' "$f" ;; *) printf '%s/%s\0' "$R_CWD" "$f" ;; esac
        fi
      done
    )
    return 0
  fi
  [ -d "$R_RESULTS" ] || return 0
  find "$R_RESULTS" -mindepth 1 \
    \( -name "$TK_PARTIAL_DIR" -o -path "$R_RESULTS/$TK_LOG_DIR" \) -prune -o \
    \( -path '*/ckpt/*' -o -path '*/checkpoints/*' \) -print0 -prune -o \
    -type d \( -name 'checkpoint-[0-9]*' -o -name '*-state' \) -print0 -prune -o \
    -type f \( -name '*.pt' -o -name '*.pth' -o -name '*.ckpt' -o -name '*.safetensors' -o -name '*.bin' \) \
    -print0 2>/dev/null || true
}

# tk_ckpt_measure PATH: "NEWEST-MTIME TOTAL-SIZE FILES TEMPFILE" of a file, or of the files in a
# directory (TEMPFILE: the first temp-named file inside, or "-").
tk_ckpt_measure() {
  if [ -d "$1" ] && [ ! -L "$1" ]; then
    find "$1" -type f 2>/dev/null | while IFS= read -r g; do
      printf '%s %s %s\n' "$(tk_stat mtime "$g")" "$(tk_stat size "$g")" "${g##*/}"
    done | awk '
      $1 > m { m = $1 } { s += $2; n++ }
      t == "" && ($3 ~ /^\./ || $3 ~ /\.(tmp|part|partial|incomplete)$/ || $3 ~ /~$/) { t = $3 }
      END { print m + 0, s + 0, n + 0, (t == "" ? "-" : t) }'
  else
    printf '%s %s 1 -\n' "$(tk_stat mtime "$1" 2>/dev/null || echo 0)" "$(tk_stat size "$1" 2>/dev/null || echo 0)"
  fi
}

# tk_ckpt_static_reason PATH KIND TEMPFILE SIZE FILES: why the unit cannot be complete, from its
# name and contents alone; empty when nothing is against it.
tk_ckpt_static_reason() {
  local p=$1 kind=$2 tmp=$3 size=$4 files=$5 b=${1##*/} f rs=
  case $p in
  *"
"*)
    echo "a newline in its name: tmuxkit does not pass such a name on"
    return
    ;;
  *[[:cntrl:]]*)
    echo "a control character (tab, CR, ...) in its name, shown as ?: tmuxkit does not pass such a name on"
    return
    ;;
  esac
  if [ -L "$p" ]; then
    echo "a symlink: not followed (its target is listed on its own when it is in the results)"
    return
  fi
  case $b in .* | *.tmp | *.part | *.partial | *.incomplete | *~)
    echo "a temporary name"
    return
    ;;
  esac
  if [ "$tmp" != - ]; then
    echo "holds a temporary file ($tmp)"
  elif [ "$files" = 0 ] || [ "$size" = 0 ]; then
    echo "empty"
  elif [ "$kind" = hf ] && [ ! -f "$p/trainer_state.json" ]; then
    echo "no trainer_state.json yet (the HF Trainer writes it last)"
  elif [ "$kind" = state ]; then
    for f in "$p"/random_states_*.pkl; do [ ! -f "$f" ] || rs=1; done
    [ -n "$rs" ] || echo "no random_states_*.pkl yet (accelerate writes it last)"
  fi
}

# tk_ckpt_run_check CMD PATH [SECONDS]: run the run's checkpoint_check command on the host with
# PATH as its one argument (sh -c 'CMD "$1"', in the run's cwd), killed after SECONDS (default
# 600). 0 = usable.
tk_ckpt_run_check() {
  tk_bounded "${3:-600}" _tk_ckpt_check "$1" "$2"
}

_tk_ckpt_check() {
  cd "$R_CWD" 2>/dev/null || true
  exec sh -c "$1 \"\$1\"" tmuxkit-check "$2" >/dev/null 2>&1 </dev/null
}

# tk_ckpt_subst TEMPLATE VALUE: TEMPLATE with every {checkpoint} replaced by VALUE, literally
# (no pattern substitution: bash 5.2's patsub_replacement would read a "&" in VALUE).
tk_ckpt_subst() {
  local t=$1 out=''
  while :; do
    case $t in
    *'{checkpoint}'*)
      out="$out${t%%\{checkpoint\}*}$2"
      t=${t#*\{checkpoint\}}
      ;;
    *) break ;;
    esac
  done
  printf '%s' "$out$t"
}
