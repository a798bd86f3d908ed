// Writes flows into `<schema>.flows` with COPY, from its own bounded queue of row batches.
//
// `export` only encodes and queues (rows are accepted from then on) and returns; `writers`
// writer loops (each with its own connection) take batches in order and write each in one
// transaction: make sure its daily
// partitions exist, record the batch id in `ingest_batches`, COPY its rows, COMMIT. Any failure that
// is not the data's fault (refused, reset, server restarting, schema dropped) puts the batch
// back at the head of the queue and retries with exponential backoff; a batch the server
// rejects for its data is split in halves until the bad row is alone, and only that row is
// dropped. Shutdown writes everything queued, retrying for at most `flush_timeout`.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import { K8S_NODE_NAME, type FlowBatch } from '../../model/index.ts';
import type { ComponentContext, Exporter } from '../../contracts/component.ts';
import { RateLimitedLog } from '../../telemetry/rate-limited-log.ts';
import { sharedCounter, sharedGauge } from '../../telemetry/shared-metrics.ts';
import type { PostgresConfig } from './config.ts';
import { clientConfig, isConnectionProblem, isMissingSchema, isRejectedData } from './connection.ts';
import { migrate } from './migrations.ts';
import { batchLines, batchOf, RowQueue, type RowBatch } from './row-queue.ts';
import { CopyEncoder } from './copy-encoder.ts';
import { COPY_COLUMNS } from './rows.ts';

/** A write (partitions + COPY + COMMIT) that takes longer is abandoned and retried on a new connection. */
const WRITE_TIMEOUT_MS = 120_000;
const RETENTION_INTERVAL_MS = 3_600_000;
const RETENTION_RETRY_MS = 60_000;
const LOG_PERIOD_MS = 60_000;
/** The longest the writer sleeps without a reason to wake. */
const IDLE_WAKE_MS = 60_000;

interface Writer {
  client: pg.Client | undefined;
}

export type DropReason = 'queue_full' | 'invalid' | 'rejected' | 'shutdown';

export interface PostgresExporterStats {
  acceptedRows: number;
  writtenRows: number;
  droppedRows: Record<DropReason, number>;
  queuedRows: number;
  retries: number;
  droppedPartitions: number;
}

export class PostgresExporter implements Exporter {
  readonly #id: string;
  readonly #logger: Logger;
  readonly #config: PostgresConfig;
  readonly #clientConfig: pg.ClientConfig;
  readonly #schema: string;
  readonly #reportingNode: string | undefined;
  readonly #queue: RowQueue;
  readonly #encoder = new CopyEncoder();
  readonly #copySql: string;
  readonly #metrics: {
    written: Counter<string>;
    dropped: Counter<string>;
    retries: Counter<string>;
    partitionsDropped: Counter<string>;
    queueRows: Gauge<string>;
    sendFailed: Counter<string> | undefined;
    enqueueFailed: Counter<string> | undefined;
  };
  readonly #stats: PostgresExporterStats = {
    acceptedRows: 0,
    writtenRows: 0,
    droppedRows: { queue_full: 0, invalid: 0, rejected: 0, shutdown: 0 },
    queuedRows: 0,
    retries: 0,
    droppedPartitions: 0,
  };
  readonly #dropLog: RateLimitedLog;
  readonly #retryLog: RateLimitedLog;
  readonly #invalidLog: RateLimitedLog;

  /** One connection per writer loop; several write different batches at once. */
  readonly #writers: Writer[];
  #migrated = false;
  #loop: Promise<void> | undefined;
  readonly #wakers = new Set<() => void>();
  #closed = false;
  #closing = false;
  #deadlineMs = Infinity;
  #failures = 0;
  #retryAtMs = 0;
  #nextRetentionAtMs = 0;

  constructor(ctx: ComponentContext, config: PostgresConfig) {
    this.#id = ctx.id;
    this.#logger = ctx.logger;
    this.#config = config;
    this.#clientConfig = clientConfig(config);
    this.#writers = Array.from({ length: config.writers }, () => ({ client: undefined }));
    this.#schema = config.schema;
    const node = ctx.resource[K8S_NODE_NAME];
    this.#reportingNode = node === undefined ? undefined : String(node);
    this.#queue = new RowQueue(config.batch.max_rows, config.queue_size);
    this.#copySql = `COPY ${pg.escapeIdentifier(this.#schema)}.flows (${COPY_COLUMNS.join(', ')}) FROM STDIN`;
    const r = ctx.metrics;
    this.#metrics = {
      written: sharedCounter(r, 'podflow_postgres_written_rows_total', 'Flow rows committed to PostgreSQL.', ['exporter']),
      dropped: sharedCounter(r, 'podflow_postgres_dropped_rows_total', 'Flow rows not written, by reason (queue_full, invalid, rejected, shutdown).', ['exporter', 'reason']),
      retries: sharedCounter(r, 'podflow_postgres_write_retries_total', 'Writes that failed and were retried.', ['exporter']),
      partitionsDropped: sharedCounter(r, 'podflow_postgres_partitions_dropped_total', 'Daily partitions dropped by retention.', ['exporter']),
      queueRows: sharedGauge(r, 'podflow_postgres_queue_rows', 'Rows waiting to be written.', ['exporter']),
      sendFailed: r.getSingleMetric('podflow_exporter_send_failed_flows_total') as Counter<string> | undefined,
      enqueueFailed: r.getSingleMetric('podflow_exporter_enqueue_failed_flows_total') as Counter<string> | undefined,
    };
    this.#dropLog = new RateLimitedLog((f, m) => this.#logger.error(f, m), LOG_PERIOD_MS);
    this.#retryLog = new RateLimitedLog((f, m) => this.#logger.warn(f, m), LOG_PERIOD_MS);
    this.#invalidLog = new RateLimitedLog((f, m) => this.#logger.error(f, m), LOG_PERIOD_MS);
  }

  stats(): PostgresExporterStats {
    return { ...this.#stats, droppedRows: { ...this.#stats.droppedRows }, queuedRows: this.#queue.rows };
  }

  async start(): Promise<void> {
    try {
      await this.#ready(this.#writers[0]!);
    } catch (err) {
      this.#dropClient(this.#writers[0]!);
      if (!isConnectionProblem(err)) {
        throw new Error(`postgres exporter ${this.#id}: ${(err as Error).message}`, { cause: err });
      }
      this.#logger.warn({ exporter: this.#id, err: (err as Error).message }, 'PostgreSQL not reachable yet: flows are queued and written once it is');
    }
    this.#loop = Promise.all(this.#writers.map((w, i) => this.#run(w, i === 0))).then(() => undefined);
  }

  async export(batch: FlowBatch): Promise<void> {
    if (this.#closed) throw new Error(`postgres exporter ${this.#id} is shut down`);
    if (batch.temporality === 'cumulative') {
      throw new Error('the postgres exporter stores deltas and got a cumulative batch: put no cumulative reduce in front of it');
    }
    // Encoded straight into COPY bytes, as many rows at a time as the newest queued batch holds.
    const flows = batch.flows;
    const encoder = this.#encoder;
    const nowMs = Date.now();
    for (let i = 0; i < flows.length; ) {
      const room = this.#queue.room();
      while (i < flows.length && encoder.rows < room) {
        const invalid = encoder.encode(flows[i++]!, this.#reportingNode);
        if (invalid !== undefined) {
          this.#drop('invalid', 1);
          this.#invalidLog.emit({ exporter: this.#id, reason: invalid }, 'flow not written: it cannot be stored');
        }
      }
      if (encoder.rows === 0) continue;
      this.#stats.acceptedRows += encoder.rows;
      for (const dropped of this.#queue.pushChunk(encoder.take(), nowMs)) {
        this.#drop('queue_full', dropped.rows);
        this.#dropLog.emit(
          { exporter: this.#id, rows: dropped.rows, queue_size: this.#config.queue_size },
          'postgres exporter queue full: dropped the oldest batch',
        );
      }
    }
    this.#metrics.queueRows.set({ exporter: this.#id }, this.#queue.rows);
    this.#wakeAll();
  }

  async shutdown(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = true;
    this.#deadlineMs = Date.now() + this.#config.flush_timeout;
    // A write hanging past the deadline is cut off by closing its connection.
    const cutoff = setTimeout(() => this.#writers.forEach((w) => this.#dropClient(w)), this.#config.flush_timeout + 50);
    this.#wakeAll();
    try {
      await this.#loop;
    } finally {
      clearTimeout(cutoff);
    }
    const left = this.#queue.clear().reduce((n, b) => n + b.rows, 0);
    if (left > 0) {
      this.#drop('shutdown', left);
      this.#logger.error({ exporter: this.#id, rows: left, flush_timeout_ms: this.#config.flush_timeout }, 'postgres exporter shut down with rows it could not write');
    }
    this.#metrics.queueRows.set({ exporter: this.#id }, 0);
    await Promise.all(this.#writers.map(async (w) => {
      const client = w.client;
      w.client = undefined;
      await client?.end().catch(() => undefined);
    }));
  }

  /**
   * Drops the partitions wholly older than `retention` before `nowMs`; returns their names.
   * Uses a connection of its own, so it never lands inside the writer's transaction.
   */
  async runRetention(nowMs = Date.now()): Promise<string[]> {
    if (this.#config.retention === 0) return [];
    const cutoff = new Date(nowMs - this.#config.retention);
    const client = new pg.Client(this.#clientConfig);
    client.on('error', () => undefined);
    let rows: Array<{ name: string }>;
    try {
      await client.connect();
      ({ rows } = await client.query<{ name: string }>(
        `SELECT ${pg.escapeIdentifier(this.#schema)}.drop_partitions_before($1) AS name`,
        [cutoff],
      ));
    } finally {
      await client.end().catch(() => undefined);
    }
    const names = rows.map((r) => r.name);
    if (names.length > 0) {
      this.#stats.droppedPartitions += names.length;
      this.#metrics.partitionsDropped.inc({ exporter: this.#id }, names.length);
      this.#logger.info({ exporter: this.#id, partitions: names, cutoff }, 'retention dropped partitions');
    }
    return names;
  }

  #drop(reason: DropReason, rows: number): void {
    this.#stats.droppedRows[reason] += rows;
    this.#metrics.dropped.inc({ exporter: this.#id, reason }, rows);
    // Also in the runtime's families (when it registered them), so every exporter's losses show
    // up in the same place: all of them failed to send, queue_full also failed to enqueue.
    this.#metrics.sendFailed?.inc({ exporter: this.#id }, rows);
    if (reason === 'queue_full') this.#metrics.enqueueFailed?.inc({ exporter: this.#id }, rows);
  }

  /** A connected client with the schema migrated. */
  async #ready(writer: Writer): Promise<pg.Client> {
    let client = writer.client;
    if (!client) {
      const c = new pg.Client(this.#clientConfig);
      // An idle connection can die (server restart); without a listener that would crash the process.
      c.on('error', (err) => {
        this.#logger.debug({ exporter: this.#id, err: err.message }, 'PostgreSQL connection lost');
        if (writer.client === c) writer.client = undefined;
        c.end().catch(() => undefined);
      });
      try {
        await c.connect();
      } catch (err) {
        c.end().catch(() => undefined);
        throw err;
      }
      writer.client = client = c;
    }
    if (!this.#migrated) {
      const result = await migrate(client, this.#schema);
      this.#migrated = true;
      if (result.applied.length > 0) this.#logger.info({ exporter: this.#id, schema: this.#schema, applied: result.applied }, 'PostgreSQL schema migrated');
      if (result.unknown.length > 0) this.#logger.warn({ exporter: this.#id, schema: this.#schema, unknown: result.unknown }, 'schema has migrations this podflow does not know (a newer version ran)');
    }
    return client;
  }

  #dropClient(writer: Writer): void {
    const client = writer.client;
    writer.client = undefined;
    client?.end().catch(() => undefined);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.min(Math.max(0, ms), IDLE_WAKE_MS));
      const wakers = this.#wakers;
      function done() {
        clearTimeout(timer);
        wakers.delete(done);
        resolve();
      }
      wakers.add(done);
    });
  }

  #wakeAll(): void {
    for (const wake of [...this.#wakers]) wake();
  }

  /** One writer's loop; the first one also runs retention. */
  async #run(writer: Writer, runsRetention: boolean): Promise<void> {
    const flushMs = this.#config.batch.flush_interval;
    for (;;) {
      const now = Date.now();
      if (this.#closing && (this.#queue.rows === 0 || now >= this.#deadlineMs)) return;
      if (now < this.#retryAtMs) {
        await this.#sleep(Math.min(this.#retryAtMs, this.#deadlineMs) - now);
        continue;
      }
      if (runsRetention && !this.#closing && this.#config.retention > 0 && now >= this.#nextRetentionAtMs) {
        try {
          await this.#ready(writer); // migrated, so drop_partitions_before exists
          await this.runRetention(now);
          this.#nextRetentionAtMs = now + RETENTION_INTERVAL_MS;
        } catch (err) {
          this.#nextRetentionAtMs = now + RETENTION_RETRY_MS;
          this.#retryLog.emit({ exporter: this.#id, err: (err as Error).message }, 'retention failed; trying again in a minute');
        }
        continue;
      }
      const batch = this.#queue.take(now, flushMs, this.#closing);
      if (!batch) {
        const untilReady = this.#queue.msUntilReady(now, flushMs) ?? IDLE_WAKE_MS;
        const untilRetention = runsRetention && this.#config.retention > 0 ? this.#nextRetentionAtMs - now : IDLE_WAKE_MS;
        await this.#sleep(Math.min(untilReady, untilRetention));
        continue;
      }
      await this.#writeOrRequeue(writer, batch);
      this.#metrics.queueRows.set({ exporter: this.#id }, this.#queue.rows);
    }
  }

  async #writeOrRequeue(writer: Writer, batch: RowBatch): Promise<void> {
    try {
      await this.#write(writer, batch);
      this.#failures = 0;
      this.#stats.writtenRows += batch.rows;
      this.#metrics.written.inc({ exporter: this.#id }, batch.rows);
    } catch (err) {
      if (isRejectedData(err)) {
        this.#rejected(batch, err);
        return;
      }
      this.#dropClient(writer);
      if (isMissingSchema(err)) this.#migrated = false;
      this.#queue.putBack(batch);
      this.#failures++;
      this.#stats.retries++;
      this.#metrics.retries.inc({ exporter: this.#id });
      const { initial_interval: initialMs, max_interval: maxMs } = this.#config.retry_on_failure;
      const backoffMs = Math.min(maxMs, initialMs * 2 ** Math.min(this.#failures - 1, 30));
      this.#retryAtMs = Date.now() + backoffMs * (0.5 + Math.random() / 2);
      this.#retryLog.emit(
        { exporter: this.#id, err: (err as Error).message, queued_rows: this.#queue.rows, backoff_ms: Math.round(backoffMs) },
        'writing flows to PostgreSQL failed; retrying',
      );
    }
  }

  /** The server refused the data itself: halve the batch until the bad row is alone, drop only it. */
  #rejected(batch: RowBatch, err: unknown): void {
    const lines = batchLines(batch);
    if (lines.length === 1) {
      this.#drop('rejected', 1);
      this.#invalidLog.emit({ exporter: this.#id, err: (err as Error).message, row: lines[0] }, 'PostgreSQL rejected a flow row');
      return;
    }
    const half = Math.ceil(lines.length / 2);
    this.#queue.putBack(
      batchOf(lines.slice(0, half), batch.days, batch.firstRowAtMs),
      batchOf(lines.slice(half), batch.days, batch.firstRowAtMs),
    );
  }

  async #write(writer: Writer, batch: RowBatch): Promise<void> {
    const client = await this.#ready(writer);
    const timeoutMs = Math.min(WRITE_TIMEOUT_MS, Math.max(1, this.#deadlineMs - Date.now()));
    const timer = setTimeout(() => {
      if (writer.client === client) this.#dropClient(writer);
    }, timeoutMs);
    const s = pg.escapeIdentifier(this.#schema);
    // One round trip for the three statements before COPY (simple query protocol, so the values
    // are literals: a UUID and YYYY-MM-DD days this process made). The partitions are created in
    // the COPY's transaction; ensure_partitions serialises creators with an advisory lock.
    const days = pg.escapeLiteral(`{${[...batch.days].join(',')}}`);
    const prelude = `BEGIN; SELECT ${s}.ensure_partitions(${days}::date[]);
      INSERT INTO ${s}.ingest_batches (batch_id, rows) VALUES (${pg.escapeLiteral(batch.id)}, ${batch.rows}) ON CONFLICT (batch_id) DO NOTHING`;
    try {
      try {
        const results = (await client.query(prelude)) as unknown as pg.QueryResult[];
        if (results.at(-1)?.rowCount === 0) {
          // Committed by an attempt whose COMMIT reply was lost: already stored.
          await client.query('ROLLBACK');
          return;
        }
        await pipeline(Readable.from(batch.chunks), client.query(copyFrom(this.#copySql)));
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    } finally {
      clearTimeout(timer);
    }
  }
}
