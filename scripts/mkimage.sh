#!/usr/bin/env bash
# Builds a busybox OCI image locally (no registry needed) as one tar that both
# `ctr image import` (OCI layout: oci-layout, index.json, blobs/) and `docker load` (docker 20.10
# reads only the docker-archive manifest.json, which is added beside the OCI layout and points at
# the same blobs) accept.
#
#   scripts/mkimage.sh OUT.tar [NAME[:TAG]] [KEY=VALUE...]
#
# NAME defaults to rune-test/busybox:latest. KEY=VALUE pairs go into the image config's Env
# (e.g. ENCLAVE_TYPE=sim for an enclave image). The command is `sh`; PATH is the usual one.
# Needs umoci, jq and busybox-static (the rootfs comes from scripts/mkbundle.sh).
# With MKIMAGE_SIGN_KEY=KEY.pem (and MKIMAGE_RUNE=path to rune, default `rune`), the rootfs is
# signed for the software TEE first (`rune enclave sign --in-rootfs --any-args --any-env`): the
# image carries its manifest and SIGSTRUCT in /.enclave.
set -euo pipefail

die() { echo "mkimage: $*" >&2; exit 1; }

[ $# -ge 1 ] || die "usage: mkimage.sh OUT.tar [NAME[:TAG]] [KEY=VALUE...]"
out=$(realpath -m "$1"); shift
name=${1:-rune-test/busybox:latest}; [ $# -gt 0 ] && shift
case $name in *:*) repo=${name%:*}; tag=${name##*:} ;; *) repo=$name; tag=latest ;; esac
command -v umoci >/dev/null || die "umoci not found: apt-get install umoci"
command -v jq >/dev/null || die "jq not found: apt-get install jq"

work=$(mktemp -d "${TMPDIR:-/tmp}/rune-mkimage.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$(dirname "$0")/mkbundle.sh" "$work/bundle" sh >/dev/null
if [ -n "${MKIMAGE_SIGN_KEY:-}" ]; then
  "${MKIMAGE_RUNE:-rune}" enclave sign --bundle "$work/bundle" --key "$MKIMAGE_SIGN_KEY" \
    --in-rootfs --any-args --any-env >/dev/null || die "signing the rootfs failed"
fi

layout=$work/oci
umoci init --layout "$layout"
umoci new --image "$layout:$tag"
umoci insert --image "$layout:$tag" "$work/bundle/rootfs" /
config_args=(--config.cmd sh --config.workingdir /
  --config.env "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
for kv in "$@"; do
  case $kv in *=*) config_args+=(--config.env "$kv") ;; *) die "not KEY=VALUE: $kv" ;; esac
done
umoci config --image "$layout:$tag" --author rune-tests --os linux --architecture amd64 "${config_args[@]}"
umoci gc --layout "$layout"

# The OCI ref name must be a full reference for ctr to name the image after it.
jq --arg ref "$repo:$tag" '.manifests[0].annotations["org.opencontainers.image.ref.name"] = $ref' \
  "$layout/index.json" > "$work/index.json" && mv "$work/index.json" "$layout/index.json"

# docker-archive view of the same image.
manifest_digest=$(jq -r '.manifests[0].digest' "$layout/index.json")
manifest=$layout/blobs/sha256/${manifest_digest#sha256:}
config=$(jq -r '.config.digest' "$manifest")
jq -n --arg config "blobs/sha256/${config#sha256:}" --arg tag "$repo:$tag" \
  --argjson layers "$(jq '[.layers[].digest | "blobs/sha256/" + ltrimstr("sha256:")]' "$manifest")" \
  '[{Config: $config, RepoTags: [$tag], Layers: $layers}]' > "$layout/manifest.json"

tar -C "$layout" -cf "$out" .
echo "mkimage: $out ($repo:$tag)"
