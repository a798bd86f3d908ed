#!/usr/bin/env bash
# bench/cli: start-up of bin/podflow (--version, version, help, validate of the README's config
# and of a 2 MiB config) against `node -e 0` in the same run. RUNS=30 LARGE_RUNS=5 by default.
# Prints a table and last one JSON line.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.tools/node/bin:$PWD/node_modules/.bin:$PATH"
exec node bench/cli/bench.ts "$@"
