// Rows/s into <schema>.flows: the exporter's path behind its exporter queue (CopyEncoder + COPY
// FROM STDIN in requests of batch.max_rows, with its partition check and ingest_batches row per
// request), with 1 and with 2 consumers (sending_queue.num_consumers, one connection each;
// BENCH_CONSUMERS, the last is the headline), against multi-row INSERT ... VALUES of
// the same full rows (1,000 rows per statement, 31 parameters per row, the reference encoder),
// all starting from Flow objects. Server: test/harness/postgres.ts with fsync on. CPU time of
// other processes during each run is printed: on a shared machine it explains a slow wall clock.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { startPostgres } from '../../test/harness/postgres.ts';
import { machineBusySeconds, nodeCpuSeconds, serverCpuSeconds } from '../../test/harness/cpu-time.ts';
import { queued } from '../../test/harness/exporter-queue.ts';
import { postgresConfigSchema } from '../../src/exporters/postgres/config.ts';
import { postgresExporterFactory } from '../../src/exporters/postgres/index.ts';
import { migrate } from '../../src/exporters/postgres/migrations.ts';
import { PostgresExporter } from '../../src/exporters/postgres/postgres-exporter.ts';
import { CopyEncoder } from '../../src/exporters/postgres/copy-encoder.ts';
import { COPY_COLUMNS, encodeFlow } from '../../src/exporters/postgres/rows.ts';
import { CREATE_STAGING_SQL, narrowStatements, STAGING_TABLE } from '../../src/exporters/postgres/narrow-rows.ts';
import { fullFlow } from '../../src/exporters/postgres/testdata/flows.ts';
import type { Flow } from '../../src/model/index.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 500_000);
const INSERT_ROWS = Number(process.env.BENCH_INSERT_ROWS ?? 200_000);
const BATCH = 10_000;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
/** Exporter `sending_queue.num_consumers` settings measured, in order; the last one is the headline figure. */
const CONSUMER_COUNTS = (process.env.BENCH_CONSUMERS ?? '1,2').split(',').map(Number);
/** `file`: the exporter queue also kept in a log (sending_queue.storage: file, fdatasync per batch) in a temporary directory. */
const STORAGE = process.env.BENCH_STORAGE === 'file' ? 'file' : 'memory';
const QUEUE_DIR = STORAGE === 'file' ? mkdtempSync(join(tmpdir(), 'podflow-bench-queue-')) : undefined;
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

/**
 * The encoder alone (no server, no queue): ROWS rows of the same groups through CopyEncoder,
 * taken every batch.max_rows rows as the exporter does; rows per second of this process's CPU,
 * the median of 5 runs after a warm-up. This is the figure a change to the encoder moves.
 */
function encoderOnlyRowsPerCpuS(): number {
  const encoder = new CopyEncoder();
  const rates: number[] = [];
  for (let run = 0; run < 6; run++) {
    const c0 = process.cpuUsage();
    for (let done = 0; done < ROWS; done += GROUPS.length) {
      for (const flow of GROUPS) {
        encoder.encode(flow, 'node-a');
        if (encoder.rows === BATCH) encoder.take();
      }
    }
    encoder.take();
    const c = process.cpuUsage(c0);
    if (run > 0) rates.push(ROWS / ((c.user + c.system) / 1e6));
  }
  return Math.round(rates.sort((a, b) => a - b)[Math.floor(rates.length / 2)]!);
}

const encoderRowsPerCpuS = encoderOnlyRowsPerCpuS();
const server = await startPostgres({ durable: process.env.BENCH_DURABLE !== '0', settings: { shared_buffers: '256MB', max_wal_size: '4GB' } });
try {
  // 1. the exporter behind its queue: consume() in pipeline-sized batches, then the queue drains
  // and the exporter shuts down, as the service does; timed end to end.
  // RUNS runs into fresh databases per num_consumers setting; the median run is reported (shared
  // machines are noisy). `others` is the CPU time other processes took meanwhile. Each run starts
  // after a CHECKPOINT and is followed by one, timed apart: otherwise whichever run happens to
  // meet the checkpoint of the runs before it (every ~2 GB of WAL with max_wal_size 4GB) pays
  // for writing their tables out, and the configurations would not be compared alike.
  interface CopyRun { seconds: number; node: number; server: number; others: number; checkpointSeconds: number; checkpointServer: number }
  let bytesPerRow = 0;
  const copyResults: Array<{ consumers: number; runs: CopyRun[]; median: CopyRun }> = [];
  for (const consumers of CONSUMER_COUNTS) {
    const runs: CopyRun[] = [];
    for (let run = 0; run < RUNS; run++) {
      const db = `bench_copy_c${consumers}_${run}`;
      const copyUrl = await server.createDatabase(db);
      const config = postgresConfigSchema.parse({
        endpoint: copyUrl, retention: 0, batch: { max_rows: BATCH, flush_interval: '100ms' },
        sending_queue: { queue_size: 1000, num_consumers: consumers, ...(QUEUE_DIR ? { storage: 'file', directory: QUEUE_DIR } : {}) },
      });
      const exporter = queued('postgres/bench', postgresExporterFactory.queueSettings!(config), (ctx) => new PostgresExporter(ctx, config));
      await exporter.exporter.start();
      await exporter.queue.open();
      await server.query('postgres', 'CHECKPOINT');
      const cpu0 = { node: nodeCpuSeconds(), server: serverCpuSeconds(server.dataDir), machine: machineBusySeconds() };
      const t0 = performance.now();
      for (const chunk of intervals(ROWS, 4096)) {
        await exporter.consume({ flows: chunk, temporality: 'delta' });
        // A pipeline hands batches over from timers and I/O callbacks, so the writer's socket work
        // runs between them; without this the loop would encode everything before any COPY starts.
        await new Promise(setImmediate);
      }
      if (!(await exporter.shutdown(600_000))) throw new Error('the exporter queue did not drain');
      const seconds = (performance.now() - t0) / 1000;
      const machine = machineBusySeconds() - cpu0.machine;
      await new Promise((r) => setTimeout(r, 200)); // the backends have exited and been reaped
      const node = nodeCpuSeconds() - cpu0.node;
      const serverCpu = serverCpuSeconds(server.dataDir) - cpu0.server;
      const c0 = { t: performance.now(), server: serverCpuSeconds(server.dataDir) };
      await server.query('postgres', 'CHECKPOINT');
      const checkpointSeconds = (performance.now() - c0.t) / 1000;
      const checkpointServer = serverCpuSeconds(server.dataDir) - c0.server;
      runs.push({ seconds, node, server: serverCpu, others: Math.max(0, machine - node - serverCpu), checkpointSeconds, checkpointServer });
      const [copied] = await server.query(db, 'SELECT count(*)::int AS n FROM podflow.flows');
      if (copied!.n !== ROWS) throw new Error(`COPY wrote ${copied!.n} rows, expected ${ROWS}`);
      if (bytesPerRow === 0) {
        const [size] = await server.query(db, `SELECT pg_total_relation_size('podflow.flows_p20291231') + pg_total_relation_size('podflow.flows_p20300101') AS bytes`);
        bytesPerRow = Math.round(Number(size!.bytes) / ROWS);
      }
      await server.query('postgres', `DROP DATABASE ${db}`);
    }
    copyResults.push({ consumers, runs, median: [...runs].sort((a, b) => a.seconds - b.seconds)[Math.floor(RUNS / 2)]! });
  }
  const headline = copyResults.at(-1)!;
  const copySeconds = headline.median.seconds;
  const copyCpu = { node: headline.median.node, server: headline.median.server };

  // 2. multi-row INSERT of the same rows, same schema
  const insertUrl = await server.createDatabase('bench_insert');
  const client = new pg.Client({ connectionString: insertUrl });
  await client.connect();
  await client.query('CHECKPOINT');
  await migrate(client, 'podflow');
  await client.query(`SELECT podflow.ensure_partitions(ARRAY['2029-12-31', '2030-01-01']::date[])`);
  const width = COPY_COLUMNS.length;
  const placeholders = (n: number) => Array.from({ length: n }, (_, r) => `(${Array.from({ length: width }, (_, c) => `$${r * width + c + 1}`).join(', ')})`).join(', ');
  // Into the same staging table as COPY, then the same server-side move into the narrow rows.
  await client.query(CREATE_STAGING_SQL);
  const narrowSql = narrowStatements('podflow', STAGING_TABLE, false, true).join(';\n');
  const fullStatement = `INSERT INTO ${STAGING_TABLE} (${COPY_COLUMNS.join(', ')}) VALUES ${placeholders(ROWS_PER_INSERT)}`;
  const cpu1 = { node: nodeCpuSeconds(), server: serverCpuSeconds(server.dataDir), machine: machineBusySeconds() };
  const t1 = performance.now();
  for (const chunk of intervals(INSERT_ROWS, ROWS_PER_INSERT)) {
    const params: Array<string | null> = [];
    for (const f of chunk) {
      const r = encodeFlow(f);
      if ('invalid' in r) throw new Error(r.invalid);
      for (const v of r.line.slice(0, -1).split('\t')) params.push(v === '\\N' ? null : v);
    }
    const sql = chunk.length === ROWS_PER_INSERT ? fullStatement : `INSERT INTO ${STAGING_TABLE} (${COPY_COLUMNS.join(', ')}) VALUES ${placeholders(chunk.length)}`;
    await client.query('BEGIN');
    await client.query(sql, params);
    await client.query(`${narrowSql}; COMMIT`);
  }
  const insertSeconds = (performance.now() - t1) / 1000;
  const insertMachine = machineBusySeconds() - cpu1.machine;
  const { rows: [inserted] } = await client.query('SELECT count(*)::int AS n FROM podflow.flows');
  await client.end();
  await new Promise((r) => setTimeout(r, 200));
  const insertCpu = { node: nodeCpuSeconds() - cpu1.node, server: serverCpuSeconds(server.dataDir) - cpu1.server };
  const insertOthers = Math.max(0, insertMachine - insertCpu.node - insertCpu.server);
  if (inserted.n !== INSERT_ROWS) throw new Error(`INSERT wrote ${inserted.n} rows, expected ${INSERT_ROWS}`);

  const copyRowsPerS = Math.round(ROWS / copySeconds);
  const insertRowsPerS = Math.round(INSERT_ROWS / insertSeconds);
  // Node encodes while the server ingests, so with a core each the slower side sets the pace:
  // rows / max(node CPU s, server CPU s) is the rate on an unloaded 2-core machine (derived).
  const cpuBound = (rows: number, c: { node: number; server: number }) => Math.round(rows / Math.max(c.node, c.server));
  const copyCpuRowsPerS = cpuBound(ROWS, copyCpu);
  const insertCpuRowsPerS = cpuBound(INSERT_ROWS, insertCpu);
  const load = loadavg()[0]!.toFixed(1);
  const fmt = (n: number) => n.toLocaleString('en');
  const cpuText = (c: { node: number; server: number; others: number }) =>
    `CPU node ${c.node.toFixed(2)} s, server ${c.server.toFixed(2)} s, other processes ${c.others.toFixed(2)} s`;
  console.log(`machine: load average ${load} at the end, fsync ${process.env.BENCH_DURABLE === '0' ? 'off' : 'on'}, PostgreSQL 15, batch.max_rows ${fmt(BATCH)}, sending_queue.storage ${STORAGE}`);
  for (const { consumers, runs, median } of copyResults) {
    const rate = Math.round(ROWS / median.seconds);
    console.log(`postgres exporter, COPY, num_consumers ${consumers}: ${fmt(ROWS)} rows in ${median.seconds.toFixed(2)} s = ${fmt(rate)} rows/s wall (runs ${runs.map((r) => r.seconds.toFixed(2)).join(', ')} s); ${cpuText(median)} -> ${fmt(cpuBound(ROWS, median))} rows/s CPU-bound; the CHECKPOINT after it: ${median.checkpointSeconds.toFixed(2)} s, server CPU ${median.checkpointServer.toFixed(2)} s`);
  }
  console.log(`multi-row INSERT:        ${fmt(INSERT_ROWS)} rows in ${insertSeconds.toFixed(2)} s = ${fmt(insertRowsPerS)} rows/s wall; ${cpuText({ ...insertCpu, others: insertOthers })} -> ${fmt(insertCpuRowsPerS)} rows/s CPU-bound`);
  console.log(`COPY (num_consumers ${headline.consumers}) / INSERT: ${(copyRowsPerS / insertRowsPerS).toFixed(2)}x wall, ${(copyCpuRowsPerS / insertCpuRowsPerS).toFixed(2)}x CPU-bound; target >= 200,000 rows/s wall with COPY: ${copyRowsPerS >= 200_000 ? 'met' : 'NOT met'}`);
  console.log(`table size on disk:      ${bytesPerRow} bytes per row`);
  console.log(`CopyEncoder alone:       ${fmt(encoderRowsPerCpuS)} rows per CPU second (no server, no queue)`);
  console.log(JSON.stringify({
    bench: 'postgres', rows: ROWS, copy_num_consumers: headline.consumers, copy_rows_per_s: copyRowsPerS, copy_cpu_bound_rows_per_s: copyCpuRowsPerS,
    copy_node_cpu_s: Number(copyCpu.node.toFixed(2)), copy_server_cpu_s: Number(copyCpu.server.toFixed(2)),
    copy_other_processes_cpu_s: Number(headline.median.others.toFixed(2)),
    copy_rows_per_s_by_num_consumers: Object.fromEntries(copyResults.map((r) => [r.consumers, Math.round(ROWS / r.median.seconds)])),
    insert_rows: INSERT_ROWS, insert_rows_per_s: insertRowsPerS, insert_cpu_bound_rows_per_s: insertCpuRowsPerS,
    copy_over_insert: Number((copyRowsPerS / insertRowsPerS).toFixed(2)), bytes_per_row: bytesPerRow,
    encoder_rows_per_cpu_s: encoderRowsPerCpuS, sending_queue_storage: STORAGE,
    load_average: Number(load), target_copy_rows_per_s: 200_000, meets_target: copyRowsPerS >= 200_000,
  }));
} finally {
  await server.stop();
  if (QUEUE_DIR) rmSync(QUEUE_DIR, { recursive: true, force: true });
}
