// The in-memory map: a bounded window of reduced flows, per edge and per time slice.
//
// An edge is one pair of flow ends as reduce left them (workload, node, zone, address or
// domain on each side, and inter_zone); ports and protocols are summed into it. The window
// (`window`, default 1h) is cut into SLICES equal slices on wall-clock multiples of
// window / SLICES; a flow counts in the slice in which it arrives. Each edge holds a
// Float64Array of SLICES × COUNTERS, a ring indexed by slice number: memory per edge is fixed
// (2.9 KB of counters) whatever the traffic.
//
// Bounds: an edge with nothing left in the window is removed; past `maxEdges` the edges with the
// fewest bytes in the window are merged into one "other" ring (counted), so memory stays bounded
// by maxEdges whatever the flows.
import { type Attributes, DESTINATION_DOMAIN, endKeys, NETWORK_FLOW_INTER_ZONE, type FlowEnd } from '../../model/index.ts';
import { COUNTERS, RX_BYTES, TX_BYTES, type FlowCounters } from './counters.ts';
import { endInfo, mapNode, type FlowEndInfo, type Grouping } from './ends.ts';
import { edgeId, type MapEdgeEnds } from './graph.ts';

export const SLICES = 60;

export interface StoredEdge {
  source: FlowEndInfo;
  destination: FlowEndInfo;
  /** `network.flow.inter_zone`, or both zones known and different. */
  crossZone: boolean;
  /** Some flow of this edge carried a cost (netcost). */
  hasCost: boolean;
  /** SLICES × COUNTERS, ring position = slice number % SLICES. */
  readonly counters: Float64Array;
  /** Absolute number of the last slice that added to it. */
  lastSlice: number;
  /** Both ends as map nodes, and the map edge id, per grouping; made on first use. */
  readonly views: Partial<Record<Grouping, MapEdgeEnds>>;
}

/** Sums of one edge (or of "other") over a range of slices, in counter order. */
export type Sums = Float64Array;

/** The attribute keys that make an edge (both ends and inter_zone); everything else is summed. */
const END_KEYS = (end: FlowEnd) => {
  const k = endKeys(end);
  return [k.namespace, k.ownerName, k.ownerType, k.podName, k.nodeName, k.zone, k.address, k.addressType];
};
const EDGE_KEYS = [...END_KEYS('source'), ...END_KEYS('destination'), DESTINATION_DOMAIN, NETWORK_FLOW_INTER_ZONE];

function edgeKey(attributes: Attributes): string {
  // JSON keeps hostile values unambiguous: no separator can be forged.
  return JSON.stringify(EDGE_KEYS.map((k) => attributes[k] ?? null));
}

export interface FlowWindowOptions {
  windowMs: number;
  maxEdges: number;
  nowMs: number;
}

export class FlowWindow {
  readonly windowMs: number;
  readonly sliceMs: number;
  readonly maxEdges: number;
  readonly startedMs: number;
  readonly #edges = new Map<string, StoredEdge>();
  readonly #other = new Float64Array(SLICES * COUNTERS);
  #otherHasCost = false;
  #mergedEdges = 0;
  /** Absolute number of the newest slice (floor(now / sliceMs)). */
  #slice: number;

  constructor(o: FlowWindowOptions) {
    this.windowMs = o.windowMs;
    this.sliceMs = o.windowMs / SLICES;
    this.maxEdges = o.maxEdges;
    this.startedMs = o.nowMs;
    this.#slice = this.sliceOf(o.nowMs);
  }

  get size(): number {
    return this.#edges.size;
  }

  /** Edges merged into "other" since start. */
  get mergedEdges(): number {
    return this.#mergedEdges;
  }

  sliceOf(ms: number): number {
    return Math.floor(ms / this.sliceMs);
  }

  edges(): IterableIterator<StoredEdge> {
    return this.#edges.values();
  }

  /**
   * Adds flows (attributes with their increases) at `nowMs`; then merges the smallest edges
   * into "other" while there are more than maxEdges. Returns how many edges were merged.
   */
  add(flows: ReadonlyArray<{ attributes: Attributes; counters: FlowCounters }>, nowMs: number): number {
    this.advance(nowMs);
    const base = (this.#slice % SLICES) * COUNTERS;
    for (const { attributes, counters } of flows) {
      if (counters.values.every((v) => v === 0)) continue;
      const key = edgeKey(attributes);
      let edge = this.#edges.get(key);
      if (!edge) {
        const source = endInfo(attributes, 'source');
        const destination = endInfo(attributes, 'destination');
        const interZone = attributes[NETWORK_FLOW_INTER_ZONE];
        const crossZone = interZone === true || (interZone === undefined && source.zone !== undefined && destination.zone !== undefined && source.zone !== destination.zone);
        edge = { source, destination, crossZone, hasCost: false, counters: new Float64Array(SLICES * COUNTERS), lastSlice: this.#slice, views: {} };
        this.#edges.set(key, edge);
      }
      for (let i = 0; i < COUNTERS; i++) edge.counters[base + i]! += counters.values[i]!;
      edge.hasCost ||= counters.hasCost;
      edge.lastSlice = this.#slice;
    }
    return this.#compact();
  }

  /** Moves the ring to `nowMs`: slices that left the window are cleared, edges with nothing left removed. */
  advance(nowMs: number): void {
    const slice = this.sliceOf(nowMs);
    if (slice <= this.#slice) return;
    const steps = Math.min(slice - this.#slice, SLICES);
    for (let s = slice - steps + 1; s <= slice; s++) {
      const base = (s % SLICES) * COUNTERS;
      for (const edge of this.#edges.values()) edge.counters.fill(0, base, base + COUNTERS);
      this.#other.fill(0, base, base + COUNTERS);
    }
    this.#slice = slice;
    for (const [key, edge] of this.#edges) if (edge.lastSlice <= slice - SLICES) this.#edges.delete(key);
  }

  /** The first slice a query of the last `windowMs` reads (the slice that holds now - windowMs). */
  firstSliceFor(windowMs: number, nowMs: number): number {
    return Math.max(this.sliceOf(nowMs - windowMs), this.#slice - SLICES + 1);
  }

  /** Sums of an edge over slices [from, newest]; `into` is overwritten. */
  sums(edge: StoredEdge, fromSlice: number, into: Sums): Sums {
    return this.#sum(edge.counters, fromSlice, into);
  }

  /** Sums of "other" over slices [from, newest]. */
  otherSums(fromSlice: number, into: Sums): Sums {
    return this.#sum(this.#other, fromSlice, into);
  }

  get otherHasCost(): boolean {
    return this.#otherHasCost;
  }

  /** Both ends as map nodes under `grouping`, and the map edge's id. */
  view(edge: StoredEdge, grouping: Grouping): MapEdgeEnds {
    let view = edge.views[grouping];
    if (!view) {
      const source = mapNode(edge.source, grouping);
      const target = mapNode(edge.destination, grouping);
      edge.views[grouping] = view = { source, target, id: edgeId(source, target) };
    }
    return view;
  }

  #sum(ring: Float64Array, fromSlice: number, into: Sums): Sums {
    into.fill(0);
    for (let s = Math.max(fromSlice, this.#slice - SLICES + 1); s <= this.#slice; s++) {
      const base = (s % SLICES) * COUNTERS;
      for (let i = 0; i < COUNTERS; i++) into[i]! += ring[base + i]!;
    }
    return into;
  }

  #compact(): number {
    const excess = this.#edges.size - this.maxEdges;
    if (excess <= 0) return 0;
    const sums = new Float64Array(COUNTERS);
    const first = this.#slice - SLICES + 1;
    const bySize = [...this.#edges].map(([key, edge]) => {
      this.#sum(edge.counters, first, sums);
      return { key, edge, bytes: sums[TX_BYTES]! + sums[RX_BYTES]! };
    });
    bySize.sort((a, b) => a.bytes - b.bytes);
    for (const { key, edge } of bySize.slice(0, excess)) {
      for (let i = 0; i < this.#other.length; i++) this.#other[i]! += edge.counters[i]!;
      this.#otherHasCost ||= edge.hasCost;
      this.#edges.delete(key);
    }
    this.#mergedEdges += excess;
    return excess;
  }
}
