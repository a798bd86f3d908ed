#!/usr/bin/env bash
# bench/postgres-rollups: the issue-17 cluster load (100 exporters × 400 groups every 15 s, 7 days
# of hourly history + the last hour at 15 s) into a throw-away PostgreSQL 15: ingest, rollups, the
# node graph from the tiers against the raw-row functions, database size per day. Prints the
# figures and, last, one JSON line. Smaller runs: BENCH_NODES, BENCH_GROUPS, BENCH_LIVE_MINUTES,
# BENCH_HISTORY_DAYS, BENCH_RUNS, BENCH_OLD_RUNS, BENCH_OLD_TIMEOUT_S.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.tools/node/bin:$PWD/node_modules/.bin:$PATH"
exec node bench/postgres-rollups/bench.ts "$@"
