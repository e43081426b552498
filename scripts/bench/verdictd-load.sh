#!/bin/sh
# Load benchmark of verdictd on loopback: N concurrent clients, each doing the full RCAR
# handshake (auth, attest with a fresh TEE key and a sim quote) and a resource GET.
# Bounded by count and time. Usage: scripts/bench/verdictd-load.sh [clients] [handshakes] [seconds]
set -eu
cd "$(dirname "$0")/../.."
clients=${1:-8}
handshakes=${2:-5000}
seconds=${3:-20}
target=${CARGO_TARGET_DIR:-target}
cargo build --release -j2 -p verdictd --bin verdictd --example verdictd-load
for mode in "" "--tls" "--tls --new-connection"; do
    # shellcheck disable=SC2086
    "$target/release/examples/verdictd-load" --verdictd "$target/release/verdictd" \
        --clients "$clients" --handshakes "$handshakes" --seconds "$seconds" $mode
done
