// Writes flows into `<schema>.flows` with COPY, through the runtime's exporter queue
// (docs/exporter-helper.md).
//
// toRequests encodes flows straight into COPY bytes as the batch enters the queue, adding them to
// the newest waiting request until it holds batch.max_rows rows (row-request.ts); from then on
// they are accepted. The queue's consumers (sending_queue.num_consumers) each write one request
// at a time on a connection of their own, in one transaction: make sure its daily partitions
// exist, record its id in `ingest_batches`, COPY its rows, translated into narrow rows with
// their endpoint ids and codes (endpoint-ids.ts) and packed into parts of rows that share their
// times and node (flow-batches.ts), straight into `flow_batches`, COMMIT. Any failure that is not the
// data's fault (refused, reset, server restarting, schema dropped) is retryable: the queue tries
// the same request again with backoff, and the recorded id makes a COMMIT whose reply was lost
// count as written instead of writing it twice. A request the server rejects for its data is
// halved within the same send until the bad row is alone, and only that row is dropped.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Counter, Gauge } from 'prom-client';
import type { Logger } from 'pino';
import { K8S_NODE_NAME, type FlowBatch } from '../../model/index.ts';
import { batchReportingNode } from '../../config/reporting-node.ts';
import { PermanentError, type ComponentContext, type ComponentEndpoints, type Exporter } from '../../contracts/component.ts';
import { RateLimitedLog } from '../../telemetry/rate-limited-log.ts';
import { sharedCounter, sharedGauge } from '../../telemetry/shared-metrics.ts';
import type { PostgresConfig } from './config.ts';
import { isConnectionProblem, isMissingSchema, isRejectedData } from './connection.ts';
import { clientConfig } from '../shared/postgres-connection.ts';
import { migrate } from './migrations.ts';
import { partLines, partOf, rowRequestCodec, RowRequest, type RowPart } from './row-request.ts';
import { CopyEncoder } from './copy-encoder.ts';
import { EndpointIds } from './endpoint-ids.ts';
import { PART_COPY_COLUMNS } from './flow-batches.ts';
import { dropExpired, ROLLUP_APPLICATION_NAME, rollUpPending, RollupRunner, type TierRetention } from './rollup-runner.ts';
import type { TierName } from './rollup-sql.ts';

const LOG_PERIOD_MS = 60_000;

/** Why the exporter itself dropped rows (queue overflow and shutdown are the queue's to count). */
export type DropReason = 'invalid' | 'rejected';

export class PostgresExporter implements Exporter<RowRequest> {
  /** For sending_queue.storage: file; batch ids make a request sent again after a crash count once. */
  readonly requestCodec = rowRequestCodec;
  readonly #ctx: ComponentContext;
  readonly #id: string;
  readonly #logger: Logger;
  readonly #config: PostgresConfig;
  readonly #clientConfig: pg.ClientConfig;
  readonly #schema: string;
  readonly #reportingNode: string | undefined;
  readonly #encoder = new CopyEncoder();
  readonly #copySql: string;
  /** Endpoint ids and codes of this exporter's database, shared by its consumers. */
  readonly #ids: EndpointIds;
  readonly #metrics: { dropped: Counter<string>; partitionsDropped: Counter<string>; nulsReplaced: Counter<string>; rolledRows: Counter<string>; leader: Gauge<string> };
  readonly #invalidLog: RateLimitedLog;
  readonly #retention: TierRetention;
  readonly #rollups: RollupRunner | undefined;
  /** Connections not in use; at most one per consumer is kept. */
  readonly #idle: pg.Client[] = [];
  #migrated = false;
  #closed = false;

  constructor(ctx: ComponentContext, config: PostgresConfig) {
    this.#ctx = ctx;
    this.#id = ctx.id;
    this.#logger = ctx.logger;
    this.#config = config;
    this.#clientConfig = clientConfig(config);
    this.#schema = config.schema;
    const node = ctx.resource[K8S_NODE_NAME];
    this.#reportingNode = node === undefined ? ctx.reportingNode : String(node);
    this.#copySql = `COPY ${pg.escapeIdentifier(this.#schema)}.flow_batches (${PART_COPY_COLUMNS.join(', ')}) FROM STDIN`;
    this.#ids = new EndpointIds(this.#schema);
    const r = ctx.metrics;
    this.#metrics = {
      dropped: sharedCounter(r, 'podflow_postgres_dropped_rows_total', 'Flow rows the postgres exporter refused, by reason (invalid, rejected).', ['exporter', 'reason']),
      partitionsDropped: sharedCounter(r, 'podflow_postgres_partitions_dropped_total', 'Partitions dropped by retention, by tier (raw, minute, hour, six_hour, day).', ['exporter', 'tier']),
      nulsReplaced: sharedCounter(r, 'podflow_postgres_nul_characters_replaced_total', 'NUL characters in flow strings written as U+FFFD (PostgreSQL text cannot hold NUL).', ['exporter']),
      rolledRows: sharedCounter(r, 'podflow_postgres_rolled_up_rows_total', 'Raw rows this process rolled up into the minute, hour and day tiers.', ['exporter']),
      leader: sharedGauge(r, 'podflow_postgres_rollup_leader', '1 while this process runs the rollups of its database (holds the advisory lock), else 0.', ['exporter']),
    };
    this.#metrics.leader.set({ exporter: this.#id }, 0);
    this.#invalidLog = new RateLimitedLog((f, m) => this.#logger.error(f, m), LOG_PERIOD_MS);
    this.#retention = { raw: config.retention, ...config.rollup.retention };
    this.#rollups = config.rollup.enabled
      ? new RollupRunner({
          id: this.#id,
          schema: this.#schema,
          clientConfig: clientConfig(config, ROLLUP_APPLICATION_NAME),
          intervalMs: config.rollup.interval,
          retention: this.#retention,
          logger: this.#logger,
          onRollup: (result) => this.#metrics.rolledRows.inc({ exporter: this.#id }, result.rows),
          onRetention: (dropped) => this.#countDropped(dropped),
          onLeader: (leader) => this.#metrics.leader.set({ exporter: this.#id }, leader ? 1 : 0),
        })
      : undefined;
  }

  /** Whether this exporter runs its database's rollups right now (holds the advisory lock). */
  get rollupLeader(): boolean {
    return this.#rollups?.leader ?? false;
  }

  async start(): Promise<void> {
    try {
      const client = await this.#connect();
      try {
        await this.#migrate(client);
      } catch (err) {
        this.#discard(client);
        throw err;
      }
      this.#release(client);
    } catch (err) {
      if (!isConnectionProblem(err)) {
        throw new Error(`postgres exporter ${this.#id}: ${(err as Error).message}`, { cause: err });
      }
      this.#logger.warn({ exporter: this.#id, err: (err as Error).message }, 'PostgreSQL not reachable yet: flows are queued and written once it is');
    }
    this.#rollups?.start();
  }

  endpoints(): ComponentEndpoints {
    return { writesTo: [`${this.#config.endpoint} (schema ${this.#schema})`] };
  }

  /**
   * Encodes the flows into COPY rows: first into `open` while it has room, then into new
   * requests of up to batch.max_rows rows. Flows that cannot be stored are dropped and counted.
   */
  toRequests(batch: FlowBatch, open: RowRequest | undefined): RowRequest[] {
    if (this.#closed) throw new Error(`postgres exporter ${this.#id} is shut down`);
    if (batch.temporality === 'cumulative') {
      throw new Error('the postgres exporter stores deltas and got a cumulative batch: put no cumulative reduce in front of it');
    }
    const maxRows = this.#config.batch.max_rows;
    const flows = batch.flows;
    const encoder = this.#encoder;
    const nowMs = Date.now();
    // Rows without k8s.node.name of their own are from the batch's reporter: an agent's batch names it.
    const reportingNode = batchReportingNode(batch.resource, this.#reportingNode);
    const created: RowRequest[] = [];
    let tail = open;
    for (let i = 0; i < flows.length; ) {
      if (!tail || tail.flowCount >= maxRows) created.push((tail = new RowRequest(nowMs)));
      const room = maxRows - tail.flowCount;
      while (i < flows.length && encoder.rows < room) {
        const invalid = encoder.encode(flows[i++]!, reportingNode);
        if (invalid !== undefined) {
          this.#drop('invalid', 1);
          this.#invalidLog.emit({ exporter: this.#id, reason: invalid }, 'flow not written: it cannot be stored');
        }
      }
      if (encoder.rows > 0) {
        const chunk = encoder.take();
        if (chunk.nulsReplaced > 0) this.#metrics.nulsReplaced.inc({ exporter: this.#id }, chunk.nulsReplaced);
        tail.append(chunk);
      }
    }
    return created.filter((r) => r.flowCount > 0);
  }

  /** Full requests are due at once; others once their first row has waited batch.flush_interval. */
  dueAtMs(request: RowRequest): number {
    return request.flowCount >= this.#config.batch.max_rows ? 0 : request.firstRowAtMs + this.#config.batch.flush_interval;
  }

  /**
   * Writes the request's parts, each in its own transaction, on a connection of this consumer's;
   * a part the server rejects for its data is halved and its halves written in its place.
   */
  async send(request: RowRequest, signal: AbortSignal): Promise<void> {
    if (this.#closed) throw new PermanentError(`postgres exporter ${this.#id} is shut down`);
    const client = await this.#connect();
    // An attempt cut short (timeout, shutdown deadline) closes its connection, which ends the write.
    const onAbort = () => this.#discard(client);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await this.#migrate(client);
      while (request.parts.length > 0) {
        if (signal.aborted) throw signal.reason;
        const part = request.parts[0]!;
        try {
          await this.#write(client, part);
          remove(request.parts, part);
        } catch (err) {
          if (!isRejectedData(err)) throw err;
          this.#halve(request, part, err);
        }
      }
      this.#release(client);
    } catch (err) {
      this.#discard(client);
      if (isMissingSchema(err)) this.#migrated = false;
      throw err;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  async shutdown(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#rollups?.stop();
    await Promise.all(this.#idle.splice(0).map((c) => c.end().catch(() => undefined)));
  }

  /**
   * Rolls up what is pending (waiting up to 10 s for transactions open elsewhere), then drops
   * what retention says is expired at `nowMs` (raw day
   * partitions once rolled up, tier partitions); returns the raw partitions dropped. The rollup
   * leader does this every hour; this runs it now, on a connection of its own.
   */
  async runRetention(nowMs = Date.now()): Promise<string[]> {
    const client = new pg.Client(this.#clientConfig);
    client.on('error', () => undefined);
    try {
      await client.connect();
      await this.#migrate(client);
      await rollUpPending(client, this.#schema);
      const dropped = await dropExpired(client, this.#schema, this.#retention, nowMs);
      this.#countDropped(dropped);
      return dropped.raw;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  #countDropped(dropped: Record<'raw' | TierName, string[]>): void {
    for (const [tier, names] of Object.entries(dropped)) {
      if (names.length === 0) continue;
      this.#metrics.partitionsDropped.inc({ exporter: this.#id, tier }, names.length);
      this.#logger.info({ exporter: this.#id, tier, partitions: names }, 'retention dropped partitions');
    }
  }

  #drop(reason: DropReason, rows: number): void {
    this.#metrics.dropped.inc({ exporter: this.#id, reason }, rows);
    this.#ctx.countDropped(rows);
  }

  /** The server refused the part's data: halve it until the bad row is alone, drop only that row. */
  #halve(request: RowRequest, part: RowPart, err: unknown): void {
    const lines = partLines(part);
    if (lines.length <= 1) {
      remove(request.parts, part);
      request.flowCount -= lines.length;
      this.#drop('rejected', lines.length);
      this.#invalidLog.emit({ exporter: this.#id, err: (err as Error).message, row: lines[0] }, 'PostgreSQL rejected a flow row');
      return;
    }
    const half = Math.ceil(lines.length / 2);
    const at = request.parts.indexOf(part);
    if (at >= 0) request.parts.splice(at, 1, partOf(part, 0, lines.slice(0, half)), partOf(part, 1, lines.slice(half)));
  }

  /** An idle connection, or a new one. */
  async #connect(): Promise<pg.Client> {
    const idle = this.#idle.pop();
    if (idle) return idle;
    const client = new pg.Client(this.#clientConfig);
    // An idle connection can die (server restart); without a listener that would crash the process.
    client.on('error', (err) => {
      this.#logger.debug({ exporter: this.#id, err: err.message }, 'PostgreSQL connection lost');
      this.#discard(client);
    });
    try {
      await client.connect();
    } catch (err) {
      client.end().catch(() => undefined);
      throw err;
    }
    return client;
  }

  /** Back to the idle connections, unless shut down or one per consumer is idle already. */
  #release(client: pg.Client): void {
    if (this.#closed || this.#idle.length >= this.#config.sending_queue.num_consumers) client.end().catch(() => undefined);
    else this.#idle.push(client);
  }

  #discard(client: pg.Client): void {
    remove(this.#idle, client);
    client.end().catch(() => undefined);
  }

  /** Creates or updates the schema, once (again after it disappeared). */
  async #migrate(client: pg.Client): Promise<void> {
    if (this.#migrated) return;
    const result = await migrate(client, this.#schema);
    this.#migrated = true;
    if (result.applied.length > 0) this.#logger.info({ exporter: this.#id, schema: this.#schema, applied: result.applied }, 'PostgreSQL schema migrated');
    if (result.unknown.length > 0) this.#logger.warn({ exporter: this.#id, schema: this.#schema, unknown: result.unknown }, 'schema has migrations this podflow does not know (a newer version ran)');
  }

  async #write(client: pg.Client, part: RowPart): Promise<void> {
    const s = pg.escapeIdentifier(this.#schema);
    const wide = Buffer.concat(part.chunks).toString('utf8');
    // One round trip for the statements before COPY (simple query protocol, so the values are
    // literals: a UUID and YYYY-MM-DD days this process made). The partitions are created in the
    // COPY's transaction; ensure_partitions serialises creators with an advisory lock.
    const days = pg.escapeLiteral(`{${[...part.days].join(',')}}`);
    const prelude = `BEGIN; ${this.#ids.generationSql}; SELECT ${s}.ensure_partitions(${days}::date[]);
      INSERT INTO ${s}.ingest_batches (batch_id, rows) VALUES (${pg.escapeLiteral(part.id)}, ${part.rows}) ON CONFLICT (batch_id) DO NOTHING`;
    // Ids resolved for another database than the one the transaction sees (first write, schema
    // or database recreated): forget them all and resolve again, before any row is written.
    for (let attempt = 1; ; attempt++) {
      const packed = await this.#ids.pack(client, wide);
      try {
        const results = (await client.query(prelude)) as unknown as pg.QueryResult[];
        const generation = String(results.find((r) => r.command === 'SELECT' && r.fields[0]?.name === 'generation')?.rows[0]?.generation);
        if (generation !== packed.generation) {
          await client.query('ROLLBACK');
          this.#ids.reset(generation);
          if (attempt < 5) continue;
          throw new Error(`${this.#schema}.endpoints changed under every one of ${attempt} attempts to write a batch`);
        }
        if (results.at(-1)?.rowCount === 0) {
          // Committed by an attempt whose COMMIT reply was lost: already stored.
          await client.query('ROLLBACK');
          return;
        }
        const copy = client.query(copyFrom(this.#copySql));
        await pipeline(Readable.from([packed.text]), copy);
        if (copy.rowCount !== packed.parts) throw new Error(`${packed.parts} parts of ${part.rows} rows sent but ${copy.rowCount} stored in ${this.#schema}.flow_batches`);
        await client.query('COMMIT');
        return;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    }
  }
}

function remove<T>(list: T[], item: T): void {
  const at = list.indexOf(item);
  if (at >= 0) list.splice(at, 1);
}
