// Reads what podflow delivered — rows in PostgreSQL, series in a real Prometheus, OTLP data
// points, JSON Lines files — into per-group totals keyed like kernel-oracle.ts's groupKey().
import { existsSync, readFileSync } from 'node:fs';
import type { PostgresServer } from '../postgres.ts';
import type { OtlpPoint } from '../otlp-receiver.ts';
import type { PrometheusServer } from '../prometheus.ts';
import { addTotals, groupKey, type TotalsByKey } from './kernel-oracle.ts';
import { CLUSTER_NAME } from './topology.ts';

type Attrs = Record<string, string | number | boolean | undefined>;

function endId(a: Attrs, end: 'source' | 'destination'): string {
  const owner = a[`${end}.k8s.owner.name`];
  if (owner !== undefined && owner !== '') return `${a[`${end}.k8s.namespace.name`]}/${a[`${end}.k8s.owner.type`]}/${owner}`;
  return String(a[`${end}.address`] ?? a[`${end}.domain`] ?? 'unknown');
}

function boolOf(v: unknown): boolean | undefined {
  return v === true || v === 'true' ? true : v === false || v === 'false' ? false : undefined;
}

/** The group key of a flow's (or data point's) attributes. */
export function attributesKey(a: Attrs): string {
  const service = a['destination.k8s.service.name'];
  return groupKey(endId(a, 'source'), endId(a, 'destination'), boolOf(a['network.flow.inter_zone']), service === undefined || service === '' ? undefined : String(service));
}

// ---- PostgreSQL ---------------------------------------------------------------------------------

const PG_KEY_SQL = `
  CASE WHEN src_workload IS NOT NULL THEN src_namespace || '/' || src_workload_kind || '/' || src_workload ELSE host(src_address) END AS src,
  CASE WHEN dst_workload IS NOT NULL THEN dst_namespace || '/' || dst_workload_kind || '/' || dst_workload ELSE coalesce(dst_domain, host(dst_address)) END AS dst,
  inter_zone, dst_service`;

interface PgGroupRow {
  src: string;
  dst: string;
  inter_zone: boolean | null;
  dst_service: string | null;
  tx_bytes: string;
  rx_bytes: string;
  tx_packets: string;
  rx_packets: string;
  connections: string;
}

export async function postgresTotals(pg: PostgresServer, database: string, schema = 'podflow'): Promise<TotalsByKey> {
  const rows = await pg.query<PgGroupRow>(database, `
    SELECT ${PG_KEY_SQL},
      sum(tx_bytes) AS tx_bytes, sum(rx_bytes) AS rx_bytes, sum(tx_packets) AS tx_packets,
      sum(rx_packets) AS rx_packets, sum(connections) AS connections
    FROM ${schema}.flow_details GROUP BY 1, 2, 3, 4`);
  const out: TotalsByKey = {};
  for (const r of rows) {
    addTotals(out, groupKey(r.src, r.dst, r.inter_zone ?? undefined, r.dst_service ?? undefined), {
      txBytes: Number(r.tx_bytes), rxBytes: Number(r.rx_bytes), txPackets: Number(r.tx_packets), rxPackets: Number(r.rx_packets), connections: Number(r.connections),
    });
  }
  return out;
}

/** One stored row, as text that a file line can be compared with: node, interval (µs), group, counters. */
export async function postgresRows(pg: PostgresServer, database: string, schema = 'podflow'): Promise<string[]> {
  const rows = await pg.query<PgGroupRow & { node: string; start_us: string; end_us: string }>(database, `
    SELECT node, (extract(epoch FROM start_time) * 1000000)::bigint AS start_us, (extract(epoch FROM end_time) * 1000000)::bigint AS end_us,
      ${PG_KEY_SQL}, tx_bytes, rx_bytes, tx_packets, rx_packets, connections
    FROM ${schema}.flow_details`);
  return rows
    .map((r) => rowText(r.node, BigInt(r.start_us), BigInt(r.end_us), groupKey(r.src, r.dst, r.inter_zone ?? undefined, r.dst_service ?? undefined),
      [r.tx_bytes, r.rx_bytes, r.tx_packets, r.rx_packets, r.connections].map(Number)))
    .sort();
}

function rowText(node: string, startUs: bigint, endUs: bigint, key: string, counters: number[]): string {
  return `${node} ${startUs}..${endUs} ${key} ${counters.join(' ')}`;
}

// ---- JSON Lines files ---------------------------------------------------------------------------

interface FileFlow {
  start_time_unix_nano: string;
  time_unix_nano: string;
  attributes: Attrs;
  tx_bytes: number;
  rx_bytes: number;
  tx_packets: number;
  rx_packets: number;
  connections: number;
}

function readFlows(file: string): FileFlow[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as FileFlow);
}

export function fileTotals(files: readonly string[]): TotalsByKey {
  const out: TotalsByKey = {};
  for (const file of files) {
    for (const f of readFlows(file)) {
      addTotals(out, attributesKey(f.attributes), { txBytes: f.tx_bytes, rxBytes: f.rx_bytes, txPackets: f.tx_packets, rxPackets: f.rx_packets, connections: f.connections });
    }
  }
  return out;
}

/** A decimal number of USD (`12.000000000000000000345`) as exact zepto-USD. */
function zeptoUsd(whole: string, fraction = ''): bigint {
  if (fraction.length > 21) throw new Error(`${whole}.${fraction} USD: finer than a zepto-dollar`);
  return BigInt(whole) * 10n ** 21n + BigInt(fraction.padEnd(21, '0'));
}

/** `"cost_usd":<decimal>` of a JSON line as exact zepto-USD (JSON.parse would round it to a double). */
export function costOfLine(line: string): bigint | undefined {
  const m = /"cost_usd":(\d+)(?:\.(\d{1,21}))?[,}]/.exec(line);
  return m ? zeptoUsd(m[1]!, m[2]) : undefined;
}

/** Per group (attributesKey) and cost class: the cost in zepto-USD, the bytes and the rows of an output. */
export type CostsByGroup = Record<string, { costZeptoUsd: bigint; txBytes: number; rxBytes: number; rows: number }>;

/** fileCosts() from PostgreSQL's raw rows: `sum(cost_usd)` (numeric, read as text: exact) per group and `cost_class`. */
export async function postgresCosts(pg: PostgresServer, database: string, schema = 'podflow'): Promise<CostsByGroup> {
  const rows = await pg.query<PgGroupRow & { cost_class: string | null; cost_usd: string | null; rows: string }>(database, `
    SELECT ${PG_KEY_SQL}, cost_class, sum(cost_usd)::text AS cost_usd,
      sum(tx_bytes) AS tx_bytes, sum(rx_bytes) AS rx_bytes, count(*) AS rows
    FROM ${schema}.flow_details GROUP BY 1, 2, 3, 4, cost_class`);
  const out: CostsByGroup = {};
  for (const r of rows) {
    if (r.cost_usd === null) throw new Error(`rows without cost_usd: ${JSON.stringify(r)}`);
    const [whole, fraction] = r.cost_usd.split('.');
    const key = `${groupKey(r.src, r.dst, r.inter_zone ?? undefined, r.dst_service ?? undefined)} class=${String(r.cost_class)}`;
    out[key] = { costZeptoUsd: zeptoUsd(whole!, fraction), txBytes: Number(r.tx_bytes), rxBytes: Number(r.rx_bytes), rows: Number(r.rows) };
  }
  return out;
}

/** Per group (attributesKey) and cost class: the cost in zepto-USD and the bytes, from the files. */
export function fileCosts(files: readonly string[]): CostsByGroup {
  const out: CostsByGroup = {};
  for (const file of files) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (line === '') continue;
      const f = JSON.parse(line) as FileFlow;
      const cost = costOfLine(line);
      if (cost === undefined) throw new Error(`a flow without cost_usd: ${line}`);
      const key = `${attributesKey(f.attributes)} class=${String(f.attributes['network.flow.cost.class'])}`;
      const cur = (out[key] ??= { costZeptoUsd: 0n, txBytes: 0, rxBytes: 0, rows: 0 });
      cur.costZeptoUsd += cost;
      cur.txBytes += f.tx_bytes;
      cur.rxBytes += f.rx_bytes;
      cur.rows++;
    }
  }
  return out;
}

/**
 * The file's flows as postgresRows() texts: `node` is the flow's `k8s.node.name` (a gateway's
 * groups keep it), else the file's reporting node.
 */
export function fileRows(files: ReadonlyArray<{ node?: string; file: string }>): string[] {
  const rows: string[] = [];
  for (const { node, file } of files) {
    for (const f of readFlows(file)) {
      rows.push(rowText(String(f.attributes['k8s.node.name'] ?? node), BigInt(f.start_time_unix_nano) / 1000n, BigInt(f.time_unix_nano) / 1000n, attributesKey(f.attributes),
        [f.tx_bytes, f.rx_bytes, f.tx_packets, f.rx_packets, f.connections]));
    }
  }
  return rows.sort();
}

// ---- OTLP ---------------------------------------------------------------------------------------

/** Sums delta data points: network.flow.io → bytes, network.flow.packets → packets, by direction. */
export function otlpTotals(points: readonly OtlpPoint[]): TotalsByKey {
  const out: TotalsByKey = {};
  for (const p of points) {
    if (p.temporality !== 1) throw new Error(`expected delta data points, got temporality ${p.temporality}`);
    const transmit = p.attributes['network.io.direction'] === 'transmit';
    const field = p.metric === 'network.flow.io' ? (transmit ? 'txBytes' : 'rxBytes') : p.metric === 'network.flow.packets' ? (transmit ? 'txPackets' : 'rxPackets') : undefined;
    if (!field) continue;
    addTotals(out, attributesKey(p.attributes), { [field]: p.value });
  }
  return out;
}

// ---- Prometheus ---------------------------------------------------------------------------------

const PROM_LABELS = [
  'source_k8s_namespace_name', 'source_k8s_owner_type', 'source_k8s_owner_name', 'source_address',
  'destination_k8s_namespace_name', 'destination_k8s_owner_type', 'destination_k8s_owner_name', 'destination_address',
  'destination_domain', 'network_flow_inter_zone', 'destination_k8s_service_name', 'network_io_direction',
];

function promAttrs(metric: Record<string, string>): Attrs {
  const a: Attrs = {};
  const map: Record<string, string> = {
    source_k8s_namespace_name: 'source.k8s.namespace.name', source_k8s_owner_type: 'source.k8s.owner.type', source_k8s_owner_name: 'source.k8s.owner.name', source_address: 'source.address',
    destination_k8s_namespace_name: 'destination.k8s.namespace.name', destination_k8s_owner_type: 'destination.k8s.owner.type', destination_k8s_owner_name: 'destination.k8s.owner.name',
    destination_address: 'destination.address', destination_domain: 'destination.domain', network_flow_inter_zone: 'network.flow.inter_zone', destination_k8s_service_name: 'destination.k8s.service.name',
  };
  for (const [label, key] of Object.entries(map)) if (metric[label] !== undefined) a[key] = metric[label];
  return a;
}

/** Bytes and packets per group as a real Prometheus has scraped them, summed over every podflow. */
export async function prometheusTotals(prom: PrometheusServer): Promise<TotalsByKey> {
  const out: TotalsByKey = {};
  const by = PROM_LABELS.join(', ');
  for (const [metric, tx, rx] of [['network_flow_io_bytes_total', 'txBytes', 'rxBytes'], ['network_flow_packets_total', 'txPackets', 'rxPackets']] as const) {
    for (const s of await prom.query(`sum by (${by}) (${metric}{cluster="${CLUSTER_NAME}"})`)) {
      addTotals(out, attributesKey(promAttrs(s.metric)), { [s.metric.network_io_direction === 'transmit' ? tx : rx]: s.value });
    }
  }
  return out;
}
