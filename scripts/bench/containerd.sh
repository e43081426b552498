#!/usr/bin/env bash
# containerd benchmark: `ctr run --rm IMAGE ID /bin/true` end to end (image already unpacked),
# through containerd-shim-rune-v2 (io.containerd.rune.v2 → rune) against containerd's own runc
# shim (io.containerd.runc.v2) driving runc, crun and rune (`--runc-binary`), all timed by
# hyperfine in one run against one private containerd.
#
#   scripts/bench/containerd.sh [BIN_DIR]    (default: target/release; needs rune and
#                                             containerd-shim-rune-v2 there)
#
# Each timed command is a whole `ctr run --rm`: shim start, create, start, wait, delete, shim
# exit. crun 1.8 refuses this host class (cgroup v1+v2 hybrid whose v2 holds hugetlb); its row
# is kept when it fails so the failure is visible (hyperfine --ignore-failure is not used: a
# failing command is reported and skipped).
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
for b in rune containerd-shim-rune-v2; do
  [ -x "$bin_dir/$b" ] || die "$bin_dir/$b not found: build it (cargo build --release --workspace --bins)"
done
mkdir -p "$out"

work=$(mktemp -d /tmp/rune-bench-ctd.XXXXXX)
pid=""
cleanup() {
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
cp "$bin_dir/containerd-shim-rune-v2" "$bin_dir/rune" "$work/bin/"
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

rune=$work/bin/rune
declare -a names cmds
add() { names+=("$1"); cmds+=("$2"); }
add "rune-shim (io.containerd.rune.v2 → rune)" "ctr --address $work/containerd.sock --namespace bench run --rm --runtime io.containerd.rune.v2 $image b-rune /bin/true"
add "runc-shim → runc" "ctr --address $work/containerd.sock --namespace bench run --rm --runtime io.containerd.runc.v2 $image b-runc /bin/true"
add "runc-shim → rune (BinaryName)" "ctr --address $work/containerd.sock --namespace bench run --rm --runtime io.containerd.runc.v2 --runc-binary $rune $image b-runc-rune /bin/true"
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
