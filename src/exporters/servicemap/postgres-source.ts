// The graph from PostgreSQL, as the postgres exporter writes it: `<schema>.graph_links(from, to,
// group_by)`, the function behind graph_nodes/graph_edges (src/exporters/postgres/node-graph.ts),
// which reads the rollup tiers and groups ends by workload, namespace, node or zone in the
// database: one row per (source, destination) with tx/rx bytes, packets, connections and the
// bytes that crossed zones. Packets come as one sum (tx_packets/rx_packets are null).
//
// Each end is turned back into flow attributes and read by endInfo(), so both sources name and
// classify ends the same way (ids, titles, internet or not).
import { isIP } from 'node:net';
import pg from 'pg';
import { DESTINATION, DESTINATION_DOMAIN, type Attributes } from '../../model/index.ts';
import { cidrError } from '../../model/cidr.ts';
import { clientConfig } from '../shared/postgres-connection.ts';
import type { PostgresSourceConfig } from './config.ts';
import { endInfo, GROUPINGS, mapNode, type FlowEndInfo, type Grouping } from './ends.ts';
import { edgeId, GraphBuilder, type Graph, type GraphQuery, type GraphSource } from './graph.ts';

interface LinkRow {
  src_type: string;
  src_title: string;
  src_subtitle: string | null;
  src_kind: string | null;
  src_namespace: string | null;
  dst_type: string;
  dst_title: string;
  dst_subtitle: string | null;
  dst_kind: string | null;
  dst_namespace: string | null;
  src_node: string | null;
  src_zone: string | null;
  dst_node: string | null;
  dst_zone: string | null;
  tx_bytes: string;
  rx_bytes: string;
  packets: string;
  connections: string;
  cross_zone_bytes: string;
}

/** One end of a graph_links row at a grouping level, as a FlowEndInfo that mapNode() turns into the same map node. */
export function linkEnd(type: string, title: string, subtitle: string | null, kind: string | null, namespace: string | null, node: string | null = null, zone: string | null = null): FlowEndInfo {
  // Grouped ends (namespace, node, zone): only what their map node is made of.
  if (type === 'namespace' && namespace) return { type: 'workload', namespace, zone: zone ?? undefined, internet: false };
  if (type === 'zone') return { type: 'node', zone: zone ?? undefined, internet: false };
  if (type === 'node') return { type: 'node', node: node ?? undefined, zone: zone ?? undefined, workloadKind: 'Node', internet: false };
  const attributes: Attributes = {};
  if (type === 'workload' && namespace) {
    attributes[DESTINATION.namespace] = namespace;
    attributes[DESTINATION.ownerName] = title;
    attributes[DESTINATION.ownerType] = kind ?? 'Pod';
  } else {
    // External: the title is the domain, the address or a prefix (reduce's public_addresses);
    // the subtitle the address type, if known.
    if (isIP(title) || cidrError(title) === undefined) attributes[DESTINATION.address] = title;
    else attributes[DESTINATION_DOMAIN] = title;
    if (subtitle && subtitle !== 'external') attributes[DESTINATION.addressType] = subtitle;
  }
  return endInfo(attributes, 'destination');
}

export class PostgresGraphSource implements GraphSource {
  readonly kind = 'postgres';
  readonly groupings: readonly Grouping[] = GROUPINGS;
  readonly #pool: pg.Pool;
  readonly #schema: string;
  readonly #refreshMs: number;
  readonly #maxWindowMs: number;

  constructor(config: PostgresSourceConfig, maxWindowMs: number) {
    this.#maxWindowMs = maxWindowMs;
    // The exporter's own connection settings (TLS, password, timeouts), filled with its defaults.
    this.#pool = new pg.Pool({ ...clientConfig(config, 'podflow-servicemap'), max: 2 });
    // An idle connection that breaks is replaced on the next query; the error is not fatal.
    this.#pool.on('error', () => undefined);
    this.#schema = config.schema;
    this.#refreshMs = config.refresh;
  }

  async graph(query: GraphQuery, nowMs: number): Promise<Graph> {
    const from = new Date(nowMs - query.windowMs);
    const to = new Date(nowMs);
    // The schema name is a validated lower-case identifier ([a-z_][a-z0-9_]*). The namespace
    // filter is applied in the database, before grouping (a node or zone has no one namespace).
    const filter = query.namespaces.length > 0 ? query.namespaces : null;
    const { rows } = await this.#pool.query<LinkRow>(
      `SELECT src_type, src_title, src_subtitle, src_kind, src_namespace, dst_type, dst_title, dst_subtitle, dst_kind, dst_namespace,
              src_node, src_zone, dst_node, dst_zone, tx_bytes, rx_bytes, packets, connections, cross_zone_bytes
       FROM "${this.#schema}".graph_links($1, $2, $3, $4)`,
      [from, to, query.grouping, filter],
    );
    const builder = new GraphBuilder();
    // The namespaces seen in the window (the page's filter list): from the rows when they carry
    // them all, else from the namespace level.
    if (filter === null && (query.grouping === 'workload' || query.grouping === 'namespace')) {
      for (const row of rows) {
        builder.seeNamespace(row.src_namespace);
        builder.seeNamespace(row.dst_namespace);
      }
    } else {
      const seen = await this.#pool.query<{ namespace: string }>(
        `SELECT DISTINCT n AS namespace FROM "${this.#schema}".graph_links($1, $2, 'namespace') l,
                LATERAL unnest(ARRAY[l.src_namespace, l.dst_namespace]) n WHERE n IS NOT NULL`,
        [from, to],
      );
      for (const row of seen.rows) builder.seeNamespace(row.namespace);
    }
    for (const row of rows) {
      const source = mapNode(linkEnd(row.src_type, row.src_title, row.src_subtitle, row.src_kind, row.src_namespace, row.src_node, row.src_zone), query.grouping);
      const target = mapNode(linkEnd(row.dst_type, row.dst_title, row.dst_subtitle, row.dst_kind, row.dst_namespace, row.dst_node, row.dst_zone), query.grouping);
      builder.add({ source, target, id: edgeId(source, target) }, {
        txBytes: Number(row.tx_bytes),
        rxBytes: Number(row.rx_bytes),
        txPackets: null,
        rxPackets: null,
        packets: Number(row.packets),
        connections: Number(row.connections),
        costUsd: undefined,
        crossZoneBytes: Number(row.cross_zone_bytes),
      });
    }
    const { nodes, edges, namespaces } = builder.build(query.windowMs);
    return {
      source: 'postgres',
      group: query.grouping,
      window_ms: query.windowMs,
      max_window_ms: this.#maxWindowMs,
      from: from.toISOString(),
      to: to.toISOString(),
      updated_at: null,
      refresh_ms: this.#refreshMs,
      namespaces,
      nodes,
      edges,
      other: { merged_edges_total: 0, tx_bytes: 0, rx_bytes: 0, packets: 0, connections: 0 },
    };
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
