#!/usr/bin/env bash
# Enclave-container lifecycle against the plain lifecycle of the same bundle, in one hyperfine
# run: `rune run` of a busybox `/bin/true` bundle, plain and in the software TEE (sim), plus the
# sim enclave with a 64 MB trusted file (the image is measured at every start).
#
#   scripts/bench/enclave.sh [DIR-WITH-rune-AND-liberpal-sim.so]   (default target/release)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(realpath "${1:-$top/target/release}")
rune=$bin/rune
pal=$bin/liberpal_sim.so
for f in "$rune" "$pal"; do [ -e "$f" ] || { echo "enclave.sh: $f not found: cargo build --release -p rune -p erpal-sim" >&2; exit 1; }; done
command -v hyperfine >/dev/null || { echo "enclave.sh: hyperfine not installed (apt-get install hyperfine)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "enclave.sh: needs root" >&2; exit 1; }
out=$top/build/bench/enclave
rm -rf "$out"; mkdir -p "$out"
root=$out/state
export RUNE_SIM_DIR=$out/sim-platform
trap '"$rune" --root "$root" list -q 2>/dev/null | xargs -r -n1 "$rune" --root "$root" delete -f' EXIT

"$top/scripts/mkbundle.sh" "$out/plain" /bin/true
"$top/scripts/mkbundle.sh" "$out/sim" /bin/true
"$top/scripts/mkbundle.sh" "$out/sim64" /bin/true
head -c $((64 << 20)) /dev/urandom > "$out/sim64/rootfs/data.bin"
for b in sim sim64; do
  jq --arg pal "$pal" '.process.env += ["ENCLAVE_TYPE=sim", "ENCLAVE_RUNTIME_PATH=" + $pal, "ENCLAVE_RUNTIME_LOGLEVEL=off"]' \
    "$out/$b/config.json" > "$out/$b/c" && mv "$out/$b/c" "$out/$b/config.json"
done
"$rune" enclave keygen --output "$out/key.pem" 2>/dev/null
"$rune" enclave sign --bundle "$out/sim" --key "$out/key.pem" >/dev/null
"$rune" enclave sign --bundle "$out/sim64" --key "$out/key.pem" --include /data.bin >/dev/null

hyperfine -N --warmup "${WARMUP:-3}" --runs "${RUNS:-30}" \
  --export-markdown "$out/enclave.md" --export-json "$out/enclave.json" \
  -n plain "$rune --root $root run --bundle $out/plain bench-plain" \
  -n sim "$rune --root $root run --bundle $out/sim bench-sim" \
  -n sim-64MB "$rune --root $root run --bundle $out/sim64 bench-sim64"
jq -r '.results[] | "\(.command): median \(.median * 1000 | floor) ms"' "$out/enclave.json"
