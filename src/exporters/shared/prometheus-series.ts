// Flows as Prometheus series, shared by the prometheus (pull) and prometheus_remote_write
// exporters. Names follow the OpenTelemetry → Prometheus compatibility rules: the counter
// `network.flow.io` (unit By) becomes `network_flow_io_bytes_total`, `network.flow.packets`
// (unit {packet}, an annotation, so no suffix) becomes `network_flow_packets_total`; the
// direction is the label `network_io_direction`; attribute keys have every character outside
// [a-zA-Z0-9_] turned into `_`. Labels are sorted by name; empty values are omitted. The cost the
// netcost processor put on a flow is `network_flow_cost_usd_total` (no direction label).
import { usdNumber, type AttributeValue, type Flow, type FlowBatch } from '../../model/index.ts';

export const BYTES_METRIC = 'network_flow_io_bytes_total';
export const PACKETS_METRIC = 'network_flow_packets_total';
export const COST_METRIC = 'network_flow_cost_usd_total';
export const DIRECTION_LABEL = 'network_io_direction';

export const METRIC_HELP: Record<string, string> = {
  [BYTES_METRIC]: 'Bytes of network flows (L3 length as the kernel counts them), by direction: transmit is source to destination.',
  [PACKETS_METRIC]: 'Packets of network flows, by direction: transmit is source to destination.',
  [COST_METRIC]: 'What network flows cost by the cloud\'s billing rules (netcost processor), USD.',
};

export const METRIC_UNIT: Record<string, string> = { [BYTES_METRIC]: 'bytes', [PACKETS_METRIC]: '', [COST_METRIC]: 'usd' };

/** A sorted list of [name, value] pairs, without `__name__`. */
export type Labels = ReadonlyArray<readonly [string, string]>;

/** Prometheus' rule for label names: [a-zA-Z_][a-zA-Z0-9_]*; a leading digit gets `key_`. */
export function sanitizeLabelName(key: string): string {
  const name = key.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(name) ? `key_${name}` : name;
}

const labelNameCache = new Map<string, string>();
function labelName(key: string): string {
  let name = labelNameCache.get(key);
  if (name === undefined) {
    name = sanitizeLabelName(key);
    if (labelNameCache.size < 10_000) labelNameCache.set(key, name);
  }
  return name;
}

function labelValue(value: AttributeValue): string {
  return typeof value === 'string' ? value : String(value);
}

/**
 * A flow's attributes as sorted labels. Two keys that sanitize to the same name (`a.b`, `a_b`)
 * have their values joined with `;` in key order, as the Collector's translator does.
 */
export function attributeLabels(attributes: Flow['attributes'], extra: Labels = []): Array<[string, string]> {
  const byName = new Map<string, string>();
  for (const key of Object.keys(attributes).sort()) {
    const value = labelValue(attributes[key]!);
    if (value === '') continue;
    const name = labelName(key);
    const prior = byName.get(name);
    byName.set(name, prior === undefined ? value : `${prior};${value}`);
  }
  // External labels never override a flow's own label (Prometheus' rule for external_labels).
  for (const [name, value] of extra) if (value !== '' && !byName.has(name)) byName.set(name, value);
  return [...byName].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** Identity of one series: name plus labels, with separators that cannot occur in UTF-8 text. */
export function seriesKey(name: string, labels: Labels): string {
  let key = name;
  for (const [n, v] of labels) key += `\xff${n}\xfe${v}`;
  return key;
}

export interface StoredSeries {
  name: string;
  labels: Labels;
  /** Cumulative value since the series was created. */
  value: number;
  /** The cost series: its value as exact zepto-USD (value is this as a double). */
  costZeptoUsd?: bigint;
  /** Sample time for remote write: strictly increasing per series. */
  timestampMs: number;
  /** Wall-clock time of the last batch that touched the series (for expiry). */
  updatedMs: number;
}

/** What the store refuses to grow by (both unlimited unless set). */
export interface SeriesLimits {
  /** Series kept at most: a flow whose new series would pass it creates none (its existing ones still count). */
  maxSeries?: number;
  /** Longest label value in UTF-8 bytes, marker included: longer values are cut (`truncateLabelValue`). */
  maxLabelValueBytes?: number;
}

/** What `SeriesStore.apply` refused since the last `takeRefused()`. */
export interface RefusedSeries {
  /** New series not created because `maxSeries` was reached. */
  droppedSeries: number;
  /** Label values cut to `maxLabelValueBytes` (once per flow and label). */
  truncatedLabelValues: number;
}

/**
 * `value` cut to at most `maxBytes` UTF-8 bytes, ending in a marker that says it was cut and how
 * long it was (`…[truncated from 10485760 bytes]`), so a cut value is never mistaken for a real one.
 * Cuts only between characters. `value` itself when it fits.
 */
export function truncateLabelValue(value: string, maxBytes: number): string {
  // UTF-16 units of at most 3 bytes each (a pair is 4 bytes for 2 units): short enough to fit.
  if (value.length * 3 <= maxBytes) return value;
  const bytes = Buffer.byteLength(value);
  if (bytes <= maxBytes) return value;
  const marker = `…[truncated from ${bytes} bytes]`;
  const room = maxBytes - Buffer.byteLength(marker);
  // Every unit is at least one byte, so the first `room` units hold at least `room` bytes.
  const head = Buffer.from(value.slice(0, room), 'utf8');
  let end = Math.min(room, head.length);
  while (end > 0 && (head[end]! & 0xc0) === 0x80) end--; // never in the middle of a character
  return `${head.subarray(0, end).toString('utf8').toWellFormed()}${marker}`;
}

/**
 * Cumulative counters per series. Delta batches are added; cumulative batches replace the
 * value (several flows of one batch that land on the same series are summed first). Series
 * not touched for the expiration time are forgotten, which bounds memory and lets series of
 * ended flows disappear. `limits` bound how many series there are and how long a label value is.
 */
export class SeriesStore {
  readonly #series = new Map<string, StoredSeries>();
  readonly #externalLabels: Labels;
  readonly #maxSeries: number;
  readonly #maxLabelValueBytes: number;
  #refused: RefusedSeries = { droppedSeries: 0, truncatedLabelValues: 0 };
  /** Where the sweep of `expireSome` stands. */
  #expiryCursor: MapIterator<[string, StoredSeries]> | undefined;

  constructor(externalLabels: Labels = [], limits: SeriesLimits = {}) {
    this.#maxSeries = limits.maxSeries ?? Infinity;
    this.#maxLabelValueBytes = limits.maxLabelValueBytes ?? Infinity;
    this.#externalLabels = this.#truncated(externalLabels);
  }

  get size(): number {
    return this.#series.size;
  }

  /** What the limits refused since the last call. */
  takeRefused(): RefusedSeries {
    const refused = this.#refused;
    this.#refused = { droppedSeries: 0, truncatedLabelValues: 0 };
    return refused;
  }

  values(): IterableIterator<StoredSeries> {
    return this.#series.values();
  }

  /** Applies a batch; returns the series it touched (what remote write sends). */
  apply(batch: FlowBatch, nowMs: number = Date.now()): StoredSeries[] {
    const touched = new Map<string, StoredSeries>();
    const batchSums = new Map<string, number>();
    const delta = batch.temporality === 'delta';
    let admitted = true;
    const costSums = new Map<string, bigint>();
    // A number adds to a byte or packet series; a bigint to a cost series, which is kept exact in
    // zepto-USD and shown as its nearest double.
    const add = (name: string, labels: Labels, suffix: string, value: number | bigint, flowMs: number) => {
      const key = name + suffix;
      let series = this.#series.get(key);
      // A zero that creates nothing keeps one-way flows at two series instead of four.
      if (series === undefined && (value === 0 || value === 0n)) return;
      if (series === undefined) {
        if (!admitted) return;
        series = { name, labels, value: 0, timestampMs: 0, updatedMs: nowMs };
        this.#series.set(key, series);
      }
      if (typeof value === 'bigint') {
        const total = (delta ? series.costZeptoUsd ?? 0n : costSums.get(key) ?? 0n) + value;
        if (!delta) costSums.set(key, total);
        series.costZeptoUsd = total;
        series.value = usdNumber(total);
      } else if (delta) {
        series.value += value;
      } else {
        const sum = (batchSums.get(key) ?? 0) + value;
        batchSums.set(key, sum);
        series.value = sum;
      }
      series.timestampMs = Math.max(flowMs, touched.has(key) ? series.timestampMs : series.timestampMs + 1);
      series.updatedMs = nowMs;
      touched.set(key, series);
    };
    for (const flow of batch.flows) {
      const flowMs = Number(flow.timeUnixNano / 1_000_000n) || nowMs;
      const base = this.#truncated(attributeLabels(flow.attributes, this.#externalLabels));
      const transmit = withLabel(base, DIRECTION_LABEL, 'transmit');
      const receive = withLabel(base, DIRECTION_LABEL, 'receive');
      const transmitKey = seriesKey('', transmit);
      const receiveKey = seriesKey('', receive);
      const costKey = flow.costZeptoUsd === undefined ? undefined : seriesKey('', base);
      // A flow gets all of its new series or none: never bytes without packets (or cost).
      if (this.#series.size + 5 > this.#maxSeries) {
        const created = (name: string, suffix: string, value: number | bigint) => (value !== 0 && value !== 0n && !this.#series.has(name + suffix) ? 1 : 0);
        const fresh = created(BYTES_METRIC, transmitKey, flow.txBytes) + created(BYTES_METRIC, receiveKey, flow.rxBytes) +
          created(PACKETS_METRIC, transmitKey, flow.txPackets) + created(PACKETS_METRIC, receiveKey, flow.rxPackets) +
          (costKey === undefined ? 0 : created(COST_METRIC, costKey, flow.costZeptoUsd!));
        admitted = this.#series.size + fresh <= this.#maxSeries;
        if (!admitted) this.#refused.droppedSeries += fresh;
      } else {
        admitted = true;
      }
      add(BYTES_METRIC, transmit, transmitKey, flow.txBytes, flowMs);
      add(BYTES_METRIC, receive, receiveKey, flow.rxBytes, flowMs);
      add(PACKETS_METRIC, transmit, transmitKey, flow.txPackets, flowMs);
      add(PACKETS_METRIC, receive, receiveKey, flow.rxPackets, flowMs);
      if (costKey !== undefined) add(COST_METRIC, base, costKey, flow.costZeptoUsd!, flowMs);
    }
    return [...touched.values()];
  }

  /** Labels with every value cut to maxLabelValueBytes (the same array when none is too long). */
  #truncated<L extends Labels>(labels: L): L {
    const max = this.#maxLabelValueBytes;
    if (max === Infinity) return labels;
    let out: Array<[string, string]> | undefined;
    for (let i = 0; i < labels.length; i++) {
      const [name, value] = labels[i]!;
      const cut = truncateLabelValue(value, max);
      if (cut === value) continue;
      out ??= labels.map(([n, v]) => [n, v]);
      out[i] = [name, cut];
      this.#refused.truncatedLabelValues++;
    }
    return (out ?? labels) as L;
  }

  /**
   * Like `expire`, but looks at `maxSeries` series at most, resuming where the previous call
   * stopped, so a large store can be swept in steps between which the event loop runs (a
   * sweep of 400,000 series takes 15-30 ms). `done` when a sweep reached the end; the next call
   * starts a new one.
   */
  expireSome(expirationMs: number, nowMs: number, maxSeries: number): { removed: number; done: boolean } {
    const cursor = (this.#expiryCursor ??= this.#series.entries());
    let removed = 0;
    for (let seen = 0; seen < maxSeries; seen++) {
      const next = cursor.next();
      if (next.done) {
        this.#expiryCursor = undefined;
        return { removed, done: true };
      }
      const [key, series] = next.value;
      // Deleting the entry a Map iterator is at is safe: it goes on with the next one.
      if (nowMs - series.updatedMs > expirationMs) {
        this.#series.delete(key);
        removed++;
      }
    }
    return { removed, done: false };
  }

  /** Forgets series idle for longer than `expirationMs`; returns how many. */
  expire(expirationMs: number, nowMs: number = Date.now()): number {
    let removed = 0;
    for (const [key, series] of this.#series) {
      if (nowMs - series.updatedMs > expirationMs) {
        this.#series.delete(key);
        removed++;
      }
    }
    return removed;
  }
}

/** `labels` (sorted) with one more label inserted in order. */
export function withLabel(labels: Labels, name: string, value: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let placed = false;
  for (const pair of labels) {
    if (!placed && pair[0] >= name) {
      placed = true;
      if (pair[0] === name) {
        out.push([name, value]);
        continue;
      }
      out.push([name, value]);
    }
    out.push([pair[0], pair[1]]);
  }
  if (!placed) out.push([name, value]);
  return out;
}
