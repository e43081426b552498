#!/usr/bin/env bash
# The demo: run a busybox container with rune and show what it printed.
set -euo pipefail
rune=$(realpath "${1:-target/release/rune}")
top=$(cd "$(dirname "$0")/.." && pwd)
work=$top/build/demo
root=$work/state
rm -rf "$work"; mkdir -p "$work"

step() { printf '\n== %s\n' "$*"; }

step "building a busybox bundle in $work/bundle"
"$top/scripts/mkbundle.sh" "$work/bundle" sh -c 'echo "hello from a rune container: $(hostname), pid $$, uid $(id -u)"; cat /proc/self/cgroup | head -3; exit 7'

step "rune --version"
"$rune" --version

step "rune run demo (the container exits 7; rune passes its code on)"
set +e
"$rune" --root "$root" run --bundle "$work/bundle" demo
code=$?
set -e
echo "exit code: $code"
[ "$code" -eq 7 ] || { echo "demo: expected exit code 7, got $code" >&2; exit 1; }

step "create / state / start / delete"
"$top/scripts/mkbundle.sh" "$work/bundle2" sleep 30
"$rune" --root "$root" create --bundle "$work/bundle2" demo2
"$rune" --root "$root" state demo2
"$rune" --root "$root" start demo2
"$rune" --root "$root" list
"$rune" --root "$root" kill demo2 TERM
sleep 0.2
"$rune" --root "$root" delete --force demo2
echo
echo "demo: plain container ok"
