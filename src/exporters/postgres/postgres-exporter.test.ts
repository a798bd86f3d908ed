// The postgres exporter behind its exporter queue (as the service runs it) against a real
// PostgreSQL server (test/harness/postgres.ts).
import test from 'ava';
import pg from 'pg';
import pino from 'pino';
import { missingPostgres, startPostgres, type PostgresServer } from '../../../test/harness/postgres.ts';
import { queued, type QueuedExporter } from '../../../test/harness/exporter-queue.ts';
import { postgresConfigSchema } from './config.ts';
import { postgresExporterFactory } from './index.ts';
import { migrate, MIGRATIONS } from './migrations.ts';
import { PostgresExporter } from './postgres-exporter.ts';
import { dbSums, deltaBatch, flowAt, fullFlow, sums, SUMS_SQL } from './testdata/flows.ts';
import { skipOrFail } from '../../../test/harness/privileges.ts';
import type { Flow } from '../../model/index.ts';

const DAY_MS = 86_400_000;
// A fixed UTC noon, so days and partitions are known in advance.
const NOON = Date.UTC(2030, 0, 15, 12);

// Runs as any user: as root the harness runs the server as nobody, otherwise as the caller.
const unavailable = missingPostgres();
let server: PostgresServer | undefined;
let dbCounter = 0;

test.before(async () => {
  if (unavailable) return;
  server = await startPostgres();
});

test.after.always(async () => {
  await server?.stop();
});

/** True when the test can run; otherwise skips loudly (fails under CI). */
function needsServer(t: import('ava').ExecutionContext): boolean {
  if (!unavailable && server) return true;
  return skipOrFail(t, unavailable ?? 'no PostgreSQL server');
}

/** The running server (tests call needsServer first). */
function srv(): PostgresServer {
  return server!;
}

async function freshDatabase(): Promise<string> {
  return srv().createDatabase(`t${process.pid}_${++dbCounter}`);
}

type Queued = QueuedExporter<PostgresExporter>;

function exporterFor(url: string, extra: Record<string, unknown> = {}, logger?: pino.Logger): Queued {
  const config = postgresConfigSchema.parse({
    endpoint: url,
    retention: 0,
    batch: { max_rows: 500, flush_interval: '20ms' },
    retry_on_failure: { initial_interval: '20ms', max_interval: '200ms' },
    ...extra,
  });
  return queued('postgres/test', postgresExporterFactory.queueSettings!(config), (ctx) => new PostgresExporter(ctx, config), logger);
}

/** Rows the exporter's queue has written, and the rows it lost and why. */
async function outcome(q: Queued) {
  return {
    sent: await q.metric('podflow_exporter_sent_flows_total'),
    failed: await q.metric('podflow_exporter_send_failed_flows_total'),
    enqueueFailed: await q.metric('podflow_exporter_enqueue_failed_flows_total'),
    invalid: await q.metric('podflow_postgres_dropped_rows_total', { reason: 'invalid' }),
    rejected: await q.metric('podflow_postgres_dropped_rows_total', { reason: 'rejected' }),
    retries: await q.metric('podflow_exporter_retries_total'),
  };
}

const NOTHING_LOST = { failed: 0, enqueueFailed: 0, invalid: 0, rejected: 0 };

function dbName(url: string): string {
  return new URL(url).pathname.slice(1);
}

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const ISSUE_COLUMNS: Record<string, string> = {
  start_time: 'timestamp with time zone', end_time: 'timestamp with time zone', node: 'text',
  src_address: 'inet', dst_address: 'inet', dst_port: 'integer', transport: 'text',
  src_namespace: 'text', src_pod: 'text', src_workload: 'text', src_workload_kind: 'text', src_zone: 'text',
  dst_namespace: 'text', dst_pod: 'text', dst_workload: 'text', dst_workload_kind: 'text', dst_zone: 'text',
  dst_domain: 'text', inter_zone: 'boolean', tx_bytes: 'bigint', rx_bytes: 'bigint', tx_packets: 'bigint',
  rx_packets: 'bigint', connections: 'bigint', attributes: 'jsonb',
};

test('migrations: from empty, then re-run does nothing', async (t) => {
  if (!needsServer(t)) return;
  const url = await freshDatabase();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const first = await migrate(client, 'podflow');
    t.deepEqual(first, { applied: MIGRATIONS.map((m) => m.version), unknown: [] });
    const second = await migrate(client, 'podflow');
    t.deepEqual(second, { applied: [], unknown: [] });
    const versions = await client.query('SELECT version, name FROM podflow.schema_migrations ORDER BY version');
    t.deepEqual(versions.rows, MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
    // the raw flows' parts (flow_batches, read through the view flows) are range-partitioned on start_time
    const part = await client.query(`SELECT p.partstrat, a.attname FROM pg_partitioned_table p
      JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
      WHERE p.partrelid = 'podflow.flow_batches'::regclass`);
    t.deepEqual(part.rows, [{ partstrat: 'r', attname: 'start_time' }]);
    const cols = await client.query<{ column_name: string; data_type: string }>(
      `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'podflow' AND table_name = 'flow_details'`,
    );
    const types = Object.fromEntries(cols.rows.map((r) => [r.column_name, r.data_type]));
    for (const [column, type] of Object.entries(ISSUE_COLUMNS)) t.is(types[column], type, column);
    // The table itself is narrow (migration 6): ends by endpoint id, repeated names by code.
    const narrow = await client.query<{ column_name: string; data_type: string }>(
      `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'podflow' AND table_name = 'flows' AND data_type = 'text'`);
    t.deepEqual(narrow.rows, [], 'no text column in the raw rows');
    const fns = await client.query(`SELECT proname FROM pg_proc WHERE pronamespace = 'podflow'::regnamespace ORDER BY proname`);
    t.deepEqual(fns.rows.map((r) => r.proname), ['bigint_sum', 'drop_partitions_before', 'drop_raw_partitions_before', 'drop_tier_partitions_before', 'ensure_partitions',
      'ensure_tier_partitions', 'graph_bucket_inside', 'graph_cover', 'graph_cover_piece', 'graph_cover_span', 'graph_edges', 'graph_endpoint', 'graph_group', 'graph_links', 'graph_nodes',
      'tier_partition_unit', 'tier_table']);
    // a database with a version this build does not know (a newer podflow) is reported, not broken
    await client.query(`INSERT INTO podflow.schema_migrations (version, name) VALUES (999, 'from the future')`);
    t.deepEqual(await migrate(client, 'podflow'), { applied: [], unknown: [999] });
  } finally {
    await client.end();
  }
});

test('migrations: replicas starting at once apply each migration exactly once', async (t) => {
  if (!needsServer(t)) return;
  const url = await freshDatabase();
  const clients = Array.from({ length: 6 }, () => new pg.Client({ connectionString: url }));
  await Promise.all(clients.map((c) => c.connect()));
  try {
    const results = await Promise.all(clients.map((c) => migrate(c, 'replicas')));
    const applied = results.flatMap((r) => r.applied).sort((a, b) => a - b);
    t.deepEqual(applied, MIGRATIONS.map((m) => m.version));
    t.is(results.filter((r) => r.applied.length > 0).length, 1);
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
  // and two exporters writing the same new days at once create each partition once
  const a = exporterFor(url, { schema: 'replicas' });
  const b = exporterFor(url, { schema: 'replicas' });
  await Promise.all([a.exporter.start(), b.exporter.start()]);
  const flows = Array.from({ length: 2000 }, (_, i) => fullFlow(i, NOON + (i % 4) * DAY_MS));
  await Promise.all([a.consume(deltaBatch(flows.slice(0, 1000))), b.consume(deltaBatch(flows.slice(1000)))]);
  await Promise.all([a.shutdown(), b.shutdown()]);
  const [row] = await srv().query(dbName(url), `${SUMS_SQL} FROM replicas.flows`);
  t.deepEqual(dbSums(row as never), sums(flows));
  const parts = await srv().query(dbName(url), `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'replicas.flow_batches'::regclass ORDER BY 1`);
  t.deepEqual(parts.map((r) => r.relname), ['flows_p20300115', 'flows_p20300116', 'flows_p20300117', 'flows_p20300118']);
});

test('COPY: known flows read back with exact sums, per day, and every column', async (t) => {
  if (!needsServer(t)) return;
  const url = await freshDatabase();
  const q = exporterFor(url, { batch: { max_rows: 700, flush_interval: '50ms' } });
  await q.exporter.start();
  const flows: Flow[] = [];
  for (let i = 0; i < 6000; i++) flows.push(fullFlow(i, NOON - 2 * DAY_MS + Math.floor((i * 3 * DAY_MS) / 6000)));
  // batches of uneven sizes, as a pipeline would hand them over
  for (let i = 0, size = 1; i < flows.length; i += size, size = (size * 7) % 1013 + 1) {
    await q.consume(deltaBatch(flows.slice(i, i + size)));
  }
  t.true(await q.shutdown());
  const db = dbName(url);
  const [total] = await srv().query(db, `${SUMS_SQL} FROM podflow.flows`);
  t.deepEqual(dbSums(total as never), sums(flows));
  // each UTC day holds exactly its flows
  const perDay = await srv().query(db, `SELECT tableoid::regclass::text AS part, ${SUMS_SQL.slice('SELECT'.length)} FROM podflow.flows GROUP BY 1 ORDER BY 1`);
  const expected = new Map<string, Flow[]>();
  for (const f of flows) {
    const day = new Date(Number(f.startTimeUnixNano / 1_000_000n)).toISOString().slice(0, 10).replaceAll('-', '');
    expected.set(`podflow.flows_p${day}`, [...(expected.get(`podflow.flows_p${day}`) ?? []), f]);
  }
  t.deepEqual(perDay.map((r) => r.part), [...expected.keys()].sort());
  for (const r of perDay) t.deepEqual(dbSums(r as never), sums(expected.get(r.part)!), r.part);
  // one row, every column
  const [row] = await srv().query(db, `SELECT start_time::text, end_time::text, node, host(src_address) AS src_address, src_port,
      host(dst_address) AS dst_address, dst_port, transport, src_namespace, src_pod, src_workload, src_workload_kind, src_node,
      src_zone, src_address_type, dst_namespace, dst_pod, dst_workload, dst_workload_kind, dst_node, dst_zone,
      dst_address_type, dst_service, dst_domain, inter_zone, tx_bytes::int, rx_bytes::int, tx_packets::int, rx_packets::int,
      connections::int, attributes
    FROM podflow.flow_details WHERE attributes->>'seq' = '4097'`);
  t.deepEqual(row, {
    start_time: '2030-01-15 13:09:50.4+00', end_time: '2030-01-15 13:10:00.4+00', node: 'node-a',
    src_address: '10.1.16.1', src_port: 34097, dst_address: '10.2.0.97', dst_port: 9080, transport: 'tcp',
    src_namespace: 'bookinfo', src_pod: 'productpage-v1-6b746f74dc-2', src_workload: 'productpage-v1',
    src_workload_kind: 'Deployment', src_node: 'node-a', src_zone: 'eu-west-1a', src_address_type: 'pod',
    dst_namespace: 'bookinfo', dst_pod: 'reviews-v3-5b4b9bd8c-x', dst_workload: 'reviews-v3', dst_workload_kind: 'Deployment',
    dst_node: 'node-b', dst_zone: 'eu-west-1b', dst_address_type: 'pod', dst_service: 'reviews', dst_domain: null,
    inter_zone: true, tx_bytes: 5097, rx_bytes: 32291, tx_packets: 12, rx_packets: 22, connections: 2,
    attributes: { 'network.type': 'ipv4', 'k8s.cluster.name': 'test', seq: 4097 },
  });
  t.like(await outcome(q), { sent: 6000, ...NOTHING_LOST });
  t.regex(await q.ctx.metrics.metrics(), /podflow_exporter_sent_flows_total\{exporter="postgres\/test"\} 6000/);
});

test('odd values: escaping, NUL, lone surrogates, values a column cannot hold', async (t) => {
  if (!needsServer(t)) return;
  const url = await freshDatabase();
  const q = exporterFor(url);
  await q.exporter.start();
  await q.consume(deltaBatch([
    flowAt(NOON, {
      'source.k8s.pod.name': 'tab\there\nnew\\line\r',
      'destination.domain': 'nul\0byte.example',
      'source.address': 'not-an-ip',
      'destination.port': 70000,
      'network.flow.inter_zone': 'maybe',
      'destination.address': '2001:db8::1',
      'weird\\key\t': 'lone \ud800 surrogate "quoted"',
      'nul\0key': 'two\0nul\0s',
      'k8s.node.name': 'flow-node',
    }, { txBytes: 1 }),
    flowAt(NOON, {}, { txBytes: 1.5 }), // not an integer: cannot be stored
  ]));
  t.true(await q.shutdown());
  const rows = await srv().query(dbName(url), `SELECT node, src_pod, dst_domain, src_address, dst_port, inter_zone,
    host(dst_address) AS dst_address, attributes FROM podflow.flow_details`);
  t.deepEqual(rows, [{
    node: 'flow-node',
    src_pod: 'tab\there\nnew\\line\r',
    dst_domain: 'nul\ufffdbyte.example',
    src_address: null,
    dst_port: null,
    inter_zone: null,
    dst_address: '2001:db8::1',
    attributes: {
      'source.address': 'not-an-ip',
      'destination.port': 70000,
      'network.flow.inter_zone': 'maybe',
      'weird\\key\t': 'lone \ufffd surrogate "quoted"',
      'nul\ufffdkey': 'two\ufffdnul\ufffds',
    },
  }]);
  t.like(await outcome(q), { sent: 1, invalid: 1, failed: 1 });
  // NUL is replaced, not lost, and counted: one in the domain, one in the key, two in its value
  t.is(await q.metric('podflow_postgres_nul_characters_replaced_total'), 4);
  // the reporting node comes from the resource when the flow has none
  const again = exporterFor(url);
  await again.exporter.start();
  await again.consume(deltaBatch([flowAt(NOON, {}, { txBytes: 7 })]));
  t.true(await again.shutdown());
  t.deepEqual(await srv().query(dbName(url), 'SELECT node FROM podflow.flow_details WHERE tx_bytes = 7'), [{ node: 'test-node' }]);
});

test('two consumers: both connections write, every request exactly once, exact sums', async (t) => {
  if (!needsServer(t)) return;
  const url = await freshDatabase();
  const db = dbName(url);
  const q = exporterFor(url, { batch: { max_rows: 500, flush_interval: '20ms' }, sending_queue: { queue_size: 1000, num_consumers: 2 } });
  await q.exporter.start();
  const flows = Array.from({ length: 30_000 }, (_, i) => fullFlow(i, NOON - DAY_MS / 2 + i * 2000)); // two days
  const writing = new Set<number>();
  for (let i = 0; i < flows.length; i += 3000) {
    await q.consume(deltaBatch(flows.slice(i, i + 3000)));
    const active = await srv().query(db, `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'podflow'`, [db]);
    for (const r of active) writing.add(r.pid as number);
  }
  t.true(await q.shutdown());
  t.like(await outcome(q), { sent: 30_000, retries: 0, ...NOTHING_LOST });
  t.is(writing.size, 2, 'two connections');
  const [row] = await srv().query(db, `${SUMS_SQL} FROM podflow.flows`);
  t.deepEqual(dbSums(row as never), sums(flows));
  const [batches] = await srv().query(db, 'SELECT count(*)::int AS n, sum(rows)::int AS rows FROM podflow.ingest_batches');
  t.deepEqual(batches, { n: 60, rows: 30_000 });
  const [distinct] = await srv().query(db, `SELECT count(DISTINCT attributes->>'seq')::int AS n FROM podflow.flows`);
  t.is(distinct!.n, 30_000);
});

test('packed parts: the flows of one interval and node are one part, other times and nodes parts of their own, every flow read back as written', async (t) => {
  if (!needsServer(t)) return;
  const url = await freshDatabase();
  const q = exporterFor(url, { batch: { max_rows: 1000, flush_interval: '1h' } });
  await q.exporter.start();
  const interval = Array.from({ length: 300 }, (_, i) => fullFlow(i, NOON));
  const otherNode = Array.from({ length: 50 }, (_, i) => {
    const f = fullFlow(300 + i, NOON);
    f.attributes['k8s.node.name'] = 'node-z';
    return f;
  });
  // Rows with times of their own (conntrack without reduce, late rows), interleaved with the rest.
  const ragged = Array.from({ length: 20 }, (_, i) => fullFlow(350 + i, NOON + 1000 * (i + 1)));
  const flows = [...interval.slice(0, 100), ...ragged.slice(0, 10), ...otherNode, ...interval.slice(100), ...ragged.slice(10)];
  await q.consume(deltaBatch(flows));
  t.true(await q.shutdown());
  const db = dbName(url);
  t.deepEqual((await srv().query(db, 'SELECT rows FROM podflow.flow_batches ORDER BY rows DESC')).map((r) => r.rows), [300, 50, ...Array<number>(20).fill(1)]);
  const [total] = await srv().query(db, `${SUMS_SQL} FROM podflow.flows`);
  t.deepEqual(dbSums(total as never), sums(flows));
  // Element i of every array is the same flow: each flow's own values, by its seq.
  const stored = await srv().query(db, `SELECT (attributes->>'seq')::int AS seq, extract(epoch FROM start_time)::float8 * 1000 AS start_ms,
      tx_bytes::int AS tx, rx_bytes::int AS rx, tx_packets::int AS txp, rx_packets::int AS rxp, connections::int AS conns,
      src_port, inter_zone, node_code IS NOT NULL AS has_node, (cost_usd IS NULL) AS unpriced
    FROM podflow.flows ORDER BY 1`);
  t.deepEqual(stored, [...flows].sort((a, b) => Number(a.attributes.seq) - Number(b.attributes.seq)).map((f) => ({
    seq: f.attributes.seq, start_ms: Number(f.startTimeUnixNano / 1_000_000n), tx: f.txBytes, rx: f.rxBytes, txp: f.txPackets, rxp: f.rxPackets,
    conns: f.connections, src_port: f.attributes['source.port'], inter_zone: f.attributes['network.flow.inter_zone'], has_node: true, unpriced: f.costZeptoUsd === undefined,
  })));
  t.deepEqual(await srv().query(db, `SELECT node, count(*)::int AS n FROM podflow.flow_details GROUP BY 1 ORDER BY 1`), [{ node: 'node-a', n: 320 }, { node: 'node-z', n: 50 }]);
  t.like(await outcome(q), { sent: 370, ...NOTHING_LOST });
});

test('a row the server refuses is dropped alone; its batch-mates are written', async (t) => {
  if (!needsServer(t)) return;
  const url = await freshDatabase();
  const q = exporterFor(url, { batch: { max_rows: 1000, flush_interval: '1h' } });
  await q.exporter.start();
  await srv().query(dbName(url), 'ALTER TABLE podflow.flow_batches ADD CONSTRAINT no_port_6666 CHECK (NOT 6666 = ANY (dst_port))');
  const flows = Array.from({ length: 1000 }, (_, i) => flowAt(NOON, { 'destination.port': i === 637 ? 6666 : 80 }, { txBytes: i }));
  await q.consume(deltaBatch(flows));
  t.true(await q.shutdown());
  const [row] = await srv().query(dbName(url), `${SUMS_SQL} FROM podflow.flows`);
  t.deepEqual(dbSums(row as never), sums(flows.filter((_, i) => i !== 637)));
  // the bad row is dropped within the send, which succeeds: no retry
  t.like(await outcome(q), { sent: 999, rejected: 1, failed: 1, retries: 0 });
});

// serial: these stop the shared server, so no other test may run meanwhile (ava runs serial tests first)
for (const consumers of [1, 3]) test.serial(`PostgreSQL killed and restarted mid-stream: no row lost, none doubled (${consumers} consumers)`, async (t) => {
  if (!needsServer(t)) return;
  const url = await freshDatabase();
  const q = exporterFor(url, { batch: { max_rows: 300, flush_interval: '10ms' }, sending_queue: { queue_size: 1000, num_consumers: consumers } });
  await q.exporter.start();
  const flows = Array.from({ length: 20_000 }, (_, i) => fullFlow(i, NOON + i * 1000));
  const db = dbName(url);
  let restarted = false;
  for (let i = 0; i < flows.length; i += 100) {
    await q.consume(deltaBatch(flows.slice(i, i + 100)));
    await new Promise((r) => setTimeout(r, 1));
    if (i === 6000) await srv().stopServer('immediate'); // like a crash: clients see reset connections
    if (i === 12_000) {
      t.true((await q.metric('podflow_exporter_queue_size')) > 0, 'rows wait while the server is down');
      await srv().startServer();
      restarted = true;
    }
  }
  t.true(restarted);
  t.true(await q.shutdown());
  const [row] = await srv().query(db, `${SUMS_SQL} FROM podflow.flows`);
  t.deepEqual(dbSums(row as never), sums(flows));
  const [distinct] = await srv().query(db, `SELECT count(DISTINCT attributes->>'seq')::int AS n FROM podflow.flows`);
  t.is(distinct!.n, 20_000);
  const stats = await outcome(q);
  t.true(stats.retries > 0);
  t.like(stats, { sent: 20_000, ...NOTHING_LOST });
});

test.serial('queue overflow while PostgreSQL is down drops the oldest batches and counts them', async (t) => {
  if (!needsServer(t)) return;
  const url = await freshDatabase();
  const db = dbName(url);
  await srv().stopServer('fast');
  let q: Queued | undefined;
  try {
    q = exporterFor(url, { batch: { max_rows: 100, flush_interval: '1h' }, sending_queue: { queue_size: 3 }, retry_on_failure: { initial_interval: '50ms', max_interval: '50ms' } });
    await q.exporter.start(); // not reachable: starts anyway, logs, retries
    const flows = Array.from({ length: 1000 }, (_, i) => flowAt(NOON, { seq: i }, { txBytes: i }));
    for (let i = 0; i < 1000; i += 100) await q.consume(deltaBatch(flows.slice(i, i + 100)));
    const dropped = await q.metric('podflow_exporter_enqueue_failed_flows_total');
    // 3 requests wait, plus at most one being written
    t.true(dropped === 600 || dropped === 700, `dropped ${dropped}`);
    t.regex(await q.ctx.metrics.metrics(), new RegExp(`podflow_exporter_enqueue_failed_flows_total\\{exporter="postgres/test"\\} ${dropped}`));
    await srv().startServer();
    t.true(await q.shutdown());
    // the newest 3 batches survived, and the first one if it was being written when the queue overflowed
    const rows = await srv().query(db, `SELECT (attributes->>'seq')::int AS seq FROM podflow.flows ORDER BY 1`);
    const survivors = dropped === 700 ? flows.slice(700) : [...flows.slice(0, 100), ...flows.slice(700)];
    t.deepEqual(rows.map((r) => r.seq), survivors.map((f) => f.attributes.seq));
    t.like(await outcome(q), { sent: 1000 - dropped, failed: dropped });
  } finally {
    await srv().startServer().catch(() => undefined);
    await q?.shutdown();
  }
});

test('shutdown flushes what waits for flush_interval; rows left at the shutdown deadline are counted', async (t) => {
  if (!needsServer(t)) return;
  const url = await freshDatabase();
  const q = exporterFor(url, { batch: { max_rows: 10_000, flush_interval: '1h' } });
  await q.exporter.start();
  await q.consume(deltaBatch(Array.from({ length: 10 }, (_, i) => flowAt(NOON, {}, { rxBytes: i + 1 }))));
  await new Promise((r) => setTimeout(r, 100));
  t.deepEqual(await srv().query(dbName(url), 'SELECT count(*)::int AS n FROM podflow.flows'), [{ n: 0 }]);
  t.true(await q.shutdown());
  t.deepEqual(await srv().query(dbName(url), 'SELECT count(*)::int AS n, sum(rx_bytes)::int AS rx FROM podflow.flows'), [{ n: 10, rx: 55 }]);
  t.throws(() => q.exporter.toRequests(deltaBatch([flowAt(NOON, {})]), undefined), { message: /shut down/ });
  await q.consume(deltaBatch([flowAt(NOON, {}), flowAt(NOON, {})]));
  t.like(await outcome(q), { sent: 10, failed: 2 });

  // an unreachable server: the drain gives up at the shutdown deadline and counts the rows
  const gone = exporterFor('postgres://postgres@127.0.0.1:1/nowhere');
  await gone.exporter.start();
  await gone.consume(deltaBatch(Array.from({ length: 5 }, () => flowAt(NOON, {}))));
  const started = Date.now();
  t.false(await gone.shutdown(300));
  t.true(Date.now() - started < 3000);
  t.like(await outcome(gone), { sent: 0, failed: 5 });
});

/**
 * Drops the exporter's schema. Its rollup job may hold the tables' locks in the other order: the
 * DROP is then the deadlock's victim, as an operator's would be, and is tried again.
 */
async function dropSchema(url: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await srv().query(dbName(url), 'DROP SCHEMA podflow CASCADE');
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== '40P01' || attempt === 5) throw err;
    }
  }
}

/** Each stored row's ends as flow_details names them, by tx_bytes (unique per flow in these tests). */
const ENDS_SQL = `SELECT tx_bytes::int AS tx, host(src_address) AS src, src_pod, host(dst_address) AS dst, dst_pod, dst_zone, node, transport, dst_service, cost_class
  FROM podflow.flow_details ORDER BY tx_bytes`;

/** What ENDS_SQL must read for `flows`. */
function endsOf(flows: Flow[]) {
  return flows.map((f) => {
    const a = f.attributes;
    return {
      tx: f.txBytes, src: a['source.address'], src_pod: a['source.k8s.pod.name'], dst: a['destination.address'], dst_pod: a['destination.k8s.pod.name'],
      dst_zone: a['destination.cloud.availability_zone'], node: a['k8s.node.name'], transport: a['network.transport'], dst_service: a['destination.k8s.service.name'],
      cost_class: a['network.flow.cost.class'] ?? null,
    };
  }).sort((x, y) => x.tx - y.tx);
}

/** fullFlow(seq) with tx_bytes `txBytes`. */
function flowWithTx(seq: number, txBytes: number): Flow {
  return { ...fullFlow(seq, NOON), txBytes };
}

test('a schema recreated under a running exporter: its cached endpoint ids are never used for other ends', async (t) => {
  if (!needsServer(t)) return;
  const url = await freshDatabase();
  const a = exporterFor(url, { rollup: { enabled: false } });
  await a.exporter.start();
  const before = [0, 1, 2, 3, 4].map((seq) => flowWithTx(seq, 100 + seq));
  await a.consume(deltaBatch(before));
  await waitFor(async () => (await a.metric('podflow_exporter_sent_flows_total')) === 5);
  await dropSchema(url);
  // Another writer recreates the schema and takes the first ids for ends of its own.
  const b = exporterFor(url, { rollup: { enabled: false } });
  await b.exporter.start();
  const others = [50, 51, 52, 53, 54, 55].map((seq) => flowWithTx(seq, 200 + seq));
  await b.consume(deltaBatch(others));
  t.true(await b.shutdown());
  // The same flows again: every line's ids are in the first exporter's cache, for the old schema.
  const after = [0, 1, 2, 3, 4].map((seq) => flowWithTx(seq, 300 + seq));
  await a.consume(deltaBatch(after));
  t.true(await a.shutdown());
  t.deepEqual(await srv().query(dbName(url), ENDS_SQL), endsOf([...others, ...after]));
  t.deepEqual(await srv().query(dbName(url), `SELECT count(*)::int AS n FROM podflow.endpoints`), [{ n: new Set([...others, ...after].flatMap((f) => [f.attributes['source.address'], f.attributes['destination.address']])).size }]);
  t.like(await outcome(a), { sent: 10, ...NOTHING_LOST });
});

test('writers adding the same new ends at once: each end stored once, every row with its own ends, no deadlock', async (t) => {
  if (!needsServer(t)) return;
  const url = await freshDatabase();
  const writers = Array.from({ length: 6 }, () => exporterFor(url, { rollup: { enabled: false } }));
  await writers[0]!.exporter.start();
  await Promise.all(writers.slice(1).map((w) => w.exporter.start()));
  const seqs = Array.from({ length: 60 }, (_, i) => i);
  // Each writer sees the same ends in another order (rotated, every other one reversed).
  const flows = writers.map((_, w) => {
    const order = [...seqs.slice(w * 10), ...seqs.slice(0, w * 10)];
    return (w % 2 ? order.reverse() : order).map((seq) => flowWithTx(seq, 1000 * (w + 1) + seq));
  });
  await Promise.all(writers.map((w, i) => w.consume(deltaBatch(flows[i]!))));
  t.deepEqual(await Promise.all(writers.map((w) => w.shutdown())), writers.map(() => true));
  for (const w of writers) t.like(await outcome(w), { sent: 60, retries: 0, ...NOTHING_LOST });
  t.deepEqual(await srv().query(dbName(url), ENDS_SQL), endsOf(flows.flat()));
  const ends = new Set(flows[0]!.flatMap((f) => [`s${f.attributes['source.address']}`, `d${f.attributes['destination.address']}`]));
  t.deepEqual(await srv().query(dbName(url), `SELECT count(*)::int AS endpoints, (SELECT count(*)::int FROM podflow.endpoint_groups) AS groups FROM podflow.endpoints`),
    [{ endpoints: ends.size, groups: 4 * ends.size }]);
});

test('the schema dropped under a running exporter is migrated again', async (t) => {
  if (!needsServer(t)) return;
  const url = await freshDatabase();
  const q = exporterFor(url);
  await q.exporter.start();
  await q.consume(deltaBatch([flowAt(NOON, {}, { txBytes: 1 })]));
  await waitFor(async () => (await q.metric('podflow_exporter_sent_flows_total')) === 1);
  await dropSchema(url);
  await q.consume(deltaBatch([flowAt(NOON, {}, { txBytes: 2 })]));
  t.true(await q.shutdown());
  t.deepEqual(await srv().query(dbName(url), 'SELECT tx_bytes::int AS tx FROM podflow.flows'), [{ tx: 2 }]);
});

test('retention drops whole partitions older than retention, and nothing else', async (t) => {
  if (!needsServer(t)) return;
  const url = await freshDatabase();
  const writer = exporterFor(url);
  await writer.exporter.start();
  const daysAgo = [10, 8, 7, 1, 0];
  const flows = daysAgo.flatMap((d) => Array.from({ length: 5 }, (_, i) => flowAt(NOON - d * DAY_MS + i * 3_600_000, {}, { txBytes: 100 * d + i })));
  await writer.consume(deltaBatch(flows));
  t.true(await writer.shutdown());

  const q = exporterFor(url, { retention: '7d' });
  const exporter = q.exporter;
  // cutoff = NOON - 7d: the day 8 days back ends at 00:00 of the 7th day back, before the cutoff
  t.deepEqual(await exporter.runRetention(NOON), ['flows_p20300105', 'flows_p20300107']);
  t.deepEqual(await exporter.runRetention(NOON), []);
  const parts = await srv().query(dbName(url), `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'podflow.flow_batches'::regclass ORDER BY 1`);
  t.deepEqual(parts.map((r) => r.relname), ['flows_p20300108', 'flows_p20300114', 'flows_p20300115']);
  const [row] = await srv().query(dbName(url), `${SUMS_SQL} FROM podflow.flows`);
  t.deepEqual(dbSums(row as never), sums(flows.slice(10)));
  t.is(await q.metric('podflow_postgres_partitions_dropped_total'), 2);
  // retention 0 keeps everything
  t.deepEqual(await exporterFor(url, { retention: 0 }).exporter.runRetention(NOON + 1000 * DAY_MS), []);
});

test('start fails loudly on a configuration PostgreSQL refuses (unknown database)', async (t) => {
  if (!needsServer(t)) return;
  const { exporter } = exporterFor(srv().url('no_such_database'));
  await t.throwsAsync(exporter.start(), { message: /postgres exporter postgres\/test: .*no_such_database/ });
});

test('a cumulative batch is refused with a reason', async (t) => {
  const q = exporterFor('postgres://postgres@127.0.0.1:1/x');
  t.throws(() => q.exporter.toRequests({ flows: [flowAt(NOON, {})], temporality: 'cumulative' }, undefined), { message: /stores deltas/ });
  // behind the queue: refused, counted failed, logged
  await q.consume({ flows: [flowAt(NOON, {}), flowAt(NOON, {})], temporality: 'cumulative' });
  t.like(await outcome(q), { sent: 0, failed: 2 });
});

test('rows the queue cannot keep or write are counted in the exporter families and logged once', async (t) => {
  const logLines: Array<{ msg: string; flows?: number; suppressed?: number }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line)) });
  const q = exporterFor('postgres://postgres@127.0.0.1:1/nowhere', {
    sending_queue: { queue_size: 1 }, batch: { max_rows: 10, flush_interval: '1h' }, retry_on_failure: { initial_interval: '10ms', max_interval: '10ms' },
  }, logger);
  await q.exporter.start();
  for (let i = 0; i < 6; i++) await q.consume(deltaBatch(Array.from({ length: 10 }, () => flowAt(NOON, {}))));
  t.false(await q.shutdown(100));
  const { sent, failed, enqueueFailed } = await outcome(q);
  t.is(sent, 0);
  t.is(failed, 60);
  // one request in flight, one waiting: at least 4 of 6 pushed out
  t.true(enqueueFailed >= 40);
  // several overflows, one log line (the next would come a minute later, with the suppressed count)
  t.deepEqual(logLines.filter((l) => /queue full/.test(l.msg)).map((l) => [l.flows, l.suppressed]), [[10, 0]]);
  t.is(logLines.filter((l) => /not drained before the shutdown deadline/.test(l.msg)).length, 1);
});

test("node column: a batch's own resource (from an agent) wins, else the exporter's reporting node", async (t) => {
  if (!needsServer(t)) return;
  const url = await freshDatabase();
  const q = exporterFor(url);
  await q.exporter.start();
  await q.consume({ ...deltaBatch([flowAt(NOON, {}, { txBytes: 1 })]), resource: { 'k8s.node.name': 'agent-7' } });
  await q.consume({ ...deltaBatch([flowAt(NOON, {}, { txBytes: 2 })]), resource: { 'k8s.cluster.name': 'c' } });
  await q.consume(deltaBatch([flowAt(NOON, { 'k8s.node.name': 'own' }, { txBytes: 3 })]));
  t.true(await q.shutdown());
  t.deepEqual(await srv().query(dbName(url), 'SELECT tx_bytes::int AS tx, node FROM podflow.flow_details ORDER BY 1'),
    [{ tx: 1, node: 'agent-7' }, { tx: 2, node: 'test-node' }, { tx: 3, node: 'own' }]);
});
