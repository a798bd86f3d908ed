// Rows/s into <schema>.flows: the exporter's path (encodeFlow + COPY FROM STDIN in batches of
// batch.max_rows, with its partition check and ingest_batches row per batch) against multi-row
// INSERT ... VALUES of the same full rows (1,000 rows per statement, 31 parameters per row),
// both starting from Flow objects. Server: test/harness/postgres.ts with fsync on.
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { startPostgres } from '../../test/harness/postgres.ts';
import { testContext } from '../../test/harness/context.ts';
import { postgresConfigSchema } from '../../src/exporters/postgres/config.ts';
import { migrate } from '../../src/exporters/postgres/migrations.ts';
import { PostgresExporter } from '../../src/exporters/postgres/postgres-exporter.ts';
import { COPY_COLUMNS, encodeFlow } from '../../src/exporters/postgres/rows.ts';
import { fullFlow } from '../../src/exporters/postgres/testdata/flows.ts';
import type { Flow } from '../../src/model/index.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 500_000);
const INSERT_ROWS = Number(process.env.BENCH_INSERT_ROWS ?? 200_000);
const BATCH = 10_000;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const WRITERS = Number(process.env.BENCH_WRITERS ?? 1);
const ROWS_PER_INSERT = 1_000;
const START = Date.UTC(2030, 0, 1);

const PER_INTERVAL = 20_000;
const INTERVAL_MS = 10_000;

/** One interval's distinct flows (the groups reduce emits every interval). */
const GROUPS = Array.from({ length: PER_INTERVAL }, (_, i) => fullFlow(i, 0));

/**
 * What reduce hands over: the same PER_INTERVAL groups every 10 s with that interval's times and
 * counters, across a UTC midnight (two partitions). Made lazily, `size` flows at a time, as a
 * pipeline would: the bench measures the exporter, not a heap holding every flow at once.
 */
function* intervals(n: number, size: number): Generator<Flow[]> {
  const first = START - Math.floor(n / PER_INTERVAL / 2) * INTERVAL_MS;
  for (let i = 0; i < n; i += size) {
    const chunk: Flow[] = [];
    for (let j = i; j < Math.min(n, i + size); j++) {
      const startMs = first + Math.floor(j / PER_INTERVAL) * INTERVAL_MS;
      const g = GROUPS[j % PER_INTERVAL]!;
      chunk.push({ ...g, startTimeUnixNano: BigInt(startMs) * 1_000_000n, timeUnixNano: BigInt(startMs + INTERVAL_MS) * 1_000_000n });
    }
    yield chunk;
  }
}

const CLOCK_TICKS_PER_S = 100;

/** CPU seconds used by the server: the postmaster, its live children and the children it reaped. */
function serverCpuSeconds(dataDir: string): number {
  const postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const fields = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  const own = fields(postmaster);
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const f = fields(Number(entry));
      if (Number(f[1]) === postmaster) ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // exited meanwhile
    }
  }
  return ticks / CLOCK_TICKS_PER_S;
}

function nodeCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

const server = await startPostgres({ durable: process.env.BENCH_DURABLE !== '0', settings: { shared_buffers: '256MB', max_wal_size: '4GB' } });
try {
  // 1. the exporter: export() in pipeline-sized batches, shutdown() flushes; timed end to end.
  // RUNS runs into fresh databases; the median run is reported (shared machines are noisy).
  const copyRuns: Array<{ seconds: number; node: number; server: number }> = [];
  for (let run = 0; run < RUNS; run++) {
    const db = `bench_copy_${run}`;
    const copyUrl = await server.createDatabase(db);
    const exporter = new PostgresExporter(testContext('postgres/bench'), postgresConfigSchema.parse({
      endpoint: copyUrl, retention: 0, queue_size: 1000, writers: WRITERS, batch: { max_rows: BATCH, flush_interval: '100ms' },
    }));
    await exporter.start();
    const cpu0 = { node: nodeCpuSeconds(), server: serverCpuSeconds(server.dataDir) };
    const t0 = performance.now();
    for (const chunk of intervals(ROWS, 4096)) {
      await exporter.export({ flows: chunk, temporality: 'delta' });
      // A pipeline hands batches over from timers and I/O callbacks, so the writer's socket work
      // runs between them; without this the loop would encode everything before any COPY starts.
      await new Promise(setImmediate);
    }
    await exporter.shutdown();
    const seconds = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 200)); // the backend has exited and been reaped
    copyRuns.push({ seconds, node: nodeCpuSeconds() - cpu0.node, server: serverCpuSeconds(server.dataDir) - cpu0.server });
    const [copied] = await server.query(db, 'SELECT count(*)::int AS n FROM podflow.flows');
    if (copied!.n !== ROWS) throw new Error(`COPY wrote ${copied!.n} rows, expected ${ROWS}`);
  }
  const median = [...copyRuns].sort((a, b) => a.seconds - b.seconds)[Math.floor(RUNS / 2)]!;
  const copySeconds = median.seconds;
  const copyCpu = { node: median.node, server: median.server };

  // 2. multi-row INSERT of the same rows, same schema
  const insertUrl = await server.createDatabase('bench_insert');
  const client = new pg.Client({ connectionString: insertUrl });
  await client.connect();
  await migrate(client, 'podflow');
  await client.query(`SELECT podflow.ensure_partitions(ARRAY['2029-12-31', '2030-01-01']::date[])`);
  const width = COPY_COLUMNS.length;
  const placeholders = (n: number) => Array.from({ length: n }, (_, r) => `(${Array.from({ length: width }, (_, c) => `$${r * width + c + 1}`).join(', ')})`).join(', ');
  const fullStatement = `INSERT INTO podflow.flows (${COPY_COLUMNS.join(', ')}) VALUES ${placeholders(ROWS_PER_INSERT)}`;
  const cpu1 = { node: nodeCpuSeconds(), server: serverCpuSeconds(server.dataDir) };
  const t1 = performance.now();
  for (const chunk of intervals(INSERT_ROWS, ROWS_PER_INSERT)) {
    const params: Array<string | null> = [];
    for (const f of chunk) {
      const r = encodeFlow(f);
      if ('invalid' in r) throw new Error(r.invalid);
      for (const v of r.line.slice(0, -1).split('\t')) params.push(v === '\\N' ? null : v);
    }
    const sql = chunk.length === ROWS_PER_INSERT ? fullStatement : `INSERT INTO podflow.flows (${COPY_COLUMNS.join(', ')}) VALUES ${placeholders(chunk.length)}`;
    await client.query(sql, params);
  }
  const insertSeconds = (performance.now() - t1) / 1000;
  const { rows: [inserted] } = await client.query('SELECT count(*)::int AS n FROM podflow.flows');
  await client.end();
  await new Promise((r) => setTimeout(r, 200));
  const insertCpu = { node: nodeCpuSeconds() - cpu1.node, server: serverCpuSeconds(server.dataDir) - cpu1.server };
  if (inserted.n !== INSERT_ROWS) throw new Error(`INSERT wrote ${inserted.n} rows, expected ${INSERT_ROWS}`);

  const copyRowsPerS = Math.round(ROWS / copySeconds);
  const insertRowsPerS = Math.round(INSERT_ROWS / insertSeconds);
  const [size] = await server.query('bench_copy_0', `SELECT pg_total_relation_size('podflow.flows_p20291231') + pg_total_relation_size('podflow.flows_p20300101') AS bytes`);
  const bytesPerRow = Math.round(Number(size!.bytes) / ROWS);
  // Node encodes while the server ingests, so with a core each the slower side sets the pace:
  // rows / max(node CPU s, server CPU s) is the rate on an unloaded 2-core machine (derived).
  const copyCpuRowsPerS = Math.round(ROWS / Math.max(copyCpu.node, copyCpu.server));
  const insertCpuRowsPerS = Math.round(INSERT_ROWS / Math.max(insertCpu.node, insertCpu.server));
  const load = loadavg()[0]!.toFixed(1);
  const fmt = (n: number) => n.toLocaleString('en');
  console.log(`machine: load average ${load} on the run's start, fsync ${process.env.BENCH_DURABLE === '0' ? 'off' : 'on'}, PostgreSQL 15`);
  console.log(`runs (s): ${copyRuns.map((r) => r.seconds.toFixed(2)).join(', ')}; median:`);
  console.log(`postgres exporter, COPY: ${fmt(ROWS)} rows in ${copySeconds.toFixed(2)} s = ${fmt(copyRowsPerS)} rows/s wall; CPU node ${copyCpu.node.toFixed(2)} s, server ${copyCpu.server.toFixed(2)} s -> ${fmt(copyCpuRowsPerS)} rows/s CPU-bound (target >= 200,000)`);
  console.log(`multi-row INSERT:        ${fmt(INSERT_ROWS)} rows in ${insertSeconds.toFixed(2)} s = ${fmt(insertRowsPerS)} rows/s wall; CPU node ${insertCpu.node.toFixed(2)} s, server ${insertCpu.server.toFixed(2)} s -> ${fmt(insertCpuRowsPerS)} rows/s CPU-bound`);
  console.log(`COPY / INSERT:           ${(copyRowsPerS / insertRowsPerS).toFixed(2)}x wall, ${(copyCpuRowsPerS / insertCpuRowsPerS).toFixed(2)}x CPU-bound`);
  console.log(`table size on disk:      ${bytesPerRow} bytes per row`);
  console.log(JSON.stringify({
    bench: 'postgres', rows: ROWS, copy_rows_per_s: copyRowsPerS, copy_cpu_bound_rows_per_s: copyCpuRowsPerS,
    copy_node_cpu_s: Number(copyCpu.node.toFixed(2)), copy_server_cpu_s: Number(copyCpu.server.toFixed(2)),
    insert_rows: INSERT_ROWS, insert_rows_per_s: insertRowsPerS, insert_cpu_bound_rows_per_s: insertCpuRowsPerS,
    copy_over_insert: Number((copyRowsPerS / insertRowsPerS).toFixed(2)), bytes_per_row: bytesPerRow,
    load_average: Number(load), target_copy_rows_per_s: 200_000, meets_target: copyRowsPerS >= 200_000,
  }));
} finally {
  await server.stop();
}
