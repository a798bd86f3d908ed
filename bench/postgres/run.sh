#!/usr/bin/env bash
# bench/postgres: full `flows` rows into a throw-away PostgreSQL 15 (fsync on): rows/s through the
# postgres exporter (encode + COPY ... FROM STDIN) against multi-row INSERT of the same rows,
# in one run. Prints the figures and, last, one JSON line.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.tools/node/bin:$PWD/node_modules/.bin:$PATH"
exec node bench/postgres/bench.ts "$@"
