#!/usr/bin/env bash
# How long the pooled sim enclave's start takes inside the container's init, function by
# function: uprobes on entry and return of rune's executor `after_ready` (the enclave's whole
# start at create, after the init reported ready), `pal::loader::EnclaveRuntime::open_fd` (the PAL's dlopen) and `rune::epm::init`
# (epm's answer and `pal_init`) in the copy of rune that scripts/bench/epm.sh installed
# (build/bench/epm/bin), over RUNS pooled `rune run`s of its epm-8 bundle; prints the median
# and 25th percentile of each. With FAULTS=1, also the init's page faults inside `start`
# (tracing them slows every fault, so the times are then longer).
#
#   scripts/bench/epm-probes.sh [RUNS]   (default 100; needs root, perf with uprobes, python3
#                                         and epm.sh's bundles; starts its own epm)
#
# BUNDLE (default epm-8; e.g. plain-8) names the bundle run, and PROBES replaces the probed
# functions: space-separated NAME=SYMBOL pairs, SYMBOL as `nm -C` prints it, e.g.
#   PROBES="prepare=rune::launch::prepare rootfs=libcontainer::rootfs::rootfs::RootFS::prepare_rootfs"
# PROBED (default: the installed rune) is the object whose functions are probed, e.g.
#   PROBED=build/bench/epm/bin/liberpal_sim.so PROBES="load=erpal_sim::enclave::Enclave::load"
# Compare builds by installing each into build/bench/epm/bin in turn (with no epm running).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$top/build/bench/epm
rune=$out/bin/rune
runs=${1:-100}
bundle=${BUNDLE:-epm-8}
probes=${PROBES:-"start=<rune::executor::RuneExecutor as libcontainer::workload::Executor>::after_ready open_fd=pal::loader::EnclaveRuntime::open_fd epm_init=rune::epm::init"}
[ -e "$out/$bundle/config.json" ] && [ -x "$rune" ] \
  || { echo "epm-probes.sh: run scripts/bench/epm.sh first" >&2; exit 1; }
export RUNE_SIM_DIR=$out/sim-platform RUNE_EPM_SOCKET=$out/epm/epm.sock
"$out/bin/epm" --socket "$RUNE_EPM_SOCKET" --log-level warn 2>/dev/null &
epm_pid=$!
cleanup() { perf probe -q -d 'probe_rune:*' 2>/dev/null || true; kill "$epm_pid" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 100); do "$out/bin/epm" --socket "$RUNE_EPM_SOCKET" status >/dev/null 2>&1 && break; sleep 0.05; done

# uprobes take file offsets; nm gives addresses in the executable segment.
probed=${PROBED:-$rune}
read -r file_offset virtual_address < <(readelf -lW "$probed" | awk '$1 == "LOAD" && / E / { print $2, $3; exit }')
delta=$((virtual_address - file_offset))
perf probe -q -d 'probe_rune:*' 2>/dev/null || true
# Symbols hold spaces ("<A as B>::f"): a new pair starts at each " NAME=" (a word, then "=").
mapfile -t entries < <(printf '%s\n' "$probes" | sed -E 's/^ +//; s/ +([A-Za-z_][A-Za-z0-9_]*)=/\n\1=/g')
names=()
for entry in "${entries[@]}"; do
  name=${entry%%=*} symbol=${entry#*=}
  names+=("$name")
  address=$(nm -C "$probed" | awk -v s="$symbol" '{ a = $1; $1 = ""; $2 = ""; sub(/^  /, ""); if ($0 == s) print a }' | head -n 1)
  [ -n "$address" ] || { echo "epm-probes.sh: $symbol not in $probed" >&2; exit 1; }
  offset=$(printf '0x%x' $((0x$address - delta)))
  perf probe -q -x "$probed" -a "probe_rune:$name=$offset"
  perf probe -q -x "$probed" -a "probe_rune:${name}_ret=$offset%return"
done
data=$(mktemp)
events=(-e 'probe_rune:*')
[ "${FAULTS:-0}" = 1 ] && events+=(-e exceptions:page_fault_user)
perf record -q -a -o "$data" "${events[@]}" -- bash -c "
for i in \$(seq $runs); do $rune --root $out/state run --bundle $out/$bundle probes-$bundle >/dev/null; done" 2>/dev/null
perf script -i "$data" -F tid,time,event 2>/dev/null | python3 -c '
import collections, statistics, sys
open_at, spans, faults, runs = {}, collections.defaultdict(list), 0, 0
for line in sys.stdin:
    tid, time, event = line.split()[:3]
    t = float(time.rstrip(":")) * 1e6
    event = event.rstrip(":").split(":")[1]
    if event == "page_fault_user":
        faults += "start" in open_at.get(tid, {})
    elif event.endswith("_ret__return"):
        name = event[: -len("_ret__return")]
        if name in open_at.get(tid, {}):
            spans[name].append(t - open_at[tid].pop(name))
    else:
        open_at.setdefault(tid, {})[event] = t
        runs += event == "start"
for name in sys.argv[1:]:
    v = sorted(spans[name])
    if v:
        print(f"{name:10} median {statistics.median(v):7.1f} us   p25 {v[len(v) // 4]:7.1f} us   n={len(v)}")
if faults:
    print(f"page faults in start: {faults / max(runs, 1):.1f} per run")
' "${names[@]}"
rm -f "$data"
