// The issue-17 load: a cluster of NODES nodes, each node's reduce emitting GROUPS groups every
// 15 s (NODES × GROUPS distinct edges), written through NODES concurrent postgres exporter
// instances into one PostgreSQL 15 (test/harness/postgres.ts, fsync on).
//
// 1. History: HISTORY_DAYS days at hourly resolution (one row per edge per hour) before the live
//    part, generated with set-based SQL (generate_series) into a wide scratch table and moved into
//    parts of `flow_batches` by the set-based statements (narrowStatements, packed), one transaction per day: writing it through the exporters at full scale
//    would take hours on a 2-core machine. The rollup job rolls it up like any other rows.
// 2. Live: LIVE_MINUTES (default 60) at 15 s through the NODES exporters, all at once, with the
//    rollup job running (every exporter may run it; the advisory lock picks one). Ingest rows/s
//    is every row sent / wall time until every queue drained; rows dropped must be 0.
// 3. The node graph for windows of 5 min, 1 h, 6 h, 24 h, 7 d ending at the live part's end:
//    graph_edges / graph_nodes (tiers) p50 of RUNS runs, against the version-2 functions over the
//    raw rows (installed on the same rows in a schema of their own) in the same run, OLD_RUNS
//    runs each (they take seconds to minutes). Checks: sum(mainstat) of graph_edges equals the
//    bytes written in the window; both answers have the same edges and bytes.
// 4. Sizes: bytes per row of each tier, what a day of this load adds, and the size at steady
//    state with the default retention.
// Prints a table and, last, one JSON line.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { startPostgres } from '../../test/harness/postgres.ts';
import { machineBusySeconds, nodeCpuSeconds, serverCpuSeconds } from '../../test/harness/cpu-time.ts';
import { queued } from '../../test/harness/exporter-queue.ts';
import { postgresConfigSchema } from '../../src/exporters/postgres/config.ts';
import { postgresExporterFactory } from '../../src/exporters/postgres/index.ts';
import { migrate, renderMigration } from '../../src/exporters/postgres/migrations.ts';
import { NODE_GRAPH_SQL } from '../../src/exporters/postgres/node-graph.ts';
import { CREATE_STAGING_SQL, narrowStatements, WIDE_COLUMNS } from '../../src/exporters/postgres/narrow-rows.ts';
import { PostgresExporter } from '../../src/exporters/postgres/postgres-exporter.ts';
import { rollUp } from '../../src/exporters/postgres/rollup-runner.ts';
import type { Attributes, Flow } from '../../src/model/index.ts';

const NODES = Number(process.env.BENCH_NODES ?? 100);
const GROUPS = Number(process.env.BENCH_GROUPS ?? 400);
const LIVE_MINUTES = Number(process.env.BENCH_LIVE_MINUTES ?? 60);
const HISTORY_DAYS = Number(process.env.BENCH_HISTORY_DAYS ?? 7);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const OLD_RUNS = Number(process.env.BENCH_OLD_RUNS ?? 1);
const OLD_TIMEOUT_S = Number(process.env.BENCH_OLD_TIMEOUT_S ?? 300);
const INTERVAL_MS = 15_000;
const DAY_MS = 86_400_000;
// The live part ends at END (a UTC instant not aligned to any hour, as "now" rarely is).
const END = Date.UTC(2030, 3, 20, 12, 7, 30);
const LIVE_START = END - LIVE_MINUTES * 60_000;
const HISTORY_START = Math.floor((LIVE_START - HISTORY_DAYS * DAY_MS) / 3_600_000) * 3_600_000;
const WINDOWS: Array<[string, number]> = [['5 min', 300_000], ['1 h', 3_600_000], ['6 h', 6 * 3_600_000], ['24 h', DAY_MS], ['7 d', 7 * DAY_MS]];
const DEFAULT_RETENTION_DAYS = { raw: 2, minute: 14, hour: 90, six_hour: 90, day: 730 };

const NAMESPACES = 20;
const WORKLOADS = 200;
const ZONES = ['zone-a', 'zone-b', 'zone-c'];

/** Edge g of node n: the attributes reduce's default group_by keeps (plus nodes and address types). */
function edge(n: number, g: number): Attributes {
  const srcWorkload = (n * 7 + g) % WORKLOADS;
  const srcZone = ZONES[n % ZONES.length]!;
  const a: Attributes = {
    'source.k8s.namespace.name': `ns-${srcWorkload % NAMESPACES}`,
    'source.k8s.owner.name': `app-${srcWorkload}`,
    'source.k8s.owner.type': 'Deployment',
    'source.k8s.node.name': `node-${n}`,
    'source.cloud.availability_zone': srcZone,
    'source.address.type': 'pod',
    'network.transport': 'tcp',
  };
  if (g % 10 === 0) {
    a['destination.domain'] = `api-${g}.example.com`;
    a['destination.address.type'] = 'public';
    a['destination.port'] = 443;
    return a;
  }
  const dstWorkload = g % WORKLOADS;
  const dstNode = (g + n * 3) % NODES;
  const dstZone = ZONES[dstNode % ZONES.length]!;
  a['destination.k8s.namespace.name'] = `ns-${dstWorkload % NAMESPACES}`;
  a['destination.k8s.owner.name'] = `app-${dstWorkload}`;
  a['destination.k8s.owner.type'] = 'Deployment';
  a['destination.k8s.node.name'] = `node-${dstNode}`;
  a['destination.cloud.availability_zone'] = dstZone;
  a['destination.address.type'] = 'pod';
  a['destination.port'] = 8080 + Math.floor(g / WORKLOADS);
  a['network.flow.inter_zone'] = srcZone !== dstZone;
  return a;
}

const EDGES = Array.from({ length: NODES }, (_, n) => Array.from({ length: GROUPS }, (_, g) => edge(n, g)));

/** Counters of edge (n, g) in interval i: deterministic, different from edge to edge and interval to interval. */
function counters(n: number, g: number, i: number) {
  const k = n * GROUPS + g;
  return { txBytes: 1000 + ((k * 31 + i * 17) % 5000), rxBytes: 3000 + ((k * 13 + i * 7) % 20000), txPackets: 5 + (k % 7), rxPackets: 9 + (i % 5), connections: (k + i) % 3 };
}

function liveBatch(n: number, i: number): Flow[] {
  const startMs = LIVE_START + i * INTERVAL_MS;
  return EDGES[n]!.map((attributes, g) => ({
    startTimeUnixNano: BigInt(startMs) * 1_000_000n,
    timeUnixNano: BigInt(startMs + INTERVAL_MS) * 1_000_000n,
    attributes: { ...attributes, 'k8s.node.name': `node-${n}` },
    ...counters(n, g, i),
  }));
}

function p50(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

const fmtMs = (ms: number) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);
const fmtGB = (bytes: number) => `${(bytes / 1e9).toFixed(2)} GB`;

const load0 = loadavg()[0]!;
const server = await startPostgres({
  durable: process.env.BENCH_DURABLE !== '0',
  settings: { shared_buffers: '512MB', max_wal_size: '8GB', max_connections: String(NODES * 2 + 20), work_mem: '64MB' },
});
try {
  const url = await server.createDatabase('rollups');
  const client = new pg.Client({ connectionString: url });
  client.on('error', (err) => console.error(`bench connection: ${err.message}`));
  await client.connect();
  await migrate(client, 'podflow');

  // 1. history, set-based, one transaction per day, rolled up after each
  const edgeRows = EDGES.flatMap((edges, n) => edges.map((a, g) => ({ n, g, a })));
  await client.query(`CREATE UNLOGGED TABLE public.bench_edges (n int, g int, k int, node text, src_ns text, src_wl text, src_node text, src_zone text,
    dst_ns text, dst_wl text, dst_node text, dst_zone text, dst_domain text, dst_type text, dst_port int, inter_zone boolean)`);
  for (let i = 0; i < edgeRows.length; i += 2000) {
    const chunk = edgeRows.slice(i, i + 2000);
    const values: unknown[] = [];
    const tuples = chunk.map(({ n, g, a }, j) => {
      values.push(n, g, n * GROUPS + g, `node-${n}`, a['source.k8s.namespace.name'], a['source.k8s.owner.name'], a['source.k8s.node.name'], a['source.cloud.availability_zone'],
        a['destination.k8s.namespace.name'] ?? null, a['destination.k8s.owner.name'] ?? null, a['destination.k8s.node.name'] ?? null, a['destination.cloud.availability_zone'] ?? null,
        a['destination.domain'] ?? null, a['destination.address.type'], a['destination.port'], a['network.flow.inter_zone'] ?? null);
      return `(${Array.from({ length: 16 }, (_, c) => `$${j * 16 + c + 1}`).join(', ')})`;
    });
    await client.query(`INSERT INTO public.bench_edges VALUES ${tuples.join(', ')}`, values);
  }
  await client.query(`CREATE UNLOGGED TABLE public.bench_wide (${WIDE_COLUMNS.map(([c, t]) => `${c} ${t}`).join(', ')})`);
  const historyHours = Math.round((LIVE_START - HISTORY_START) / 3_600_000);
  const t0 = performance.now();
  let historyRows = 0;
  let historyRollupMs = 0;
  for (let day = 0; day * 24 < historyHours; day++) {
    const fromHour = day * 24;
    const toHour = Math.min(historyHours, fromHour + 24) - 1;
    const first = HISTORY_START + fromHour * 3_600_000;
    const last = HISTORY_START + toHour * 3_600_000;
    await client.query(`SELECT podflow.ensure_partitions(ARRAY(SELECT DISTINCT (h AT TIME ZONE 'UTC')::date FROM generate_series($1::timestamptz, $2::timestamptz, '1 hour') h))`, [new Date(first), new Date(last)]);
    // Interval index i of an hourly row: its hour counted in 15 s intervals (same counter formula as the live rows).
    // Wide rows into a scratch table, then moved into the narrow rows by the statements the exporter runs per batch.
    await client.query('TRUNCATE public.bench_wide');
    const res = await client.query(`INSERT INTO public.bench_wide (start_time, end_time, node, dst_port, transport, src_namespace, src_workload, src_workload_kind,
        src_node, src_zone, src_address_type, dst_namespace, dst_workload, dst_workload_kind, dst_node, dst_zone, dst_address_type, dst_domain, inter_zone,
        tx_bytes, rx_bytes, tx_packets, rx_packets, connections)
      SELECT h, h + interval '15 seconds', e.node, e.dst_port, 'tcp', e.src_ns, e.src_wl, 'Deployment', e.src_node, e.src_zone, 'pod',
             e.dst_ns, e.dst_wl, CASE WHEN e.dst_wl IS NOT NULL THEN 'Deployment' END, e.dst_node, e.dst_zone, e.dst_type, e.dst_domain, e.inter_zone,
             1000 + ((e.k * 31 + i * 17) % 5000), 3000 + ((e.k * 13 + i * 7) % 20000), 5 + e.k % 7, 9 + i % 5, (e.k + i) % 3
      FROM generate_series($1::timestamptz, $2::timestamptz, '1 hour') h
      CROSS JOIN LATERAL (SELECT extract(epoch FROM h)::bigint / 15 AS i) x
      CROSS JOIN public.bench_edges e
      ORDER BY h`, [new Date(first), new Date(last)]); // rows arrive in time order, as from exporters
    await client.query(CREATE_STAGING_SQL);
    await client.query('BEGIN');
    for (const statement of narrowStatements('podflow', 'public.bench_wide', false, true)) await client.query(statement);
    await client.query('COMMIT');
    historyRows += res.rowCount ?? 0;
    console.log(`history day ${day + 1}: ${historyRows.toLocaleString()} rows, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    const r0 = performance.now();
    await rollUp(client, 'podflow');
    historyRollupMs += performance.now() - r0;
  }
  const historySeconds = (performance.now() - t0) / 1000;
  console.log(`history: ${historyRows.toLocaleString()} rows (${historyHours} hours × ${edgeRows.length.toLocaleString()} edges) in ${historySeconds.toFixed(0)} s, of which rollup ${(historyRollupMs / 1000).toFixed(0)} s`);

  // 2. live, through NODES concurrent exporters (each may run the rollup job; one does)
  const exporters = Array.from({ length: NODES }, () => {
    const config = postgresConfigSchema.parse({
      endpoint: url, retention: 0, sending_queue: { queue_size: 1000 }, batch: { max_rows: 10_000, flush_interval: '200ms' }, rollup: { interval: '15s' },
    });
    return queued('postgres/bench', postgresExporterFactory.queueSettings!(config), (ctx) => new PostgresExporter(ctx, config));
  });
  await Promise.all(exporters.map((q) => q.exporter.start()));
  const intervals = LIVE_MINUTES * 4;
  const liveRows = intervals * NODES * GROUPS;
  let liveBytes = 0n;
  const sentTotal = async () => {
    let sent = 0;
    for (const q of exporters) sent += await q.metric('podflow_exporter_sent_flows_total');
    return sent;
  };
  const cpu0 = { node: nodeCpuSeconds(), server: serverCpuSeconds(server.dataDir), machine: machineBusySeconds() };
  const t1 = performance.now();
  for (let i = 0; i < intervals; i++) {
    for (let n = 0; n < NODES; n++) {
      const flows = liveBatch(n, i);
      for (const f of flows) liveBytes += BigInt(f.txBytes + f.rxBytes);
      await exporters[n]!.consume({ flows, temporality: 'delta' });
    }
    await new Promise(setImmediate);
    // Keep at most ~8 intervals of the cluster in memory (a pipeline cannot run ahead of the database either).
    while ((i + 1) * NODES * GROUPS - (await sentTotal()) > 8 * NODES * GROUPS) await new Promise((r) => setTimeout(r, 20));
  }
  const shut = await Promise.all(exporters.map((q) => q.shutdown(600_000)));
  const ingestSeconds = (performance.now() - t1) / 1000;
  await new Promise((r) => setTimeout(r, 200)); // the writers' backends have exited and been reaped
  const ingestCpu = { node: nodeCpuSeconds() - cpu0.node, server: serverCpuSeconds(server.dataDir) - cpu0.server, machine: machineBusySeconds() - cpu0.machine };
  const othersCpu = Math.max(0, ingestCpu.machine - ingestCpu.node - ingestCpu.server);
  // What 2 cores would do with this work and nothing else running: rows / (CPU seconds / 2).
  const cpuBoundRowsPerS = Math.round(liveRows / ((ingestCpu.node + ingestCpu.server) / 2));
  let failed = 0;
  for (const q of exporters) {
    failed += await q.metric('podflow_exporter_send_failed_flows_total') + await q.metric('podflow_exporter_enqueue_failed_flows_total')
      + await q.metric('podflow_postgres_dropped_rows_total');
  }
  const sent = await sentTotal();
  const { rows: [{ n: stored }] } = await client.query(`SELECT count(*)::bigint AS n FROM podflow.flows WHERE start_time >= $1`, [new Date(LIVE_START)]);
  const dropped = liveRows - Number(stored);
  const ingestRowsPerS = Math.round(sent / ingestSeconds);
  console.log(`live: ${sent.toLocaleString()} rows through ${NODES} exporters in ${ingestSeconds.toFixed(1)} s: ${ingestRowsPerS.toLocaleString()} rows/s; stored ${Number(stored).toLocaleString()}, dropped ${dropped}, failed ${failed}, all drained ${shut.every(Boolean)}`);
  console.log(`live CPU: exporters (this process) ${ingestCpu.node.toFixed(1)} s, PostgreSQL ${ingestCpu.server.toFixed(1)} s (rollups included), other processes ${othersCpu.toFixed(1)} s of ${(2 * ingestSeconds).toFixed(1)} s available -> ${cpuBoundRowsPerS.toLocaleString()} rows/s if the 2 cores were ours`);
  const r1 = performance.now();
  const finalStep = await rollUp(client, 'podflow');
  const finalRollupS = (performance.now() - r1) / 1000;
  const { rows: [state] } = await client.query('SELECT rolled_rows FROM podflow.rollup_state');
  console.log(`rollup: ${finalStep.rows.toLocaleString()} rows left after the writers stopped, rolled in ${finalRollupS.toFixed(1)} s; ${Number(state.rolled_rows).toLocaleString()} rolled in all`);
  await client.query('VACUUM ANALYZE');

  // 3. the node graph, tiers against the version-2 raw-row functions on the same rows
  await client.query('CREATE SCHEMA podflow_v2; CREATE VIEW podflow_v2.flows AS SELECT * FROM podflow.flow_details');
  await client.query(renderMigration(NODE_GRAPH_SQL, 'podflow_v2'));
  const timed = async (sql: string, params: unknown[], timeoutS?: number): Promise<{ ms: number; rows: Array<Record<string, unknown>> } | undefined> => {
    if (timeoutS) await client.query(`SET statement_timeout = '${timeoutS}s'`);
    try {
      const s = performance.now();
      const { rows } = await client.query(sql, params);
      return { ms: performance.now() - s, rows };
    } catch (err) {
      if ((err as { code?: string }).code === '57014') return undefined;
      throw err;
    } finally {
      if (timeoutS) await client.query('SET statement_timeout = 0');
    }
  };
  interface WindowResult { window: string; edgesMs: number; nodesMs: number; oldEdgesMs: number | null; oldNodesMs: number | null; mainstatEqualsBytes: boolean; sameAsOld: boolean | null; edges: number }
  const results: WindowResult[] = [];
  for (const [name, ms] of WINDOWS) {
    const params = [new Date(END - ms), new Date(END)];
    const edgesMs: number[] = [];
    const nodesMs: number[] = [];
    let edges: Array<Record<string, unknown>> = [];
    for (let run = 0; run < RUNS; run++) {
      const e = (await timed('SELECT * FROM podflow.graph_edges($1, $2)', params))!;
      edges = e.rows;
      edgesMs.push(e.ms);
      nodesMs.push((await timed('SELECT * FROM podflow.graph_nodes($1, $2)', params))!.ms);
    }
    const { rows: [written] } = await client.query(`SELECT sum(tx_bytes + rx_bytes)::text AS bytes FROM podflow.flows WHERE start_time >= $1 AND start_time < $2`, params);
    const mainstat = edges.reduce((s, r) => s + BigInt(r.mainstat as string), 0n);
    const oldEdges: number[] = [];
    const oldNodes: number[] = [];
    let sameAsOld: boolean | null = null;
    for (let run = 0; run < OLD_RUNS; run++) {
      const e = await timed('SELECT * FROM podflow_v2.graph_edges($1, $2)', params, OLD_TIMEOUT_S);
      if (e) {
        oldEdges.push(e.ms);
        const key = (rows: Array<Record<string, unknown>>) => rows.map((r) => `${r.id}=${r.mainstat}/${r.secondarystat}/${r.detail__packets}`).sort().join('\n');
        sameAsOld = key(e.rows) === key(edges);
      }
      const n = await timed('SELECT * FROM podflow_v2.graph_nodes($1, $2)', params, OLD_TIMEOUT_S);
      if (n) oldNodes.push(n.ms);
    }
    const r: WindowResult = {
      window: name, edgesMs: p50(edgesMs), nodesMs: p50(nodesMs),
      oldEdgesMs: oldEdges.length ? p50(oldEdges) : null, oldNodesMs: oldNodes.length ? p50(oldNodes) : null,
      mainstatEqualsBytes: mainstat === BigInt(written.bytes ?? 0), sameAsOld, edges: edges.length,
    };
    results.push(r);
    console.log(`${name}: graph_edges ${fmtMs(r.edgesMs)} (v2 ${r.oldEdgesMs === null ? `> ${OLD_TIMEOUT_S} s` : fmtMs(r.oldEdgesMs)}), graph_nodes ${fmtMs(r.nodesMs)} (v2 ${r.oldNodesMs === null ? `> ${OLD_TIMEOUT_S} s` : fmtMs(r.oldNodesMs)}), ${r.edges} edges, sum(mainstat) = bytes written: ${r.mainstatEqualsBytes}, same edges as v2: ${sameAsOld}`);
  }

  // 4. sizes: bytes per row of each tier; a day of this load; steady state with the default retention
  // Raw flows: rows of the view `flows`, bytes of the partitions of `flow_batches` (heap, TOAST, indexes).
  // The minute tier: edge-minutes (distinct bucket and key: several parts of a bucket may hold a
  // key, one per rollup step that touched it), bytes of the partitions of `flows_minute_parts`.
  const size = async (table: string, partitioned = table, rowsSql = `SELECT count(*) FROM podflow.${table}`) => {
    const { rows: [s] } = await client.query(`SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0)::bigint AS bytes, (${rowsSql})::bigint AS n
      FROM pg_inherits i WHERE i.inhparent = $1::regclass`, [`podflow.${partitioned}`]);
    return { bytes: Number(s.bytes), rows: Number(s.n), perRow: Number(s.bytes) / Math.max(1, Number(s.n)) };
  };
  const edgesTotal = NODES * GROUPS;
  const perDayRows = { raw: edgesTotal * (DAY_MS / INTERVAL_MS), minute: edgesTotal * 1440, hour: edgesTotal * 24, six_hour: edgesTotal * 4, day: edgesTotal };
  const sizes = { raw: await size('flows', 'flow_batches'), minute: await size('flows_minute', 'flows_minute_parts',
    'SELECT count(*) FROM (SELECT DISTINCT bucket, src_endpoint, dst_endpoint, inter_zone, transport, dst_port, cost_class FROM podflow.flows_minute) k'), hour: await size('flows_hour'), six_hour: await size('flows_six_hour'), day: await size('flows_day') };
  const { rows: [ep] } = await client.query(`SELECT pg_total_relation_size('podflow.endpoints')::bigint AS bytes, count(*)::int AS n FROM podflow.endpoints`);
  const perDay = Object.fromEntries(Object.entries(perDayRows).map(([t, rows]) => [t, rows * sizes[t as keyof typeof sizes].perRow])) as Record<keyof typeof perDayRows, number>;
  const perDayTotal = Object.values(perDay).reduce((a, b) => a + b, 0);
  const steady = Object.entries(perDay).reduce((s, [t, bytes]) => s + bytes * DEFAULT_RETENTION_DAYS[t as keyof typeof DEFAULT_RETENTION_DAYS], 0);
  const tiersPerDay = perDay.minute + perDay.hour + perDay.six_hour + perDay.day;
  for (const [t, s] of Object.entries(sizes)) console.log(`${t}: ${s.rows.toLocaleString()} rows, ${fmtGB(s.bytes)}, ${s.perRow.toFixed(0)} B/row, ${fmtGB(perDay[t as keyof typeof perDay])} per day of this load`);
  const { rows: [mp] } = await client.query(`SELECT count(*)::int AS parts, count(DISTINCT bucket)::int AS buckets, round(avg(rows))::int AS keys FROM podflow.flows_minute_parts`);
  console.log(`minute parts: ${mp.parts} in ${mp.buckets} buckets (${(mp.parts / Math.max(1, mp.buckets)).toFixed(1)} per bucket), ${mp.keys} keys per part on average`);
  console.log(`endpoints: ${ep.n} rows, ${(Number(ep.bytes) / 1e6).toFixed(1)} MB`);
  console.log(`a day of this load adds ${fmtGB(perDayTotal)} (raw ${fmtGB(perDay.raw)}, tiers ${fmtGB(tiersPerDay)}); steady state with the default retention (raw 2d, minute 14d, hour and six-hour 90d, day 730d): ${fmtGB(steady)}`);
  const load1 = loadavg()[0]!;
  console.log(`machine load average (1 min): ${load0.toFixed(1)} at start, ${load1.toFixed(1)} at end`);
  await client.end();

  console.log(JSON.stringify({
    bench: 'postgres-rollups', nodes: NODES, groups: GROUPS, live_minutes: LIVE_MINUTES, history_days: HISTORY_DAYS, history_rows: historyRows, live_rows: liveRows,
    ingest_rows_per_s: ingestRowsPerS, ingest_rows_per_s_cpu_bound: cpuBoundRowsPerS, ingest_cpu_s: { exporters: Number(ingestCpu.node.toFixed(1)), postgres: Number(ingestCpu.server.toFixed(1)), others: Number(othersCpu.toFixed(1)) }, dropped_rows: dropped, failed_rows: failed, final_rollup_s: Number(finalRollupS.toFixed(1)),
    windows: results.map((r) => ({ window: r.window, graph_edges_p50_ms: Math.round(r.edgesMs), graph_nodes_p50_ms: Math.round(r.nodesMs),
      v2_graph_edges_ms: r.oldEdgesMs === null ? null : Math.round(r.oldEdgesMs), v2_graph_nodes_ms: r.oldNodesMs === null ? null : Math.round(r.oldNodesMs),
      mainstat_equals_bytes: r.mainstatEqualsBytes, same_edges_as_v2: r.sameAsOld })),
    minute_parts_per_bucket: Number((mp.parts / Math.max(1, mp.buckets)).toFixed(1)),
    bytes_per_row: Object.fromEntries(Object.entries(sizes).map(([t, s]) => [t, Math.round(s.perRow)])),
    gb_per_day: Number((perDayTotal / 1e9).toFixed(2)), tiers_gb_per_day: Number((tiersPerDay / 1e9).toFixed(2)), steady_state_gb: Number((steady / 1e9).toFixed(1)),
    live_bytes_written: liveBytes.toString(), load: [Number(load0.toFixed(1)), Number(load1.toFixed(1))],
  }));
} catch (err) {
  // The server's last words explain a lost connection.
  console.error(readFileSync(join(dirname(server.dataDir), 'server.log'), 'utf8').split('\n').slice(-30).map((l) => l.slice(0, 300)).join('\n'));
  throw err;
} finally {
  await server.stop();
}
