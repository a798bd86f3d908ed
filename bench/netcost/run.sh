#!/usr/bin/env bash
# bench/netcost: 262,144 flows per tick through the netcost processor (as k8sattributes names them:
# pods on 30 nodes in 3 zones, one flow in ten to a public address, one in twenty through a NAT
# gateway), and reduce with and without priced input. Prints CPU per tick and, last, one JSON line.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.tools/node/bin:$PWD/node_modules/.bin:$PATH"
exec node --expose-gc bench/netcost/netcost-bench.ts "$@"
