// The counters the map sums per edge, and the turning of cumulative batches into increases.
//
// Money: the netcost processor puts a cost on the flow record (`costZeptoUsd`); the map sums it
// in USD. A flow without it has no cost (not a cost of zero).
import { usdNumber, type Flow, type FlowBatch } from '../../model/index.ts';

/** Offsets of the counters in a slice: tx bytes, rx bytes, tx packets, rx packets, connections, cost. */
export const TX_BYTES = 0;
export const RX_BYTES = 1;
export const TX_PACKETS = 2;
export const RX_PACKETS = 3;
export const CONNECTIONS = 4;
export const COST_USD = 5;
export const COUNTERS = 6;

/** One flow's counters in slice order; `cost` is undefined when the flow carries none. */
export interface FlowCounters {
  values: [number, number, number, number, number, number];
  hasCost: boolean;
}

/** The netcost processor's cost of a flow in USD, or undefined when it did not price it. */
export function flowCostUsd(flow: Flow): number | undefined {
  return flow.costZeptoUsd === undefined ? undefined : usdNumber(flow.costZeptoUsd);
}

function countersOf(flow: Flow): FlowCounters {
  const cost = flowCostUsd(flow);
  return { values: [flow.txBytes, flow.rxBytes, flow.txPackets, flow.rxPackets, flow.connections, cost ?? 0], hasCost: cost !== undefined };
}

/** Identity of a cumulative series: its attributes (JSON keeps any value unambiguous). */
function seriesKey(flow: Flow): string {
  const keys = Object.keys(flow.attributes).sort();
  return JSON.stringify(keys.map((k) => [k, flow.attributes[k]]));
}

interface SeenSeries {
  startTimeUnixNano: bigint;
  values: FlowCounters['values'];
  lastSeenMs: number;
}

/**
 * Delta batches pass through; cumulative batches (reduce with `temporality: cumulative`) carry
 * running totals, so each series yields its increase since its previous value. A new start
 * time, or a counter that went down, is a reset: the whole value is new. Series not seen for
 * `ttlMs` are forgotten (reduce re-creates an evicted group with a new start time).
 */
export class IncreaseTracker {
  readonly #seen = new Map<string, SeenSeries>();
  readonly #ttlMs: number;

  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs;
  }

  get size(): number {
    return this.#seen.size;
  }

  /** What each flow of the batch adds, in batch order. */
  increases(batch: FlowBatch, nowMs: number): FlowCounters[] {
    if (batch.temporality === 'delta') return batch.flows.map(countersOf);
    const out = batch.flows.map((flow) => this.#increase(flow, nowMs));
    for (const [key, seen] of this.#seen) if (nowMs - seen.lastSeenMs > this.#ttlMs) this.#seen.delete(key);
    return out;
  }

  #increase(flow: Flow, nowMs: number): FlowCounters {
    const now = countersOf(flow);
    const key = seriesKey(flow);
    const seen = this.#seen.get(key);
    this.#seen.set(key, { startTimeUnixNano: flow.startTimeUnixNano, values: now.values, lastSeenMs: nowMs });
    if (!seen || seen.startTimeUnixNano !== flow.startTimeUnixNano || now.values.some((v, i) => v < seen.values[i]!)) return now;
    return { values: now.values.map((v, i) => v - seen.values[i]!) as FlowCounters['values'], hasCost: now.hasCost };
  }
}
