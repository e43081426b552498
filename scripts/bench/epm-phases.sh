#!/usr/bin/env bash
# Where a pooled sim enclave container's lifecycle differs from the plain one: runs the 8 MB
# plain and pooled bundles that scripts/bench/epm.sh leaves in build/bench/epm, with the copies
# of rune and epm it timed (build/bench/epm/bin), alternating (ABBA), under `perf record` of process events only (exec, fork, exit, wait4 returns), and
# prints the median time of each phase of `rune run` for both and their difference:
#
#   exec->inter        rune started → libcontainer's intermediate process forked
#   inter->init        intermediate → container init forked (the cgroup attach's grace period)
#   init->ready        init forked → rune main's next thread (bringing `lo` up after create)
#   ready->wl_exec     → the workload's exec (plain: the init execs; pooled: the PAL's child)
#   wl_exec->wl_exit   the workload (`/bin/true`)
#   wl_exit->init_exit pooled only: the init (the enclave's host) wakes and exits
#   init_exit->reaped  the init's exit until rune's wait4 returns it
#   reaped->end        delete
#
#   scripts/bench/epm-phases.sh [CYCLES]   (default 50; needs root, perf, python3, and epm.sh's
#                                           bundles; starts its own epm on their socket)
#
# For comparisons: POOLED=sim-8 times that bundle in place of epm-8 (a sim enclave without the
# pool); EPM_ARGS adds arguments to the epm daemon (e.g. "--prewarm 0 --max-enclaves 300"); and
# WARM=N (at most 64) has N enclaves of epm-8 built before the runs (`epm warm`), so that with
# `--prewarm 0` and no more than N cycles no refill happens while the containers start.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$top/build/bench/epm
rune=$out/bin/rune
cycles=${1:-50}
pooled=${POOLED:-epm-8}
for f in "$out/plain-8/config.json" "$out/$pooled/config.json" "$rune"; do
  [ -e "$f" ] || { echo "epm-phases.sh: $f missing: run scripts/bench/epm.sh first" >&2; exit 1; }
done
command -v perf >/dev/null && command -v python3 >/dev/null \
  || { echo "epm-phases.sh: needs perf and python3" >&2; exit 1; }
export RUNE_SIM_DIR=$out/sim-platform RUNE_EPM_SOCKET=$out/epm/epm.sock
# shellcheck disable=SC2086 # EPM_ARGS is a list of arguments
"$out/bin/epm" --socket "$RUNE_EPM_SOCKET" --log-level warn ${EPM_ARGS:-} 2>"$out/epm-phases.log" &
epm_pid=$!
trap 'kill $epm_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do "$out/bin/epm" --socket "$RUNE_EPM_SOCKET" status >/dev/null 2>&1 && break; sleep 0.05; done
if [ -n "${WARM:-}" ]; then
  "$out/bin/epm" warm --socket "$RUNE_EPM_SOCKET" --bundle "$out/epm-8" --count "$WARM" >/dev/null
fi
data=$out/phases.data
perf record -q -o "$data" -a \
  -e sched:sched_process_exec,sched:sched_process_fork,sched:sched_process_exit,syscalls:sys_exit_wait4 \
  -- bash -c "
for i in \$(seq $cycles); do
  if [ \$((i % 2)) -eq 0 ]; then order='plain-8 $pooled'; else order='$pooled plain-8'; fi
  for k in \$order; do $rune --root $out/state run --bundle $out/\$k phases-\$k >/dev/null; done
done" 2>/dev/null
perf script -i "$data" -F comm,pid,tid,time,event,trace 2>/dev/null | RUNE="$rune" python3 -c '
import collections, os, re, statistics, sys
rune = os.environ["RUNE"]
pattern = re.compile(r"\s*(.+?)\s+(\d+)/(\d+)\s+([\d.]+):\s+(?:sched|syscalls):(\w+):\s+(.*)")
events = []
for line in sys.stdin:
    m = pattern.match(line)
    if m:
        comm, pid, tid, t, name, rest = m.groups()
        events.append((float(t) * 1000, comm, int(pid), int(tid), name, rest))
fields = lambda rest: dict(x.split("=", 1) for x in rest.split() if "=" in x)
keys = ["exec", "inter", "init", "ready", "wl_exec", "wl_exit", "init_exit", "reaped", "end"]
phases = collections.defaultdict(lambda: collections.defaultdict(list))
for i, (t, comm, pid, tid, name, rest) in enumerate(events):
    if name != "sched_process_exec" or not rest.startswith("filename=" + rune):
        continue
    main, forks, inter, init, wl, d = pid, 0, None, None, None, {"exec": t}
    for (t, comm, pid, tid, name, rest) in events[i + 1:]:
        a = fields(rest)
        if name == "sched_process_fork" and pid == main:
            forks += 1
            if forks == 2:
                d["inter"], inter = t, int(a["child_pid"])
            elif forks == 3 and init:
                d["ready"] = t
        elif name == "sched_process_fork" and inter and pid == inter and init is None:
            d["init"], init = t, int(a["child_pid"])
        elif name == "sched_process_exec" and init and "wl_exec" not in d:
            d["wl_exec"], wl = t, pid
        elif name == "sched_process_exit" and wl and pid == wl and tid == wl and "wl_exit" not in d:
            d["wl_exit"] = t
        if name == "sched_process_exit" and init and pid == init and tid == init and "wl_exit" in d and "init_exit" not in d:
            d["init_exit"] = t
        elif name == "sys_exit_wait4" and pid == main and "init_exit" in d and "reaped" not in d and int(rest.split()[0], 16) == init:
            d["reaped"] = t
        elif name == "sched_process_exit" and pid == main and tid == main:
            d["end"] = t
            break
    if all(k in d for k in keys):
        kind = "plain" if wl == init else "epm"
        for a, b in zip(keys, keys[1:]):
            phases[kind][a + "->" + b].append(d[b] - d[a])
        phases[kind]["total"].append(d["end"] - d["exec"])
runs = "runs %d/%d" % (len(phases["plain"]["total"]), len(phases["epm"]["total"]))
print("%-20s %7s %7s %6s   %s" % ("phase (median ms)", "plain", "pooled", "diff", runs))
for name in phases["plain"]:
    p, e = statistics.median(phases["plain"][name]), statistics.median(phases["epm"][name])
    print(f"{name:20} {p:7.2f} {e:7.2f} {e - p:+6.2f}")
'
