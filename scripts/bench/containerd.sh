#!/usr/bin/env bash
# containerd benchmark: `ctr run --rm IMAGE ID /bin/true` end to end (image already unpacked),
# through containerd-shim-rune-v2 (io.containerd.rune.v2 → rune) against containerd's own runc
# shim (io.containerd.runc.v2) driving runc, crun and rune (`--runc-binary`), all timed by
# hyperfine in one run against one private containerd.
#
#   scripts/bench/containerd.sh [BIN_DIR]    (default: target/release; needs rune,
#                                             containerd-shim-rune-v2, epm and liberpal_sim.so)
#
# Each timed command is a whole `ctr run --rm`: shim start, create, start, wait, delete, shim
# exit. Three more rows run a signed sim image (`scripts/mkimage.sh` with MKIMAGE_SIGN_KEY)
# through the rune shim: plain (no enclave annotations), as a sim enclave with epm (a private
# epm, its socket and sim platform given to rune through containerd's environment), and as a
# sim enclave with `no-epm`: what a containerd user pays for the enclave and what the pool
# saves, end to end. crun 1.8 refuses this host class (cgroup v1+v2 hybrid whose v2 holds
# hugetlb); its row is kept when it fails so the failure is visible (hyperfine
# --ignore-failure is not used: a failing command is reported and skipped).
#
# Output: build/bench/containerd.{md,json} and the medians on stdout. Environment: RUNS
# (default 20), WARMUP (3), OUT (build/bench).
set -euo pipefail

die() { echo "bench: $*" >&2; exit 1; }

workspace=$(cd "$(dirname "$0")/../.." && pwd)
bin_dir=$(realpath "${1:-$workspace/target/release}")
runs=${RUNS:-20}
warmup=${WARMUP:-3}
out=${OUT:-$workspace/build/bench}
[ "$(id -u)" -eq 0 ] || die "needs root (containerd)"
for tool in containerd ctr hyperfine umoci jq; do
  command -v "$tool" >/dev/null || die "$tool not found: apt-get install containerd hyperfine umoci jq"
done
for b in rune containerd-shim-rune-v2 epm liberpal_sim.so; do
  [ -x "$bin_dir/$b" ] || die "$bin_dir/$b not found: build it (cargo build --release -j2 -p rune -p containerd-shim-rune-v2 -p epm -p erpal-sim)"
done
mkdir -p "$out"

work=$(mktemp -d /tmp/rune-bench-ctd.XXXXXX)
pid=""
epm_pid=""
cleanup() {
  [ -n "$epm_pid" ] && kill "$epm_pid" 2>/dev/null || true
  if [ -n "$pid" ]; then
    for id in $(ctr_ task ls -q 2>/dev/null); do ctr_ task kill -s KILL "$id" >/dev/null 2>&1 || true; ctr_ task rm -f "$id" >/dev/null 2>&1 || true; done
    for id in $(ctr_ c ls -q 2>/dev/null); do ctr_ c rm "$id" >/dev/null 2>&1 || true; done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  umount -R "$work/root" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ctr_() { ctr --address "$work/containerd.sock" --namespace bench "$@"; }

mkdir -p "$work/bin"
cp "$bin_dir/containerd-shim-rune-v2" "$bin_dir/rune" "$bin_dir/epm" "$bin_dir/liberpal_sim.so" "$work/bin/"
# epm and the sim platform of this run, for the enclave rows: rune finds them through the
# environment containerd passes to the shim.
export RUNE_SIM_DIR=$work/sim RUNE_EPM_SOCKET=$work/epm/epm.sock
"$work/bin/epm" --socket "$RUNE_EPM_SOCKET" --log-level warn 2>"$work/epm.log" &
epm_pid=$!
cat > "$work/config.toml" <<TOML
version = 2
root = "$work/root"
state = "$work/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$work/containerd.sock"
[ttrpc]
  address = "$work/containerd.sock.ttrpc"
[debug]
  address = "$work/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$work/opt"
TOML
PATH="$work/bin:$PATH" containerd --config "$work/config.toml" >"$work/containerd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do ctr_ version >/dev/null 2>&1 && break; sleep 0.1; done
ctr_ version >/dev/null || die "containerd did not start: $(tail -5 "$work/containerd.log")"

image=rune-bench/busybox:latest
"$workspace/scripts/mkimage.sh" "$work/image.tar" "$image" >/dev/null
ctr_ image import "$work/image.tar" >/dev/null

signed=rune-bench/busybox-sim:latest
"$work/bin/rune" enclave keygen --output "$work/key.pem" 2>/dev/null
MKIMAGE_SIGN_KEY=$work/key.pem MKIMAGE_RUNE=$work/bin/rune \
  "$workspace/scripts/mkimage.sh" "$work/signed.tar" "$signed" >/dev/null
ctr_ image import "$work/signed.tar" >/dev/null
"$work/bin/epm" --socket "$RUNE_EPM_SOCKET" status >/dev/null || die "epm did not start: $(cat "$work/epm.log")"

rune=$work/bin/rune
declare -a names cmds
add() { names+=("$1"); cmds+=("$2"); }
add "rune-shim (io.containerd.rune.v2 → rune)" "ctr --address $work/containerd.sock --namespace bench run --rm --runtime io.containerd.rune.v2 $image b-rune /bin/true"
add "runc-shim → runc" "ctr --address $work/containerd.sock --namespace bench run --rm --runtime io.containerd.runc.v2 $image b-runc /bin/true"
add "runc-shim → rune (BinaryName)" "ctr --address $work/containerd.sock --namespace bench run --rm --runtime io.containerd.runc.v2 --runc-binary $rune $image b-runc-rune /bin/true"
ctr_rune="ctr --address $work/containerd.sock --namespace bench run --rm --runtime io.containerd.rune.v2"
sim="--annotation enclave.type=sim --annotation enclave.runtime.path=$work/bin/liberpal_sim.so --annotation enclave.runtime.loglevel=off"
add "rune-shim → rune, signed image, plain" "$ctr_rune $signed b-signed /bin/true"
add "rune-shim → rune, signed image, sim enclave, epm" "$ctr_rune $sim $signed b-epm /bin/true"
add "rune-shim → rune, signed image, sim enclave, no-epm" "$ctr_rune $sim --annotation enclave.runtime.args=no-epm $signed b-sim /bin/true"
# A failing enclave row must stop the benchmark with its message, not be timed failing.
$ctr_rune $sim $signed b-probe /bin/true >"$work/sim-probe.log" 2>&1 \
  || die "the sim enclave image does not run: $(cat "$work/sim-probe.log")"
if command -v crun >/dev/null; then
  crun_cmd="ctr --address $work/containerd.sock --namespace bench run --rm --runtime io.containerd.runc.v2 --runc-binary $(command -v crun) $image b-crun /bin/true"
  if $crun_cmd >"$work/crun-probe.log" 2>&1; then
    add "runc-shim → crun (BinaryName)" "$crun_cmd"
  else
    echo "bench: crun through the runc shim fails on this host, not timed: $(tr '\n' ' ' < "$work/crun-probe.log" | cut -c1-300)"
    ctr_ task rm -f b-crun >/dev/null 2>&1 || true; ctr_ c rm b-crun >/dev/null 2>&1 || true
  fi
fi

args=()
for i in "${!names[@]}"; do args+=(--command-name "${names[$i]}" "${cmds[$i]}"); done
hyperfine --warmup "$warmup" --runs "$runs" --export-markdown "$out/containerd.md" \
  --export-json "$out/containerd.json" "${args[@]}"

echo
echo "medians (ms), ctr run --rm /bin/true, $runs runs:"
jq -r '.results[] | "  \(.command): \(.median * 1000 | floor) ms (mean \(.mean * 1000 | floor) ± \(.stddev * 1000 | floor))"' "$out/containerd.json"
"$work/bin/epm" --socket "$RUNE_EPM_SOCKET" status \
  | jq -r '"epm: \(.hits) hits, \(.misses) misses, \(.evictions) evictions, \(.stale) stale"'
