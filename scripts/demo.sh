#!/usr/bin/env bash
# The demo: a plain container, then an enclave container in the software TEE (sign, run,
# attest, verify the quote, and see a tampered image refused), then the tenant's story: verdictd
# releases a secret only to the enclave image it was registered for, and refuses a changed one.
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
vd_pid=
trap '[ -z "$vd_pid" ] || kill "$vd_pid" 2>/dev/null || true' EXIT
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

step "verdictd: attestation service and key broker (CoCo KBS protocol), TLS with its generated certificate"
vd=$work/verdictd
sim_root=${RUNE_SIM_DIR:-/var/lib/rune/sim}/root_ca.pem
for port in $(seq 18400 18499); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
done
url=https://127.0.0.1:$port
"$bin/verdictd" --listen "127.0.0.1:$port" --data-dir "$vd" --sim-root-ca "$sim_root" >"$work/verdictd.log" 2>&1 &
vd_pid=$!
A() { "$bin/verdictd" admin --url "$url" --token-file "$vd/admin-token" --ca-cert "$vd/tls/cert.pem" "$@"; }
for _ in $(seq 100); do A list-resources >/dev/null 2>&1 && break; sleep 0.1; done
A list-resources >/dev/null || { cat "$work/verdictd.log" >&2; echo "demo: verdictd did not start" >&2; exit 1; }
echo "verdictd listening on $url (sim quotes accepted only when chained to $sim_root)"

step "the tenant registers a secret, a policy that accepts this host's sim TEE, and the image's MRENCLAVE"
"$top/scripts/mkbundle.sh" "$work/app" sh -c 'echo "sha256 of the delivered secret: $(sha256sum /run/secrets/default/demo/key | cut -d" " -f1)"; grep " /run/secrets " /proc/mounts'
jq --arg pal "$pal" --arg url "$url" --arg cert "$vd/tls/cert.pem" '
  .process.env += ["ENCLAVE_TYPE=sim", "ENCLAVE_RUNTIME_PATH=" + $pal, "ENCLAVE_KBS_URL=" + $url,
                   "ENCLAVE_KBS_CERT=" + $cert, "ENCLAVE_SECRETS=kbs:///default/demo/key"]
  | .linux.namespaces |= map(select(.type != "network"))' \
  "$work/app/config.json" > "$work/app/config.tmp" && mv "$work/app/config.tmp" "$work/app/config.json"
R enclave sign --bundle "$work/app" --key "$work/signing-key.pem"
mrenclave=$(R enclave measure --bundle "$work/app" --format json | jq -r .mrenclave)
head -c 32 /dev/urandom > "$work/secret.bin"
A set-resource default/demo/key "$work/secret.bin"
A set-attestation-policy "$top/examples/demo/attestation-sim.rego"
A set-reference-value mrenclave "$mrenclave"
echo "registered default/demo/key for MRENCLAVE $mrenclave"

step "the enclave container attests to verdictd before its workload starts and gets the secret on a tmpfs"
out=$(R run --bundle "$work/app" demo-secret 2>"$work/secret-run.log") || {
  cat "$work/secret-run.log" >&2; echo "demo: the enclave container did not get its secret" >&2; exit 1; }
echo "$out"
expected=$(sha256sum "$work/secret.bin" | cut -d' ' -f1)
echo "$out" | grep -q "$expected" || { echo "demo: the digest differs from the registered secret's ($expected)" >&2; exit 1; }

step "the image changed (another command, re-signed by the same key): a new MRENCLAVE, and no secret"
jq '.process.args = ["sh", "-c", "cat /run/secrets/default/demo/key"]' "$work/app/config.json" > "$work/app/config.tmp" \
  && mv "$work/app/config.tmp" "$work/app/config.json"
R enclave sign --bundle "$work/app" --key "$work/signing-key.pem"
set +e; refused=$(R run --bundle "$work/app" demo-changed 2>&1 >/dev/null); code=$?; set -e
[ "$code" -ne 0 ] || { echo "demo: the changed image received the secret" >&2; exit 1; }
reason=$(echo "$refused" | grep '^rune:' | sed 's/.*was not delivered: //' | tail -1)
echo "exit code: $code"
echo
echo "demo: plain and enclave containers ok"
echo "demo: secret delivered"
echo "demo: changed image refused: $reason"
