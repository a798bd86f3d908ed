// A batch's flows in another temporality: what the otlp and loadbalancing exporters send for a
// batch, given what arrives (`batch.temporality`) and what they are configured to send, and how
// the otlp receiver turns a sender's cumulative streams back into deltas:
//
//   delta in, delta out            the flows as they are: each covers its own interval
//   cumulative in, cumulative out  the flows as they are: reduce's running totals and group starts
//   delta in, cumulative out       running sums per series (attribute set); a series starts at
//                                  the start of its first flow, so its first point covers exactly
//                                  what was counted, never a made-up span
//   cumulative in, delta out       the increase of each series since its previous batch, over
//                                  [previous batch's time, this time]; a new series, or one whose
//                                  start time changed (reduce re-created it), counts whole from its
//                                  own start; a value that went down (a reset without a new start)
//                                  counts whole from the previous time
//
// A flow's cost (costZeptoUsd, an integer) is one more counter, summed and subtracted exactly; a
// series is priced from its first priced flow on (an unpriced one before counts as zero), and a
// flow without a cost stays without one.
//
// Series not seen for `ttlMs` are forgotten. A forgotten cumulative output series comes back
// with a new start time, which every OTLP consumer reads as a new series (no double counting).
import type { Attributes, Flow, FlowBatch, Temporality } from './flow.ts';

interface Series {
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
  txBytes: number;
  rxBytes: number;
  txPackets: number;
  rxPackets: number;
  connections: number;
  /** Undefined until a flow of the series carried a cost. */
  costZeptoUsd: bigint | undefined;
  lastSeenMs: number;
}

/** Identity of an attribute set: its keys in order, each value with its type. */
export function seriesKeyOf(attributes: Attributes): string {
  const keys = Object.keys(attributes).sort();
  let key = '';
  for (const k of keys) {
    const v = attributes[k]!;
    key += `${k}\x00${typeof v === 'string' ? 's' : typeof v === 'number' ? 'n' : 'b'}${String(v)}\x01`;
  }
  return key;
}

/** Identity of a series: its attributes. */
export function seriesKey(flow: Flow): string {
  return seriesKeyOf(flow.attributes);
}

export class TemporalityConverter {
  readonly #out: Temporality;
  readonly #ttlMs: number;
  readonly #series = new Map<string, Series>();

  constructor(out: Temporality, ttlMs: number) {
    this.#out = out;
    this.#ttlMs = ttlMs;
  }

  /** Series remembered (only when the two temporalities differ). */
  get size(): number {
    return this.#series.size;
  }

  /** The flows to send for `batch`, with the exporter's temporality. */
  convert(batch: FlowBatch, nowMs: number): Flow[] {
    if (batch.temporality === this.#out) return batch.flows;
    const out = batch.temporality === 'delta' ? this.#sums(batch.flows, nowMs) : this.#increases(batch.flows, nowMs);
    for (const [key, s] of this.#series) if (nowMs - s.lastSeenMs > this.#ttlMs) this.#series.delete(key);
    return out;
  }

  /** Delta flows → one running sum per series (several flows of a series in a batch add up). */
  #sums(flows: readonly Flow[], nowMs: number): Flow[] {
    const inBatch = new Map<string, Flow>();
    for (const flow of flows) {
      const key = seriesKey(flow);
      let s = this.#series.get(key);
      if (!s) {
        s = { startTimeUnixNano: flow.startTimeUnixNano, timeUnixNano: flow.timeUnixNano, txBytes: 0, rxBytes: 0, txPackets: 0, rxPackets: 0, connections: 0, costZeptoUsd: undefined, lastSeenMs: nowMs };
        this.#series.set(key, s);
      }
      s.txBytes += flow.txBytes;
      s.rxBytes += flow.rxBytes;
      s.txPackets += flow.txPackets;
      s.rxPackets += flow.rxPackets;
      s.connections += flow.connections;
      if (flow.costZeptoUsd !== undefined) s.costZeptoUsd = (s.costZeptoUsd ?? 0n) + flow.costZeptoUsd;
      if (flow.timeUnixNano > s.timeUnixNano) s.timeUnixNano = flow.timeUnixNano;
      s.lastSeenMs = nowMs;
      const sum: Flow = {
        startTimeUnixNano: s.startTimeUnixNano,
        timeUnixNano: s.timeUnixNano,
        attributes: flow.attributes,
        txBytes: s.txBytes,
        rxBytes: s.rxBytes,
        txPackets: s.txPackets,
        rxPackets: s.rxPackets,
        connections: s.connections,
      };
      if (s.costZeptoUsd !== undefined) sum.costZeptoUsd = s.costZeptoUsd;
      inBatch.set(key, sum);
    }
    return [...inBatch.values()];
  }

  /** Cumulative flows → what each series gained since its previous batch (nothing: left out). */
  #increases(flows: readonly Flow[], nowMs: number): Flow[] {
    const out: Flow[] = [];
    for (const flow of flows) {
      const key = seriesKey(flow);
      const seen = this.#series.get(key);
      this.#series.set(key, {
        startTimeUnixNano: flow.startTimeUnixNano,
        timeUnixNano: flow.timeUnixNano,
        txBytes: flow.txBytes,
        rxBytes: flow.rxBytes,
        txPackets: flow.txPackets,
        rxPackets: flow.rxPackets,
        connections: flow.connections,
        costZeptoUsd: flow.costZeptoUsd,
        lastSeenMs: nowMs,
      });
      let increase: Flow;
      if (!seen || seen.startTimeUnixNano !== flow.startTimeUnixNano) {
        increase = flow;
      } else if (flow.txBytes < seen.txBytes || flow.rxBytes < seen.rxBytes || flow.txPackets < seen.txPackets || flow.rxPackets < seen.rxPackets || flow.connections < seen.connections || (flow.costZeptoUsd ?? 0n) < (seen.costZeptoUsd ?? 0n)) {
        increase = { ...flow, startTimeUnixNano: seen.timeUnixNano };
      } else {
        increase = {
          startTimeUnixNano: seen.timeUnixNano,
          timeUnixNano: flow.timeUnixNano,
          attributes: flow.attributes,
          txBytes: flow.txBytes - seen.txBytes,
          rxBytes: flow.rxBytes - seen.rxBytes,
          txPackets: flow.txPackets - seen.txPackets,
          rxPackets: flow.rxPackets - seen.rxPackets,
          connections: flow.connections - seen.connections,
        };
        if (flow.costZeptoUsd !== undefined) increase.costZeptoUsd = flow.costZeptoUsd - (seen.costZeptoUsd ?? 0n);
      }
      if (increase.txBytes || increase.rxBytes || increase.txPackets || increase.rxPackets || increase.connections || increase.costZeptoUsd) out.push(increase);
    }
    return out;
  }
}
