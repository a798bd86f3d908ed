#!/usr/bin/env bash
# bench/otlp: the OTLP encoder, before (the OpenTelemetry JS SDK's counters, collection and
# protobuf serializer, as the otlp exporter used them) and after (podflow's flow encoder), CPU per
# 10,000 groups; the agent's batch of 262,144 flows; the receiver's decoder; a gateway's ingest over
# OTLP/HTTP and OTLP/gRPC (receiver process CPU). Last line: JSON.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.tools/node/bin:$PWD/node_modules/.bin:$PATH"
exec node bench/otlp/bench.ts "$@"
