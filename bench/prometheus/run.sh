#!/usr/bin/env bash
# bench/prometheus: the prometheus exporter holding 400,000 series, scraped by another process
# (plain and gzip): scrape time, the worst event-loop delay while scraping (perf_hooks
# monitorEventLoopDelay), RSS; beside it, the same series rendered as one string the way the
# exporter did before (the event loop blocked for the whole render). Last line: JSON.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.tools/node/bin:$PWD/node_modules/.bin:$PATH"
exec node bench/prometheus/bench.ts "$@"
