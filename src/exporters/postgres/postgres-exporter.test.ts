// The postgres exporter against a real PostgreSQL server (test/harness/postgres.ts).
import test from 'ava';
import pg from 'pg';
import pino from 'pino';
import { Counter } from 'prom-client';
import { missingPostgres, startPostgres, type PostgresServer } from '../../../test/harness/postgres.ts';
import { testContext, type TestContext } from '../../../test/harness/context.ts';
import { postgresConfigSchema } from './config.ts';
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

function exporterFor(url: string, extra: Record<string, unknown> = {}): { exporter: PostgresExporter; ctx: TestContext } {
  const ctx = testContext('postgres/test');
  const config = postgresConfigSchema.parse({
    endpoint: url,
    retention: 0,
    batch: { max_rows: 500, flush_interval: '20ms' },
    retry_on_failure: { initial_interval: '20ms', max_interval: '200ms' },
    ...extra,
  });
  return { exporter: new PostgresExporter(ctx, config), ctx };
}

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
    // flows is range-partitioned on start_time
    const part = await client.query(`SELECT p.partstrat, a.attname FROM pg_partitioned_table p
      JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
      WHERE p.partrelid = 'podflow.flows'::regclass`);
    t.deepEqual(part.rows, [{ partstrat: 'r', attname: 'start_time' }]);
    const cols = await client.query<{ column_name: string; data_type: string }>(
      `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'podflow' AND table_name = 'flows'`,
    );
    const types = Object.fromEntries(cols.rows.map((r) => [r.column_name, r.data_type]));
    for (const [column, type] of Object.entries(ISSUE_COLUMNS)) t.is(types[column], type, column);
    const fns = await client.query(`SELECT proname FROM pg_proc WHERE pronamespace = 'podflow'::regnamespace ORDER BY proname`);
    t.deepEqual(fns.rows.map((r) => r.proname), ['drop_partitions_before', 'ensure_partitions', 'graph_edges', 'graph_endpoint', 'graph_links', 'graph_nodes']);
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
  await Promise.all([a.exporter.export(deltaBatch(flows.slice(0, 1000))), b.exporter.export(deltaBatch(flows.slice(1000)))]);
  await Promise.all([a.exporter.shutdown(), b.exporter.shutdown()]);
  const [row] = await srv().query(dbName(url), `${SUMS_SQL} FROM replicas.flows`);
  t.deepEqual(dbSums(row as never), sums(flows));
  const parts = await srv().query(dbName(url), `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'replicas.flows'::regclass ORDER BY 1`);
  t.deepEqual(parts.map((r) => r.relname), ['flows_p20300115', 'flows_p20300116', 'flows_p20300117', 'flows_p20300118']);
});

test('COPY: known flows read back with exact sums, per day, and every column', async (t) => {
  if (!needsServer(t)) return;
  const url = await freshDatabase();
  const { exporter, ctx } = exporterFor(url, { batch: { max_rows: 700, flush_interval: '50ms' } });
  await exporter.start();
  const flows: Flow[] = [];
  for (let i = 0; i < 6000; i++) flows.push(fullFlow(i, NOON - 2 * DAY_MS + Math.floor((i * 3 * DAY_MS) / 6000)));
  // batches of uneven sizes, as a pipeline would hand them over
  for (let i = 0, size = 1; i < flows.length; i += size, size = (size * 7) % 1013 + 1) {
    await exporter.export(deltaBatch(flows.slice(i, i + size)));
  }
  await exporter.shutdown();
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
    FROM podflow.flows WHERE attributes->>'seq' = '4097'`);
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
  t.is(exporter.stats().writtenRows, 6000);
  t.deepEqual(exporter.stats().droppedRows, { queue_full: 0, invalid: 0, rejected: 0, shutdown: 0 });
  t.regex(await ctx.metrics.metrics(), /podflow_postgres_written_rows_total\{exporter="postgres\/test"\} 6000/);
});

test('odd values: escaping, NUL, lone surrogates, values a column cannot hold', async (t) => {
  if (!needsServer(t)) return;
  const url = await freshDatabase();
  const { exporter } = exporterFor(url);
  await exporter.start();
  await exporter.export(deltaBatch([
    flowAt(NOON, {
      'source.k8s.pod.name': 'tab\there\nnew\\line\r',
      'destination.domain': 'nul\0byte.example',
      'source.address': 'not-an-ip',
      'destination.port': 70000,
      'network.flow.inter_zone': 'maybe',
      'destination.address': '2001:db8::1',
      'weird\\key\t': 'lone \ud800 surrogate "quoted"',
      'k8s.node.name': 'flow-node',
    }, { txBytes: 1 }),
    flowAt(NOON, {}, { txBytes: 1.5 }), // not an integer: cannot be stored
  ]));
  await exporter.shutdown();
  const rows = await srv().query(dbName(url), `SELECT node, src_pod, dst_domain, src_address, dst_port, inter_zone,
    host(dst_address) AS dst_address, attributes FROM podflow.flows`);
  t.deepEqual(rows, [{
    node: 'flow-node',
    src_pod: 'tab\there\nnew\\line\r',
    dst_domain: 'nulbyte.example',
    src_address: null,
    dst_port: null,
    inter_zone: null,
    dst_address: '2001:db8::1',
    attributes: {
      'source.address': 'not-an-ip',
      'destination.port': 70000,
      'network.flow.inter_zone': 'maybe',
      'weird\\key\t': 'lone \ufffd surrogate "quoted"',
    },
  }]);
  t.is(exporter.stats().droppedRows.invalid, 1);
  // the reporting node comes from the resource when the flow has none
  const again = exporterFor(url);
  await again.exporter.start();
  await again.exporter.export(deltaBatch([flowAt(NOON, {}, { txBytes: 7 })]));
  await again.exporter.shutdown();
  t.deepEqual(await srv().query(dbName(url), 'SELECT node FROM podflow.flows WHERE tx_bytes = 7'), [{ node: 'test-node' }]);
});

test('two writers: both connections write, every batch exactly once, exact sums', async (t) => {
  if (!needsServer(t)) return;
  const url = await freshDatabase();
  const db = dbName(url);
  const { exporter } = exporterFor(url, { batch: { max_rows: 500, flush_interval: '20ms' }, queue_size: 1000, writers: 2 });
  await exporter.start();
  const flows = Array.from({ length: 30_000 }, (_, i) => fullFlow(i, NOON - DAY_MS / 2 + i * 2000)); // two days
  const writing = new Set<number>();
  for (let i = 0; i < flows.length; i += 3000) {
    await exporter.export(deltaBatch(flows.slice(i, i + 3000)));
    const active = await srv().query(db, `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'podflow'`, [db]);
    for (const r of active) writing.add(r.pid as number);
  }
  await exporter.shutdown();
  t.is(exporter.stats().retries, 0);
  t.is(writing.size, 2, 'two connections');
  const [row] = await srv().query(db, `${SUMS_SQL} FROM podflow.flows`);
  t.deepEqual(dbSums(row as never), sums(flows));
  const [batches] = await srv().query(db, 'SELECT count(*)::int AS n, sum(rows)::int AS rows FROM podflow.ingest_batches');
  t.deepEqual(batches, { n: 60, rows: 30_000 });
  const [distinct] = await srv().query(db, `SELECT count(DISTINCT attributes->>'seq')::int AS n FROM podflow.flows`);
  t.is(distinct!.n, 30_000);
});

test('a row the server refuses is dropped alone; its batch-mates are written', async (t) => {
  if (!needsServer(t)) return;
  const url = await freshDatabase();
  const { exporter } = exporterFor(url, { batch: { max_rows: 1000, flush_interval: '1h' } });
  await exporter.start();
  await srv().query(dbName(url), 'ALTER TABLE podflow.flows ADD CONSTRAINT no_port_6666 CHECK (dst_port IS DISTINCT FROM 6666)');
  const flows = Array.from({ length: 1000 }, (_, i) => flowAt(NOON, { 'destination.port': i === 637 ? 6666 : 80 }, { txBytes: i }));
  await exporter.export(deltaBatch(flows));
  await exporter.shutdown();
  const [row] = await srv().query(dbName(url), `${SUMS_SQL} FROM podflow.flows`);
  t.deepEqual(dbSums(row as never), sums(flows.filter((_, i) => i !== 637)));
  t.is(exporter.stats().droppedRows.rejected, 1);
});

// serial: these stop the shared server, so no other test may run meanwhile (ava runs serial tests first)
for (const writers of [1, 3]) test.serial(`PostgreSQL killed and restarted mid-stream: no row lost, none doubled (${writers} writers)`, async (t) => {
  if (!needsServer(t)) return;
  const url = await freshDatabase();
  const { exporter } = exporterFor(url, { batch: { max_rows: 300, flush_interval: '10ms' }, queue_size: 1000, writers });
  await exporter.start();
  const flows = Array.from({ length: 20_000 }, (_, i) => fullFlow(i, NOON + i * 1000));
  const db = dbName(url);
  let restarted = false;
  for (let i = 0; i < flows.length; i += 100) {
    await exporter.export(deltaBatch(flows.slice(i, i + 100)));
    await new Promise((r) => setTimeout(r, 1));
    if (i === 6000) await srv().stopServer('immediate'); // like a crash: clients see reset connections
    if (i === 12_000) {
      t.true(exporter.stats().queuedRows > 0, 'rows wait while the server is down');
      await srv().startServer();
      restarted = true;
    }
  }
  t.true(restarted);
  await exporter.shutdown();
  const [row] = await srv().query(db, `${SUMS_SQL} FROM podflow.flows`);
  t.deepEqual(dbSums(row as never), sums(flows));
  const [distinct] = await srv().query(db, `SELECT count(DISTINCT attributes->>'seq')::int AS n FROM podflow.flows`);
  t.is(distinct!.n, 20_000);
  const stats = exporter.stats();
  t.true(stats.retries > 0);
  t.deepEqual(stats.droppedRows, { queue_full: 0, invalid: 0, rejected: 0, shutdown: 0 });
});

test.serial('queue overflow while PostgreSQL is down drops the oldest batches and counts them', async (t) => {
  if (!needsServer(t)) return;
  const url = await freshDatabase();
  const db = dbName(url);
  await srv().stopServer('fast');
  let exporter: PostgresExporter | undefined;
  try {
    const made = exporterFor(url, { batch: { max_rows: 100, flush_interval: '1h' }, queue_size: 3, retry_on_failure: { initial_interval: '50ms', max_interval: '50ms' } });
    exporter = made.exporter;
    await exporter.start(); // not reachable: starts anyway, logs, retries
    const flows = Array.from({ length: 1000 }, (_, i) => flowAt(NOON, { seq: i }, { txBytes: i }));
    for (let i = 0; i < 1000; i += 100) await exporter.export(deltaBatch(flows.slice(i, i + 100)));
    const dropped = exporter.stats().droppedRows.queue_full;
    // 3 batches wait, plus at most one being written
    t.true(dropped === 600 || dropped === 700, `dropped ${dropped}`);
    t.regex(await made.ctx.metrics.metrics(), new RegExp(`podflow_postgres_dropped_rows_total\\{exporter="postgres/test",reason="queue_full"\\} ${dropped}`));
    await srv().startServer();
    await exporter.shutdown();
    // the newest 3 batches survived, and the first one if it was being written when the queue overflowed
    const rows = await srv().query(db, `SELECT (attributes->>'seq')::int AS seq FROM podflow.flows ORDER BY 1`);
    const survivors = dropped === 700 ? flows.slice(700) : [...flows.slice(0, 100), ...flows.slice(700)];
    t.deepEqual(rows.map((r) => r.seq), survivors.map((f) => f.attributes.seq));
    t.is(exporter.stats().writtenRows + dropped, 1000);
  } finally {
    await srv().startServer().catch(() => undefined);
    await exporter?.shutdown();
  }
});

test('shutdown flushes what waits for flush_interval; rows left at flush_timeout are counted', async (t) => {
  if (!needsServer(t)) return;
  const url = await freshDatabase();
  const { exporter } = exporterFor(url, { batch: { max_rows: 10_000, flush_interval: '1h' } });
  await exporter.start();
  await exporter.export(deltaBatch(Array.from({ length: 10 }, (_, i) => flowAt(NOON, {}, { rxBytes: i + 1 }))));
  await new Promise((r) => setTimeout(r, 100));
  t.deepEqual(await srv().query(dbName(url), 'SELECT count(*)::int AS n FROM podflow.flows'), [{ n: 0 }]);
  await exporter.shutdown();
  t.deepEqual(await srv().query(dbName(url), 'SELECT count(*)::int AS n, sum(rx_bytes)::int AS rx FROM podflow.flows'), [{ n: 10, rx: 55 }]);
  await t.throwsAsync(exporter.export(deltaBatch([flowAt(NOON, {})])), { message: /shut down/ });

  // an unreachable server: shutdown gives up after flush_timeout and counts the rows
  const gone = exporterFor('postgres://postgres@127.0.0.1:1/nowhere', { flush_timeout: '300ms' });
  await gone.exporter.start();
  await gone.exporter.export(deltaBatch(Array.from({ length: 5 }, () => flowAt(NOON, {}))));
  const started = Date.now();
  await gone.exporter.shutdown();
  t.true(Date.now() - started < 3000);
  t.is(gone.exporter.stats().droppedRows.shutdown, 5);
});

test('the schema dropped under a running exporter is migrated again', async (t) => {
  if (!needsServer(t)) return;
  const url = await freshDatabase();
  const { exporter } = exporterFor(url);
  await exporter.start();
  await exporter.export(deltaBatch([flowAt(NOON, {}, { txBytes: 1 })]));
  await waitFor(() => exporter.stats().writtenRows === 1);
  await srv().query(dbName(url), 'DROP SCHEMA podflow CASCADE');
  await exporter.export(deltaBatch([flowAt(NOON, {}, { txBytes: 2 })]));
  await exporter.shutdown();
  t.deepEqual(await srv().query(dbName(url), 'SELECT tx_bytes::int AS tx FROM podflow.flows'), [{ tx: 2 }]);
});

test('retention drops whole partitions older than retention, and nothing else', async (t) => {
  if (!needsServer(t)) return;
  const url = await freshDatabase();
  const writer = exporterFor(url);
  await writer.exporter.start();
  const daysAgo = [10, 8, 7, 1, 0];
  const flows = daysAgo.flatMap((d) => Array.from({ length: 5 }, (_, i) => flowAt(NOON - d * DAY_MS + i * 3_600_000, {}, { txBytes: 100 * d + i })));
  await writer.exporter.export(deltaBatch(flows));
  await writer.exporter.shutdown();

  const { exporter } = exporterFor(url, { retention: '7d' });
  // cutoff = NOON - 7d: the day 8 days back ends at 00:00 of the 7th day back, before the cutoff
  t.deepEqual(await exporter.runRetention(NOON), ['flows_p20300105', 'flows_p20300107']);
  t.deepEqual(await exporter.runRetention(NOON), []);
  const parts = await srv().query(dbName(url), `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'podflow.flows'::regclass ORDER BY 1`);
  t.deepEqual(parts.map((r) => r.relname), ['flows_p20300108', 'flows_p20300114', 'flows_p20300115']);
  const [row] = await srv().query(dbName(url), `${SUMS_SQL} FROM podflow.flows`);
  t.deepEqual(dbSums(row as never), sums(flows.slice(10)));
  t.is(exporter.stats().droppedPartitions, 2);
  // retention 0 keeps everything
  t.deepEqual(await exporterFor(url, { retention: 0 }).exporter.runRetention(NOON + 1000 * DAY_MS), []);
});

test('start fails loudly on a configuration PostgreSQL refuses (unknown database)', async (t) => {
  if (!needsServer(t)) return;
  const { exporter } = exporterFor(srv().url('no_such_database'));
  await t.throwsAsync(exporter.start(), { message: /postgres exporter postgres\/test: .*no_such_database/ });
});

test('a cumulative batch is refused with a reason', async (t) => {
  const { exporter } = exporterFor('postgres://postgres@127.0.0.1:1/x');
  await t.throwsAsync(exporter.export({ flows: [flowAt(NOON, {})], temporality: 'cumulative' }), { message: /stores deltas/ });
});

test('rows it cannot write also count in the runtime\'s exporter families', async (t) => {
  const ctx = testContext('postgres/lost');
  const logLines: Array<{ msg: string; rows?: number; suppressed?: number }> = [];
  ctx.logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line)) });
  const sendFailed = new Counter({ name: 'podflow_exporter_send_failed_flows_total', help: 'h', labelNames: ['exporter'], registers: [ctx.metrics] });
  const enqueueFailed = new Counter({ name: 'podflow_exporter_enqueue_failed_flows_total', help: 'h', labelNames: ['exporter'], registers: [ctx.metrics] });
  const exporter = new PostgresExporter(ctx, postgresConfigSchema.parse({
    endpoint: 'postgres://postgres@127.0.0.1:1/nowhere', queue_size: 1, flush_timeout: '100ms',
    batch: { max_rows: 10, flush_interval: '1h' }, retry_on_failure: { initial_interval: '10ms', max_interval: '10ms' },
  }));
  await exporter.start();
  for (let i = 0; i < 6; i++) await exporter.export(deltaBatch(Array.from({ length: 10 }, () => flowAt(NOON, {}))));
  await exporter.shutdown();
  const { droppedRows } = exporter.stats();
  t.is(droppedRows.queue_full + droppedRows.shutdown, 60);
  t.is((await sendFailed.get()).values[0]?.value, 60);
  t.is((await enqueueFailed.get()).values[0]?.value, droppedRows.queue_full);
  t.true(droppedRows.queue_full >= 40);
  // several overflows, one log line (the next would come a minute later, with the suppressed count)
  t.deepEqual(logLines.filter((l) => /queue full/.test(l.msg)).map((l) => [l.rows, l.suppressed]), [[10, 0]]);
  t.is(logLines.filter((l) => /shut down with rows/.test(l.msg)).length, 1);
});
