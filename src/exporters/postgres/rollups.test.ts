// The rollup tiers against a real PostgreSQL server: every tier equals the raw rows exactly,
// costs (netcost's cost_usd) included, after concurrent writers, a rollup killed at any
// statement, a server killed mid-write, a clock gone backwards, a migration from a version-1 and
// from a version-4 database; the graph functions read the tiers and answer exactly what the raw
// rows say; one rollup leader, taken over when it dies; retention per tier by partition.
// Serial: one test kills the server.
import { readFileSync } from 'node:fs';
import test from 'ava';
import pg from 'pg';
import { missingPostgres, startPostgres, type PostgresServer } from '../../../test/harness/postgres.ts';
import { queued, type QueuedExporter } from '../../../test/harness/exporter-queue.ts';
import { skipOrFail } from '../../../test/harness/privileges.ts';
import { type Flow, usdText } from '../../model/index.ts';
import { postgresConfigSchema } from './config.ts';
import { postgresExporterFactory } from './index.ts';
import { migrate, MIGRATIONS } from './migrations.ts';
import { PostgresExporter } from './postgres-exporter.ts';
import { rollUp } from './rollup-runner.ts';
import { CURRENT_XID_SQL, MEASURES, rollupStatements, rollupStep, TIER_SHAPE, TIER_SHAPE_V4, TIERS, TIERS_V4, TIERS_V8, wideRollupStatements, type TierShape } from './rollup-sql.ts';
import { CREATE_STAGING_SQL, narrowStatements, WIDE_COLUMNS } from './narrow-rows.ts';
import { deltaBatch, flowAt, fullFlow } from './testdata/flows.ts';
import { rawGraphLinks, tierContents, tieredGraphLinks } from './testdata/tiers.ts';

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
// A fixed instant: 2030-03-10 13:27:30 UTC (not aligned to any tier).
const T0 = Date.UTC(2030, 2, 10, 13, 27, 30);

const unavailable = missingPostgres();
let server: PostgresServer | undefined;
let dbCounter = 0;

test.before(async () => {
  if (unavailable) return;
  server = await startPostgres({ settings: { max_connections: '160' } });
});

test.after.always(async () => {
  await server?.stop();
});

function needsServer(t: import('ava').ExecutionContext): boolean {
  if (!unavailable && server) return true;
  return skipOrFail(t, unavailable ?? 'no PostgreSQL server');
}

async function freshDatabase(): Promise<{ url: string; client: pg.Client }> {
  const url = await server!.createDatabase(`r${process.pid}_${++dbCounter}`);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return { url, client };
}

type Queued = QueuedExporter<PostgresExporter>;

function exporterFor(url: string, extra: Record<string, unknown> = {}): Queued {
  const config = postgresConfigSchema.parse({
    endpoint: url,
    retention: 0,
    rollup: { enabled: false },
    batch: { max_rows: 200, flush_interval: '10ms' },
    retry_on_failure: { initial_interval: '20ms', max_interval: '200ms' },
    ...extra,
  });
  return queued('postgres/rollups', postgresExporterFactory.queueSettings!(config), (ctx) => new PostgresExporter(ctx, config));
}

async function write(url: string, flows: Flow[], extra: Record<string, unknown> = {}): Promise<void> {
  const q = exporterFor(url, extra);
  await q.exporter.start();
  await q.consume(deltaBatch(flows));
  if (!(await q.shutdown())) throw new Error('flows not written');
}

/** Flows with many endpoints and every column, spread over `spanMs` from `startMs`. */
function spread(count: number, startMs: number, spanMs: number, seed = 0): Flow[] {
  return Array.from({ length: count }, (_, i) => fullFlow(seed + i, startMs + Math.floor(((i * 7919) % count) * (spanMs / count))));
}

async function assertTiersExact(t: import('ava').ExecutionContext, client: pg.Client): Promise<void> {
  const contents = await tierContents(client);
  for (const [tier, { fromRaw, tier: rows }] of Object.entries(contents)) {
    t.true(fromRaw.length > 0, `${tier}: raw rows exist`);
    t.deepEqual(rows, fromRaw, `${tier} tier equals the raw rows`);
  }
}

async function rawCount(client: pg.Client): Promise<number> {
  return Number((await client.query('SELECT count(*) AS n FROM podflow.flows')).rows[0].n);
}

test.serial('tiers equal the raw rows; graph_links reads the tiers and equals the raw answer for ragged windows at every grouping', async (t) => {
  if (!needsServer(t)) return;
  const { url, client } = await freshDatabase();
  t.teardown(() => client.end());
  // Three days of flows, rolled up in two steps with more written in between (and some not rolled at all).
  await write(url, spread(3000, T0 - 3 * DAY_MS, 3 * DAY_MS));
  t.is((await rollUp(client, 'podflow')).rows, 3000);
  await write(url, spread(1500, T0 - 2 * DAY_MS, 2 * DAY_MS, 5000));
  t.is((await rollUp(client, 'podflow')).rows, 1500);
  t.is((await rollUp(client, 'podflow')).rows, 0);
  await assertTiersExact(t, client);
  const pending = spread(300, T0 - DAY_MS, DAY_MS, 9000);
  await write(url, pending);

  // The cover of a window that cuts days, hours and minutes reads every tier and raw rows.
  const from = new Date(T0 - 2 * DAY_MS - 5 * HOUR_MS - 17 * MINUTE_MS - 12_345);
  const to = new Date(T0 - 3 * MINUTE_MS + 4_321);
  const cover = (await client.query('SELECT tier, lo, hi FROM podflow.graph_cover($1, $2)', [from, to])).rows;
  t.deepEqual([...new Set(cover.map((r) => r.tier))].sort(), [...TIERS.map((tier) => tier.name), 'raw'].sort());
  // A window holding most of an hour reads that hour less what lies outside: minutes 12:00-12:03
  // and minute 12:04, which is itself mostly inside, less its last 10 seconds (raw, added back).
  const mostOfAnHour: [Date, Date] = [new Date(Date.UTC(2030, 2, 10, 12, 4, 50)), new Date(T0)];
  const signed = (await client.query(`SELECT tier, sign, to_char(lo AT TIME ZONE 'UTC', 'HH24:MI:SS') AS lo, to_char(hi AT TIME ZONE 'UTC', 'HH24:MI:SS') AS hi
    FROM podflow.graph_cover($1, $2) WHERE lo < '2030-03-10 13:00+00' ORDER BY lo, tier`, mostOfAnHour)).rows;
  t.deepEqual(signed, [
    { tier: 'hour', sign: 1, lo: '12:00:00', hi: '13:00:00' },
    { tier: 'minute', sign: -1, lo: '12:00:00', hi: '12:04:00' },
    { tier: 'minute', sign: -1, lo: '12:04:00', hi: '12:05:00' },
    { tier: 'raw', sign: 1, lo: '12:04:50', hi: '12:05:00' },
  ]);
  // A day from 12:07:30 (as the bench's 24-hour window) reads six-hour buckets where it read 12
  // hour buckets before midnight: 12:00-18:00 and 18:00-24:00 (less minutes 12:00-12:06 and
  // what is before 12:07:30), and day 9 less its six-hour buckets after 12:00 (plus minutes).
  const dayFromNoon: [Date, Date] = [new Date(Date.UTC(2030, 2, 8, 12, 7, 30)), new Date(Date.UTC(2030, 2, 9, 12, 7, 30))];
  const noonCover = (await client.query(`SELECT tier, sign, to_char(lo AT TIME ZONE 'UTC', 'DD HH24:MI') AS lo, to_char(hi AT TIME ZONE 'UTC', 'DD HH24:MI') AS hi
    FROM podflow.graph_cover($1, $2) WHERE tier NOT IN ('minute', 'raw') ORDER BY lo, tier`, dayFromNoon)).rows;
  t.deepEqual(noonCover, [
    { tier: 'six_hour', sign: 1, lo: '08 12:00', hi: '08 18:00' },
    { tier: 'six_hour', sign: 1, lo: '08 18:00', hi: '09 00:00' },
    { tier: 'day', sign: 1, lo: '09 00:00', hi: '10 00:00' },
    { tier: 'six_hour', sign: -1, lo: '09 12:00', hi: '09 18:00' },
    { tier: 'six_hour', sign: -1, lo: '09 18:00', hi: '10 00:00' },
  ]);
  const windows: Array<[Date, Date]> = [
    [from, to],
    dayFromNoon,
    [new Date(T0 - 5 * MINUTE_MS), new Date(T0)],
    [new Date(T0 - HOUR_MS), new Date(T0)],
    [new Date(T0 - 6 * HOUR_MS - 1), new Date(T0 + 1)],
    [new Date(T0 - DAY_MS), new Date(T0 + DAY_MS)],
    [new Date(T0 - 7 * DAY_MS), new Date(T0)],
    [new Date(Date.UTC(2030, 2, 8)), new Date(Date.UTC(2030, 2, 9))],
    mostOfAnHour,
    [new Date(T0 - 2 * DAY_MS - 20 * HOUR_MS - 50 * MINUTE_MS - 7_000), new Date(T0 - 13 * HOUR_MS - 1_000)],
  ];
  for (const groupBy of ['workload', 'namespace', 'node', 'zone']) {
    for (const [a, b] of windows) {
      const raw = await rawGraphLinks(client, a, b, groupBy);
      t.deepEqual(await tieredGraphLinks(client, a, b, groupBy), raw, `${groupBy} ${a.toISOString()}..${b.toISOString()}`);
    }
  }
  // mainstat sums to the bytes written in the window
  const [{ bytes }] = (await client.query(`SELECT sum(tx_bytes + rx_bytes)::text AS bytes FROM podflow.flows WHERE start_time >= $1 AND start_time < $2`, [from, to])).rows;
  const [{ mainstat }] = (await client.query(`SELECT sum(mainstat)::text AS mainstat FROM podflow.graph_edges($1, $2, 'zone')`, [from, to])).rows;
  t.is(mainstat, bytes);
  t.true(Number(bytes) > 0);
  await t.throwsAsync(client.query(`SELECT * FROM podflow.graph_edges($1, $2, 'pod')`, [from, to]), { message: /grouping must be workload, namespace, node or zone, not pod/ });
});

test.serial('a rollup killed at any statement leaves nothing behind, and the next one is exact', async (t) => {
  if (!needsServer(t)) return;
  const { url, client } = await freshDatabase();
  t.teardown(() => client.end());
  await write(url, spread(800, T0 - DAY_MS, DAY_MS));
  const step = rollupStep('"podflow"');
  const statements = step.body(0n, 1n).length;
  for (let k = 0; k <= statements; k++) {
    // More rows each round, then a step that dies after k statements (its connection is cut).
    await write(url, spread(50, T0 - 3 * HOUR_MS, 3 * HOUR_MS, 10_000 * (k + 1)));
    const victim = new pg.Client({ connectionString: url });
    victim.on('error', () => undefined);
    await victim.connect();
    await victim.query('BEGIN');
    const { rows } = await victim.query(step.begin);
    for (const statement of step.body(BigInt(rows[0].rolled_xid), BigInt(rows[0].upto)).slice(0, k)) await victim.query(statement);
    await client.query('SELECT pg_terminate_backend($1)', [(victim as unknown as { processID: number }).processID]);
    await victim.end().catch(() => undefined);
    if (k % 3 === 0) await rollUp(client, 'podflow');
  }
  await rollUp(client, 'podflow');
  await assertTiersExact(t, client);
  t.is(Number((await client.query('SELECT rolled_rows FROM podflow.rollup_state')).rows[0].rolled_rows), await rawCount(client));
});

test.serial('100 concurrent writers and rollups running all along: every tier equals the raw rows, no row lost', async (t) => {
  if (!needsServer(t)) return;
  const { url, client } = await freshDatabase();
  t.teardown(() => client.end());
  await migrate(client, 'podflow');
  const writers = Array.from({ length: 100 }, () => exporterFor(url));
  await Promise.all(writers.map((q) => q.exporter.start()));
  let rolling = true;
  const roller = (async () => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    // Rows rolled by steps that started while the writers were writing.
    let rolledWhileWriting = 0;
    while (rolling) rolledWhileWriting += (await rollUp(c, 'podflow')).rows;
    await c.end();
    return rolledWhileWriting;
  })();
  const perWriter = 80;
  await Promise.all(writers.map(async (q, w) => {
    for (let round = 0; round < 8; round++) {
      await q.consume(deltaBatch(spread(perWriter / 8, T0 - HOUR_MS, 2 * HOUR_MS, w * 1000 + round * 100)));
      await new Promise((r) => setTimeout(r, 40));
    }
  }));
  const shut = await Promise.all(writers.map((q) => q.shutdown()));
  rolling = false;
  t.true((await roller) > 0, 'rollups ran while the writers wrote');
  t.true(shut.every(Boolean));
  let sent = 0;
  for (const q of writers) sent += await q.metric('podflow_exporter_sent_flows_total');
  t.is(sent, 100 * perWriter);
  t.is(await rawCount(client), 100 * perWriter);
  await rollUp(client, 'podflow');
  await assertTiersExact(t, client);
});

test.serial('a clock gone backwards on one node lands in the old buckets without disturbing the others', async (t) => {
  if (!needsServer(t)) return;
  const { url, client } = await freshDatabase();
  t.teardown(() => client.end());
  await write(url, spread(400, T0 - 2 * HOUR_MS, 2 * HOUR_MS));
  await rollUp(client, 'podflow');
  const before = await tierContents(client);
  // The node's clock jumps back 3 days, then 90 minutes: rows for buckets long finished.
  const late = [flowAt(T0 - 3 * DAY_MS, { 'source.k8s.namespace.name': 'late', 'source.k8s.pod.name': 'p' }, { txBytes: 11 }),
    ...spread(50, T0 - 90 * MINUTE_MS, MINUTE_MS, 77_000)];
  await write(url, late);
  // Before the rollup, the graph already counts them (raw rows above the watermark).
  const window: [Date, Date] = [new Date(T0 - 4 * DAY_MS), new Date(T0)];
  t.deepEqual(await tieredGraphLinks(client, ...window, 'workload'), await rawGraphLinks(client, ...window, 'workload'));
  await rollUp(client, 'podflow');
  await assertTiersExact(t, client);
  const after = await tierContents(client);
  // Hour buckets the late rows do not belong to are unchanged; theirs gained them.
  const untouched = (lines: string[]) => lines.filter((l) => !l.startsWith('2030-03-07 13:') && !l.startsWith('2030-03-10 11:'));
  t.true(untouched(before.hour!.tier).length > 0);
  t.deepEqual(untouched(after.hour!.tier), untouched(before.hour!.tier));
  t.true(after.hour!.tier.some((l) => l.startsWith('2030-03-07 13:')));
  t.true(after.hour!.tier.filter((l) => l.startsWith('2030-03-10 11:')).length > before.hour!.tier.filter((l) => l.startsWith('2030-03-10 11:')).length);
  t.deepEqual(await tieredGraphLinks(client, ...window, 'namespace'), await rawGraphLinks(client, ...window, 'namespace'));
});

test.serial('PostgreSQL killed mid-write and mid-rollup: no row lost, none counted twice in any tier', async (t) => {
  if (!needsServer(t)) return;
  const srv = server!;
  const { url, client } = await freshDatabase();
  await client.end();
  const writers = Array.from({ length: 5 }, () => exporterFor(url, { rollup: { enabled: true, interval: '100ms' } }));
  await Promise.all(writers.map((q) => q.exporter.start()));
  const batches = writers.map((q, w) => (async () => {
    for (let round = 0; round < 10; round++) {
      await q.consume(deltaBatch(spread(100, T0 - HOUR_MS, HOUR_MS, w * 10_000 + round * 1000)));
      await new Promise((r) => setTimeout(r, 30));
    }
  })());
  await new Promise((r) => setTimeout(r, 150));
  await srv.stopServer('immediate');
  await new Promise((r) => setTimeout(r, 300));
  await srv.startServer();
  await Promise.all(batches);
  t.true((await Promise.all(writers.map((q) => q.shutdown(60_000)))).every(Boolean));
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  t.teardown(() => c.end());
  t.is(await rawCount(c), 5 * 10 * 100);
  await rollUp(c, 'podflow');
  await assertTiersExact(t, c);
});

test.serial('one rollup leader among exporters; another takes over when it dies', async (t) => {
  if (!needsServer(t)) return;
  const { url, client } = await freshDatabase();
  t.teardown(() => client.end());
  const exporters = Array.from({ length: 3 }, () => exporterFor(url, { rollup: { enabled: true, interval: '100ms' } }));
  await Promise.all(exporters.map((q) => q.exporter.start()));
  const leaders = () => exporters.filter((q) => q.exporter.rollupLeader);
  const until = async (check: () => boolean) => {
    for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
  };
  await until(() => leaders().length === 1);
  t.is(leaders().length, 1);
  await new Promise((r) => setTimeout(r, 500));
  t.is(leaders().length, 1, 'still one');
  const first = leaders()[0]!;
  t.is(await first.metric('podflow_postgres_rollup_leader'), 1);
  // Its rollups run: written rows reach the tiers without anyone calling rollUp.
  await first.consume(deltaBatch(spread(100, T0, MINUTE_MS)));
  const rolled = async () => Number((await client.query('SELECT rolled_rows FROM podflow.rollup_state')).rows[0].rolled_rows);
  for (let i = 0; i < 100 && (await rolled()) < 100; i++) await new Promise((r) => setTimeout(r, 50));
  t.is(await rolled(), 100);
  // The leader's session dies (its connection is cut): the lock is free, one exporter takes it
  // (maybe the same one, reconnected) and the rollups go on.
  await client.query(`SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted`);
  await until(() => !first.exporter.rollupLeader);
  await until(() => leaders().length === 1);
  t.is(leaders().length, 1);
  await leaders()[0]!.consume(deltaBatch(spread(50, T0, MINUTE_MS, 500)));
  for (let i = 0; i < 100 && (await rolled()) < 150; i++) await new Promise((r) => setTimeout(r, 50));
  t.is(await rolled(), 150);
  // The leader shuts down (or dies): another exporter takes over.
  const second = leaders()[0]!;
  t.true(await second.shutdown());
  await until(() => leaders().length === 1 && leaders()[0] !== second);
  t.is(leaders().length, 1);
  t.false(second.exporter.rollupLeader);
  await Promise.all(exporters.filter((q) => q !== second).map((q) => q.shutdown()));
});

/**
 * Rows as an older podflow wrote them: plain INSERTs into the columns every version has (a
 * version-4 database adds ingest_xid by its column default), in partitions made for their days.
 */
async function insertAsOldWriter(client: pg.Client, flows: Flow[], table = 'podflow.flows'): Promise<void> {
  const cols = ['start_time', 'end_time', 'src_namespace', 'src_pod', 'src_workload', 'src_workload_kind', 'src_zone', 'dst_namespace', 'dst_workload', 'dst_workload_kind', 'dst_zone', 'dst_port', 'transport', 'inter_zone', 'tx_bytes', 'rx_bytes', 'tx_packets', 'rx_packets', 'connections'];
  const startMs = flows.map((f) => Number(f.startTimeUnixNano / 1_000_000n));
  await client.query(`SELECT podflow.ensure_partitions(ARRAY(SELECT generate_series($1::date, $2::date, '1 day')::date))`, [new Date(Math.min(...startMs)), new Date(Math.max(...startMs))]);
  for (const f of flows) {
    const a = f.attributes;
    await client.query(`INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`, [
      new Date(Number(f.startTimeUnixNano / 1_000_000n)), new Date(Number(f.timeUnixNano / 1_000_000n)),
      a['source.k8s.namespace.name'], a['source.k8s.pod.name'], a['source.k8s.owner.name'], a['source.k8s.owner.type'], a['source.cloud.availability_zone'],
      a['destination.k8s.namespace.name'], a['destination.k8s.owner.name'], a['destination.k8s.owner.type'], a['destination.cloud.availability_zone'],
      a['destination.port'], a['network.transport'], a['network.flow.inter_zone'], f.txBytes, f.rxBytes, f.txPackets, f.rxPackets, f.connections]);
  }
}

/** An older podflow's rollup step over every row stored so far (tiers of that version's `shape`). */
async function rollUpAsOldVersion(client: pg.Client, shape: TierShape, rows: number): Promise<void> {
  await client.query('BEGIN');
  const upto = (await client.query(`SELECT ${CURRENT_XID_SQL} AS xid`)).rows[0].xid as string;
  for (const statement of wideRollupStatements('"podflow"', `ingest_xid < ${upto}`, shape)) await client.query(statement);
  await client.query(`UPDATE podflow.rollup_state SET rolled_xid = ${upto}, rolled_rows = ${rows}`);
  await client.query('COMMIT');
}

/** A version-5 database holding 300 rows spread over the day before T0's, rolled up by a version-5 step. */
async function rolledVersion5Database(t: import('ava').ExecutionContext): Promise<{ url: string; client: pg.Client }> {
  const { url, client } = await freshDatabase();
  t.teardown(() => client.end());
  t.deepEqual(await migrate(client, 'podflow', MIGRATIONS.slice(0, 5)), { applied: [1, 2, 3, 4, 5], unknown: [] });
  await insertAsOldWriter(client, spread(300, T0 - 2 * DAY_MS, DAY_MS));
  await rollUpAsOldVersion(client, TIER_SHAPE, 300);
  return { url, client };
}

test.serial('migration from a real version-1 database: existing rows rolled up once, new ones after', async (t) => {
  if (!needsServer(t)) return;
  const { url, client } = await freshDatabase();
  t.teardown(() => client.end());
  // A database as podflow's first release built it, with rows written by its COPY (same columns).
  t.deepEqual(await migrate(client, 'podflow', MIGRATIONS.slice(0, 1)), { applied: [1], unknown: [] });
  const old = spread(600, T0 - 2 * DAY_MS, 2 * DAY_MS);
  await insertAsOldWriter(client, old);
  // podflow starts: migrations 2 and later run, the existing rows are rolled up in migration 4.
  await write(url, []);
  t.deepEqual((await client.query('SELECT version FROM podflow.schema_migrations ORDER BY 1')).rows.map((r) => r.version), MIGRATIONS.map((m) => m.version));
  await assertTiersExact(t, client);
  // New rows after the migration; the rollup job takes them and only them.
  await write(url, spread(200, T0 - DAY_MS, DAY_MS, 50_000));
  t.is((await rollUp(client, 'podflow')).rows, 200);
  t.is((await rollUp(client, 'podflow')).rows, 0);
  await assertTiersExact(t, client);
  const window: [Date, Date] = [new Date(T0 - 2 * DAY_MS - 7 * HOUR_MS), new Date(T0 - 31 * MINUTE_MS)];
  t.deepEqual(await tieredGraphLinks(client, ...window, 'workload'), await rawGraphLinks(client, ...window, 'workload'));
});

test.serial('migration from a version-4 database with rows raw and rolled up: their cost stays NULL, priced rows after add up exactly', async (t) => {
  if (!needsServer(t)) return;
  const { url, client } = await freshDatabase();
  t.teardown(() => client.end());
  // What a version-4 podflow left: rows its rollup step put in the tiers (their version-4
  // shape: no cost, no class), and rows written after its last step.
  t.deepEqual(await migrate(client, 'podflow', MIGRATIONS.slice(0, 4)), { applied: [1, 2, 3, 4], unknown: [] });
  await insertAsOldWriter(client, spread(400, T0 - 2 * DAY_MS, DAY_MS));
  await rollUpAsOldVersion(client, TIER_SHAPE_V4, 400);
  await insertAsOldWriter(client, spread(100, T0 - DAY_MS, DAY_MS, 5000));
  t.is((await client.query('SELECT sum(flows)::int AS n FROM podflow.flows_day')).rows[0].n, 400);

  // podflow starts: migrations 5 and 6 run.
  await write(url, []);
  t.deepEqual((await client.query('SELECT version FROM podflow.schema_migrations ORDER BY 1')).rows.map((r) => r.version), MIGRATIONS.map((m) => m.version));
  for (const table of ['flow_details', ...TIERS.map((tier) => tier.table)]) {
    const [row] = (await client.query(`SELECT count(*)::int AS n, count(cost_usd)::int AS priced, count(cost_class)::int AS classed FROM podflow.${table}`)).rows;
    t.true(row.n > 0, `${table} has rows`);
    t.deepEqual([row.priced, row.classed], [0, 0], `${table}: the rows already stored have no cost and no class`);
  }
  t.is((await rollUp(client, 'podflow')).rows, 100, 'the rows written after the last version-4 step');
  await assertTiersExact(t, client);

  // Priced rows (three in four) in the same days and endpoints as the old ones.
  const priced = spread(400, T0 - 2 * DAY_MS, 2 * DAY_MS, 9000);
  await write(url, priced);
  t.is((await rollUp(client, 'podflow')).rows, 400);
  await assertTiersExact(t, client);
  const want = usdText(priced.reduce((sum, f) => sum + (f.costZeptoUsd ?? 0n), 0n));
  const [raw] = (await client.query(`SELECT sum(cost_usd)::text AS cost, count(*) FILTER (WHERE cost_usd IS NULL)::int AS unpriced FROM podflow.flows`)).rows;
  t.deepEqual(raw, { cost: want, unpriced: 400 + 100 + 100 });
  for (const tier of TIERS) {
    t.is((await client.query(`SELECT sum(cost_usd)::text AS cost FROM podflow.${tier.table}`)).rows[0].cost, want, tier.table);
  }
});

test.serial('migration 6 from a version-5 database: every row kept exact in flow_details, rolled rows stay rolled, the rest rolled next', async (t) => {
  if (!needsServer(t)) return;
  // Rows a version-5 step rolled up, and rows written after it (never rolled).
  const { url, client } = await rolledVersion5Database(t);
  await insertAsOldWriter(client, spread(120, T0 - DAY_MS, DAY_MS, 7000));
  // Every column of every row, as text, before the upgrade.
  const everyColumn = `SELECT ${WIDE_COLUMNS.map(([c]) => `${c}::text`).join(', ')}, ingest_xid::text`;
  const byEveryColumn = `ORDER BY ${WIDE_COLUMNS.map((_, i) => i + 1).join(', ')}, ${WIDE_COLUMNS.length + 1}`;
  const before = (await client.query(`${everyColumn} FROM podflow.flows ${byEveryColumn}`)).rows;
  t.is(before.length, 420);

  await write(url, []);
  t.deepEqual((await client.query('SELECT version FROM podflow.schema_migrations ORDER BY 1')).rows.map((r) => r.version), MIGRATIONS.map((m) => m.version));
  t.deepEqual((await client.query(`${everyColumn} FROM podflow.flow_details ${byEveryColumn}`)).rows, before);
  t.deepEqual((await client.query(`SELECT relname FROM pg_class WHERE relname LIKE 'flows_v5%'`)).rows, [], 'the version-5 table is gone');
  t.is((await client.query('SELECT sum(flows)::int AS n FROM podflow.flows_day')).rows[0].n, 300);
  t.is((await rollUp(client, 'podflow')).rows, 120, 'the rows written after the last version-5 step');
  await assertTiersExact(t, client);
  const window: [Date, Date] = [new Date(T0 - 2 * DAY_MS + 7 * MINUTE_MS), new Date(T0 - 3 * HOUR_MS - 13 * MINUTE_MS)];
  t.deepEqual(await tieredGraphLinks(client, ...window, 'namespace'), await rawGraphLinks(client, ...window, 'namespace'));
});

test.serial('migration 8 from a version-6 database: the six-hour tier filled from the rolled rows, exact; the rest rolled into every tier next', async (t) => {
  if (!needsServer(t)) return;
  const { url, client } = await freshDatabase();
  t.teardown(() => client.end());
  t.deepEqual(await migrate(client, 'podflow', MIGRATIONS.filter((m) => m.version <= 6)), { applied: [1, 2, 3, 4, 5, 6], unknown: [] });
  // Narrow rows as a version-6 server wrote them (ids resolved on the server, narrow-rows.ts), a
  // version-6 step that rolled them up into its three tiers, and rows written after it.
  const writeAsVersion6 = async (flows: Flow[]) => {
    await client.query(`CREATE TEMP TABLE IF NOT EXISTS old_wide (${WIDE_COLUMNS.map(([c, type]) => `${c} ${type}`).join(', ')})`);
    await insertAsOldWriter(client, flows, 'old_wide');
    await client.query(CREATE_STAGING_SQL);
    await client.query('BEGIN');
    for (const statement of narrowStatements('"podflow"', 'old_wide')) await client.query(statement);
    await client.query('COMMIT');
    await client.query('TRUNCATE old_wide');
  };
  await writeAsVersion6(spread(900, T0 - 3 * DAY_MS, 3 * DAY_MS));
  await client.query('BEGIN');
  const upto = (await client.query(`SELECT ${CURRENT_XID_SQL} AS xid`)).rows[0].xid as string;
  for (const statement of rollupStatements('"podflow"', `ingest_xid < ${upto}`, TIERS_V4)) await client.query(statement);
  await client.query(`UPDATE podflow.rollup_state SET rolled_xid = ${upto}, rolled_rows = 900`);
  await client.query('COMMIT');
  await writeAsVersion6(spread(250, T0 - 2 * DAY_MS, 2 * DAY_MS, 7000));

  await write(url, []);
  t.deepEqual((await client.query('SELECT version FROM podflow.schema_migrations ORDER BY 1')).rows.map((r) => r.version), MIGRATIONS.map((m) => m.version));
  t.is((await client.query('SELECT sum(flows)::int AS n FROM podflow.flows_six_hour')).rows[0].n, 900, 'the rolled rows, no more');
  t.is((await rollUp(client, 'podflow')).rows, 250, 'the rows written after the last version-6 step');
  await assertTiersExact(t, client);
  const window: [Date, Date] = [new Date(T0 - 2 * DAY_MS - 5 * HOUR_MS - 7 * MINUTE_MS), new Date(T0 - 3 * HOUR_MS - 13 * MINUTE_MS)];
  t.deepEqual(await tieredGraphLinks(client, ...window, 'workload'), await rawGraphLinks(client, ...window, 'workload'));
  // The graph's sums: exact bigints, and an overflow is an error, never a wrapped number.
  t.deepEqual((await client.query(`SELECT podflow.bigint_sum(v)::text AS s FROM (VALUES (9007199254740993::bigint), (2), (NULL)) x(v)`)).rows, [{ s: '9007199254740995' }]);
  t.deepEqual((await client.query(`SELECT podflow.bigint_sum(v) AS s FROM (VALUES (NULL::bigint)) x(v)`)).rows, [{ s: null }]);
  await t.throwsAsync(client.query(`SELECT podflow.bigint_sum(v) FROM (VALUES (9223372036854775807::bigint), (1)) x(v)`), { message: /bigint out of range/ });
});

test.serial('migration 7 from a version-6 database: every row kept exact, packed into parts, rolled rows stay rolled, the rest rolled next', async (t) => {
  if (!needsServer(t)) return;
  const { url, client } = await freshDatabase();
  t.teardown(() => client.end());
  t.deepEqual(await migrate(client, 'podflow', MIGRATIONS.slice(0, 5)), { applied: [1, 2, 3, 4, 5], unknown: [] });
  // Rows rolled up before the upgrades: spread over a day, and 200 of one interval written in
  // one transaction (one reduce interval of a node: they become one part).
  await insertAsOldWriter(client, spread(300, T0 - 2 * DAY_MS, DAY_MS));
  await client.query('BEGIN');
  await insertAsOldWriter(client, Array.from({ length: 200 }, (_, i) => fullFlow(5000 + i, T0 - DAY_MS - 3 * HOUR_MS)));
  await client.query('COMMIT');
  await rollUpAsOldVersion(client, TIER_SHAPE, 500);
  // Rows never rolled up, the rows of a version-6 database after migration 6 moved them.
  await insertAsOldWriter(client, spread(120, T0 - DAY_MS, DAY_MS, 7000));
  t.deepEqual(await migrate(client, 'podflow', MIGRATIONS.slice(0, 6)), { applied: [6], unknown: [] });
  const everyDetail = `SELECT ${WIDE_COLUMNS.map(([c]) => `${c}::text`).join(', ')}, ingest_xid::text FROM podflow.flow_details
    ORDER BY ${WIDE_COLUMNS.map((_, i) => i + 1).join(', ')}, ${WIDE_COLUMNS.length + 1}`;
  const narrowColumns = (await client.query(`SELECT attname FROM pg_attribute WHERE attrelid = 'podflow.flows'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`)).rows.map((r) => r.attname as string);
  const everyNarrow = `SELECT ${narrowColumns.map((c) => `${c}::text`).join(', ')} FROM podflow.flows ORDER BY ${narrowColumns.map((_, i) => i + 1).join(', ')}`;
  const details = (await client.query(everyDetail)).rows;
  const narrow = (await client.query(everyNarrow)).rows;
  t.is(details.length, 620);
  t.is(narrow.length, 620);

  await write(url, []);
  t.deepEqual((await client.query('SELECT version FROM podflow.schema_migrations ORDER BY 1')).rows.map((r) => r.version), MIGRATIONS.map((m) => m.version));
  t.deepEqual((await client.query(everyDetail)).rows, details, 'every column of every row, as flow_details shows it');
  t.deepEqual((await client.query(everyNarrow)).rows, narrow, 'every narrow column of every row, as flows shows it');
  t.deepEqual((await client.query(`SELECT relname FROM pg_class WHERE relname LIKE 'flows_v6%'`)).rows, [], 'the version-6 table is gone');
  t.deepEqual((await client.query(`SELECT relkind FROM pg_class WHERE oid = 'podflow.flows'::regclass`)).rows, [{ relkind: 'v' }]);
  const [parts] = (await client.query('SELECT count(*)::int AS parts, sum(rows)::int AS rows, max(rows) AS largest FROM podflow.flow_batches')).rows;
  t.is(parts.rows, 620);
  t.is(parts.largest, 200, 'the rows of one interval, node and transaction are one part');
  t.is((await client.query('SELECT sum(flows)::int AS n FROM podflow.flows_day')).rows[0].n, 500);
  t.is((await rollUp(client, 'podflow')).rows, 120, 'the rows written after the last rollup before the upgrades');
  await assertTiersExact(t, client);
  const window: [Date, Date] = [new Date(T0 - 2 * DAY_MS + 7 * MINUTE_MS), new Date(T0 - 3 * HOUR_MS - 13 * MINUTE_MS)];
  t.deepEqual(await tieredGraphLinks(client, ...window, 'namespace'), await rawGraphLinks(client, ...window, 'namespace'));
  // A part whose arrays do not hold one element per flow, or a NULL counter, is refused.
  const part = (rows: number, tx: string) => client.query(`INSERT INTO podflow.flow_batches (start_time, end_time, rows, tx_bytes, rx_bytes, tx_packets, rx_packets, connections, src_endpoint, dst_endpoint)
    VALUES ($1, $1, ${rows}, '${tx}', '{1,2}', '{1,2}', '{1,2}', '{1,2}', '{1,1}', '{1,1}')`, [new Date(T0)]);
  await t.throwsAsync(part(3, '{1,2}'), { message: /flow_batches_one_element_per_flow/ });
  await t.throwsAsync(part(2, '{1}'), { message: /flow_batches_one_element_per_flow/ });
  await t.throwsAsync(part(2, '{1,NULL}'), { message: /flow_batches_one_element_per_flow/ });
  await part(2, '{1,2}');
  await client.query(`DELETE FROM podflow.flow_batches WHERE start_time = $1 AND rows = 2 AND tx_bytes = '{1,2}'`, [new Date(T0)]);
  // Rows written after the upgrade are parts too, and roll up exactly with the moved ones.
  await write(url, spread(90, T0 - 2 * HOUR_MS, HOUR_MS, 9000));
  t.is((await rollUp(client, 'podflow')).rows, 90);
  await assertTiersExact(t, client);
});

test.serial('migration 9 from a version-8 database: the minute tier packed into parts, sums per bucket and key kept; steps append parts; exact after', async (t) => {
  if (!needsServer(t)) return;
  // Rows rolled up by an old step; the same flows a second later (the same minute rows, added up
  // by a version-8 step's upsert); rows no step rolled up before the upgrade.
  const { url, client } = await rolledVersion5Database(t);
  await insertAsOldWriter(client, spread(300, T0 - 2 * DAY_MS + 1_000, DAY_MS));
  const rolledUpTo = (await client.query(`SELECT ${CURRENT_XID_SQL} AS xid`)).rows[0].xid as string;
  await insertAsOldWriter(client, spread(80, T0 - DAY_MS, DAY_MS, 7000));
  t.deepEqual(await migrate(client, 'podflow', MIGRATIONS.slice(0, 8)), { applied: [6, 7, 8], unknown: [] });
  await client.query('BEGIN');
  const [{ rolled_xid: rolled }] = (await client.query('SELECT rolled_xid FROM podflow.rollup_state FOR UPDATE')).rows;
  for (const statement of rollupStatements('"podflow"', `ingest_xid >= ${rolled} AND ingest_xid < ${rolledUpTo}`, TIERS_V8)) await client.query(statement);
  await client.query(`UPDATE podflow.rollup_state SET rolled_xid = ${rolledUpTo}, rolled_rows = 600`);
  await client.query('COMMIT');
  const minuteSums = `SELECT bucket, src_endpoint, dst_endpoint, inter_zone, transport, dst_port, cost_class,
      sum(flows)::text AS flows, ${MEASURES.map((m) => `sum(${m})::text AS ${m}`).join(', ')}
    FROM podflow.flows_minute GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7`;
  const before = (await client.query(minuteSums)).rows;
  const [{ doubled }] = (await client.query(`SELECT count(*)::int AS doubled FROM podflow.flows_minute WHERE flows > 1`)).rows;
  t.true(doubled > 0, 'the version-8 step added to minute rows an older step made');

  await write(url, []);
  t.deepEqual((await client.query('SELECT version FROM podflow.schema_migrations ORDER BY 1')).rows.map((r) => r.version), MIGRATIONS.map((m) => m.version));
  t.deepEqual((await client.query(minuteSums)).rows, before, 'the sums of every bucket and key');
  t.deepEqual((await client.query(`SELECT relkind FROM pg_class WHERE oid = 'podflow.flows_minute'::regclass`)).rows, [{ relkind: 'v' }]);
  t.deepEqual((await client.query(`SELECT relname FROM pg_class WHERE relname LIKE 'flows_minute_v8%'`)).rows, [], 'the version-8 table is gone');
  const [moved] = (await client.query(`SELECT count(*)::int AS parts, count(DISTINCT bucket)::int AS buckets, sum(rows)::int AS keys FROM podflow.flows_minute_parts`)).rows;
  t.deepEqual(moved, { parts: moved.buckets, buckets: moved.buckets, keys: before.length }, 'one part per bucket, one element per key');
  t.is((await rollUp(client, 'podflow')).rows, 80, 'the rows no step rolled up before the upgrade');
  await assertTiersExact(t, client);
  // Flows into the same buckets and keys again: the step appends a part to each bucket, then
  // compacts the buckets older than its newest into one part each.
  const partsPerBucket = `SELECT bucket, count(*)::int AS parts FROM podflow.flows_minute_parts GROUP BY bucket HAVING count(*) > 1 ORDER BY 1`;
  const again = spread(300, T0 - 2 * DAY_MS + 2_000, DAY_MS);
  await write(url, again);
  t.is((await rollUp(client, 'podflow')).rows, 300);
  await assertTiersExact(t, client);
  const newest = new Date(Math.floor(Math.max(...again.map((f) => Number(f.startTimeUnixNano / 1_000_000n))) / MINUTE_MS) * MINUTE_MS);
  t.deepEqual((await client.query(partsPerBucket)).rows, [{ bucket: newest, parts: 2 }], 'every bucket compacted but the step\'s newest');
  // A late flow into an old bucket: the step's only (so newest) bucket keeps two parts, readers sum them.
  await write(url, [fullFlow(3, T0 - 2 * DAY_MS + 5_000)]);
  t.is((await rollUp(client, 'podflow')).rows, 1);
  await assertTiersExact(t, client);
  const late = new Date(Math.floor((T0 - 2 * DAY_MS) / MINUTE_MS) * MINUTE_MS);
  t.deepEqual((await client.query(partsPerBucket)).rows, [{ bucket: late, parts: 2 }, { bucket: newest, parts: 2 }], 'the late bucket is this step\'s newest');
  // The next minutes: the previous newest bucket is finished and compacted; the late bucket, more
  // than an hour before anything this step touched, is left as it is (readers sum its parts).
  await write(url, [fullFlow(4, newest.getTime() + 2 * MINUTE_MS)]);
  t.is((await rollUp(client, 'podflow')).rows, 1);
  await assertTiersExact(t, client);
  t.deepEqual((await client.query(partsPerBucket)).rows, [{ bucket: late, parts: 2 }]);
  const window: [Date, Date] = [new Date(T0 - 2 * DAY_MS + 7 * MINUTE_MS + 20_000), new Date(T0 - DAY_MS + 3 * HOUR_MS - 13 * MINUTE_MS)];
  for (const groupBy of ['workload', 'namespace']) {
    t.deepEqual(await tieredGraphLinks(client, ...window, groupBy), await rawGraphLinks(client, ...window, groupBy), groupBy);
  }
  // A time predicate on the view reads the parts of that window's partition only.
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10).replaceAll('-', '');
  const days = (await client.query(`SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'podflow.flows_minute_parts'::regclass ORDER BY 1`)).rows.map((r) => r.relname as string);
  t.true(days.length >= 2);
  const from = new Date(T0 - DAY_MS);
  const plan = (await client.query(`EXPLAIN SELECT sum(tx_bytes) FROM podflow.flows_minute WHERE bucket >= '${from.toISOString()}' AND bucket < '${new Date(from.getTime() + 5 * MINUTE_MS).toISOString()}'`))
    .rows.map((r) => r['QUERY PLAN'] as string).join('\n');
  t.deepEqual(days.filter((name) => plan.includes(name)), [`flows_minute_parts_p${day(from.getTime())}`], plan);
  t.regex(plan, /Index Scan|Bitmap Index Scan/, 'the bucket index finds the parts');
  // A part whose arrays do not hold one element per key is refused.
  await t.throwsAsync(client.query(`INSERT INTO podflow.flows_minute_parts (bucket, rows, src_endpoint, dst_endpoint, inter_zone, transport, dst_port, flows,
      tx_bytes, rx_bytes, tx_packets, rx_packets, connections, cost_class, cost_usd)
    SELECT bucket, rows + 1, src_endpoint, dst_endpoint, inter_zone, transport, dst_port, flows, tx_bytes, rx_bytes, tx_packets, rx_packets, connections, cost_class, cost_usd
    FROM podflow.flows_minute_parts LIMIT 1`), { message: /flows_minute_parts_one_element_per_key/ });
  // Retention drops the minute tier by partition: the days ended by the cutoff, no other.
  const cutoff = new Date(Date.UTC(2030, 2, 9));
  const dropped = (await client.query(`SELECT podflow.drop_tier_partitions_before('minute', $1) AS name`, [cutoff])).rows.map((r) => r.name as string);
  t.deepEqual(dropped, days.filter((name) => name < `flows_minute_parts_p${day(cutoff.getTime())}`));
  t.true(dropped.length > 0);
  const [{ oldest }] = (await client.query(`SELECT min(bucket) AS oldest FROM podflow.flows_minute`)).rows;
  t.true(oldest >= cutoff);
});

test.serial('retention per tier drops whole partitions; raw days are dropped only once rolled up', async (t) => {
  if (!needsServer(t)) return;
  const { url, client } = await freshDatabase();
  t.teardown(() => client.end());
  const NOW = Date.UTC(2030, 5, 15, 12);
  await write(url, [40, 20, 3, 1, 0].map((d) => flowAt(NOW - d * DAY_MS, { 'source.k8s.namespace.name': 'a', 'source.k8s.pod.name': `p${d}` }, { txBytes: d + 1 })));
  const q = exporterFor(url, { retention: '2d', rollup: { enabled: false, retention: { minute: '2d', hour: '10d', day: '30d' } } });
  // The raw rows are rolled up first (runRetention does that), so the raw days can go.
  t.deepEqual(await q.exporter.runRetention(NOW), ['flows_p20300506', 'flows_p20300526', 'flows_p20300612']);
  const parts = async (table: string) => (await client.query(`SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = $1::regclass ORDER BY 1`, [`podflow.${table}`])).rows.map((r) => r.relname);
  t.deepEqual(await parts('flow_batches'), ['flows_p20300614', 'flows_p20300615']);
  t.deepEqual(await parts('flows_minute_parts'), ['flows_minute_parts_p20300614', 'flows_minute_parts_p20300615']);
  t.deepEqual(await parts('flows_hour'), ['flows_hour_p20300601']);
  t.deepEqual(await parts('flows_six_hour'), ['flows_six_hour_p20300601'], 'aged by the hour retention');
  t.deepEqual(await parts('flows_day'), ['flows_day_p20300101']);
  t.is(await q.metric('podflow_postgres_partitions_dropped_total', { tier: 'minute' }), 3);
  t.is(await q.metric('podflow_postgres_partitions_dropped_total', { tier: 'hour' }), 1);
  t.is(await q.metric('podflow_postgres_partitions_dropped_total', { tier: 'six_hour' }), 1);
  // The day tier still has 20 days back; the 40-day-old day is in a partition (the year) that stays.
  t.deepEqual((await client.query('SELECT sum(tx_bytes)::int AS tx FROM podflow.flows_day')).rows, [{ tx: 41 + 21 + 4 + 2 + 1 }]);
  // A day with rows not rolled up yet is kept: its rows would be lost.
  await write(url, [flowAt(NOW - 5 * DAY_MS, { 'source.k8s.namespace.name': 'b' }, { txBytes: 5 })]);
  t.deepEqual((await client.query(`SELECT name FROM podflow.drop_raw_partitions_before($1) AS name`, [new Date(NOW - 2 * DAY_MS)])).rows, []);
  t.deepEqual(await q.exporter.runRetention(NOW), ['flows_p20300610']);
  t.deepEqual((await client.query(`SELECT sum(tx_bytes)::int AS tx FROM podflow.flows_hour WHERE bucket >= $1`, [new Date(NOW - 6 * DAY_MS)])).rows, [{ tx: 5 + 4 + 2 + 1 }]);
});

test.serial('cost_usd in the tiers: the exact sum over rollup steps into the same tier rows; NULL while no flow of a row was priced', async (t) => {
  if (!needsServer(t)) return;
  const { url, client } = await freshDatabase();
  t.teardown(() => client.end());
  // The same two endpoints every time, so later steps add to tier rows earlier steps made.
  const ends = { 'source.k8s.namespace.name': 'shop', 'source.k8s.owner.name': 'web', 'destination.k8s.namespace.name': 'shop', 'destination.k8s.owner.name': 'db' };
  const priced = (ms: number, zepto: bigint): Flow => ({ ...flowAt(ms, { ...ends, 'network.flow.cost.class': 'inter_zone' }, { txBytes: 100 }), costZeptoUsd: zepto });
  const unpriced = (ms: number) => flowAt(ms, { ...ends }, { txBytes: 7 });
  const big = 10n ** 21n * 123_456n + 789n; // past what a double holds exactly
  await write(url, [priced(T0, big), unpriced(T0)]);
  await rollUp(client, 'podflow');
  await write(url, [priced(T0 + 1_000, 1n), unpriced(T0 + 1_000)]);
  await rollUp(client, 'podflow');
  await write(url, [priced(T0 + HOUR_MS, 5n), unpriced(T0 + 2_000)]);
  await rollUp(client, 'podflow');
  await assertTiersExact(t, client);
  for (const tier of ['flows_minute', 'flows_hour', 'flows_day']) {
    const rows = (await client.query<{ cost_class: string | null; cost: string | null; flows: string }>(
      `SELECT cost_class, sum(cost_usd)::text AS cost, sum(flows)::text AS flows FROM podflow.${tier} GROUP BY 1 ORDER BY 1 NULLS LAST`)).rows;
    t.deepEqual(rows, [
      { cost_class: 'inter_zone', cost: '123456.000000000000000000795', flows: '3' },
      { cost_class: null, cost: null, flows: '3' },
    ], tier);
  }
});

test.serial('the README\'s SQL runs; its minute tier + pending raw rows query equals the raw rows exactly', async (t) => {
  if (!needsServer(t)) return;
  const { url, client } = await freshDatabase();
  t.teardown(() => client.end());
  // Two hours of flows, half rolled up, the newest half still raw.
  await write(url, spread(600, T0 - 2 * HOUR_MS, HOUR_MS));
  t.is((await rollUp(client, 'podflow')).rows, 600);
  await write(url, spread(400, T0 - HOUR_MS, HOUR_MS, 3000));
  // The queries of the schema and tier sections (other sections have setup, GRANTs and panel queries).
  const whole = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
  const readme = whole.slice(whole.indexOf('### Narrow raw rows'), whole.indexOf('## Grafana node graph'));
  const statements = [...readme.matchAll(/```sql\n([\s\S]*?)```/g)]
    .flatMap((m) => m[1]!.split(/;\n/))
    .map((sql) => sql.replaceAll('now()', `'${new Date(T0).toISOString()}'::timestamptz`).trim())
    // Grafana's panel queries ($__timeFrom() macros) are run by the dashboard tests.
    .filter((sql) => sql.replace(/--.*$/gm, '').trim() !== '' && !sql.includes('$__'));
  t.true(statements.length >= 6);
  let minuteQuery: Array<{ bytes: string }> | undefined;
  for (const sql of statements) {
    const { rows } = await client.query(sql);
    if (sql.includes('FROM podflow.flows_minute WHERE')) minuteQuery = rows;
  }
  const total = (minuteQuery ?? []).reduce((sum, r) => sum + BigInt(r.bytes), 0n);
  const from = new Date(Math.floor((T0 - HOUR_MS) / MINUTE_MS) * MINUTE_MS);
  const [raw] = (await client.query(`SELECT sum(tx_bytes + rx_bytes)::text AS bytes FROM podflow.flow_details WHERE start_time >= $1`, [from])).rows;
  t.true(total > 0n);
  t.is(total.toString(), raw.bytes);
});
