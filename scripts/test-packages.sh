#!/usr/bin/env bash
# Builds the Debian packages (scripts/build-debs.sh), installs them into a clean Debian 12 tree
# and uses them there: `rune --version`, `verdictd --version`, the shim's `-v`, `rune check`,
# verdictd started from its packaged config, a plain busybox container and a sim enclave
# container through the packaged liberpal-sim.so, then `dpkg --purge`.
#
# The debootstrap tree is cached in build/pkgtest/base (minbase, a few minutes the first time);
# every run installs into a throwaway overlay on top of it, so the cache stays clean. All mounts
# are undone on exit, failure included. Skips (exit 0, with the reason) when not root or when
# the Debian mirror cannot be reached. MIRROR overrides the mirror taken from apt's sources.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
cache=$top/build/pkgtest/base
work=$top/build/pkgtest/run
debs=$top/build/deb
suite=bookworm
t0=$(date +%s)

say() { echo "test-packages: $*"; }
skip() { say "skipping: $*"; exit 0; }
die() { echo "test-packages: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || skip "not root (debootstrap, chroot and mounts need root)"
# Everything below runs in a private mount namespace: the chroot's mounts can never leak to the
# host (they vanish with the namespace even if this script is killed), and pivot_root, which
# rune does inside the chroot, refuses roots whose parent mount is shared.
if [ -z "${PKGTEST_IN_NS:-}" ]; then
  command -v unshare >/dev/null || die "unshare not found (util-linux)"
  exec unshare --mount --propagation private env PKGTEST_IN_NS=1 "$0" "$@"
fi
command -v debootstrap >/dev/null || die "debootstrap not found: apt-get install debootstrap (make deps installs it)"
for tool in jq busybox; do
  command -v "$tool" >/dev/null || die "$tool not found: apt-get install jq busybox-static (make deps)"
done

mirror=${MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(sed -n 's/^URIs:[[:space:]]*\(.*debian\/\?\)[[:space:]]*$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -1 || true)
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
fi

# --- the cached clean tree ------------------------------------------------------------------
if [ ! -e "$cache/.complete" ]; then
  curl -fsS --max-time 20 -o /dev/null "$mirror/dists/$suite/Release" \
    || skip "the Debian mirror $mirror is unreachable (set MIRROR to one that works)"
  say "debootstrap --variant=minbase $suite from $mirror into $cache (cached for later runs)"
  rm -rf "$cache"; mkdir -p "$cache"
  if ! debootstrap --variant=minbase "$suite" "$cache" "$mirror" > "$top/build/pkgtest/debootstrap.log" 2>&1; then
    tail -5 "$top/build/pkgtest/debootstrap.log" >&2
    rm -rf "$cache"
    if ! curl -fsS --max-time 20 -o /dev/null "$mirror/dists/$suite/Release"; then
      skip "the Debian mirror $mirror became unreachable during debootstrap"
    fi
    die "debootstrap failed (log: build/pkgtest/debootstrap.log)"
  fi
  touch "$cache/.complete"
fi

# --- the packages ---------------------------------------------------------------------------
# Always through build-debs.sh (cargo rebuilds only what changed), so a stale package is never
# what gets tested; PREBUILT=1 takes build/deb as it is.
if [ "${PREBUILT:-0}" != 1 ]; then
  "$top/scripts/build-debs.sh"
fi
expected=(rune verdictd epm)
files=()
for pkg in "${expected[@]}"; do
  deb=$(ls -t "$debs/${pkg}"_*.deb 2>/dev/null | head -1)
  [ -n "$deb" ] || die "no $debs/${pkg}_*.deb: run make deb"
  files+=("$deb")
done

# --- a throwaway root over the cache --------------------------------------------------------
root=$work/root
mounts=()
verdictd_pid=
cleanup() {
  local status=$?
  set +e
  [ -z "$verdictd_pid" ] || kill "$verdictd_pid" 2>/dev/null
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    umount -R "${mounts[$i]}" 2>/dev/null || umount -lR "${mounts[$i]}" 2>/dev/null
  done
  if grep -q " $work" /proc/mounts; then
    echo "test-packages: mounts left under $work:" >&2
    grep " $work" /proc/mounts >&2
    status=1
  else
    rm -rf "$work"
  fi
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if grep -q " $work" /proc/mounts 2>/dev/null; then
  die "mounts from an earlier run remain under $work: umount -R them first"
fi
rm -rf "$work"; mkdir -p "$work/upper" "$work/overlay-work" "$root"
if grep -qw overlay /proc/filesystems \
  && mount -t overlay overlay -o "lowerdir=$cache,upperdir=$work/upper,workdir=$work/overlay-work" "$root" 2>/dev/null; then
  mounts+=("$root")
else
  say "no overlayfs: copying the cached tree"
  cp -a "$cache/." "$root/"
  # pivot_root needs the chroot's root to be a mount point.
  mount --bind "$root" "$root"; mounts+=("$root")
fi
mount -t proc proc "$root/proc"; mounts+=("$root/proc")
mount --rbind /sys "$root/sys"; mount --make-rslave "$root/sys"; mounts+=("$root/sys")
mount --rbind /dev "$root/dev"; mount --make-rslave "$root/dev"; mounts+=("$root/dev")
mount -t tmpfs -o mode=755 tmpfs "$root/run"; mounts+=("$root/run")
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true

in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }

# --- install --------------------------------------------------------------------------------
mkdir -p "$root/tmp/debs"
cp "${files[@]}" "$root/tmp/debs/"
say "dpkg -i ${files[*]##*/}"
in_root_debs=()
for f in "${files[@]}"; do in_root_debs+=("/tmp/debs/${f##*/}"); done
if ! in_root dpkg -i "${in_root_debs[@]}" > "$work/dpkg.log" 2>&1; then
  say "dpkg -i failed; resolving dependencies with apt-get -f install. dpkg said:"
  tail -15 "$work/dpkg.log" | sed 's/^/    /'
  in_root apt-get update -qq > /dev/null
  in_root apt-get -f install -y -qq --no-install-recommends > "$work/apt.log" 2>&1 \
    || { cat "$work/dpkg.log" "$work/apt.log" >&2; die "installing the packages"; }
fi
for f in /usr/bin/rune /usr/bin/containerd-shim-rune-v2 /usr/bin/verdictd \
  /usr/lib/inclavare-containers/liberpal-sim.so /etc/inclavare-containers/config.toml \
  /etc/inclavare-containers/verdictd.toml /usr/share/bash-completion/completions/rune \
  /usr/share/doc/rune/configuration.md; do
  [ -s "$root$f" ] || die "the packages did not install $f"
done
unit=$(ls "$root"/{usr/,}lib/systemd/system/verdictd.service 2>/dev/null | head -1)
[ -n "$unit" ] || die "the verdictd package did not install verdictd.service"
in_root dpkg-query -W -f='${Conffiles}\n' rune | grep -q /etc/inclavare-containers/config.toml \
  || die "/etc/inclavare-containers/config.toml is not a conffile of rune"

# --- use ------------------------------------------------------------------------------------
say "rune --version"; in_root rune --version
say "verdictd --version"; in_root verdictd --version
say "containerd-shim-rune-v2 -v"; in_root containerd-shim-rune-v2 -v
say "epm --version"; in_root epm --version

say "rune check (inside the installed tree)"
set +e; in_root rune check > "$work/check.txt"; check_status=$?; set -e
cat "$work/check.txt"
grep -q '^OK    pal sim ' "$work/check.txt" || die "rune check did not load the packaged liberpal-sim.so"
if grep -q '^FAIL' "$work/check.txt"; then die "rune check reports a FAIL"; fi
[ "$check_status" -eq 0 ] || die "rune check exited $check_status without a FAIL line"

say "verdictd from its packaged config (listening on a free loopback port)"
# exec: chroot and env exec in turn, so $! is verdictd itself and the kill below reaches it.
(exec chroot "$root" env -i PATH=/usr/bin:/bin verdictd --config /etc/inclavare-containers/verdictd.toml \
  --listen 127.0.0.1:0 --log-format json > /dev/null 2> "$work/verdictd.log") &
verdictd_pid=$!
for _ in $(seq 50); do
  grep -q '"verdictd listening"' "$work/verdictd.log" && break
  kill -0 "$verdictd_pid" 2>/dev/null || break
  sleep 0.1
done
kill "$verdictd_pid" 2>/dev/null; wait "$verdictd_pid" 2>/dev/null || true
verdictd_pid=
grep '"verdictd listening"' "$work/verdictd.log" | jq -c '{level, message: .fields.message, addr: .fields.addr}' \
  || { cat "$work/verdictd.log" >&2; die "verdictd did not start from /etc/inclavare-containers/verdictd.toml"; }

say "a plain busybox container"
"$top/scripts/mkbundle.sh" "$root/tmp/plain" sh -c 'echo "hello from the packaged rune"; exit 3' >/dev/null
set +e; out=$(in_root rune run --bundle /tmp/plain pkg-plain 2>&1); code=$?; set -e
echo "$out"
[ "$code" -eq 3 ] && [[ $out == *"hello from the packaged rune"* ]] \
  || die "plain container: exit $code, output: $out"

say "a sim enclave container through /usr/lib/inclavare-containers/liberpal-sim.so"
"$top/scripts/mkbundle.sh" "$root/tmp/enclave" sh -c 'echo "hello from the sim enclave"' >/dev/null
jq '.process.env += ["ENCLAVE_TYPE=sim", "ENCLAVE_RUNTIME_PATH=/usr/lib/inclavare-containers/liberpal-sim.so"]' \
  "$root/tmp/enclave/config.json" > "$root/tmp/enclave/config.tmp"
mv "$root/tmp/enclave/config.tmp" "$root/tmp/enclave/config.json"
in_root rune enclave keygen --output /tmp/key.pem 2>/dev/null
in_root rune enclave sign --bundle /tmp/enclave --key /tmp/key.pem | grep -E '^(mrenclave|tee):'
out=$(in_root rune run --bundle /tmp/enclave pkg-enclave 2>&1) || die "enclave container failed: $out"
echo "$out"
[[ $out == *"hello from the sim enclave"* ]] || die "enclave container output: $out"

say "dpkg --purge"
in_root dpkg --purge "${expected[@]}" > /dev/null
for f in /usr/bin/rune /usr/bin/verdictd /etc/inclavare-containers/config.toml; do
  [ ! -e "$root$f" ] || die "$f is still there after dpkg --purge"
done

say "ok (${expected[*]}) in $(( $(date +%s) - t0 ))s"
