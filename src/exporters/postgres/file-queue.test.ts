// sending_queue.storage: file against a real PostgreSQL and real podflow processes killed with
// SIGKILL: every row the queue accepted arrives, and arrives once.
//
// Each run tags its flows `test.run` (the sequence receiver numbers flows from 0 in every
// process, `test.seq`). A run's flows enter the queue in order and the log is written in that
// order, so the rows of a killed run that reach the table are exactly seqs 0..n-1, once each,
// with n at least what the queue had accepted when it was killed.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { missingPostgres, startPostgres, type PostgresServer } from '../../../test/harness/postgres.ts';
import { skipOrFail } from '../../../test/harness/privileges.ts';
import { until } from '../../../test/harness/wait.ts';
import { ExporterQueue } from '../../pipeline/exporter-queue.ts';

const PODFLOW = new URL('../../../test/harness/podflow-with-test-components.ts', import.meta.url).pathname;
const FLOWS_PER_BATCH = 5;

interface Run {
  child: ChildProcess;
  exited: Promise<number | null>;
  stderr(): string;
  /** A podflow self-metric summed over its series (0 when absent). */
  metric(name: string): Promise<number>;
  /** Flows the previous run left in the log, as this run logged them at start (0: none). */
  restoredFlows(): number;
}

async function startPodflow(dir: string, run: string, databaseUrl: string, queueDir: string): Promise<Run> {
  const config = join(dir, `${run}.yaml`);
  await writeFile(config, `
receivers:
  sequence: {interval: 20ms, flows_per_batch: ${FLOWS_PER_BATCH}}
processors:
  tag: {key: test.run, value: ${run}}
exporters:
  postgres:
    endpoint: ${databaseUrl}
    batch: {max_rows: ${FLOWS_PER_BATCH}, flush_interval: 10ms}
    sending_queue: {storage: file, directory: ${queueDir}, queue_size: 100000}
    retry_on_failure: {initial_interval: 50ms, max_interval: 200ms}
    retention: 0s
service:
  shutdown_timeout: 30s
  telemetry: {metrics: {address: "127.0.0.1:0"}, logs: {level: info}}
  pipelines:
    flows: {receivers: [sequence], processors: [tag], exporters: [postgres]}
`);
  const child = spawn(process.execPath, [PODFLOW, 'run', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await until(() => err.includes('"msg":"podflow started') || child.exitCode !== null, 20_000, `${run} started`, 25);
  const started = /"metrics":"([^"]+)".*"msg":"podflow started/.exec(err);
  if (!started) throw new Error(`${run} did not start:\n${err}`);
  const metricsUrl = `http://${started[1]}/metrics`;
  return {
    child,
    exited,
    stderr: () => err,
    restoredFlows: () => Number(/"flows":(\d+)[^\n]*requests left by the previous run/.exec(err)?.[1] ?? 0),
    async metric(name) {
      const text = await (await fetch(metricsUrl)).text();
      let sum = 0;
      for (const line of text.split('\n')) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      return sum;
    },
  };
}

let server: PostgresServer | undefined;
const unavailable = missingPostgres();
test.before(async () => {
  if (!unavailable) server = await startPostgres();
});
test.after.always(async () => server?.stop());

test('SIGKILL mid-send, twice, then a stale log sent again: every accepted row arrives exactly once', async (t) => {
  if (unavailable || !server) return void skipOrFail(t, unavailable ?? 'no PostgreSQL');
  const db = `fq${process.pid}`;
  const url = await server.createDatabase(db);
  const dir = await mkdtemp(join(tmpdir(), 'podflow-fq-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const queueDir = join(dir, 'queue');
  const log = ExporterQueue.journalPath(queueDir, 'postgres');
  const runs: Run[] = [];
  t.teardown(() => runs.forEach((r) => r.child.kill('SIGKILL')));
  const rowsOf = async (run: string) =>
    (await server!.query<{ seq: number; copies: number }>(db, `SELECT (attributes->>'test.seq')::int AS seq, count(*)::int AS copies FROM podflow.flows WHERE attributes->>'test.run' = $1 GROUP BY 1 ORDER BY 1`, [run]));
  const count = async (run: string) => (await rowsOf(run)).reduce((n, r) => n + r.copies, 0);
  /** Rows 0..n-1 of the run, each once; returns n. */
  const exactlyOnce = async (run: string): Promise<number> => {
    const rows = await rowsOf(run);
    t.deepEqual(rows.filter((r) => r.copies !== 1), [], `${run}: rows stored more than once`);
    t.deepEqual(rows.map((r) => r.seq), rows.map((_, i) => i), `${run}: no row missing before the last`);
    return rows.length;
  };

  // Run 1 writes until the table is locked; then its sends hang inside their transaction.
  const run1 = await startPodflow(dir, 'run1', url, queueDir);
  runs.push(run1);
  await until(async () => (await count('run1').catch(() => 0)) >= 20, 20_000, 'run1 rows', 50);
  const locker = new pg.Client({ connectionString: url });
  await locker.connect();
  t.teardown(() => locker.end().catch(() => undefined));
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE podflow.flows IN ACCESS EXCLUSIVE MODE');
  // Counted inside the locking transaction: any other reader waits for the lock too.
  const committed1 = (await locker.query<{ n: number }>(`SELECT count(*)::int AS n FROM podflow.flows WHERE attributes->>'test.run' = 'run1'`)).rows[0]!.n;
  await until(async () => (await run1.metric('podflow_exporter_queue_size')) >= 100, 30_000, 'run1 requests waiting', 50);
  await until(async () => (await server!.query(db, `SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`, [db])).length > 0, 10_000, 'a send waiting on the lock', 50);
  const accepted1 = committed1 + FLOWS_PER_BATCH * (await run1.metric('podflow_exporter_queue_size'));
  run1.child.kill('SIGKILL');
  await run1.exited;
  // What the log held when run 1 died, for later: a log whose requests were all sent since.
  const staleLog = join(dir, 'stale.queue');
  copyFileSync(log, staleLog);
  await locker.query('ROLLBACK');
  t.is(await count('run1'), committed1, 'the send in flight was rolled back with its connection');

  // Run 2 sends what run 1 left, and is killed while doing so.
  const run2 = await startPodflow(dir, 'run2', url, queueDir);
  runs.push(run2);
  t.true(run2.restoredFlows() >= accepted1 - committed1, run2.stderr().slice(-2_000));
  await until(async () => (await count('run1')) > committed1, 20_000, 'run2 sends run1 rows', 5);
  run2.child.kill('SIGKILL');
  await run2.exited;
  t.true((await count('run1')) < accepted1, 'run 2 was killed before it had sent everything');

  // Run 3 sends the rest and stops gracefully: the queue drains and the log is empty.
  const run3 = await startPodflow(dir, 'run3', url, queueDir);
  runs.push(run3);
  // Restored requests are sent first: once as many flows as they hold are sent, they all are.
  await until(async () => (await run3.metric('podflow_exporter_sent_flows_total')) >= run3.restoredFlows(), 30_000, 'run3 sends what was left', 50);
  run3.child.kill('SIGTERM');
  t.is(await run3.exited, 0, run3.stderr().slice(-2_000));
  t.is(statSync(log).size, 0, 'everything sent: the log is empty');

  const sent1 = await exactlyOnce('run1');
  t.true(sent1 >= accepted1, `run1: ${sent1} rows, ${accepted1} had been accepted`);
  await exactlyOnce('run2'); // maybe none: it may have been killed before its first batch
  const sent3 = await exactlyOnce('run3');
  const final3 = await server.query<{ n: number }>(db, `SELECT count(*)::int AS n FROM podflow.flows WHERE attributes->>'test.run' = 'run3' AND attributes->>'test.final' = 'true'`);
  t.is(final3[0]!.n, FLOWS_PER_BATCH, 'run 3 sent its last batch on SIGTERM');

  // A log written before the sends that committed (a crash after COMMIT, before the log said
  // so): its requests are sent again, and their batch ids make PostgreSQL store none twice.
  copyFileSync(staleLog, log);
  const run4 = await startPodflow(dir, 'run4', url, queueDir);
  runs.push(run4);
  t.true(run4.restoredFlows() >= accepted1 - committed1);
  await until(async () => (await run4.metric('podflow_exporter_sent_flows_total')) >= run4.restoredFlows(), 30_000, 'run4 resends the stale log', 50);
  run4.child.kill('SIGTERM');
  t.is(await run4.exited, 0);
  t.is(await exactlyOnce('run1'), sent1, 'nothing of run 1 stored twice');
  t.is(await exactlyOnce('run3'), sent3);
  await exactlyOnce('run4');
});
