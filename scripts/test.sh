#!/usr/bin/env bash
# Runs every test. `cargo test --workspace --no-run` first builds every test, binary and the
# enclave runtime (liberpal_sim.so) the integration tests drive, with the test build's feature
# set (a separate `cargo build` would compile many crates twice); then the suite runs. Wall time
# of each stage is printed so the suite's cost stays visible.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-2}
t0=$(date +%s)
cargo test --workspace -j"$jobs" --no-run
t1=$(date +%s)
echo "test: build took $((t1 - t0))s"
[ "$(id -u)" -eq 0 ] || echo "test: not root: integration tests that need root will skip and say why"
cargo test --workspace -j"$jobs" --no-fail-fast -- --test-threads="${TEST_THREADS:-2}"
t2=$(date +%s)
echo "test: tests took $((t2 - t1))s"
# The Debian packages, built and installed in a clean Debian 12 chroot (root only; skips with
# the reason when not root or the Debian mirror is unreachable).
scripts/test-packages.sh
t3=$(date +%s)
echo "test: packages took $((t3 - t2))s (total $((t3 - t0))s)"
