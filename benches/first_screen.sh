#!/usr/bin/env bash
# Whole-process time from starting `covtop demo` to its first drawn screen, measured in a real terminal
# (tmux): the time until capture-pane shows the header. Prints each run and the median.
#
# Usage: benches/first_screen.sh [COVTOP_BINARY] [RUNS]   (default: target/release/covtop, 10 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/covtop}
RUNS=${2:-10}
[ -x "$BIN" ] || { echo "build it first: cargo build --release ($BIN missing)"; exit 2; }
times=()
for i in $(seq "$RUNS"); do
  s="covtop-first-screen-$$-$i"
  start=$(date +%s%N)
  tmux new-session -d -s "$s" -x 160 -y 45 "$BIN demo"
  until tmux capture-pane -p -t "$s" 2>/dev/null | grep -q "changed files"; do sleep 0.002; done
  end=$(date +%s%N)
  tmux kill-session -t "$s"
  ms=$(( (end - start) / 1000000 ))
  times+=("$ms")
  echo "run $i: ${ms} ms"
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print "median: " a[int((NR+1)/2)] " ms, max: " a[NR] " ms"}'
