// Encodes series as a remote-write 1.0 request body: WriteRequest (remote.proto) → protobuf →
// snappy block format.
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import snappy from 'snappyjs';
import { METRIC_HELP, METRIC_UNIT, withLabel, type StoredSeries } from '../shared/prometheus-series.ts';

const root = protobuf.parse(readFileSync(new URL('./remote.proto', import.meta.url), 'utf8'), { keepCase: true }).root;
export const WriteRequest = root.lookupType('prometheus.WriteRequest');

const COUNTER = 1;

export interface WriteRequestBody {
  timeseries: Array<{ labels: Array<{ name: string; value: string }>; samples: Array<{ value: number; timestamp: number }> }>;
  metadata: Array<{ type: number; metric_family_name: string; help: string; unit: string }>;
}

/** The request object: labels sorted by name with `__name__` in its place. */
export function writeRequest(series: readonly StoredSeries[]): WriteRequestBody {
  const names = new Set<string>();
  const timeseries = series.map((s) => {
    names.add(s.name);
    return {
      labels: withLabel(s.labels, '__name__', s.name).map(([name, value]) => ({ name, value })),
      samples: [{ value: s.value, timestamp: s.timestampMs }],
    };
  });
  const metadata = [...names].sort().map((name) => ({ type: COUNTER, metric_family_name: name, help: METRIC_HELP[name] ?? '', unit: METRIC_UNIT[name] ?? '' }));
  return { timeseries, metadata };
}

/** Snappy-compressed protobuf, ready to POST. */
export function encodeWriteRequest(series: readonly StoredSeries[]): Uint8Array {
  return snappy.compress(WriteRequest.encode(writeRequest(series)).finish());
}

/** The inverse, for tests and fake receivers. */
export function decodeWriteRequest(body: Uint8Array): WriteRequestBody {
  const message = WriteRequest.decode(snappy.uncompress(body));
  return WriteRequest.toObject(message, { longs: Number, enums: Number, defaults: true }) as WriteRequestBody;
}
