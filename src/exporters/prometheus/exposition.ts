// The Prometheus text exposition format 0.0.4: per metric a HELP and TYPE line, then one
// `name{label="value",...} value` line per series, labels already sorted by name.
//
// A scrape is rendered in chunks, never as one string: each chunk holds about CHUNK_BYTES of
// text or SLICE_MS of work, whichever comes first, and the generator waits for the event loop
// (setImmediate) before the next one, so flows keep being exported while a large scrape is
// served. The consumer (a stream pipeline to the socket, through gzip when asked) pulls chunks
// only as fast as the client reads them.
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { StoredSeries } from '../shared/prometheus-series.ts';
import { METRIC_HELP } from '../shared/prometheus-series.ts';

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Text per chunk: large enough to keep the per-chunk overhead small. */
const CHUNK_BYTES = 64 * 1024;
/** Work per chunk before yielding (well under the 20 ms a scrape may hold the event loop). */
const SLICE_MS = 4;
/** Series rendered between two looks at the clock. */
const CLOCK_EVERY = 32;

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function seriesLine(s: StoredSeries): string {
  let labels = '';
  for (const [n, v] of s.labels) labels += `${labels === '' ? '' : ','}${n}="${escapeLabelValue(v)}"`;
  return `${s.name}{${labels}} ${formatValue(s.value)}\n`;
}

/**
 * The exposition of `series` (a snapshot: the array is not changed while it is rendered; values
 * are read as they are when their line is written), in chunks, metrics sorted by name. Every
 * pass over the snapshot, the one that finds the metric names included, yields between slices.
 */
export async function* exposition(series: readonly StoredSeries[]): AsyncGenerator<string> {
  let sliceStart = performance.now();
  let sinceClock = 0;
  /** Whether this slice has had its time (looked at every CLOCK_EVERY series). */
  const sliceOver = () => {
    if (++sinceClock < CLOCK_EVERY) return false;
    sinceClock = 0;
    return performance.now() - sliceStart >= SLICE_MS;
  };
  const nextSlice = async () => {
    await nextTurn();
    sliceStart = performance.now();
  };
  const names = new Set<string>();
  for (const s of series) {
    names.add(s.name);
    if (sliceOver()) await nextSlice();
  }
  let chunk = '';
  for (const name of [...names].sort()) {
    chunk += `# HELP ${name} ${escapeHelp(METRIC_HELP[name] ?? name)}\n# TYPE ${name} counter\n`;
    for (const s of series) {
      if (s.name === name) chunk += seriesLine(s);
      if (chunk.length < CHUNK_BYTES && !sliceOver()) continue;
      if (chunk !== '') yield chunk;
      chunk = '';
      await nextSlice();
    }
  }
  if (chunk !== '') yield chunk;
}
