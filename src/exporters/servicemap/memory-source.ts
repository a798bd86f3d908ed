// The graph from the flows this exporter received (FlowWindow), for any grouping.
import type { FlowBatch } from '../../model/index.ts';
import { CONNECTIONS, COST_USD, COUNTERS, IncreaseTracker, RX_BYTES, RX_PACKETS, TX_BYTES, TX_PACKETS } from './counters.ts';
import { GROUPINGS } from './ends.ts';
import { FlowWindow } from './flow-window.ts';
import { GraphBuilder, type Graph, type GraphQuery, type GraphSource } from './graph.ts';

/** Batch arrival times kept to tell polling clients how often the map changes. */
const ARRIVALS_KEPT = 5;
/** What a polling client waits before the second batch has arrived. */
const DEFAULT_REFRESH_MS = 5_000;

function isZero(sums: Float64Array): boolean {
  for (let i = 0; i < sums.length; i++) if (sums[i] !== 0) return false;
  return true;
}

function inFilter(filter: ReadonlySet<string>, namespace: string | undefined): boolean {
  return namespace !== undefined && filter.has(namespace);
}

export class MemoryGraphSource implements GraphSource {
  readonly kind = 'memory';
  readonly groupings = GROUPINGS;
  readonly window: FlowWindow;
  readonly #increases: IncreaseTracker;
  readonly #arrivalsMs: number[] = [];

  constructor(windowMs: number, maxEdges: number, nowMs: number) {
    this.window = new FlowWindow({ windowMs, maxEdges, nowMs });
    this.#increases = new IncreaseTracker(windowMs);
  }

  /** Cumulative series being tracked (reduce with temporality: cumulative in front). */
  get trackedSeries(): number {
    return this.#increases.size;
  }

  /** Adds a batch at `nowMs`; returns how many edges were merged into "other". */
  apply(batch: FlowBatch, nowMs: number): number {
    const increases = this.#increases.increases(batch, nowMs);
    this.#arrivalsMs.push(nowMs);
    if (this.#arrivalsMs.length > ARRIVALS_KEPT) this.#arrivalsMs.shift();
    return this.window.add(batch.flows.map((f, i) => ({ attributes: f.attributes, counters: increases[i]! })), nowMs);
  }

  /** The median gap between recent batches: about the reduce interval. */
  #refreshMs(): number {
    const gaps = this.#arrivalsMs.slice(1).map((t, i) => t - this.#arrivalsMs[i]!).filter((g) => g > 0).sort((a, b) => a - b);
    return gaps.length ? Math.max(1_000, gaps[gaps.length >> 1]!) : DEFAULT_REFRESH_MS;
  }

  async graph(query: GraphQuery, nowMs: number): Promise<Graph> {
    const w = this.window;
    w.advance(nowMs);
    const first = w.firstSliceFor(query.windowMs, nowMs);
    const fromMs = Math.max(first * w.sliceMs, w.startedMs);
    const filter = query.namespaces.length ? new Set(query.namespaces) : undefined;
    const builder = new GraphBuilder();
    const sums = new Float64Array(COUNTERS);
    for (const edge of w.edges()) {
      w.sums(edge, first, sums);
      if (isZero(sums)) continue;
      builder.seeNamespace(edge.source.namespace);
      builder.seeNamespace(edge.destination.namespace);
      if (filter && !inFilter(filter, edge.source.namespace) && !inFilter(filter, edge.destination.namespace)) continue;
      const bytes = sums[TX_BYTES]! + sums[RX_BYTES]!;
      builder.add(w.view(edge, query.grouping), {
        txBytes: sums[TX_BYTES]!,
        rxBytes: sums[RX_BYTES]!,
        txPackets: sums[TX_PACKETS]!,
        rxPackets: sums[RX_PACKETS]!,
        packets: sums[TX_PACKETS]! + sums[RX_PACKETS]!,
        connections: sums[CONNECTIONS]!,
        costUsd: edge.hasCost ? sums[COST_USD]! : undefined,
        crossZoneBytes: edge.crossZone ? bytes : 0,
      });
    }
    const { nodes, edges, namespaces } = builder.build(nowMs - fromMs);
    w.otherSums(first, sums);
    const last = this.#arrivalsMs.at(-1);
    return {
      source: 'memory',
      group: query.grouping,
      window_ms: query.windowMs,
      max_window_ms: w.windowMs,
      from: new Date(fromMs).toISOString(),
      to: new Date(nowMs).toISOString(),
      updated_at: last === undefined ? null : new Date(last).toISOString(),
      refresh_ms: this.#refreshMs(),
      namespaces,
      nodes,
      edges,
      other: {
        merged_edges_total: w.mergedEdges,
        tx_bytes: sums[TX_BYTES]!,
        rx_bytes: sums[RX_BYTES]!,
        packets: sums[TX_PACKETS]! + sums[RX_PACKETS]!,
        connections: sums[CONNECTIONS]!,
        ...(w.otherHasCost ? { cost_usd: sums[COST_USD]! } : {}),
      },
    };
  }

  async close(): Promise<void> {}
}
