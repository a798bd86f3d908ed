// Narrow raw rows (migration 6): a raw flow row names its two ends by endpoint id (the
// `endpoints` table of migration 4) and its node, transport, destination service and cost class
// by a code (`codes`), instead of repeating some twenty text columns per row. The wide form is
// still one query away: the view `flow_details` has every column the table had before, with the
// same names, types and order (plus the two endpoint ids).
//
// How rows get their ids: the exporter resolves them itself, with a cache (endpoint-ids.ts), and
// COPYs narrow rows. The set-based statements here (narrowStatements: stage wide rows, add the
// codes and endpoints not seen before, insert the rows joined to their ids, all on the server)
// move migration 6's version-5 rows, and serve as the benchmarks' server-side reference.
//
// Endpoint keys are the record text of the end's attributes (rollup-sql.ts endpointKeySql), the
// same expression the rollup of migrations 4 and 5 used, so endpoints it made are found again.
import { endpointKeySql } from './rollup-sql.ts';
import { packedInsertSql } from './flow-batches.ts';

/** The staging table's columns (the wide COPY columns, rows.ts COPY_COLUMNS) and their types. */
export const WIDE_COLUMNS: ReadonlyArray<readonly [name: string, type: string]> = [
  ['start_time', 'timestamptz'], ['end_time', 'timestamptz'], ['node', 'text'],
  ['src_address', 'inet'], ['src_port', 'integer'], ['dst_address', 'inet'], ['dst_port', 'integer'], ['transport', 'text'],
  ['src_namespace', 'text'], ['src_pod', 'text'], ['src_workload', 'text'], ['src_workload_kind', 'text'],
  ['src_node', 'text'], ['src_zone', 'text'], ['src_address_type', 'text'],
  ['dst_namespace', 'text'], ['dst_pod', 'text'], ['dst_workload', 'text'], ['dst_workload_kind', 'text'],
  ['dst_node', 'text'], ['dst_zone', 'text'], ['dst_address_type', 'text'], ['dst_service', 'text'], ['dst_domain', 'text'],
  ['inter_zone', 'boolean'], ['cost_class', 'text'],
  ['tx_bytes', 'bigint'], ['rx_bytes', 'bigint'], ['tx_packets', 'bigint'], ['rx_packets', 'bigint'], ['connections', 'bigint'],
  ['cost_usd', 'numeric'], ['attributes', 'jsonb'],
];

/** The session's staging table (pg_temp: one per connection, emptied at every commit). */
export const STAGING_TABLE = 'pg_temp.flows_staging';

/** The distinct ends of what is staged, with their keys and endpoint ids (also per session). */
export const STAGING_ENDS_TABLE = 'pg_temp.flows_staging_ends';

export const CREATE_STAGING_SQL = `CREATE TEMP TABLE IF NOT EXISTS flows_staging (
  ${WIDE_COLUMNS.map(([c, t]) => `${c} ${t}`).join(', ')}) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS flows_staging_ends (key text, id integer, namespace text, workload_kind text, workload text,
  pod text, node text, zone text, address inet, domain text, address_class text) ON COMMIT DELETE ROWS`;

/** The attributes of an endpoint, in key order (the `endpoints` columns). */
export const ENDPOINT_COLUMNS = ['namespace', 'workload_kind', 'workload', 'pod', 'node', 'zone', 'address', 'domain', 'address_class'] as const;

/** One end's attributes as wide columns of `alias`, in ENDPOINT_COLUMNS order (a source has no domain). */
export function wideEnd(end: 'src' | 'dst', alias = ''): string[] {
  const p = alias === '' ? '' : `${alias}.`;
  return [`${p}${end}_namespace`, `${p}${end}_workload_kind`, `${p}${end}_workload`, `${p}${end}_pod`, `${p}${end}_node`,
    `${p}${end}_zone`, `${p}${end}_address`, end === 'dst' ? `${p}dst_domain` : 'NULL::text', `${p}${end}_address_type`];
}

/**
 * A row's end (wide columns of `f`) is the end `e` of the staged ends: every attribute equal or
 * both NULL. Spelled as equalities of coalesced values plus equal NULL flags, because `IS NOT
 * DISTINCT FROM` cannot be hashed; this can, so the rows meet their ends in one hash join.
 */
function sameEnd(end: 'src' | 'dst', e: string): string {
  return wideEnd(end, 'f').map((wide, i) => {
    const column = `${e}.${ENDPOINT_COLUMNS[i]}`;
    if (wide === 'NULL::text') return `${column} IS NULL`;
    const none = ENDPOINT_COLUMNS[i] === 'address' ? `'0.0.0.0/0'::inet` : `''`;
    return `coalesce(${wide}, ${none}) = coalesce(${column}, ${none}) AND (${wide} IS NULL) = (${column} IS NULL)`;
  }).join(' AND ');
}

/** The columns stored as a code, with the kind each has in `codes`. */
export const CODED_COLUMNS: ReadonlyArray<readonly [wide: string, narrow: string]> = [
  ['node', 'node_code'], ['transport', 'transport_code'], ['dst_service', 'dst_service_code'], ['cost_class', 'cost_class_code'],
];

/** Columns the narrow table keeps as they are. */
const KEPT_COLUMNS = ['start_time', 'end_time', 'src_port', 'dst_port', 'inter_zone',
  'tx_bytes', 'rx_bytes', 'tx_packets', 'rx_packets', 'connections', 'cost_usd'] as const;

/**
 * The statements that move the wide rows of `source` (a staging table, or migration 6's old
 * table) into the narrow `flows` of `schema` (a quoted identifier), inside the caller's
 * transaction. `keepXid`: the rows carry their ingest_xid (migration 6); otherwise the column
 * default stamps the inserting transaction. The last statement's row count is the rows stored.
 * `packed` (since migration 7): the rows go into parts of `flow_batches` (flow-batches.ts), and
 * the last statement's row count is the parts stored.
 *
 * The record-text key is computed once per distinct end, never per row: the ends are collected
 * (hashed by their attributes) into the session's ends table, given their ids, and the rows are
 * joined to them by attributes. Needs the session's staging tables (CREATE_STAGING_SQL).
 *
 * Concurrent writers: new codes and endpoints are inserted in key order with ON CONFLICT DO
 * NOTHING, so two batches adding the same ones wait for each other instead of deadlocking, and
 * the statements after (new snapshots) see the ids either of them added.
 */
export function narrowStatements(schema: string, source: string, keepXid = false, packed = false): string[] {
  const s = schema;
  const codes = CODED_COLUMNS.map(([wide]) => `SELECT '${wide}' AS kind, ${wide} AS value FROM ${source} WHERE ${wide} IS NOT NULL`).join(' UNION ');
  const columns = `${keepXid ? 'ingest_xid, ' : ''}src_endpoint, dst_endpoint, ${CODED_COLUMNS.map(([, n]) => n).join(', ')}, ${KEPT_COLUMNS.join(', ')}, attributes`;
  // Version 6 inserts rows into the table `flows`; since version 7 they are packed into parts.
  const insertRows = (select: string) => (packed
    ? packedInsertSql(s, `SELECT * FROM (${select}) r0(${columns})`, keepXid)
    : `INSERT INTO ${s}.flows (${columns})\n     ${select}`);
  const endAs = (end: 'src' | 'dst') => wideEnd(end).map((c, i) => `${c} AS ${ENDPOINT_COLUMNS[i]}`).join(', ');
  return [
    `INSERT INTO ${s}.codes (kind, value)
     SELECT n.kind, n.value FROM (${codes}) n
     WHERE NOT EXISTS (SELECT 1 FROM ${s}.codes c WHERE c.kind = n.kind AND c.value = n.value)
     ORDER BY 1, 2
     ON CONFLICT (kind, value) DO NOTHING`,
    `INSERT INTO ${STAGING_ENDS_TABLE} (key, ${ENDPOINT_COLUMNS.join(', ')})
     SELECT ${endpointKeySql(ENDPOINT_COLUMNS)}, e.*
     FROM (SELECT ${endAs('src')} FROM ${source} UNION SELECT ${endAs('dst')} FROM ${source}) e`,
    newEndpointsSql(s, STAGING_ENDS_TABLE),
    `UPDATE ${STAGING_ENDS_TABLE} n SET id = e.id FROM ${s}.endpoints e WHERE e.key = n.key`,
    // The session tables have no statistics: left to itself the planner guesses them tiny and
    // joins the rows to their ends in a nested loop (rows × ends comparisons). Hashing is
    // right at every size here. SET LOCAL: until the end of the transaction only.
    `SET LOCAL enable_nestloop = off; SET LOCAL enable_mergejoin = off`,
    insertRows(`SELECT ${keepXid ? 'f.ingest_xid, ' : ''}se.id, de.id, ${CODED_COLUMNS.map(([w]) => `${w}_c.code`).join(', ')}, ${KEPT_COLUMNS.map((c) => `f.${c}`).join(', ')},
            nullif(f.attributes, '{}'::jsonb)
     FROM ${source} f
     JOIN ${STAGING_ENDS_TABLE} se ON ${sameEnd('src', 'se')}
     JOIN ${STAGING_ENDS_TABLE} de ON ${sameEnd('dst', 'de')}
     ${CODED_COLUMNS.map(([w]) => `LEFT JOIN ${s}.codes ${w}_c ON ${w}_c.kind = '${w}' AND ${w}_c.value = f.${w}`).join('\n     ')}`),
  ];
}

/**
 * Adds the endpoints of `source` (a relation or parenthesised query with `key` and the
 * ENDPOINT_COLUMNS, keys distinct) that `schema` does not have yet, in key order, each with its
 * graph node at every grouping level (endpoint_groups) as it is first seen.
 */
export function newEndpointsSql(schema: string, source: string): string {
  const s = schema;
  return `WITH new AS (
       INSERT INTO ${s}.endpoints (key, ${ENDPOINT_COLUMNS.join(', ')})
       SELECT key, ${ENDPOINT_COLUMNS.join(', ')} FROM ${source} n
       WHERE NOT EXISTS (SELECT 1 FROM ${s}.endpoints x WHERE x.key = n.key)
       ORDER BY key
       ON CONFLICT (key) DO NOTHING
       RETURNING *)
     INSERT INTO ${s}.endpoint_groups (endpoint, group_by, id, title, subtitle, type, kind, namespace, node, zone, end_namespace)
     SELECT n.id, l.group_by, g.*, n.namespace
     FROM new n CROSS JOIN (VALUES ('workload'), ('namespace'), ('node'), ('zone')) l(group_by)
     CROSS JOIN LATERAL ${s}.graph_group(n.namespace, n.workload_kind, n.workload, n.pod, n.node, n.zone, n.address_class, n.domain, n.address, l.group_by) g`;
}

/** The wide columns as `flow_details` gives them, in the old table's order (migrations 1, 4, 5). */
const DETAIL_COLUMNS: ReadonlyArray<readonly [name: string, expression: string]> = [
  ['start_time', 'f.start_time'], ['end_time', 'f.end_time'], ['node', 'node_c.value'],
  ['src_address', 's.address'], ['src_port', 'f.src_port'], ['dst_address', 'd.address'], ['dst_port', 'f.dst_port'],
  ['transport', 'transport_c.value'],
  ...(['src', 'dst'] as const).flatMap((e) => {
    const x = e === 'src' ? 's' : 'd';
    return [[`${e}_namespace`, `${x}.namespace`], [`${e}_pod`, `${x}.pod`], [`${e}_workload`, `${x}.workload`],
      [`${e}_workload_kind`, `${x}.workload_kind`], [`${e}_node`, `${x}.node`], [`${e}_zone`, `${x}.zone`],
      [`${e}_address_type`, `${x}.address_class`]] as const;
  }),
  ['dst_service', 'dst_service_c.value'], ['dst_domain', 'd.domain'], ['inter_zone', 'f.inter_zone'],
  ['tx_bytes', 'f.tx_bytes'], ['rx_bytes', 'f.rx_bytes'], ['tx_packets', 'f.tx_packets'], ['rx_packets', 'f.rx_packets'],
  ['connections', 'f.connections'], ['attributes', `coalesce(f.attributes, '{}'::jsonb)`], ['ingest_xid', 'f.ingest_xid'],
  ['cost_class', 'cost_class_c.value'], ['cost_usd', 'f.cost_usd'],
  ['src_endpoint', 'f.src_endpoint'], ['dst_endpoint', 'f.dst_endpoint'],
];

/** The view flow_details (migration 6, again over the view `flows` in migration 7). */
export const FLOW_DETAILS_SQL = `-- The raw rows with every column spelled out, as the flows table had them up to version 5.
CREATE VIEW :schema.flow_details AS
SELECT ${DETAIL_COLUMNS.map(([n, e]) => `${e} AS ${n}`).join(',\n       ')}
FROM :schema.flows f
JOIN :schema.endpoints s ON s.id = f.src_endpoint
JOIN :schema.endpoints d ON d.id = f.dst_endpoint
${CODED_COLUMNS.map(([w, n]) => `LEFT JOIN :schema.codes ${w}_c ON ${w}_c.code = f.${n}`).join('\n')};`;

/**
 * Renames the partitioned `flows` away as `flows_<version>` with its partitions
 * (flows_<version>_pYYYYMMDD) and BRIN indexes, so a new `flows` can take the names
 * (migration 6: the version-5 table; migration 7: the version-6 one).
 */
export function renameFlowsAwaySql(version: 'v5' | 'v6'): string {
  return `DO $do$
DECLARE
  part text;
BEGIN
  FOR part IN
    SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = to_regclass(format('%I.flows', :schema_literal))
  LOOP
    EXECUTE format('ALTER TABLE %I.%I RENAME TO %I', :schema_literal, part, 'flows_${version}_' || substr(part, 7));
  END LOOP;
END
$do$;
ALTER TABLE :schema.flows RENAME TO flows_${version};
ALTER INDEX :schema.flows_start_time_brin RENAME TO flows_${version}_start_time_brin;
ALTER INDEX :schema.flows_ingest_xid_brin RENAME TO flows_${version}_ingest_xid_brin;
`;
}

/**
 * Migration 6. The version-5 table is renamed away (with its partitions and indexes), the narrow
 * table takes its name, partitions (flows_pYYYYMMDD) and indexes; `narrowMigrationAfter` moves
 * the rows and drops the old table. Column order puts the 8-byte columns first (no padding).
 */
export const NARROW_SQL = `
${renameFlowsAwaySql('v5')}
-- Small dictionary of repeated names: (kind, value) -> code. kind: ${CODED_COLUMNS.map(([w]) => w).join(', ')}.
CREATE TABLE :schema.codes (
  code  integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  kind  text NOT NULL,
  value text NOT NULL,
  UNIQUE (kind, value)
);

CREATE TABLE :schema.flows (
  start_time       timestamptz NOT NULL,
  end_time         timestamptz NOT NULL,
  ingest_xid       bigint DEFAULT pg_current_xact_id()::text::bigint,
  tx_bytes         bigint NOT NULL,
  rx_bytes         bigint NOT NULL,
  tx_packets       bigint NOT NULL,
  rx_packets       bigint NOT NULL,
  connections      bigint NOT NULL,
  src_endpoint     integer NOT NULL,
  dst_endpoint     integer NOT NULL,
  node_code        integer,
  transport_code   integer,
  dst_service_code integer,
  cost_class_code  integer,
  src_port         integer,
  dst_port         integer,
  inter_zone       boolean,
  cost_usd         numeric,
  -- NULL when the flow had no attribute beyond the columns (flow_details shows '{}').
  attributes       jsonb
) PARTITION BY RANGE (start_time);
CREATE INDEX flows_start_time_brin ON :schema.flows USING brin (start_time) WITH (autosummarize = on);
CREATE INDEX flows_ingest_xid_brin ON :schema.flows USING brin (ingest_xid) WITH (autosummarize = on);

${FLOW_DETAILS_SQL}
`;
