// The schema podflow owns in PostgreSQL, as numbered migrations recorded in
// `<schema>.schema_migrations`. Migrations are frozen once released: a change is a new entry.
//
// Concurrency: every replica runs `migrate` at start. The whole run happens in one transaction
// that first takes a transaction-scoped advisory lock keyed by the schema name, so two replicas
// starting at once apply each migration exactly once (the second waits, then finds nothing to do).
import pg from 'pg';
import { NODE_GRAPH_FAST_SQL, NODE_GRAPH_NARROW_SQL, NODE_GRAPH_SQL, NODE_GRAPH_TIERS_SQL, PREFIX_TITLES_SQL } from './node-graph.ts';
import { COST_SQL, MINUTE_PARTS_SQL, ROLLUP_SQL, SIX_HOUR_TIER_SQL, TIER_SHAPE_V4, wideRollupStatements } from './rollup-sql.ts';
import { CREATE_STAGING_SQL, FLOW_DETAILS_SQL, NARROW_SQL, narrowStatements } from './narrow-rows.ts';
import { packedInsertSql, packedMigrationSql } from './flow-batches.ts';
import { dropPartitionsBeforeSql, ensurePartitionsSql } from './partition-sql.ts';

export interface Migration {
  version: number;
  name: string;
  /** SQL with `:schema` (a quoted identifier) and `:schema_literal` (a quoted string literal). */
  sql: string;
  /** Runs after `sql`, in the same transaction (schema: the quoted identifier). */
  after?: (client: pg.ClientBase, schema: string) => Promise<void>;
}

const FLOWS_SQL = `
CREATE TABLE :schema.flows (
  start_time        timestamptz NOT NULL,
  end_time          timestamptz NOT NULL,
  node              text,
  src_address       inet,
  src_port          integer,
  dst_address       inet,
  dst_port          integer,
  transport         text,
  src_namespace     text,
  src_pod           text,
  src_workload      text,
  src_workload_kind text,
  src_node          text,
  src_zone          text,
  src_address_type  text,
  dst_namespace     text,
  dst_pod           text,
  dst_workload      text,
  dst_workload_kind text,
  dst_node          text,
  dst_zone          text,
  dst_address_type  text,
  dst_service       text,
  dst_domain        text,
  inter_zone        boolean,
  tx_bytes          bigint NOT NULL,
  rx_bytes          bigint NOT NULL,
  tx_packets        bigint NOT NULL,
  rx_packets        bigint NOT NULL,
  connections       bigint NOT NULL,
  attributes        jsonb NOT NULL DEFAULT '{}'
) PARTITION BY RANGE (start_time);

-- BRIN: rows arrive in time order, so a tiny index prunes time ranges inside a day.
CREATE INDEX flows_start_time_brin ON :schema.flows USING brin (start_time);

-- One row per committed COPY: a batch retried after an ambiguous failure (the connection died
-- around COMMIT) is recognised and not written twice.
CREATE TABLE :schema.ingest_batches (
  batch_id     uuid PRIMARY KEY,
  rows         integer NOT NULL,
  committed_at timestamptz NOT NULL DEFAULT now()
);

${ensurePartitionsSql('flows')}
${dropPartitionsBeforeSql('flows')}`;

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'flows table, daily partitions, retention', sql: FLOWS_SQL },
  { version: 2, name: 'node graph functions', sql: NODE_GRAPH_SQL },
  { version: 3, name: 'node graph: an address prefix is titled as a prefix', sql: PREFIX_TITLES_SQL },
  {
    version: 4,
    name: 'rollup tiers, endpoints, tier retention, node graph from the tiers',
    sql: ROLLUP_SQL + NODE_GRAPH_TIERS_SQL,
    // The rows already stored (no ingest_xid) are rolled up once, here; the rollup job takes
    // every row written after (rollup_state starts at transaction id 0).
    after: async (client, schema) => {
      for (const statement of wideRollupStatements(schema, 'ingest_xid IS NULL', TIER_SHAPE_V4)) await client.query(statement);
    },
  },
  { version: 5, name: 'netcost: cost_class and cost_usd on raw rows and in the tiers', sql: COST_SQL },
  {
    version: 6,
    name: 'narrow raw rows: endpoint ids and codes, the wide view flow_details',
    sql: NARROW_SQL + NODE_GRAPH_NARROW_SQL,
    // The version-5 rows move into the narrow table as they are (ingest_xid kept, so what was
    // rolled up stays rolled up and what was not is rolled up next), then the old table goes.
    after: async (client, schema) => {
      await client.query(`SELECT ${schema}.ensure_partitions(ARRAY(
        SELECT to_date(right(c.relname, 8), 'YYYYMMDD') FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = '${schema}.flows_v5'::regclass))`);
      await client.query(CREATE_STAGING_SQL);
      for (const statement of narrowStatements(schema, `${schema}.flows_v5`, true)) await client.query(statement);
      await client.query(`DROP TABLE ${schema}.flows_v5`);
    },
  },
  {
    version: 7,
    name: 'packed raw flows: one row of flow_batches per batch part, flows a view over it',
    sql: packedMigrationSql(FLOW_DETAILS_SQL),
    // The version-6 rows move into parts (rows of one start, end, node and transaction each),
    // ingest_xid kept: what was rolled up stays rolled up. Then the old table goes.
    after: async (client, schema) => {
      await client.query(`SELECT ${schema}.ensure_partitions(ARRAY(
        SELECT to_date(right(c.relname, 8), 'YYYYMMDD') FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = '${schema}.flows_v6'::regclass))`);
      await client.query(packedInsertSql(schema, `SELECT * FROM ${schema}.flows_v6`, true));
      await client.query(`DROP TABLE ${schema}.flows_v6`);
    },
  },
  { version: 8, name: 'six-hour tier; node graph: bigint sums, no JIT, six-hour buckets in the cover', sql: SIX_HOUR_TIER_SQL + NODE_GRAPH_FAST_SQL },
  { version: 9, name: 'packed minute tier: one row of flows_minute_parts per step and minute, flows_minute a view over it', sql: MINUTE_PARTS_SQL },
];

export function renderMigration(sql: string, schema: string): string {
  return sql.replaceAll(':schema_literal', pg.escapeLiteral(schema)).replaceAll(':schema', pg.escapeIdentifier(schema));
}

export interface MigrationResult {
  applied: number[];
  /** Versions in the database this podflow does not know (a newer podflow migrated it). */
  unknown: number[];
}

/** Brings `schema` up to the newest migration; safe to run concurrently from many processes. */
export async function migrate(client: pg.ClientBase, schema: string, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationResult> {
  const s = pg.escapeIdentifier(schema);
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', ['podflow.migrate', schema]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set((await client.query<{ version: number }>(`SELECT version FROM ${s}.schema_migrations`)).rows.map((r) => r.version));
    const applied: number[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      try {
        await client.query(renderMigration(m.sql, schema));
        await m.after?.(client, s);
      } catch (err) {
        throw new Error(`migration ${m.version} (${m.name}) of schema ${schema} failed: ${(err as Error).message}`, { cause: err });
      }
      await client.query(`INSERT INTO ${s}.schema_migrations (version, name) VALUES ($1, $2)`, [m.version, m.name]);
      applied.push(m.version);
    }
    await client.query('COMMIT');
    const known = new Set(migrations.map((m) => m.version));
    return { applied, unknown: [...done].filter((v) => !known.has(v)).sort((a, b) => a - b) };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
