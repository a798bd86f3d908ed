#!/usr/bin/env bash
# bench/reduce: 262,144 records per tick through the reduce processor (10,000 distinct groups),
# 100 ticks per temporality. Prints time per tick, heap after GC across ticks, and last one JSON line.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.tools/node/bin:$PWD/node_modules/.bin:$PATH"
exec node --expose-gc bench/reduce/reduce-bench.ts "$@"
