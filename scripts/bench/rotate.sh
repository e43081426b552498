#!/usr/bin/env bash
# Compares `rune run` of several (rune binary, bundle) pairs under the same conditions: every
# round runs each pair once, in an order that rotates from round to round (with two pairs:
# AB, BA, AB, ...), timed with bash's EPOCHREALTIME. Then, per pair: the median and the 10th and
# 25th percentiles, and against the first pair the ratio of the medians and the median of the
# differences within rounds (which the machine's drift from round to round does not move).
#
#   scripts/bench/rotate.sh ROUNDS RUNE:BUNDLE [RUNE:BUNDLE ...]
#
# e.g., after scripts/bench/epm.sh, with an epm on its socket:
#   RUNE_SIM_DIR=build/bench/epm/sim-platform RUNE_EPM_SOCKET=build/bench/epm/epm/epm.sock \
#   scripts/bench/rotate.sh 200 build/bench/epm/bin/rune:build/bench/epm/plain-8 \
#     build/bench/epm/bin/rune:build/bench/epm/epm-8
#
# Compare builds from copies made at the same time (cp, install): a binary's page cache layout
# changes its exec time (docs/benchmarks.md). The first 3 rounds are not counted. Needs root
# and python3; containers run under a private state root, removed at exit.
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,17p' "$0" >&2; exit 2; }
rounds=$1; shift
pairs=("$@"); n=${#pairs[@]}
for p in "${pairs[@]}"; do
  [[ $p == *:* ]] || { echo "rotate.sh: $p is not RUNE:BUNDLE" >&2; exit 2; }
  [ -x "${p%%:*}" ] || { echo "rotate.sh: ${p%%:*} is not an executable" >&2; exit 2; }
  [ -e "${p#*:}/config.json" ] || { echo "rotate.sh: ${p#*:}/config.json missing" >&2; exit 2; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for ((r = 1; r <= rounds + 3; r++)); do
  for ((m = 0; m < n; m++)); do
    j=$(((r + m) % n)); rune=${pairs[$j]%%:*}; bundle=${pairs[$j]#*:}
    t0=${EPOCHREALTIME/[.,]/}
    "$rune" --root "$work/state" run --bundle "$bundle" "rotate-$j" >/dev/null
    t1=${EPOCHREALTIME/[.,]/}
    [ "$r" -gt 3 ] && echo "$r $((t1 - t0))" >> "$work/times.$j"
  done
done
python3 - "$work" "${pairs[@]}" <<'EOF'
import statistics, sys
work, pairs = sys.argv[1], sys.argv[2:]
times = []
for j in range(len(pairs)):
    with open(f"{work}/times.{j}") as f:
        times.append(dict((int(r), int(t)) for r, t in (line.split() for line in f)))
first = times[0]
for pair, t in zip(pairs, times):
    values = sorted(t.values())
    pct = lambda q: values[int(len(values) * q)] / 1000
    median = statistics.median(values)
    diff = statistics.median(t[r] - first[r] for r in t)
    print(f"{pair}: median {median / 1000:.2f} ms, p10 {pct(0.1):.2f}, p25 {pct(0.25):.2f}; "
          f"against the first: {median / statistics.median(first.values()):.3f}, "
          f"{diff / 1000:+.2f} ms within rounds ({len(values)} rounds)")
EOF
