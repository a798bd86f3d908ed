// Oracles for the rollup tiers: what each tier must hold, computed from the raw rows.
import pg from 'pg';
import { endpointKeySql, MEASURES, TIERS, type TierName } from '../rollup-sql.ts';

/** A raw row's bucket in each tier, written independently of the rollup's own expression. */
const BUCKET_OF_START: Record<TierName, string> = {
  minute: `date_trunc('minute', start_time, 'UTC')`,
  hour: `date_trunc('hour', start_time, 'UTC')`,
  six_hour: `date_trunc('day', start_time, 'UTC') + (extract(hour FROM start_time AT TIME ZONE 'UTC')::int / 6) * interval '6 hours'`,
  day: `date_trunc('day', start_time, 'UTC')`,
};

const SRC = ['src_namespace', 'src_workload_kind', 'src_workload', 'src_pod', 'src_node', 'src_zone', 'src_address', 'NULL::text', 'src_address_type'];
const DST = ['dst_namespace', 'dst_workload_kind', 'dst_workload', 'dst_pod', 'dst_node', 'dst_zone', 'dst_address', 'dst_domain', 'dst_address_type'];
const ENDPOINT = ['namespace', 'workload_kind', 'workload', 'pod', 'node', 'zone', 'address', 'domain', 'address_class'];

/** Per tier, one line per tier row key with its sums: from the raw rows, and from the tier itself. */
export async function tierContents(client: pg.ClientBase, schema = 'podflow'): Promise<Record<string, { fromRaw: string[]; tier: string[] }>> {
  const out: Record<string, { fromRaw: string[]; tier: string[] }> = {};
  // coalesce: an unpriced group's cost is NULL in both, and NULL would blank the whole line.
  const sums = ['count(*)', ...MEASURES.map((m) => `sum(${m})`)].map((e) => `coalesce(${e}::text, 'null')`).join(` || ',' || `);
  const tierSums = ['flows', ...MEASURES].map((m) => `coalesce(sum(t.${m})::text, 'null')`).join(` || ',' || `);
  for (const tier of TIERS) {
    const fromRaw = await client.query<{ line: string }>(
      `SELECT concat_ws('|', ${BUCKET_OF_START[tier.name]}, ${endpointKeySql(SRC)}, ${endpointKeySql(DST)}, inter_zone, transport, dst_port, cost_class) || '=' || ${sums} AS line
       FROM ${schema}.flow_details GROUP BY ${BUCKET_OF_START[tier.name]}, ${endpointKeySql(SRC)}, ${endpointKeySql(DST)}, inter_zone, transport, dst_port, cost_class ORDER BY 1`);
    const inTier = await client.query<{ line: string }>(
      `SELECT concat_ws('|', t.bucket, ${endpointKeySql(ENDPOINT.map((c) => `s.${c}`))}, ${endpointKeySql(ENDPOINT.map((c) => `d.${c}`))}, t.inter_zone, t.transport, t.dst_port, t.cost_class) || '=' || ${tierSums} AS line
       FROM ${schema}.${tier.table} t JOIN ${schema}.endpoints s ON s.id = t.src_endpoint JOIN ${schema}.endpoints d ON d.id = t.dst_endpoint
       GROUP BY t.bucket, s.id, d.id, t.inter_zone, t.transport, t.dst_port, t.cost_class ORDER BY 1`);
    out[tier.name] = { fromRaw: fromRaw.rows.map((r) => r.line), tier: inTier.rows.map((r) => r.line) };
  }
  return out;
}

/** graph_links at a grouping level computed straight from the raw rows (what the tiered answer must equal). */
export async function rawGraphLinks(client: pg.ClientBase, from: Date, to: Date, groupBy: string, schema = 'podflow'): Promise<string[]> {
  const { rows } = await client.query<{ line: string }>(
    `SELECT concat_ws('|', s.id, d.id, min(s.title), min(d.title), sum(f.tx_bytes), sum(f.rx_bytes), sum(f.tx_packets + f.rx_packets), sum(f.connections),
              sum(CASE WHEN s.type <> 'external' AND d.type <> 'external' AND f.inter_zone THEN f.tx_bytes + f.rx_bytes ELSE 0 END)) AS line
     FROM ${schema}.flow_details f
     CROSS JOIN LATERAL ${schema}.graph_group(f.src_namespace, f.src_workload_kind, f.src_workload, f.src_pod, f.src_node, f.src_zone, f.src_address_type, NULL, f.src_address, $3) s
     CROSS JOIN LATERAL ${schema}.graph_group(f.dst_namespace, f.dst_workload_kind, f.dst_workload, f.dst_pod, f.dst_node, f.dst_zone, f.dst_address_type, f.dst_domain, f.dst_address, $3) d
     WHERE f.start_time >= $1 AND f.start_time < $2
     GROUP BY s.id, d.id ORDER BY 1`,
    [from, to, groupBy]);
  return rows.map((r) => r.line);
}

/** graph_links as the tiered function answers it, in rawGraphLinks' form. */
export async function tieredGraphLinks(client: pg.ClientBase, from: Date, to: Date, groupBy: string, schema = 'podflow'): Promise<string[]> {
  const { rows } = await client.query<{ line: string }>(
    `SELECT concat_ws('|', src_id, dst_id, src_title, dst_title, tx_bytes, rx_bytes, packets, connections, cross_zone_bytes) AS line
     FROM ${schema}.graph_links($1, $2, $3) ORDER BY 1`,
    [from, to, groupBy]);
  return rows.map((r) => r.line);
}
