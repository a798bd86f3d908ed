#!/usr/bin/env bash
# bench/k8s-scale: a test API server serving 1,000 nodes and 30,000 pods (5,000 Services,
# EndpointSlices, ReplicaSets). API requests and bytes of node mode vs agent-gateway mode, a
# gateway's memory and sync time, and its CPU to enrich and reduce 262,144 flows. Last line: JSON.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.tools/node/bin:$PWD/node_modules/.bin:$PATH"
exec node --expose-gc bench/k8s-scale/bench.ts "$@"
