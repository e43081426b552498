#!/usr/bin/env bash
# Whole-process lifecycle benchmark: rune against runc and crun, timed by hyperfine in one run.
#
#   scripts/bench/lifecycle.sh [RUNE_BIN]        (default: target/release/rune; `make bench`)
#
# Scenarios, each on a busybox-static bundle running /bin/true with runc's default spec:
#   run      `RT --root R run --bundle B ID`: create, start, wait, and the implicit delete that
#            foreground `run` does (all three runtimes remove the container when it exits)
#   lifecycle  `RT create`, `RT start`, `RT delete -f` as three processes, the containerd shape
#
# crun 1.8 refuses this host class (cgroup v1+v2 hybrid whose v2 holds hugetlb) unless the v2
# mount is gone, so every runtime is timed through the same wrapper, `wrap`: a private mount
# namespace (`unshare -m --propagation private`) in which /sys/fs/cgroup/unified is unmounted.
# Wrapping all three keeps the comparison fair; the wrapper alone (`wrap true`) is measured as
# the baseline, and rune and runc are also timed bare (their real-world cost on this host).
#
# Each timed command uses a fixed id and ends by deleting its container (foreground `run` does it
# itself, the lifecycle runs `delete -f`); hyperfine's --prepare deletes a leftover with that id
# before each iteration (only if its state directory exists, so it costs nothing normally), and
# the exit trap sweeps every state root, so nothing accumulates.
#
# Output: build/bench/{run,lifecycle}.{md,json} (hyperfine's exports), then the medians and the
# rune/runc and rune/crun ratios on stdout, and build/bench/profile/: `strace -c -f` of one `run`
# (rune, runc) and a `strace -f -ttt` timeline of rune's, `perf stat -r 10` of `run` (rune, runc,
# crun), and the mean phases of 10 `run`s from `perf trace` (perf parts are skipped without a
# usable perf). docs/benchmarks.md reads these. Environment: RUNS (default 30), WARMUP (3),
# OUT (build/bench), PROFILE=0 to skip the profile.
set -euo pipefail

die() { echo "bench: $*" >&2; exit 1; }

workspace=$(cd "$(dirname "$0")/../.." && pwd)
rune=${1:-$workspace/target/release/rune}
[ -x "$rune" ] || die "rune binary $rune not found: build it with 'cargo build --release -p rune -j2' (or pass its path)"
rune=$(realpath "$rune")
runs=${RUNS:-30}
warmup=${WARMUP:-3}
out=${OUT:-$workspace/build/bench}
# rune is timed from a copy, as install(1) or a package places it (runc and crun come from
# packages): the linker writes its output through a shared mapping, which leaves it in the page
# cache as single pages that every exec maps and unmaps one by one (≈ 1 ms more per `run` here).
install -d "$out/bin"
install -m 0755 "$rune" "$out/bin/rune"
rune=$out/bin/rune

[ "$(id -u)" = 0 ] || die "needs root (namespaces, mounts, cgroups)"
for tool in runc crun hyperfine unshare jq; do
  command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install $tool; 'make deps' installs all)"
done
runc=$(command -v runc)
crun=$(command -v crun)

tmp=$(mktemp -d /tmp/rune-bench.XXXXXX)
# On exit, delete any container a failed iteration left (through the wrapper: crun needs it).
sweep() {
  local root entry
  for root in "$tmp"/root-*; do
    [ -d "$root" ] || continue
    for entry in "$root"/*; do
      [ -e "$entry" ] || continue
      "$tmp/clean" "$(runtime_of "$root")" "$root" "$(basename "$entry")"
    done
  done
  rm -rf "$tmp"
}
runtime_of() {
  case $1 in *-rune) echo "$rune" ;; *-runc) echo "$runc" ;; *) echo "$crun" ;; esac
}
trap sweep EXIT
"$workspace/scripts/mkbundle.sh" "$tmp/bundle" /bin/true
mkdir -p "$out" "$tmp/root-rune" "$tmp/root-runc" "$tmp/root-crun" "$tmp/root-bare-rune" "$tmp/root-bare-runc"

# wrap CMD...: CMD in a private mount namespace without the cgroup2 mount (see the header).
cat > "$tmp/wrap" <<'SH'
#!/bin/sh
exec unshare -m --propagation private sh -c \
  'if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified || exit; fi; exec "$0" "$@"' "$@"
SH
# lifecycle RT ROOT BUNDLE ID: create, start and delete as three runtime processes. The
# workload may still be running when start returns, hence delete -f (it kills and waits).
cat > "$tmp/lifecycle" <<'SH'
#!/bin/sh
set -e
"$1" --root "$2" create --bundle "$3" "$4"
"$1" --root "$2" start "$4"
"$1" --root "$2" delete -f "$4"
SH
# clean RT ROOT ID: delete a leftover container, through the wrapper (crun needs it).
cat > "$tmp/clean" <<SH
#!/bin/sh
[ -e "\$2/\$3" ] || exit 0
"$tmp/wrap" "\$1" --root "\$2" delete -f "\$3" >/dev/null 2>&1
exit 0
SH
chmod +x "$tmp/wrap" "$tmp/lifecycle" "$tmp/clean"

# A failing runtime must stop the benchmark with its message, not be timed failing.
for rt in "$rune" "$runc" "$crun"; do
  "$tmp/wrap" "$rt" --root "$tmp/root-check-$(basename "$rt")" run --bundle "$tmp/bundle" check \
    || die "$rt cannot run the /bin/true bundle (see its message above)"
done
"$rune" --root "$tmp/root-check-bare-rune" run --bundle "$tmp/bundle" check || die "$rune cannot run the bundle bare"
"$runc" --root "$tmp/root-check-bare-runc" run --bundle "$tmp/bundle" check || die "$runc cannot run the bundle bare"

# hyperfine_scenario NAME ID: one hyperfine run over the wrapper baseline, the three wrapped
# runtimes and bare rune and runc; `command_for` gives each timed command line.
hyperfine_scenario() {
  local name=$1 id=$2 args=() label rt root
  # hyperfine pairs the n-th --prepare and -n with the n-th command.
  args+=(--prepare true -n "wrapper baseline (wrap true)" "$tmp/wrap true")
  for label in rune runc crun bare-rune bare-runc; do
    case $label in
      rune|bare-rune) rt=$rune ;;
      runc|bare-runc) rt=$runc ;;
      crun) rt=$crun ;;
    esac
    root=$tmp/root-$label
    args+=(--prepare "$tmp/clean $rt $root $id")
    args+=(-n "$label" "$(command_for "$name" "$label" "$rt" "$root" "$id")")
  done
  hyperfine -N --warmup "$warmup" --runs "$runs" \
    --export-json "$out/$name.json" --export-markdown "$out/$name.md" \
    "${args[@]}"
}

# command_for SCENARIO LABEL RT ROOT ID: the timed command line (no shell: hyperfine -N).
command_for() {
  local wrap=$tmp/wrap
  case $2 in bare-*) wrap= ;; esac
  case $1 in
    run) echo "$wrap $3 --root $4 run --bundle $tmp/bundle $5" ;;
    lifecycle) echo "$wrap $tmp/lifecycle $3 $4 $tmp/bundle $5" ;;
  esac
}

started=$(date +%s)
# Other users' load skews every figure: record it next to them.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== run: $runs runs, $warmup warmups each"
hyperfine_scenario run bench-run
echo "== create + start + delete: $runs runs, $warmup warmups each"
hyperfine_scenario lifecycle bench-lc

# summary SCENARIO: medians in ms and the ratios, from hyperfine's JSON.
summary() {
  jq -r --arg s "$1" '
    (.results | map({key: .command, value: (.median * 1000)}) | from_entries) as $m
    | "\($s): median ms: "
      + ([ "wrapper baseline (wrap true)", "rune", "runc", "crun", "bare-rune", "bare-runc" ]
         | map("\(.)=\($m[.] * 10 | round / 10)") | join(", ")),
      "\($s): wrapped rune/runc = \(($m.rune / $m.runc) * 100 | round / 100), rune/crun = \(($m.rune / $m.crun) * 100 | round / 100); bare rune/runc = \(($m["bare-rune"] / $m["bare-runc"]) * 100 | round / 100)"
  ' "$out/$1.json"
}
echo
echo "== summary ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r), load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg))"
echo "rune: $rune ($("$rune" --version | head -2 | tr '\n' ' '))"
echo "runc: $("$runc" --version | head -1); crun: $("$crun" --version | head -1); $(hyperfine --version)"
summary run
summary lifecycle
echo "hyperfine exports: $out/{run,lifecycle}.{md,json}"

# phases N CMD...: mean phase durations in ms over N traced runs of CMD (see below).
phases() {
  local n=$1 i
  shift
  for i in $(seq "$n"); do
    perf trace -e 'pivot_root,execve,exit_group' -- "$@" 2>&1 >/dev/null
    echo "--"
  done | awk '
    /pivot_root\(/ { pivot = $1 + 0 }
    /execve\(/ { exec = $1 + 0 }
    /^ *[0-9.]+ .*true\/[0-9]+ exit_group/ { wexit = $1 + 0 }
    /exit_group/ { last = $1 + 0 }
    /^--$/ {
      a += pivot; b += exec - pivot; c += wexit - exec; d += last - wexit; runs++
      pivot = exec = wexit = last = 0
    }
    END { printf "start->pivot_root %.1f, pivot_root->execve %.1f, workload %.1f, exit->end %.1f, total %.1f ms (mean of %d)\n",
          a / runs, b / runs, c / runs, d / runs, (a + b + c + d) / runs, runs }'
}

if [ "${PROFILE:-1}" != 0 ]; then
  prof=$out/profile
  mkdir -p "$prof"
  if command -v strace >/dev/null; then
    strace -c -f -o "$prof/strace-c-rune.txt" \
      "$rune" --root "$tmp/root-bare-rune" run --bundle "$tmp/bundle" prof-strace
    strace -f -ttt -o "$prof/strace-ttt-rune.txt" \
      "$rune" --root "$tmp/root-bare-rune" run --bundle "$tmp/bundle" prof-strace2
    strace -c -f -o "$prof/strace-c-runc.txt" \
      "$runc" --root "$tmp/root-bare-runc" run --bundle "$tmp/bundle" prof-strace
    echo "strace -c -f: $prof/strace-c-{rune,runc}.txt; timeline: $prof/strace-ttt-rune.txt"
  else
    echo "strace not installed: skipping the syscall profile"
  fi
  if command -v perf >/dev/null && perf stat true >/dev/null 2>&1; then
    for label in rune runc; do
      rt=$rune; [ $label = runc ] && rt=$runc
      perf stat -r 10 -e task-clock,context-switches,cpu-migrations,page-faults \
        -o "$prof/perf-stat-$label.txt" \
        "$rt" --root "$tmp/root-bare-$label" run --bundle "$tmp/bundle" prof-perf
    done
    perf stat -r 10 -e task-clock,context-switches,cpu-migrations,page-faults \
      -o "$prof/perf-stat-crun.txt" \
      "$tmp/wrap" "$crun" --root "$tmp/root-crun" run --bundle "$tmp/bundle" prof-perf
    for label in rune runc crun; do
      echo "$label:"
      grep -E 'task-clock|context-switches|page-faults|elapsed' "$prof/perf-stat-$label.txt"
    done
    echo "perf stat: $prof/perf-stat-{rune,runc,crun}.txt (crun through the wrapper)"
    # Phases of `run` from a few traced syscalls only (low overhead): process start to
    # pivot_root, pivot_root to the workload's execve, the workload, its exit to the runtime's.
    for label in rune runc; do
      rt=$rune; [ $label = runc ] && rt=$runc
      printf '%s: ' "$label"
      phases 10 "$rt" --root "$tmp/root-bare-$label" run --bundle "$tmp/bundle" prof-phases
    done | tee "$prof/phases.txt"
  else
    echo "perf not usable: skipping perf stat (apt-get install linux-perf)"
  fi
fi
echo "total $(( $(date +%s) - started )) s"
