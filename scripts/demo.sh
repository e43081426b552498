#!/usr/bin/env bash
# The demo: a plain container, then an enclave container in the software TEE (sign, run,
# attest, verify the quote, and see a changed image refused).
#
#   scripts/demo.sh [DIR-WITH-rune-AND-liberpal-sim.so]   (default target/release)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${1:-$top/target/release}")
rune=$bin/rune
pal=$bin/liberpal-sim.so
work=$top/build/demo
root=$work/state
rm -rf "$work"; mkdir -p "$work"
R() { "$rune" --root "$root" "$@"; }
step() { printf '\n== %s\n' "$*"; }

step "rune --version"
R --version

step "a plain container: busybox, exits 7; rune passes the code on"
"$top/scripts/mkbundle.sh" "$work/plain" sh -c 'echo "hello from a rune container: $(hostname), uid $(id -u)"; exit 7'
set +e; R run --bundle "$work/plain" demo-plain; code=$?; set -e
echo "exit code: $code"
[ "$code" -eq 7 ] || { echo "demo: expected exit code 7, got $code" >&2; exit 1; }

step "an enclave container in the software TEE (sim: integrity and measurement, no confidentiality against root)"
"$top/scripts/mkbundle.sh" "$work/enclave" sh -c 'echo "hello from inside the sim enclave"; sleep 30'
jq --arg pal "$pal" '.process.env += ["ENCLAVE_TYPE=sim", "ENCLAVE_RUNTIME_PATH=" + $pal]' \
  "$work/enclave/config.json" > "$work/enclave/config.tmp" && mv "$work/enclave/config.tmp" "$work/enclave/config.json"
R enclave keygen --output "$work/signing-key.pem"
R enclave sign --bundle "$work/enclave" --key "$work/signing-key.pem"
R run --detach --bundle "$work/enclave" demo-enclave
sleep 0.5
R state demo-enclave | jq '{id, status, enclave}'

step "rune attest --quote, verified against this host's sim root CA"
R attest demo-enclave --quote --report-data "$(printf 'demo nonce' | od -An -tx1 | tr -d ' \n')" --output "$work/quote.bin"
R enclave verify-quote --quote "$work/quote.bin" --root-ca /var/lib/rune/sim/root_ca.pem | jq '{tee, mrenclave, mrsigner, verdict}'
R delete --force demo-enclave

step "change a trusted file after signing: the enclave refuses to start"
cp "$work/enclave/rootfs/bin/busybox" "$work/busybox.orig"
printf 'x' >> "$work/enclave/rootfs/bin/busybox"
set +e; out=$(R run --bundle "$work/enclave" demo-tampered 2>&1); code=$?; set -e
echo "$out" | grep -E 'rune:|refuses|mismatch' | head -3
echo "exit code: $code"
[ "$code" -ne 0 ] || { echo "demo: the tampered image started" >&2; exit 1; }
cp "$work/busybox.orig" "$work/enclave/rootfs/bin/busybox"
echo
echo "demo: plain and enclave containers ok"
