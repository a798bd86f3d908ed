#!/usr/bin/env bash
# The base image deploy/Dockerfile names, built here without a registry (`make test-image`):
#
#   docker.io/library/debian:bookworm-slim   a minimal Debian 12 root from debootstrap (minbase),
#                                            imported with `podman import`, with Debian's standard
#                                            apt sources (bookworm, -updates, -security) as in
#                                            Debian's own images
#   docker.io/library/node:<.node-version>-bookworm-slim
#                                            that root + the official node binary of the npm
#                                            registry's `node-linux-<arch>` package (what the npm
#                                            `node` package installs) and the npm of package.json
#                                            "packageManager", both exactly as `make` installs them
#                                            into .tools/node, under /usr/local as in the official
#                                            image, and the machine's extra CAs
#                                            (NODE_EXTRA_CA_CERTS) for npm behind a TLS proxy
#
# Tagged with the registry names, so `podman build --pull=never` of the unchanged Dockerfile
# finds them. An image that is already there is kept (IMAGE_REBUILD_BASES=1 rebuilds).
# Environment: DEBIAN_MIRROR, DEBIAN_ROOT_CACHE (a tar of the debootstrap root; shared with
# `make test-fresh`).
set -euo pipefail
source "$(dirname "$0")/../../setup/lib.sh"

podman=/usr/bin/podman
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${DEBIAN_ROOT_CACHE-/var/cache/podflow/debian12-minbase.tar}
debian_image=docker.io/library/debian:bookworm-slim
node_image=docker.io/library/node:$(node_version)-bookworm-slim
rebuild=${IMAGE_REBUILD_BASES:-0}

have_image() { [ "$rebuild" != 1 ] && "$podman" image exists "$1"; }

work=$(mktemp -d /var/tmp/podflow-bases.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT

if have_image "$debian_image"; then
  say "base: $debian_image is there"
else
  root=$work/root
  debian_minbase_root "$root" "$cache" "$mirror"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/dev/* "$root"/proc/* "$root"/sys/*
  tar -C "$root" -c . | "$podman" import --change 'CMD ["bash"]' - "$debian_image" >/dev/null
  say "base: $debian_image imported"
fi

if have_image "$node_image"; then
  say "base: $node_image is there"
else
  [ -x "$LOCAL_NODE_DIR/bin/node" ] || bash "$PODFLOW_ROOT/setup/install-node.sh"
  got=$("$LOCAL_NODE_DIR/bin/node" --version)
  [ "$got" = "v$(node_version)" ] || { say ".tools/node has $got, not v$(node_version): run make node"; exit 1; }
  ctx=$work/node
  mkdir -p "$ctx/bin" "$ctx/lib/node_modules"
  cp "$LOCAL_NODE_DIR/bin/node" "$ctx/bin/node"
  cp -a "$LOCAL_NODE_DIR/lib/node_modules/npm" "$ctx/lib/node_modules/npm"
  # The machine's own CAs (/usr/local/share/ca-certificates: the registries may sit behind a
  # TLS-inspecting proxy), for npm ci in the build stage, as make test-fresh gives its root.
  cat /usr/local/share/ca-certificates/*.crt >"$ctx/machine-cas.crt" 2>/dev/null || : >"$ctx/machine-cas.crt"
  cat >"$ctx/Containerfile" <<CONTAINERFILE
FROM $debian_image
COPY bin/node /usr/local/bin/node
COPY lib/node_modules/npm /usr/local/lib/node_modules/npm
COPY machine-cas.crt /usr/local/share/ca-certificates/machine-cas.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && node --version && npm --version
ENV NODE_VERSION=$(node_version) \\
    NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/machine-cas.crt
CMD ["node"]
CONTAINERFILE
  "$podman" build --runtime runc --pull=never --format docker -q -t "$node_image" "$ctx" >/dev/null
  say "base: $node_image built (node $got, npm $("$LOCAL_NODE_DIR/bin/npm" --version 2>/dev/null))"
fi
