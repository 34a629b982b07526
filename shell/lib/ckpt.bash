# shellcheck shell=bash
# Checkpoints as units: a file (model.pt, last.ckpt, x.safetensors) or a directory (HF
# checkpoint-500/, kohya/accelerate my-lora-step-150-state/, accelerate checkpoints/checkpoint_3/),
# found, ordered and judged complete the same way by tmuxkit-checkpoints, the watchdog and the
# sync (both through tmuxkit-checkpoints).
# Needs core.bash (tk_stat) and run.bash (a loaded run: R_CWD, R_RESULTS, R_DIR).

# How far a listing looks: directory depth under the results, files measured inside one unit,
# units judged, and seconds spent (the rest is left out, with a note on stderr).
TK_CKPT_DEPTH=${TK_CKPT_DEPTH:-8}
TK_CKPT_UNIT_FILES=${TK_CKPT_UNIT_FILES:-5000}
TK_CKPT_MAX_UNITS=${TK_CKPT_MAX_UNITS:-1000}
TK_CKPT_MAX_SECONDS=${TK_CKPT_MAX_SECONDS:-120}

# tk_ckpt_name_step NAME: the training step a checkpoint's name carries (step_000130 -> 130,
# checkpoint-500 -> 500, epoch=3-step=1200 -> 1200, my-lora-000003-state -> 3,
# model-06.weights.h5 -> 6), or -1.
tk_ckpt_name_step() {
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
        re='[-_]([0-9]+)(-state)?(\.weights)?(\.[A-Za-z0-9]+)?$'
        [[ $b =~ $re ]] && n=${BASH_REMATCH[1]}
      fi
    fi
  fi
  case $n in '' | *[!0-9]*) echo -1 ;; *) echo $((10#$n)) ;; esac
}

# tk_ckpt_step PATH: the step of a checkpoint: from its name; for a stepless torch zip (Lightning's
# last.ckpt) the global_step inside it; for accelerate's checkpoints/checkpoint_N the step its
# random_states_0.pkl holds, else N (its save index); -1 when none is known.
tk_ckpt_step() {
  _tk_ckpt_step_of "$1"
  echo "$_TK_STEP"
}

# _tk_ckpt_step_of PATH: sets _TK_STEP and _TK_STEP_FROM (name, inside, index or none).
_tk_ckpt_step_of() {
  local p=${1%/} b s
  b=${p##*/}
  _TK_STEP_FROM=name
  if [ -d "$p" ] && [ ! -L "$p" ] && [[ $b =~ ^checkpoint_([0-9]+)$ ]]; then
    s=-1
    [ ! -f "$p/random_states_0.pkl" ] || s=$(_tk_pickle_int "$p/random_states_0.pkl" step 65536)
    if [ "$s" -ge 0 ] 2>/dev/null; then
      _TK_STEP=$s _TK_STEP_FROM=inside
    else
      _TK_STEP=$((10#${BASH_REMATCH[1]})) _TK_STEP_FROM=index
    fi
    return 0
  fi
  _TK_STEP=$(tk_ckpt_name_step "$p")
  if [ "$_TK_STEP" = -1 ] && [ -f "$p" ] && [ ! -L "$p" ]; then
    case $b in *.ckpt | *.pt | *.pth)
      s=$(_tk_pickle_int "$p" global_step 65536)
      if [ "$s" -ge 0 ] 2>/dev/null; then
        _TK_STEP=$s _TK_STEP_FROM=inside
        return 0
      fi
      ;;
    esac
  fi
  [ "$_TK_STEP" != -1 ] || _TK_STEP_FROM=none
}

# _tk_bytes FILE OFFSET COUNT: COUNT bytes of FILE from OFFSET as decimal numbers on one line,
# one space apart.
_tk_bytes() {
  if [ "$2" = 0 ]; then
    head -c "$3" "$1" 2>/dev/null
  else
    dd if="$1" bs=1 skip="$2" count="$3" 2>/dev/null
  fi | od -An -v -tu1 | awk '{ for (i = 1; i <= NF; i++) printf "%s%s", (n++ ? " " : ""), $i } END { print "" }'
}

# _tk_pickle_int FILE KEY HEADBYTES: the integer a pickle (protocol 2, as torch.save writes it;
# the first such key in FILE's first HEADBYTES bytes: a torch zip stores data.pkl uncompressed
# and first) maps KEY to, or -1.
_tk_pickle_int() {
  local key
  key=$(printf '%s' "$2" | od -An -v -tu1)
  head -c "$3" "$1" 2>/dev/null | od -An -v -tu1 | awk -v key="$key" -v klen=${#2} '
    { for (i = 1; i <= NF; i++) b[++n] = $i }
    END {
      m = split(key, k, " ")
      # BINUNICODE: "X" (88), a 4-byte little-endian length, the bytes.
      for (i = 1; i + 5 + m <= n; i++) {
        if (b[i] != 88 || b[i + 1] != klen || b[i + 2] != 0 || b[i + 3] != 0 || b[i + 4] != 0) continue
        ok = 1
        for (j = 1; j <= m; j++) if (b[i + 4 + j] != k[j]) { ok = 0; break }
        if (!ok) continue
        p = i + 5 + m
        if (b[p] == 113) p += 2; else if (b[p] == 114) p += 5  # BINPUT, LONG_BINPUT (memo)
        if (b[p] == 75) { print b[p + 1]; exit }                        # BININT1
        if (b[p] == 77) { print b[p + 1] + 256 * b[p + 2]; exit }       # BININT2
        if (b[p] == 74 && b[p + 4] < 128) {                              # BININT (non-negative)
          print b[p + 1] + 256 * (b[p + 2] + 256 * (b[p + 3] + 256 * b[p + 4])); exit }
        if (b[p] == 138 && b[p + 1] >= 1 && b[p + 1] <= 7) {            # LONG1
          v = 0; for (j = b[p + 1]; j >= 1; j--) v = v * 256 + b[p + 1 + j]; printf "%.0f\n", v; exit }
        print -1; exit
      }
      print -1
    }'
}

# tk_ckpt_file_reason FILE SIZE: why FILE is torn by its own format, read from its header and
# tail only; empty when it is whole or its format cannot tell (a file that does not begin as its
# format does, e.g. a legacy pickle .pt, is judged by the other rules alone).
#   zip (a torch .pt .pth .ckpt .bin .pkl that begins "PK", and every .keras): its
#     end-of-central-directory record, written last, is there;
#   .safetensors: as long as its header says (8 + the header's length + the largest data offset);
#   HDF5 (.h5, .hdf5, .weights.h5): not flagged open for writing in its superblock (HDF5 1.10 and
#     later set that flag while a writer has it open), and exactly as long as the superblock's
#     end-of-file address says (a file not closed is longer or shorter).
tk_ckpt_file_reason() {
  local f=$1 size=$2 b
  case $f in
  *.pt | *.pth | *.ckpt | *.bin | *.pkl | *.keras)
    b=$(_tk_bytes "$f" 0 4)
    case " $b " in
    " 80 75 3 4 ") _tk_zip_reason "$f" "$size" ;;
    *) case $f in *.keras) echo "not a zip: torn, or not a .keras file" ;; esac ;;
    esac
    ;;
  *.safetensors) _tk_safetensors_reason "$f" "$size" ;;
  *.h5 | *.hdf5) _tk_hdf5_reason "$f" "$size" ;;
  esac
}

_tk_zip_reason() { # FILE SIZE
  local t n
  # The usual case: an end record with no comment, the file's last 22 bytes.
  t=$(tail -c 22 "$1" 2>/dev/null | od -An -v -tu1)
  # shellcheck disable=SC2086  # word splitting wanted: the bytes
  set -- "$1" "$2" $t
  if [ $# = 24 ] && [ "$3 $4 $5 $6" = "80 75 5 6" ] && [ "${23}" = 0 ] && [ "${24}" = 0 ]; then
    return 0
  fi
  n=$(tail -c 65557 "$1" 2>/dev/null | od -An -v -tu1 | awk '
    { for (i = 1; i <= NF; i++) b[++n] = $i }
    END {
      for (i = n - 21; i >= 1; i--)
        if (b[i] == 80 && b[i + 1] == 75 && b[i + 2] == 5 && b[i + 3] == 6 && i + 21 + b[i + 20] + 256 * b[i + 21] == n) { print "ok"; exit }
    }')
  [ "$n" = ok ] || echo "no end-of-central-directory record: a torn zip (its writer did not finish)"
}

_tk_safetensors_reason() { # FILE SIZE
  local n need
  [ "$2" -ge 9 ] || return 0
  # shellcheck disable=SC2046  # word splitting wanted: the bytes
  set -- "$1" "$2" $(_tk_bytes "$1" 0 9)
  [ $# = 11 ] && [ "${11}" = 123 ] || return 0 # no "{" after the length: not judged
  n=$(($3 + 256 * ($4 + 256 * ($5 + 256 * ($6 + 256 * ($7 + 256 * ($8 + 256 * ($9 + 256 * ${10}))))))))
  [ "$n" -gt 0 ] && [ "$n" -le 100000000 ] || return 0
  if [ "$2" -lt $((8 + n)) ]; then
    echo "shorter than its safetensors header says ($2 bytes, the header alone is $((8 + n))): torn"
    return 0
  fi
  need=$(head -c $((8 + n)) "$1" | tail -c "$n" | LC_ALL=C tr -d ' \t\r\n' |
    LC_ALL=C grep -o '"data_offsets":\[[0-9]*,[0-9]*\]' | sed 's/.*,//; s/]//' |
    awk -v h=$((8 + n)) 'BEGIN { m = 0 } $1 + 0 > m { m = $1 + 0 } END { printf "%.0f\n", h + m }')
  if [ -n "$need" ] && [ "$2" -lt "$need" ]; then
    echo "shorter than its safetensors header says ($2 of $need bytes): torn"
  fi
}

_tk_hdf5_reason() { # FILE SIZE
  local at b
  for at in 0 512 1024 2048; do
    [ "$2" -ge $((at + 8)) ] || return 0
    b=$(_tk_bytes "$1" "$at" 8)
    [ "$b" != "137 72 68 70 13 10 26 10" ] || break
    [ "$at" != 2048 ] || return 0
  done
  _tk_bytes "$1" "$at" 96 | awk -v size="$2" '
    { for (i = 1; i <= NF; i++) b[++n] = $i }
    function le(at, len,   v, j) { v = 0; for (j = len; j >= 1; j--) v = v * 256 + b[at + j]; return v }
    function undef(at, len,   j) { for (j = 1; j <= len; j++) if (b[at + j] != 255) return 0; return 1 }
    END {
      v = b[9]
      if (v == 0 || v == 1) { o = b[14]; at = (v == 0 ? 24 : 28); flags = b[21] }
      else if (v == 2 || v == 3) { o = b[10]; at = 12; flags = b[12] }
      else exit
      if (o != 2 && o != 4 && o != 8 || n < at + 3 * o) exit
      if (flags % 2 == 1) { print "flagged open for writing in its HDF5 superblock: not closed (still being written, or its writer was killed)"; exit }
      if (undef(at, o) || undef(at + 2 * o, o)) exit
      need = le(at, o) + le(at + 2 * o, o)
      if (size < need) printf "shorter than its HDF5 superblock says (%.0f of %.0f bytes): torn\n", size, need
      else if (size > need) printf "longer than its HDF5 superblock says (%.0f, not %.0f bytes): not closed (still being written, or its writer was killed)\n", size, need
    }'
}

# tk_ckpt_kind PATH: hf (an HF Trainer checkpoint-N/ directory), state (an accelerate/kohya
# *-state/ directory, or accelerate's checkpoints/checkpoint_N/), dir, or file.
tk_ckpt_kind() {
  local b=${1##*/}
  if [ -d "$1" ] && [ ! -L "$1" ]; then
    case $b in
    checkpoint-[0-9]*) echo hf ;;
    *-state | checkpoint_[0-9]*) echo state ;;
    *) if [ -f "$1/trainer_state.json" ] || [ -f "$1/optimizer.pt" ]; then echo hf; else echo dir; fi ;;
    esac
  else
    echo file
  fi
}

# The names a file outside ckpt/, checkpoints/, checkpoint-N/ and *-state/ must have to count as
# a checkpoint: a checkpoint's extension, and a word that says it is one (find -iname patterns).
TK_CKPT_EXTS='*.pt *.pth *.ckpt *.safetensors *.bin *.h5 *.hdf5 *.keras'
TK_CKPT_WORDS='*ckpt* *checkpoint* *model* *weights* *state* *last* *final* *best* *epoch* *step* *iter* *lora* *adapter*'
# Files inside ckpt/ or checkpoints/ that are not checkpoints: notes, DeepSpeed's helpers, and what HF
# saves beside a model (its training_args.bin, written after the weights; a tokenizer).
TK_CKPT_NOT='latest training_args.bin tokenizer.model spiece.model *.json *.txt *.py *.yaml *.yml *.md *.log *.csv'

# _tk_find_any FLAG PATTERNS: "( FLAG P1 -o FLAG P2 ... )" as find arguments, one per line (call
# it with globbing off: set -f).
_tk_find_any() {
  local p first=1 IFS=' '
  printf '(\n'
  for p in $2; do
    [ "$first" = 1 ] || printf -- '-o\n'
    first=0
    printf '%s\n%s\n' "$1" "$p"
  done
  printf ')\n'
}

# tk_ckpt_candidates GLOB: every checkpoint unit of the loaded run, NUL-terminated, absolute.
# With GLOB (relative to the run's cwd), its matches; else, under the results directory (at most
# TK_CKPT_DEPTH deep, links not followed): each entry of a ckpt/ or checkpoints/ folder (but its
# notes: TK_CKPT_NOT), each checkpoint-N/, *-state/ and DeepSpeed global_stepN/ directory, and each file outside those
# whose name says it is a checkpoint (TK_CKPT_EXTS and TK_CKPT_WORDS). tmuxkit's own folders are
# never looked into.
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
  local -a exts words nots
  local IFS=$'\n'
  set -f
  # shellcheck disable=SC2207  # one find argument a line, no globbing (set -f)
  exts=($(_tk_find_any -name "$TK_CKPT_EXTS")) words=($(_tk_find_any -iname "$TK_CKPT_WORDS"))
  # shellcheck disable=SC2207
  nots=($(_tk_find_any -name "$TK_CKPT_NOT"))
  set +f
  # Walked from inside the results (paths ./x), so the patterns see only what lies under it: results
  # at checkpoints/RUN are not all "entries of a checkpoints/ folder"; each path is made absolute after.
  (
    cd "$R_RESULTS" 2>/dev/null || exit 0
    find . -mindepth 1 -maxdepth "$TK_CKPT_DEPTH" \
      \( -name "$TK_PARTIAL_DIR" -o -path "./$TK_LOG_DIR" \) -prune -o \
      \( -path '*/ckpt/*' -o -path '*/checkpoints/*' \) \( -type d -o ! "${nots[@]}" \) -print0 -prune -o \
      \( -path '*/ckpt/*' -o -path '*/checkpoints/*' \) -prune -o \
      -type d \( -name 'checkpoint-[0-9]*' -o -name '*-state' -o -name 'global_step[0-9]*' \) -print0 -prune -o \
      -type f "${exts[@]}" "${words[@]}" -print0 2>/dev/null || true
  ) | while IFS= read -r -d '' f; do
    printf '%s/%s\0' "${R_RESULTS%/}" "${f#./}"
  done
}

# tk_ckpt_outside PATH: true when PATH (a glob's match) lies, once its links are resolved, outside
# the run's cwd and results directory: a checkpoints/ link to / is not walked.
tk_ckpt_outside() {
  local real cwd res
  real=$(cd "$(dirname "$1")" 2>/dev/null && pwd -P) || return 0
  cwd=$(cd "$R_CWD" 2>/dev/null && pwd -P) || cwd=$R_CWD
  res=$(cd "$R_RESULTS" 2>/dev/null && pwd -P) || res=$R_RESULTS
  case $real/ in "$cwd"/* | "$res"/*) return 1 ;; esac
  return 0
}

# _tk_fstat: the stat arguments that print "MTIME SIZE FRACTIONAL-MTIME NAME" (the fractional
# mtime where stat can tell it, else the whole seconds again).
_tk_fstat() {
  if [ -z "${_TK_FSTAT:-}" ]; then
    if stat -c '%.9Y' / 2>/dev/null | grep -q '\.'; then
      _TK_FSTAT='-c|%Y %s %.9Y %n'
    elif stat -c %Y / >/dev/null 2>&1; then
      _TK_FSTAT='-c|%Y %s %Y %n'
    elif stat -f '%Fm' / >/dev/null 2>&1; then
      _TK_FSTAT='-f|%m %z %Fm %N'
    else
      _TK_FSTAT='-f|%m %z %m %N'
    fi
  fi
  printf '%s' "$_TK_FSTAT"
}

# tk_ckpt_measure PATH: "NEWEST-MTIME TOTAL-SIZE FILES TEMPFILE FRACTIONAL-NEWEST-MTIME" of a
# file, or of the files in a directory (at most TK_CKPT_UNIT_FILES of them, TK_CKPT_DEPTH deep;
# TEMPFILE: the first temp-named file inside, or "-").
tk_ckpt_measure() {
  local fs
  fs=$(_tk_fstat)
  if [ -d "$1" ] && [ ! -L "$1" ]; then
    find "$1" -maxdepth "$TK_CKPT_DEPTH" -type f -print0 2>/dev/null |
      xargs -0 stat "${fs%%|*}" "${fs#*|}" 2>/dev/null | head -n "$TK_CKPT_UNIT_FILES" | awk '
      { name = $0; sub(/^[^ ]+ [^ ]+ [^ ]+ /, "", name); sub(/.*\//, "", name) }
      $1 + 0 > m { m = $1 + 0 } $3 + 0 > fm { fm = $3 + 0; fms = $3 } { s += $2; n++ }
      t == "" && (name ~ /^\./ || name ~ /\.(tmp|part|partial|incomplete)$/ || name ~ /~$/) { t = name }
      END { printf "%.0f %.0f %d %s %s\n", m, s, n, (t == "" ? "-" : t), (fms == "" ? 0 : fms) }'
  else
    stat "${fs%%|*}" "${fs#*|}" "$1" 2>/dev/null | awk '{ print $1, $2, 1, "-", $3; ok = 1 } END { if (!ok) print 0, 0, 1, "-", 0 }'
  fi
}

# tk_ckpt_dir_reason DIR: why a checkpoint directory is not whole, from what it holds; empty when
# nothing is against it. Each weights file inside is whole by its format (tk_ckpt_file_reason);
# every shard a name counts (model-00002-of-00003.safetensors) is there; every shard an index
# (*.index.json, written after the shards) lists is there; DeepSpeed's "latest" file (written
# after every rank saved) names a tag that is there, and a DeepSpeed tag directory
# (global_stepN/) is named by the "latest" beside it, or is older than the tag it names.
tk_ckpt_dir_reason() {
  local d=$1 f r tag idx s
  while IFS= read -r f; do
    if [ ! -f "$f" ] || [ -L "$f" ]; then continue; fi
    r=$(tk_ckpt_file_reason "$f" "$(tk_stat size "$f" 2>/dev/null || echo 0)")
    if [ -n "$r" ]; then
      echo "${f#"$d"/}: $r"
      return 0
    fi
  done <<EOF2
$(find "$d" -maxdepth "$TK_CKPT_DEPTH" -type f \( -name '*.pt' -o -name '*.pth' -o -name '*.ckpt' -o -name '*.bin' \
    -o -name '*.pkl' -o -name '*.keras' -o -name '*.safetensors' -o -name '*.h5' -o -name '*.hdf5' \) 2>/dev/null |
    head -n "$TK_CKPT_UNIT_FILES")
EOF2
  r=$(find "$d" -maxdepth "$TK_CKPT_DEPTH" -type f -name '*-of-*' 2>/dev/null | head -n "$TK_CKPT_UNIT_FILES" | awk '
    { dir = $0; sub(/\/[^\/]*$/, "", dir); name = $0; sub(/.*\//, "", name) }
    match(name, /-[0-9]+-of-[0-9]+\./) {
      pre = substr(name, 1, RSTART - 1); mid = substr(name, RSTART + 1, RLENGTH - 2); suf = substr(name, RSTART + RLENGTH - 1)
      split(mid, k, "-of-"); key = dir "/" pre SUBSEP k[2] SUBSEP suf SUBSEP length(k[1])
      have[key, k[1] + 0] = 1; keys[key] = 1
    }
    END {
      for (key in keys) {
        split(key, p, SUBSEP); total = p[2] + 0
        for (i = 1; i <= total; i++) if (!((key, i) in have)) {
          name = p[1] "-" sprintf("%0" p[4] "d", i) "-of-" p[2] p[3]; sub(/.*\//, "", name)
          print "shard " i " of " total " is missing (" name ")"; exit
        }
      }
    }')
  if [ -n "$r" ]; then
    echo "$r"
    return 0
  fi
  for idx in "$d"/*.index.json; do
    [ -f "$idx" ] || continue
    while IFS= read -r s; do
      [ -z "$s" ] || [ -f "$d/$s" ] || {
        echo "${idx##*/} lists $s, which is not there yet"
        return 0
      }
    done <<EOF2
$(LC_ALL=C tr -d '\n' <"$idx" | LC_ALL=C grep -o '"weight_map"[^}]*}' | LC_ALL=C grep -o ':[[:space:]]*"[^"]*"' |
      sed 's/^:[[:space:]]*"//; s/"$//' | sort -u)
EOF2
  done
  if [ -f "$d/latest" ] && [ ! -L "$d/latest" ]; then
    tag=$(head -c 256 "$d/latest" | tr -d '\r\n')
    case $tag in '' | */* | .*) tag='' ;; esac
    [ -n "$tag" ] && [ -d "$d/$tag" ] || echo "DeepSpeed's latest file names ${tag:-nothing} and that tag is not there"
    return 0
  fi
  for f in "$d"/global_step*; do
    if [ -d "$f" ]; then
      echo "DeepSpeed's latest file is not written yet (it is written last)"
      return 0
    fi
  done
  case ${d##*/} in global_step[0-9]*)
    if [ -f "${d%/*}/latest" ]; then
      tag=$(head -c 256 "${d%/*}/latest" | tr -d '\r\n')
      [ "$tag" = "${d##*/}" ] || [ "$(tk_ckpt_name_step "$tag")" -gt "$(tk_ckpt_name_step "$d")" ] ||
        echo "DeepSpeed's latest file beside it does not name it yet (it is written last)"
    elif [ -n "$(find "$d" -maxdepth 1 -name '*model_states.pt' 2>/dev/null | head -n 1)" ]; then
      echo "DeepSpeed's latest file beside it is not written yet (it is written last)"
    fi
    ;;
  esac
}

# _tk_ckpt_logs_only DIR: DIR holds TensorBoard event files and no file with a checkpoint's
# extension (an HF output_dir "checkpoints/" holds its runs/ logs beside checkpoint-N/).
_tk_ckpt_logs_only() {
  local -a exts
  local IFS=$'\n'
  [ -n "$(find "$1" -maxdepth "$TK_CKPT_DEPTH" -type f -name 'events.out.tfevents.*' 2>/dev/null | head -n 1)" ] || return 1
  set -f
  # shellcheck disable=SC2207  # one find argument a line, no globbing (set -f)
  exts=($(_tk_find_any -name "$TK_CKPT_EXTS"))
  set +f
  [ -z "$(find "$1" -maxdepth "$TK_CKPT_DEPTH" -type f "${exts[@]}" 2>/dev/null | head -n 1)" ]
}

_tk_any_file() { # PATH...: one of them is a regular file
  local f
  for f in "$@"; do [ ! -f "$f" ] || return 0; done
  return 1
}

# tk_ckpt_static_reason PATH KIND TEMPFILE SIZE FILES: why the unit cannot be complete, from its
# name and contents alone; empty when nothing is against it.
tk_ckpt_static_reason() {
  local p=$1 kind=$2 tmp=$3 size=$4 files=$5 b=${1##*/}
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
  elif [ "$kind" = state ] && ! _tk_any_file "$p"/random_states_*.pkl; then
    echo "no random_states_*.pkl yet (accelerate writes it last)"
  elif [ "$kind" = file ]; then
    tk_ckpt_file_reason "$p" "$size"
  elif [ "$kind" = dir ] && _tk_ckpt_logs_only "$p"; then
    echo "TensorBoard logs (events.out.tfevents.*, no weights): not a checkpoint"
  else
    tk_ckpt_dir_reason "$p"
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
