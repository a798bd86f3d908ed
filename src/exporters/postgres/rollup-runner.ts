// The rollup job and tier retention, run by exactly one process per database.
//
// Every postgres exporter with rollup.enabled tries, every rollup.interval, to take a session
// advisory lock keyed by the schema, on a connection of its own that it keeps only while it
// holds the lock (so 100 nodes do not hold 100 idle connections for it). The one that holds it
// rolls raw rows into the tiers (one transaction per step: rollup-sql.ts) and, every hour, drops
// expired partitions. When it dies its connection closes, PostgreSQL releases the lock, and the
// next exporter to try takes over. The lock only saves work: two steps at once would still be
// exact, because a step locks the watermark row before it reads it.
import pg from 'pg';
import type { Logger } from 'pino';
import { RateLimitedLog } from '../../telemetry/rate-limited-log.ts';
import { migrate } from './migrations.ts';
import { rollupStep, TIERS, type TierName } from './rollup-sql.ts';

const RETENTION_INTERVAL_MS = 3_600_000;

/**
 * Retention in ms by retention key; 0 keeps everything. `raw` is the exporter's `retention` key,
 * the others `rollup.retention`'s (the six-hour tier is aged by `hour`).
 */
export type TierRetention = Record<'raw' | (typeof TIERS)[number]['retention'], number>;

export interface RollupResult {
  /** Raw rows rolled up by this step. */
  rows: number;
  /** The watermark after the step: every raw row written by a lower transaction id is in the tiers. */
  rolledXid: bigint;
}

/** One rollup step in its own transaction on `client` (schema: the unquoted name). */
export async function rollUp(client: pg.ClientBase, schema: string): Promise<RollupResult> {
  const step = rollupStep(pg.escapeIdentifier(schema));
  await client.query('BEGIN');
  try {
    const { rows } = await client.query<{ rolled_xid: string; upto: string }>(step.begin);
    const rolled = BigInt(rows[0]!.rolled_xid);
    const upto = BigInt(rows[0]!.upto);
    if (upto === rolled) {
      await client.query('COMMIT');
      return { rows: 0, rolledXid: rolled };
    }
    for (const statement of step.body(rolled, upto)) await client.query(statement);
    const { rows: rolledRows } = await client.query<{ n: string }>('SELECT coalesce(sum(flows), 0)::text AS n FROM rollup_keyed');
    await client.query('COMMIT');
    return { rows: Number(rolledRows[0]!.n), rolledXid: upto };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * Rolls up until every transaction that had started when called is in the tiers, or until
 * `maxWaitMs` has passed (a transaction open elsewhere on the server holds the watermark back;
 * its rows are then rolled up later). Returns the raw rows rolled.
 */
export async function rollUpPending(client: pg.ClientBase, schema: string, maxWaitMs = 10_000): Promise<number> {
  const { rows } = await client.query<{ xmax: string }>('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xmax');
  const target = BigInt(rows[0]!.xmax);
  const deadline = Date.now() + maxWaitMs;
  let rolled = 0;
  for (;;) {
    const step = await rollUp(client, schema);
    rolled += step.rows;
    if (step.rolledXid >= target || Date.now() >= deadline) return rolled;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Drops what retention says is expired at `nowMs`: raw day partitions (once rolled up) and tier partitions. */
export async function dropExpired(client: pg.ClientBase, schema: string, retention: TierRetention, nowMs: number): Promise<Record<'raw' | TierName, string[]>> {
  const s = pg.escapeIdentifier(schema);
  const dropped: Record<'raw' | TierName, string[]> = { raw: [], minute: [], hour: [], six_hour: [], day: [] };
  if (retention.raw > 0) {
    const { rows } = await client.query<{ name: string }>(`SELECT ${s}.drop_raw_partitions_before($1) AS name`, [new Date(nowMs - retention.raw)]);
    dropped.raw = rows.map((r) => r.name);
  }
  for (const tier of TIERS) {
    if (retention[tier.retention] === 0) continue;
    const { rows } = await client.query<{ name: string }>(`SELECT ${s}.drop_tier_partitions_before($1, $2) AS name`, [tier.name, new Date(nowMs - retention[tier.retention])]);
    dropped[tier.name] = rows.map((r) => r.name);
  }
  return dropped;
}

/** The application_name of the rollup connection (the writers' is `podflow`). */
export const ROLLUP_APPLICATION_NAME = 'podflow-rollup';

export interface RollupRunnerOptions {
  id: string;
  schema: string;
  clientConfig: pg.ClientConfig;
  intervalMs: number;
  retention: TierRetention;
  logger: Logger;
  /** Called after each step and each retention run (metrics, logs). */
  onRollup?: (result: RollupResult) => void;
  onRetention?: (dropped: Record<'raw' | TierName, string[]>) => void;
  onLeader?: (leader: boolean) => void;
}

export class RollupRunner {
  readonly #o: RollupRunnerOptions;
  readonly #errorLog: RateLimitedLog;
  #client: pg.Client | undefined;
  #leader = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #lastRetentionMs = -Infinity;
  /** Whether the schema was brought up to date (once, and again after a failure). */
  #migrated = false;

  constructor(options: RollupRunnerOptions) {
    this.#o = options;
    this.#errorLog = new RateLimitedLog((f, m) => options.logger.warn(f, m));
  }

  /** Whether this process holds the lock (runs the rollups) right now. */
  get leader(): boolean {
    return this.#leader;
  }

  start(): void {
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
    await this.#drop();
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#tick().finally(() => {
        this.#running = undefined;
        this.#schedule(this.#o.intervalMs);
      });
    }, delayMs);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    try {
      const client = this.#client ?? (await this.#connect());
      if (!this.#leader) {
        const { rows } = await client.query<{ locked: boolean }>(
          'SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS locked', ['podflow.rollup', this.#o.schema]);
        if (!rows[0]!.locked) {
          await this.#drop();
          return;
        }
        this.#setLeader(true);
        this.#o.logger.info({ exporter: this.#o.id, schema: this.#o.schema }, 'this process runs the PostgreSQL rollups');
      }
      if (this.#stopped) return;
      this.#o.onRollup?.(await rollUp(client, this.#o.schema));
      const nowMs = Date.now();
      if (nowMs - this.#lastRetentionMs >= RETENTION_INTERVAL_MS && !this.#stopped) {
        this.#o.onRetention?.(await dropExpired(client, this.#o.schema, this.#o.retention, nowMs));
        this.#lastRetentionMs = nowMs;
      }
    } catch (err) {
      this.#errorLog.emit({ exporter: this.#o.id, err: (err as Error).message }, 'rollup failed; trying again next interval');
      this.#migrated = false;
      await this.#drop();
    }
  }

  async #connect(): Promise<pg.Client> {
    const client = new pg.Client(this.#o.clientConfig);
    // A connection that breaks while idle; a late error of an old one must not drop its successor.
    client.on('error', () => {
      if (this.#client === client) void this.#drop();
    });
    try {
      await client.connect();
      if (!this.#migrated) await migrate(client, this.#o.schema);
      this.#migrated = true;
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    this.#client = client;
    return client;
  }

  /** Closes the connection, which releases the lock if this process held it. */
  async #drop(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    this.#setLeader(false);
    await client?.end().catch(() => undefined);
  }

  #setLeader(leader: boolean): void {
    if (this.#leader === leader) return;
    this.#leader = leader;
    this.#o.onLeader?.(leader);
  }
}
