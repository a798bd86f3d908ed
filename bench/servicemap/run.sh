#!/usr/bin/env bash
# The servicemap exporter at 5,000 edges with every slice of its 1h window filled: memory it
# holds, and /api/graph over loopback HTTP. Last line: JSON.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec node --expose-gc bench/servicemap/bench.ts
