#!/usr/bin/env bash
# `make test-image` (opt-in; root; not part of `make test` or CI): podflow's image built with
# podman and run with the Helm chart's security context (test/harness/image/test-image.ts says
# what is checked). No registry is needed: the base image deploy/Dockerfile names is built here
# first (base-images.sh). Needs podman and runc (installed with apt-get when missing; runc
# because crun fails on hybrid cgroup hosts), debootstrap, bpftool, conntrack, nft, and network
# access to Debian's mirror and the npm registry from inside `podman build`.
set -euo pipefail
source "$(dirname "$0")/../../setup/lib.sh"
[ "$(id -u)" = 0 ] || { say "test-image needs root (podman, network namespaces, bpffs): run sudo make test-image"; exit 2; }
missing=()
for f in /usr/bin/podman:podman /usr/sbin/runc:runc /usr/sbin/debootstrap:debootstrap; do
  [ -x "${f%%:*}" ] || missing+=("${f##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
fi
start=$(date +%s)
bash "$PODFLOW_ROOT/deploy/test-image/base-images.sh"
status=0
"$LOCAL_NODE_DIR/bin/node" "$PODFLOW_ROOT/test/harness/image/test-image.ts" || status=$?
say "test-image: $(( $(date +%s) - start ))s in all (bases, build, runs); exit $status"
exit "$status"
