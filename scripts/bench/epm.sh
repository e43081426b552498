#!/usr/bin/env bash
# Enclave-container lifecycle with and without the enclave pool manager (epm), against the
# plain container lifecycle of the same bundle, for 8, 32, 64 and 80 MB measured images, in
# one hyperfine run; then a table and a PNG plot (gnuplot).
#
#   scripts/bench/epm.sh [DIR-WITH-rune-epm-AND-liberpal_sim.so]   (default target/release)
#
# Per size S, one rootfs (busybox-static + S MB of random data in /data.bin) is shared by three
# bundles that differ only in config.json:
#   plain-S   no enclave (runc behaviour);
#   sim-S     sim enclave, /data.bin a trusted file, `no-epm` in the runtime args: the PAL
#             verifies and hashes the whole image at every start;
#   epm-S     the same image with epm running: rune gets a pre-initialised enclave.
# The timed command is `rune run` of `/bin/true` (create, start, wait, delete); `runc run` of
# plain-S is timed beside them (runc from its package), the plain container as most users
# start it today. epm runs on a private socket with its defaults (one enclave kept ready per
# image; the refill happens while the container runs); its hit/miss counters are printed
# after the run, so a figure taken on misses cannot pass for a pooled one.
#
# hyperfine times each command's runs back to back, so a change in the machine's load between
# the plain and the pooled runs shows up in their ratio. A second, paired stage therefore
# interleaves plain-S and epm-S runs in ABBA order (PAIRS of each per size, timed with bash's
# EPOCHREALTIME) and reports the medians and their ratio: the figure for "within 10 % of plain".
#
# Outputs in build/bench/epm/: bin/ (the timed copies of rune, epm and the PAL), epm.{md,json}
# (hyperfine), epm.dat, epm.png, summary.txt, paired.txt. RUNS (default 20), WARMUP (default 3), PAIRS (default 60; 0 skips the stage),
# SIZES (default "8 32 64 80") change the run.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(realpath "${1:-$top/target/release}")
rune=$bin/rune
epm=$bin/epm
pal=$bin/liberpal_sim.so
for f in "$rune" "$epm" "$pal"; do
  [ -e "$f" ] || { echo "epm.sh: $f not found: cargo build --release -p rune -p epm -p erpal-sim" >&2; exit 1; }
done
for tool in hyperfine jq gnuplot runc; do
  command -v "$tool" >/dev/null || { echo "epm.sh: $tool not installed (make deps)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "epm.sh: needs root" >&2; exit 1; }
sizes=${SIZES:-8 32 64 80}
out=$top/build/bench/epm
rm -rf "$out"; mkdir -p "$out"
# Timed from copies, as install(1) or a package would place the binaries: the linker writes
# its output through a shared mapping, which leaves it in the page cache as single pages, and
# every exec of it then maps and unmaps them one by one (measured here: +1.1 ms per plain
# `rune run`, +1.5 ms per pooled one, against a copy of the same file).
install -d "$out/bin"
install -m 0755 "$rune" "$epm" "$pal" "$out/bin/"
rune=$out/bin/rune epm=$out/bin/epm pal=$out/bin/liberpal_sim.so
root=$out/state
export RUNE_SIM_DIR=$out/sim-platform
export RUNE_EPM_SOCKET=$out/epm/epm.sock
epm_pid=
cleanup() {
  "$rune" --root "$root" list -q 2>/dev/null | xargs -r -n1 "$rune" --root "$root" delete -f || true
  runc --root "$out/runc-state" list -q 2>/dev/null | xargs -r -n1 runc --root "$out/runc-state" delete -f || true
  [ -n "$epm_pid" ] && kill "$epm_pid" 2>/dev/null || true
}
trap cleanup EXIT

"$rune" enclave keygen --output "$out/key.pem" 2>/dev/null
with_root() { jq --arg r "$1" '.root.path = $r' "$2/config.json" > "$2/c" && mv "$2/c" "$2/config.json"; }
enclave_env() {
  jq --arg pal "$pal" --arg args "$2" \
    '.process.env += ["ENCLAVE_TYPE=sim", "ENCLAVE_RUNTIME_PATH=" + $pal, "ENCLAVE_RUNTIME_LOGLEVEL=off", "ENCLAVE_RUNTIME_ARGS=" + $args]' \
    "$1/config.json" > "$1/c" && mv "$1/c" "$1/config.json"
}
cmds=()
for s in $sizes; do
  "$top/scripts/mkbundle.sh" "$out/plain-$s" /bin/true
  head -c $((s << 20)) /dev/urandom > "$out/plain-$s/rootfs/data.bin"
  mv "$out/plain-$s/rootfs" "$out/rootfs-$s"
  with_root "$out/rootfs-$s" "$out/plain-$s"
  for kind in sim epm; do
    mkdir -p "$out/$kind-$s"
    cp "$out/plain-$s/config.json" "$out/$kind-$s/"
  done
  enclave_env "$out/sim-$s" no-epm
  enclave_env "$out/epm-$s" ""
  for kind in sim epm; do
    "$rune" enclave sign --bundle "$out/$kind-$s" --key "$out/key.pem" --include /data.bin >/dev/null
  done
  for kind in plain sim epm; do
    cmds+=(-n "$kind-${s}MB" "$rune --root $root run --bundle $out/$kind-$s bench-$kind-$s")
  done
  cmds+=(-n "runc-${s}MB" "$(command -v runc) --root $out/runc-state run --bundle $out/plain-$s bench-runc-$s")
done
runc --root "$out/runc-state" run --bundle "$out/plain-${sizes%% *}" check-runc \
  || { echo "epm.sh: runc cannot run the plain bundle (see its message above)" >&2; exit 1; }

"$epm" --socket "$RUNE_EPM_SOCKET" --log-level warn 2>"$out/epm.log" &
epm_pid=$!
for _ in $(seq 100); do "$epm" --socket "$RUNE_EPM_SOCKET" status >/dev/null 2>&1 && break; sleep 0.05; done

hyperfine -N --warmup "${WARMUP:-3}" --runs "${RUNS:-20}" \
  --export-markdown "$out/epm.md" --export-json "$out/epm.json" "${cmds[@]}"

# Paired stage: plain and pooled runs alternate, so both see the same load.
median() { sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f", m / 1000 }'; }
pairs=${PAIRS:-60}
if [ "$pairs" -gt 0 ]; then
  {
    echo "| image | plain | sim, epm | epm / plain | epm − plain, per pair | pairs |"
    echo "|---:|---:|---:|---:|---:|---:|"
    for s in $sizes; do
      : > "$out/paired-$s.plain"; : > "$out/paired-$s.epm"
      for i in $(seq $((pairs + 3))); do
        # ABBA: each kind follows each kind equally often (a run's leftover kernel work, such
        # as its namespaces' teardown, lands on the next run).
        order="plain epm"
        [ $((i % 2)) -eq 0 ] && order="epm plain"
        for kind in $order; do
          t0=${EPOCHREALTIME/[.,]/}
          "$rune" --root "$root" run --bundle "$out/$kind-$s" "paired-$kind-$s" >/dev/null
          t1=${EPOCHREALTIME/[.,]/}
          [ "$i" -gt 3 ] && echo $((t1 - t0)) >> "$out/paired-$s.$kind"
        done
      done
      p=$(median < "$out/paired-$s.plain"); e=$(median < "$out/paired-$s.epm")
      # The median of the differences within each pair: the machine's drift between pairs,
      # which moves both medians, cancels in it.
      d=$(paste "$out/paired-$s.epm" "$out/paired-$s.plain" | awk '{ print $1 - $2 }' | median)
      awk -v s="$s" -v p="$p" -v e="$e" -v d="$d" -v n="$pairs" 'BEGIN { printf "| %d MB | %.1f ms | %.1f ms | %.3f | %+.2f ms | %d |\n", s, p, e, e / p, d, n }'
    done
  } | tee "$out/paired.txt"
fi
"$epm" --socket "$RUNE_EPM_SOCKET" status > "$out/epm-status.json"

# size, then median and stddev (ms) of plain, sim without epm, sim with epm, runc (plain).
jq -r --arg sizes "$sizes" '
  ($sizes | split(" ") | map(select(. != ""))) as $s
  | [.results[] | {key: .command, value: .}] | from_entries as $r
  | $s[] as $n
  | [$n] + ([("plain-" + $n + "MB"), ("sim-" + $n + "MB"), ("epm-" + $n + "MB"), ("runc-" + $n + "MB")]
      | map($r[.] | (.median * 1000), (.stddev * 1000)))
  | map(tostring) | join(" ")' "$out/epm.json" > "$out/epm.dat"

{
  echo "| image | plain | sim, no epm | sim, epm | epm / plain | plain, runc | epm / runc |"
  echo "|---:|---:|---:|---:|---:|---:|---:|"
  awk '{ printf "| %d MB | %.1f ms | %.1f ms | %.1f ms | %.2f | %.1f ms | %.2f |\n", $1, $2, $4, $6, $6 / $2, $8, $6 / $8 }' "$out/epm.dat"
  jq -r '"epm: \(.hits) hits, \(.misses) misses, \(.evictions) evictions, \(.stale) stale"' "$out/epm-status.json"
} | tee "$out/summary.txt"

gnuplot <<EOF
set terminal pngcairo size 800,500 font "sans,11"
set output "$out/epm.png"
set title "lifecycle of /bin/true by measured image size (rune run; dashed: runc run)"
set xlabel "measured image (MB of trusted data besides the 2 MB busybox)"
set ylabel "median wall time (ms)"
set key top left
set grid
set xrange [0:88]
set yrange [0:*]
plot "$out/epm.dat" using 1:4:5 with yerrorlines lw 2 title "sim enclave, no epm", \
     "$out/epm.dat" using 1:6:7 with yerrorlines lw 2 title "sim enclave, epm", \
     "$out/epm.dat" using 1:2:3 with yerrorlines lw 2 title "plain container, rune", \
     "$out/epm.dat" using 1:8:9 with yerrorlines lw 2 dt 2 title "plain container, runc"
EOF
echo "epm.sh: plot in $out/epm.png"
