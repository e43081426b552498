#!/bin/sh
# rune node installer: copies rune, containerd-shim-rune-v2 (and liberpal-sim.so when present)
# onto the host and adds the `rune` runtime handler to containerd's config, then restarts
# containerd. Idempotent: running it again only refreshes the binaries.
#
# Runs in the DaemonSet in installer/daemonset.yaml with the host's / mounted at $HOST_ROOT, or
# directly on a node as root with HOST_ROOT=/ .
#
#   HOST_ROOT        host filesystem root (default /host)
#   SRC              where the binaries are (default /opt/rune)
#   PREFIX           install dir on the host (default /usr/local)
#   CONTAINERD_CONFIG  host path of containerd's config (default /etc/containerd/config.toml)
#   RESTART          "true" to restart containerd (default true)
set -eu

HOST_ROOT=${HOST_ROOT:-/host}
SRC=${SRC:-/opt/rune}
PREFIX=${PREFIX:-/usr/local}
CONTAINERD_CONFIG=${CONTAINERD_CONFIG:-/etc/containerd/config.toml}
RESTART=${RESTART:-true}
MARK="# rune runtime handler (added by rune-node-installer)"

log() { echo "rune-installer: $*"; }
die() { echo "rune-installer: $*" >&2; exit 1; }

[ -d "$HOST_ROOT" ] || die "$HOST_ROOT is not mounted: mount the host's / there"
for bin in rune containerd-shim-rune-v2; do
  [ -x "$SRC/$bin" ] || die "$SRC/$bin missing from the installer image"
  install -D -m 0755 "$SRC/$bin" "$HOST_ROOT$PREFIX/bin/$bin.new"
  mv -f "$HOST_ROOT$PREFIX/bin/$bin.new" "$HOST_ROOT$PREFIX/bin/$bin"
  log "installed $PREFIX/bin/$bin"
done
if [ -f "$SRC/liberpal-sim.so" ]; then
  install -D -m 0644 "$SRC/liberpal-sim.so" "$HOST_ROOT$PREFIX/lib/rune/liberpal-sim.so"
  log "installed $PREFIX/lib/rune/liberpal-sim.so"
fi

config=$HOST_ROOT$CONTAINERD_CONFIG
mkdir -p "$(dirname "$config")"
[ -f "$config" ] || { log "no $CONTAINERD_CONFIG: writing containerd's default"; chroot "$HOST_ROOT" containerd config default > "$config"; }
if grep -qF "$MARK" "$config"; then
  log "containerd already knows the rune handler"
  changed=false
else
  version=$(sed -n 's/^version *= *\([0-9]*\).*/\1/p' "$config" | head -n1)
  case ${version:-2} in
    3) snippet=$SRC/config-v3.toml ;;
    *) snippet=$SRC/config-v2.toml ;;
  esac
  cp "$config" "$config.before-rune"
  { echo; echo "$MARK"; sed "s|/usr/local/bin/rune|$PREFIX/bin/rune|" "$snippet"; } >> "$config"
  log "added the rune handler to $CONTAINERD_CONFIG (backup: $CONTAINERD_CONFIG.before-rune)"
  changed=true
fi

if [ "$changed" = true ] && [ "$RESTART" = true ]; then
  # Running containers keep running: their shims do not depend on containerd's process.
  if chroot "$HOST_ROOT" sh -c 'command -v systemctl' >/dev/null 2>&1; then
    nsenter --target 1 --mount --uts --ipc --net --pid -- systemctl restart containerd
  else
    die "cannot restart containerd on this host: restart it by hand"
  fi
  log "restarted containerd"
fi
log "done"
