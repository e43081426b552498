#!/usr/bin/env bash
# Runs every test: builds the binaries and the enclave runtime the integration tests drive,
# then the whole workspace suite. Wall time of each stage is printed so the suite's cost stays
# visible.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-2}
t0=$(date +%s)
cargo build --workspace -j"$jobs"
t1=$(date +%s)
echo "test: build took $((t1 - t0))s"
[ "$(id -u)" -eq 0 ] || echo "test: not root: integration tests that need root will skip and say why"
cargo test --workspace -j"$jobs" -- --test-threads="${TEST_THREADS:-2}"
t2=$(date +%s)
echo "test: tests took $((t2 - t1))s (total $((t2 - t0))s)"
