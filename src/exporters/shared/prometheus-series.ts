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

/**
 * Cumulative counters per series. Delta batches are added; cumulative batches replace the
 * value (several flows of one batch that land on the same series are summed first). Series
 * not touched for the expiration time are forgotten, which bounds memory and lets series of
 * ended flows disappear.
 */
export class SeriesStore {
  readonly #series = new Map<string, StoredSeries>();
  readonly #externalLabels: Labels;

  constructor(externalLabels: Labels = []) {
    this.#externalLabels = externalLabels;
  }

  get size(): number {
    return this.#series.size;
  }

  values(): IterableIterator<StoredSeries> {
    return this.#series.values();
  }

  /** Applies a batch; returns the series it touched (what remote write sends). */
  apply(batch: FlowBatch, nowMs: number = Date.now()): StoredSeries[] {
    const touched = new Map<string, StoredSeries>();
    const batchSums = new Map<string, number>();
    const delta = batch.temporality === 'delta';
    const costSums = new Map<string, bigint>();
    // A number adds to a byte or packet series; a bigint to a cost series, which is kept exact in
    // zepto-USD and shown as its nearest double.
    const add = (name: string, labels: Labels, suffix: string, value: number | bigint, flowMs: number) => {
      const key = name + suffix;
      let series = this.#series.get(key);
      // A zero that creates nothing keeps one-way flows at two series instead of four.
      if (series === undefined && (value === 0 || value === 0n)) return;
      if (series === undefined) {
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
      const base = attributeLabels(flow.attributes, this.#externalLabels);
      const transmit = withLabel(base, DIRECTION_LABEL, 'transmit');
      const receive = withLabel(base, DIRECTION_LABEL, 'receive');
      const transmitKey = seriesKey('', transmit);
      const receiveKey = seriesKey('', receive);
      add(BYTES_METRIC, transmit, transmitKey, flow.txBytes, flowMs);
      add(BYTES_METRIC, receive, receiveKey, flow.rxBytes, flowMs);
      add(PACKETS_METRIC, transmit, transmitKey, flow.txPackets, flowMs);
      add(PACKETS_METRIC, receive, receiveKey, flow.rxPackets, flowMs);
      if (flow.costZeptoUsd !== undefined) add(COST_METRIC, base, seriesKey('', base), flow.costZeptoUsd, flowMs);
    }
    return [...touched.values()];
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
