// The graph the page draws and /api/graph returns, whatever its source (memory or PostgreSQL):
// the query, the JSON shape, and the builder that sums edges between map nodes.
import { parseDurationMs } from '../../config/units.ts';
import { GROUPINGS, type Grouping, type MapNode } from './ends.ts';

export interface GraphQuery {
  /** The last `windowMs` up to now. */
  windowMs: number;
  grouping: Grouping;
  /** Only edges with an end in one of these namespaces; empty: every edge. */
  namespaces: readonly string[];
}

export interface GraphNode extends MapNode {
  /** Every zone the node's flows named (a workload can run in several); `zone` is set when there is one. */
  zones: string[];
  /** Bytes this node received / sent, over the window. */
  bytes_in: number;
  bytes_out: number;
}

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  /** Bytes and packets source → target (tx) and target → source (rx): the initiator is the source. */
  tx_bytes: number;
  rx_bytes: number;
  /** null when the source keeps only the sum (`packets`): the PostgreSQL source. */
  tx_packets: number | null;
  rx_packets: number | null;
  packets: number;
  /** Connections opened during the window. */
  connections: number;
  /** (tx_bytes + rx_bytes) / the seconds the window covered. */
  bytes_per_second: number;
  /** Some of its bytes crossed zones (inter_zone); how many. */
  cross_zone: boolean;
  cross_zone_bytes: number;
  /** One end is outside the cluster; `internet`: that end is on the internet. */
  leaves_cluster: boolean;
  internet: boolean;
  /** USD, when the flows carried a cost (the netcost processor); absent otherwise. */
  cost_usd?: number;
}

/** What the window holds that is not drawn: the smallest edges merged past `max_edges`. */
export interface OtherTraffic {
  merged_edges_total: number;
  tx_bytes: number;
  rx_bytes: number;
  packets: number;
  connections: number;
  cost_usd?: number;
}

export interface Graph {
  source: 'memory' | 'postgres';
  group: Grouping;
  window_ms: number;
  /** The configured `window`: the longest window a query may ask for. */
  max_window_ms: number;
  /** The time the sums cover: [from, to). Shorter than window_ms right after start. */
  from: string;
  to: string;
  /** When the source last changed (the last batch), if known. */
  updated_at: string | null;
  /** How often the graph changes: what a polling client should wait between requests. */
  refresh_ms: number;
  /** Every namespace with traffic in the window (the filter's choices; unfiltered). */
  namespaces: string[];
  nodes: GraphNode[];
  edges: GraphEdge[];
  other: OtherTraffic;
}

/** Where a graph comes from: the flows in memory, or PostgreSQL. */
export interface GraphSource {
  readonly kind: Graph['source'];
  /** Groupings this source can answer. */
  readonly groupings: readonly Grouping[];
  graph(query: GraphQuery, nowMs: number): Promise<Graph>;
  close(): Promise<void>;
}

/** `?window=5m&group=workload&namespace=a&namespace=b`, or an Error naming the bad parameter. */
export function parseGraphQuery(params: URLSearchParams, maxWindowMs: number, groupings: readonly Grouping[]): GraphQuery | Error {
  let windowMs = maxWindowMs;
  const window = params.get('window');
  if (window !== null) {
    const parsed = parseDurationMs(window);
    if (parsed instanceof Error) return new Error(`window: ${parsed.message}`);
    if (parsed <= 0 || parsed > maxWindowMs) return new Error(`window: must be more than 0 and at most the configured window (${maxWindowMs / 1000}s)`);
    windowMs = parsed;
  }
  const group = params.get('group') ?? 'workload';
  if (!(GROUPINGS as readonly string[]).includes(group)) return new Error(`group: must be one of ${GROUPINGS.join(', ')}`);
  if (!groupings.includes(group as Grouping)) return new Error(`group: this source groups by ${groupings.join(', ')} only`);
  const namespaces = params.getAll('namespace').filter((n) => n !== '');
  return { windowMs, grouping: group as Grouping, namespaces };
}

/** Counters of one source edge over the window. */
export interface EdgeSums {
  txBytes: number;
  rxBytes: number;
  /** null when only the sum is known. */
  txPackets: number | null;
  rxPackets: number | null;
  packets: number;
  connections: number;
  /** undefined: the flows carried no cost. */
  costUsd: number | undefined;
  crossZoneBytes: number;
}

interface NodeAccumulator {
  node: MapNode;
  zones: Set<string>;
  bytesIn: number;
  bytesOut: number;
}

/** The id of the map edge between two map nodes (node ids hold no spaces: they are percent-encoded). */
export function edgeId(source: MapNode, target: MapNode): string {
  return `${source.id} -> ${target.id}`;
}

/** Both ends of a source edge as map nodes, and the map edge's id (callers may keep it). */
export interface MapEdgeEnds {
  source: MapNode;
  target: MapNode;
  id: string;
}

/** Sums source edges into map edges between map nodes (one per source/target pair). */
export class GraphBuilder {
  readonly #nodes = new Map<string, NodeAccumulator>();
  readonly #edges = new Map<string, GraphEdge>();
  readonly #namespaces = new Set<string>();

  /** Notes a namespace with traffic, before any filter (the page's filter choices). */
  seeNamespace(namespace: string | null | undefined): void {
    if (namespace) this.#namespaces.add(namespace);
  }

  add({ source, target, id }: MapEdgeEnds, sums: EdgeSums): void {
    this.#node(source, sums.txBytes, sums.rxBytes);
    // A workload talking to itself: both ends are one node, which sent and received both ways.
    this.#node(target, sums.rxBytes, sums.txBytes);
    let edge = this.#edges.get(id);
    if (!edge) {
      const outside = (n: MapNode) => n.kind === 'External' || n.kind === 'Internet';
      edge = {
        id, source: source.id, target: target.id,
        tx_bytes: 0, rx_bytes: 0, tx_packets: 0, rx_packets: 0, packets: 0, connections: 0, bytes_per_second: 0,
        cross_zone: false, cross_zone_bytes: 0,
        leaves_cluster: outside(source) || outside(target),
        internet: source.kind === 'Internet' || target.kind === 'Internet',
      };
      this.#edges.set(id, edge);
    }
    edge.tx_bytes += sums.txBytes;
    edge.rx_bytes += sums.rxBytes;
    edge.tx_packets = edge.tx_packets === null || sums.txPackets === null ? null : edge.tx_packets + sums.txPackets;
    edge.rx_packets = edge.rx_packets === null || sums.rxPackets === null ? null : edge.rx_packets + sums.rxPackets;
    edge.packets += sums.packets;
    edge.connections += sums.connections;
    edge.cross_zone_bytes += sums.crossZoneBytes;
    edge.cross_zone ||= sums.crossZoneBytes > 0;
    if (sums.costUsd !== undefined) edge.cost_usd = (edge.cost_usd ?? 0) + sums.costUsd;
  }

  #node(node: MapNode, bytesOut: number, bytesIn: number): void {
    let acc = this.#nodes.get(node.id);
    if (!acc) this.#nodes.set(node.id, (acc = { node, zones: new Set(), bytesIn: 0, bytesOut: 0 }));
    if (node.zone !== null) acc.zones.add(node.zone);
    acc.bytesIn += bytesIn;
    acc.bytesOut += bytesOut;
  }

  /** The graph's nodes (by id) and edges (most bytes first); rates over `coveredMs`. */
  build(coveredMs: number): { nodes: GraphNode[]; edges: GraphEdge[]; namespaces: string[] } {
    const seconds = Math.max(coveredMs, 1) / 1000;
    const edges = [...this.#edges.values()];
    for (const e of edges) e.bytes_per_second = (e.tx_bytes + e.rx_bytes) / seconds;
    edges.sort((a, b) => b.tx_bytes + b.rx_bytes - (a.tx_bytes + a.rx_bytes) || (a.id < b.id ? -1 : 1));
    const nodes = [...this.#nodes.values()]
      .map(({ node, zones, bytesIn, bytesOut }): GraphNode => {
        const sorted = [...zones].sort();
        return { ...node, zone: sorted.length === 1 ? sorted[0]! : null, zones: sorted, bytes_in: bytesIn, bytes_out: bytesOut };
      })
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { nodes, edges, namespaces: [...this.#namespaces].sort() };
  }
}
