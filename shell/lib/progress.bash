# shellcheck shell=bash
# The run's progress as the log writer read it (RUN.progress beside the log: one JSON object a
# line, each with its time "t", written when the reading changed): the one reading of progress
# that status and the watchdog share. Sourced: defines functions only.

# tk_progress_advanced PF SINCE BASE: "1" when the series PF shows the run moving on since SINCE
# (epoch seconds), else "0". Moving on: a step past BASE (the step of the checkpoint the attempt
# resumed from; -1 for none) on a bar that counts the run's steps, or a later position (epoch,
# then step: HF's fractional epoch, a per-epoch bar's next epoch) than the first one read since
# SINCE. The writer reads a bar's unfinished redraw and HF's dicts, and never takes a sub-bar
# (evaluation, saving, loading) for the run's progress, so neither a silent bar nor a loading bar
# misleads this. A PF that is missing or a symlink: "0".
tk_progress_advanced() {
  local pf=$1 since=$2 base=${3:--1}
  if [ ! -f "$pf" ] || [ -L "$pf" ]; then
    echo 0
    return 0
  fi
  LC_ALL=C awk -v since="$since" -v base="$base" '
    function num(key, line,    k) {
      k = "\"" key "\":"
      if (!match(line, k "-?[0-9][0-9.eE+-]*")) return ""
      return substr(line, RSTART + length(k), RLENGTH - length(k)) + 0
    }
    {
      t = num("t", $0)
      if (t == "" || t < since + 0) next
      s = num("step", $0)
      e = num("epoch", $0)
      if (s == "" && e == "") next
      if (s != "" && base + 0 >= 0 && s > base + 0 && !index($0, "\"per_epoch\":1")) adv = 1
      pos = (e == "" ? 0 : e) * 1000000000 + (s == "" ? 0 : s)
      if (n++ == 0) first = pos
      else if (pos > first) adv = 1
    }
    END { print adv + 0 }' "$pf" 2>/dev/null || echo 0
}
