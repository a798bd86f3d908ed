#!/usr/bin/env bash
# 10,000 groups per interval through the otlp, prometheus and prometheus_remote_write exporters:
# time per export and payload bytes. Last line: JSON.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec node bench/exporters/bench.ts
