// The rollup tiers: what they sum, how one rollup step moves raw rows into them, and the schema
// (migration 4) that holds them. The tier design is described in README.md ("Rollup tiers").
//
// Exactness rests on one fact: every raw row carries the id of the transaction that wrote it
// (`ingest_xid`, a column default), and a transaction id below the oldest one still running
// (pg_snapshot_xmin) belongs to a transaction that has finished: committed and visible, or
// aborted for good. A rollup step therefore takes the raw rows with ingest_xid in
// [rolled_xid, xmin), adds them to every tier, and moves rolled_xid to xmin, all in one
// transaction. Killed anywhere before COMMIT it leaves nothing behind; committed, no row can
// still appear below the new watermark. Clocks play no part: a row stamped hours in the past
// (a clock that went backwards) is added to its own, older, buckets when its transaction is rolled.
import { dropPartitionsBeforeSql } from './partition-sql.ts';

/** The integer measures of migration 4: summed as bigint, never NULL. */
const COUNTER_MEASURES = ['tx_bytes', 'rx_bytes', 'tx_packets', 'rx_packets', 'connections'] as const;

/**
 * The summed columns, as named in `flows` and in every tier: the counters, and (migration 5) the
 * netcost processor's `cost_usd`, a numeric that is NULL for flows nothing priced and stays NULL
 * in a tier row until one of its flows had a cost. The rollup statements and the upserts are
 * generated from this list.
 */
export const MEASURES = [...COUNTER_MEASURES, 'cost_usd'] as const;
type Measure = (typeof MEASURES)[number];

/** What a tier row sums and is keyed by; migrations freeze theirs (migration 4 rolls up with its own). */
export interface TierShape {
  measures: readonly Measure[];
  /** Row columns beyond the endpoints that key a tier row. */
  key: readonly string[];
}

/** The tiers as migration 4 made them (its rollup of the rows already stored uses this). */
export const TIER_SHAPE_V4: TierShape = { measures: COUNTER_MEASURES, key: ['inter_zone', 'transport', 'dst_port'] };
/** The tiers since migration 5: the cost, and its class in the key. */
export const TIER_SHAPE: TierShape = { measures: MEASURES, key: ['inter_zone', 'transport', 'dst_port', 'cost_class'] };

/** `sum(m)` typed as the tier column. */
function sumOf(m: Measure): string {
  return m === 'cost_usd' ? `sum(${m})` : `sum(${m})::bigint`;
}

/** A tier column plus the same column of an upsert's new row; a NULL cost stays NULL only when both are. */
function addUpOf(m: Measure): string {
  return m === 'cost_usd'
    ? `${m} = CASE WHEN t.${m} IS NULL AND excluded.${m} IS NULL THEN NULL ELSE coalesce(t.${m}, 0) + coalesce(excluded.${m}, 0) END`
    : `${m} = t.${m} + excluded.${m}`;
}

/** A rollup tier: its table, its bucket width, the width of its partitions, the retention key that ages it. */
interface Tier {
  readonly name: string;
  readonly table: string;
  /** The bucket width as an interval literal. */
  readonly width: string;
  readonly partitionUnit: 'day' | 'month' | 'year';
  readonly retention: 'minute' | 'hour' | 'day';
  /** Migration 9: the tier is a view over packed parts (`<table>_parts`); a step appends a part per bucket. */
  readonly packed?: boolean;
}

/** Buckets of every width start at multiples of it from this UTC midnight (date_bin's origin). */
export const BUCKET_ORIGIN = '2000-01-01 00:00:00+00';

/** The tiers of migrations 4 to 7 (their rollups and schema statements are frozen with them). */
export const TIERS_V4 = [
  { name: 'minute', table: 'flows_minute', width: '1 minute', partitionUnit: 'day', retention: 'minute' },
  { name: 'hour', table: 'flows_hour', width: '1 hour', partitionUnit: 'month', retention: 'hour' },
  { name: 'day', table: 'flows_day', width: '1 day', partitionUnit: 'year', retention: 'day' },
] as const satisfies readonly Tier[];

/**
 * The tiers since migration 8: a six-hour tier between hour and day (partitioned by month, aged
 * by the hour tier's retention), so a window's ragged end reads at most ~3 hour buckets and one
 * six-hour bucket instead of up to 12 hour buckets (see node-graph.ts, graph_cover). Narrowest first.
 */
const SIX_HOUR = { name: 'six_hour', table: 'flows_six_hour', width: '6 hours', partitionUnit: 'month', retention: 'hour' } as const satisfies Tier;
/** The tiers of migration 8 (narrowest first). */
export const TIERS_V8 = [TIERS_V4[0], TIERS_V4[1], SIX_HOUR, TIERS_V4[2]] as const satisfies readonly Tier[];
/**
 * The tiers since migration 9: the minute tier packed (MINUTE_PARTS_SQL), read as the view
 * `flows_minute` with the columns it had.
 */
const PACKED_MINUTE = { ...TIERS_V4[0], packed: true } as const satisfies Tier;
export const TIERS = [PACKED_MINUTE, TIERS_V4[1], SIX_HOUR, TIERS_V4[2]] as const satisfies readonly Tier[];

/** The start of the tier bucket that holds instant `ts` (an SQL expression): date_trunc(unit, ts, 'UTC') for a minute, hour or day. */
export function tierBucketSql(tier: Tier, ts: string): string {
  return `date_bin('${tier.width}', ${ts}, '${BUCKET_ORIGIN}')`;
}

export type TierName = (typeof TIERS)[number]['name'];

/** The columns that name a tier row besides its bucket (the unique key is bucket + these). */
function tierKey(shape: TierShape): string[] {
  return ['src_endpoint', 'dst_endpoint', ...shape.key];
}

/** The endpoint attributes of one end, as `flows` columns (the destination also has a domain). */
function endColumns(end: 'src' | 'dst'): string[] {
  return [`${end}_namespace`, `${end}_workload_kind`, `${end}_workload`, `${end}_pod`, `${end}_node`, `${end}_zone`,
    `${end}_address`, end === 'dst' ? 'dst_domain' : 'NULL::text', `${end}_address_type`];
}

/**
 * The endpoint key: the attributes' record text, which quotes and escapes each value and writes
 * NULL as nothing and '' as "", so two different endpoints never share a key.
 */
export function endpointKeySql(columns: readonly string[]): string {
  return `ROW(${columns.join(', ')})::text`;
}

/**
 * The statements of one rollup of the wide raw rows (versions 4 and 5 of `flows`) matching
 * `where`, in order, inside a transaction the caller opened: aggregate the rows by minute and
 * endpoint attributes, add endpoints not seen before, create missing tier partitions, add the
 * sums to each tier and widen each bucket's known time extent. Frozen: migration 4 rolls up the
 * rows already stored with it; since migration 6 the rollup reads narrow rows (rollupStatements).
 */
export function wideRollupStatements(schema: string, where: string, shape: TierShape = TIER_SHAPE): string[] {
  const s = schema;
  const src = endColumns('src');
  const dst = endColumns('dst');
  const measures = shape.measures;
  const sums = measures.map((m) => `${sumOf(m)} AS ${m}`).join(', ');
  const groupColumns = 1 + src.length + dst.length + shape.key.length;
  const endNames = ['namespace', 'workload_kind', 'workload', 'pod', 'node', 'zone', 'address', 'domain', 'address_class'];
  const srcAs = src.map((c, i) => `${c} AS s_${endNames[i]}`);
  const dstAs = dst.map((c, i) => `${c} AS d_${endNames[i]}`);
  const statements = [
    // Sorting this many groups in the default 4MB spills to disk; hashing them in memory is several times faster.
    `SET LOCAL work_mem = '256MB'`,
    // Grouped by the attributes themselves (cheaper than computing a key per raw row); the keys
    // are computed once per group.
    `CREATE TEMP TABLE rollup_delta ON COMMIT DROP AS
     SELECT ${endpointKeySql(endNames.map((n) => `s_${n}`))} AS src_key, ${endpointKeySql(endNames.map((n) => `d_${n}`))} AS dst_key, g.*
     FROM (SELECT date_trunc('minute', start_time, 'UTC') AS bucket, ${srcAs.join(', ')}, ${dstAs.join(', ')},
                  ${shape.key.join(', ')},
                  min(start_time) AS first_start, max(start_time) AS last_start,
                  count(*)::bigint AS flows, ${sums}
           FROM ${s}.flows WHERE ${where}
           GROUP BY ${Array.from({ length: groupColumns }, (_, i) => i + 1).join(', ')}) g`,
    // Endpoints not seen before (one single runner at a time: the watermark row lock), with their
    // graph node at every grouping level (endpoint_groups, read by the graph functions).
    ...(['s', 'd'] as const).map((e) => `WITH new AS (
       INSERT INTO ${s}.endpoints (key, ${endNames.join(', ')})
       SELECT DISTINCT ON (${e === 's' ? 'src_key' : 'dst_key'}) ${e === 's' ? 'src_key' : 'dst_key'}, ${endNames.map((n) => `${e}_${n}`).join(', ')}
       FROM rollup_delta d
       WHERE NOT EXISTS (SELECT 1 FROM ${s}.endpoints x WHERE x.key = d.${e === 's' ? 'src_key' : 'dst_key'})
       ON CONFLICT (key) DO NOTHING
       RETURNING *)
     INSERT INTO ${s}.endpoint_groups (endpoint, group_by, id, title, subtitle, type, kind, namespace, node, zone, end_namespace)
     SELECT n.id, l.group_by, g.*, n.namespace
     FROM new n CROSS JOIN (VALUES ('workload'), ('namespace'), ('node'), ('zone')) l(group_by)
     CROSS JOIN LATERAL ${s}.graph_group(n.namespace, n.workload_kind, n.workload, n.pod, n.node, n.zone, n.address_class, n.domain, n.address, l.group_by) g`),
    `CREATE TEMP TABLE rollup_keyed ON COMMIT DROP AS
     SELECT d.bucket, se.id AS src_endpoint, de.id AS dst_endpoint, ${shape.key.map((c) => `d.${c}`).join(', ')},
            d.first_start, d.last_start, d.flows, ${measures.map((m) => `d.${m}`).join(', ')}
     FROM rollup_delta d JOIN ${s}.endpoints se ON se.key = d.src_key JOIN ${s}.endpoints de ON de.key = d.dst_key`,
    ...tierStatements(s, shape, TIERS_V4),
  ];
  return statements;
}

/** The tier statements shared by both rollups: from `rollup_keyed` (one row per minute bucket and tier key) on. */
function tierStatements(s: string, shape: TierShape, tiers: readonly Tier[]): string[] {
  const measures = shape.measures;
  const key = tierKey(shape);
  const resums = measures.map((m) => sumOf(m)).join(', ');
  const addUp = ['flows = t.flows + excluded.flows', ...measures.map(addUpOf)].join(', ');
  return [
    `CREATE TEMP TABLE rollup_minutes ON COMMIT DROP AS
     SELECT bucket, min(first_start) AS first_start, max(last_start) AS last_start FROM rollup_keyed GROUP BY bucket`,
    `SELECT ${s}.ensure_tier_partitions(t.tier, array_agg(DISTINCT date_trunc(t.unit, m.bucket, 'UTC')))
     FROM rollup_minutes m CROSS JOIN (VALUES ${tiers.map((t) => `('${t.name}', '${t.partitionUnit}')`).join(', ')}) t(tier, unit)
     GROUP BY t.tier`,
    ...tiers.flatMap((t) => t.packed ? packedTierStatements(s, t, shape) : [`INSERT INTO ${s}.${t.table} AS t (bucket, ${key.join(', ')}, flows, ${measures.join(', ')})
     SELECT ${tierBucketSql(t, 'bucket')}, ${key.join(', ')}, sum(flows)::bigint, ${resums}
     FROM rollup_keyed GROUP BY ${Array.from({ length: 1 + key.length }, (_, i) => i + 1).join(', ')}
     ON CONFLICT (bucket, ${key.join(', ')}) DO UPDATE SET ${addUp}`]),
    `INSERT INTO ${s}.rollup_buckets AS b (tier, bucket, first_start, last_start)
     SELECT tier, bucket, min(first_start), max(last_start)
     FROM (${tiers.map((t) => `SELECT '${t.name}' AS tier, ${tierBucketSql(t, 'k.bucket')} AS bucket, k.first_start, k.last_start FROM rollup_minutes k`).join(`
           UNION ALL `)}) k
     GROUP BY 1, 2
     ON CONFLICT (tier, bucket) DO UPDATE
       SET first_start = least(b.first_start, excluded.first_start), last_start = greatest(b.last_start, excluded.last_start)`,
  ];
}

/**
 * The statements of one rollup of the narrow raw rows (migration 6) matching `where`: rows name
 * their ends by endpoint id already (the writer added the endpoints), so they are summed by
 * minute, id pair and coded key columns, and the codes are read back once per group.
 * `tiers`: TIERS_V4 is the step of migrations 6 and 7 (no six-hour tier yet).
 */
export function rollupStatements(schema: string, where: string, tiers: readonly Tier[] = TIERS): string[] {
  const s = schema;
  const measures = TIER_SHAPE.measures;
  const sums = measures.map((m) => `${sumOf(m)} AS ${m}`).join(', ');
  return [
    `SET LOCAL work_mem = '256MB'`,
    `CREATE TEMP TABLE rollup_keyed ON COMMIT DROP AS
     SELECT g.bucket, g.src_endpoint, g.dst_endpoint, g.inter_zone, tc.value AS transport, g.dst_port, cc.value AS cost_class,
            g.first_start, g.last_start, g.flows, ${measures.map((m) => `g.${m}`).join(', ')}
     FROM (SELECT date_trunc('minute', start_time, 'UTC') AS bucket, src_endpoint, dst_endpoint, inter_zone, transport_code, dst_port, cost_class_code,
                  min(start_time) AS first_start, max(start_time) AS last_start, count(*)::bigint AS flows, ${sums}
           FROM ${s}.flows WHERE ${where}
           GROUP BY 1, 2, 3, 4, 5, 6, 7) g
     LEFT JOIN ${s}.codes tc ON tc.code = g.transport_code
     LEFT JOIN ${s}.codes cc ON cc.code = g.cost_class_code`,
    ...tierStatements(s, TIER_SHAPE, tiers),
  ];
}

/** The current transaction id / the oldest running one, as bigint (xid8 has no BRIN support). */
export const CURRENT_XID_SQL = 'pg_current_xact_id()::text::bigint';
export const SNAPSHOT_XMIN_SQL = 'pg_snapshot_xmin(pg_current_snapshot())::text::bigint';

/** A rollup step: statements and what each is for (the runner runs them in one transaction). */
export interface RollupStep {
  /** Locks the watermark row and reads [rolled_xid, upto): the rows this step rolls up. */
  begin: string;
  /** The statements that roll up [rolled, upto), then the watermark update. */
  body(rolled: bigint, upto: bigint): string[];
}

export function rollupStep(schema: string): RollupStep {
  const s = schema;
  // greatest(): a step that waited behind another for the row lock can find the watermark past
  // its own snapshot's xmin; it then has nothing to do.
  const begin = `SELECT rolled_xid::text AS rolled_xid, greatest(rolled_xid, ${SNAPSHOT_XMIN_SQL})::text AS upto
    FROM ${s}.rollup_state FOR UPDATE`;
  const body = (rolled: bigint, upto: bigint) => [
    ...rollupStatements(s, `ingest_xid >= ${rolled} AND ingest_xid < ${upto}`),
    `UPDATE ${s}.rollup_state SET rolled_xid = ${upto}, rolled_at = now(), rolled_rows = rolled_rows + (SELECT coalesce(sum(flows), 0) FROM rollup_keyed)`,
  ];
  return { begin, body };
}

export const ROLLUP_SQL = `
-- Which transaction wrote each raw row: the rollup watermark's unit (see rollup-sql.ts).
-- Rows written before this migration keep NULL here: the migration rolls them up itself.
ALTER TABLE :schema.flows ADD COLUMN ingest_xid bigint;
ALTER TABLE :schema.flows ALTER COLUMN ingest_xid SET DEFAULT ${CURRENT_XID_SQL};
-- autosummarize: a BRIN range is summarised as soon as it is full, not at the next VACUUM.
-- Unsummarised ranges match every query, so without it a read of the last minutes would scan
-- every page written since the partition's last vacuum. (Migration 1's index is rebuilt so.)
CREATE INDEX flows_ingest_xid_brin ON :schema.flows USING brin (ingest_xid) WITH (autosummarize = on);
DROP INDEX :schema.flows_start_time_brin;
CREATE INDEX flows_start_time_brin ON :schema.flows USING brin (start_time) WITH (autosummarize = on);

-- One row per distinct flow end. key: the attributes' record text (rollup-sql.ts endpointKeySql).
CREATE TABLE :schema.endpoints (
  id            integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  key           text NOT NULL UNIQUE,
  namespace     text,
  workload_kind text,
  workload      text,
  pod           text,
  node          text,
  zone          text,
  address       inet,
  domain        text,
  address_class text,
  first_seen    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE :schema.rollup_state (
  one         boolean PRIMARY KEY DEFAULT true CHECK (one),
  -- Every raw row with ingest_xid below this is in every tier; none at or above it is.
  rolled_xid  bigint NOT NULL,
  rolled_at   timestamptz,
  rolled_rows bigint NOT NULL DEFAULT 0
);
INSERT INTO :schema.rollup_state (rolled_xid) VALUES (0);

-- The time extent of the raw rows rolled into each tier bucket: a bucket the window cuts can
-- still be read whole when all its rows lie inside the window (the graph functions use it).
CREATE TABLE :schema.rollup_buckets (
  tier        text NOT NULL,
  bucket      timestamptz NOT NULL,
  first_start timestamptz NOT NULL,
  last_start  timestamptz NOT NULL,
  PRIMARY KEY (tier, bucket)
);

${TIERS_V4.map((t) => `CREATE TABLE :schema.${t.table} (
  bucket       timestamptz NOT NULL,
  src_endpoint integer NOT NULL,
  dst_endpoint integer NOT NULL,
  inter_zone   boolean,
  transport    text,
  dst_port     integer,
  flows        bigint NOT NULL,
  ${TIER_SHAPE_V4.measures.map((m) => `${m} bigint NOT NULL`).join(',\n  ')}
) PARTITION BY RANGE (bucket);
CREATE UNIQUE INDEX ${t.table}_key ON :schema.${t.table} (bucket, ${tierKey(TIER_SHAPE_V4).join(', ')}) NULLS NOT DISTINCT;
`).join('\n')}

-- The partition of a tier that holds bucket start: <table>_pYYYYMMDD, one per day (minute),
-- month (hour) or year (day).
CREATE FUNCTION :schema.tier_table(tier text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$ SELECT 'flows_' || tier $fn$;

CREATE FUNCTION :schema.tier_partition_unit(tier text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
  SELECT CASE tier ${TIERS_V4.map((t) => `WHEN '${t.name}' THEN '${t.partitionUnit}'`).join(' ')} END
$fn$;

-- Creates the partitions of a tier starting at the given (partition-aligned) instants when missing.
CREATE FUNCTION :schema.ensure_tier_partitions(tier text, starts timestamptz[]) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
  start timestamptz;
  part text;
  created integer := 0;
BEGIN
  FOREACH start IN ARRAY starts LOOP
    part := :schema_literal || '.' || :schema.tier_table(tier) || '_p' || to_char(start AT TIME ZONE 'UTC', 'YYYYMMDD');
    CONTINUE WHEN to_regclass(part) IS NOT NULL;
    PERFORM pg_advisory_xact_lock(hashtext('podflow.partitions'), hashtext(:schema_literal));
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I.%I PARTITION OF %I.%I FOR VALUES FROM (%L) TO (%L)',
      :schema_literal, :schema.tier_table(tier) || '_p' || to_char(start AT TIME ZONE 'UTC', 'YYYYMMDD'),
      :schema_literal, :schema.tier_table(tier),
      start, start + ('1 ' || :schema.tier_partition_unit(tier))::interval);
    created := created + 1;
  END LOOP;
  RETURN created;
END
$fn$;

-- Retention of a tier: drops every partition whose whole range ends at or before cutoff and
-- forgets those buckets' extents; returns the dropped tables' names.
CREATE FUNCTION :schema.drop_tier_partitions_before(tier text, cutoff timestamptz) RETURNS SETOF text
LANGUAGE plpgsql AS $fn$
DECLARE
  part text;
  part_end timestamptz;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('podflow.partitions'), hashtext(:schema_literal));
  FOR part, part_end IN
    SELECT c.relname::text,
           (to_date(right(c.relname, 8), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC') + ('1 ' || :schema.tier_partition_unit(tier))::interval
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = to_regclass(:schema_literal || '.' || :schema.tier_table(tier))
      AND c.relname ~ ('^' || :schema.tier_table(tier) || '_p[0-9]{8}$')
    ORDER BY c.relname
  LOOP
    CONTINUE WHEN part_end > cutoff;
    EXECUTE format('DROP TABLE %I.%I', :schema_literal, part);
    RETURN NEXT part;
  END LOOP;
  DELETE FROM :schema.rollup_buckets b
  WHERE b.tier = $1
    AND b.bucket < (SELECT coalesce(min(to_date(right(c.relname, 8), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC'), cutoff)
                    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                    WHERE i.inhparent = to_regclass(:schema_literal || '.' || :schema.tier_table($1)));
END
$fn$;

${dropPartitionsBeforeSql('flows', 'CREATE', true)}`;

/**
 * Migration 5 (issue 21): the netcost processor's class and cost on every raw row, and in every
 * tier the cost summed and the class in the key (the unique index is rebuilt with it). Rows and
 * tier rows already stored have no cost (NULL) and no class.
 */
export const COST_SQL = `
ALTER TABLE :schema.flows ADD COLUMN cost_class text, ADD COLUMN cost_usd numeric;
${TIERS_V4.map((t) => `ALTER TABLE :schema.${t.table} ADD COLUMN cost_class text, ADD COLUMN cost_usd numeric;
DROP INDEX :schema.${t.table}_key;
CREATE UNIQUE INDEX ${t.table}_key ON :schema.${t.table} (bucket, ${tierKey(TIER_SHAPE).join(', ')}) NULLS NOT DISTINCT;`).join('\n')}
`;

/**
 * Migration 8: the six-hour tier. Filled from the hour tier (the same raw rows, summed in
 * six-hour buckets, with their buckets' time extents), under the rollup's row lock so no step
 * runs meanwhile; every step after adds to it like to the other tiers.
 */
const SIX_HOUR_KEY = tierKey(TIER_SHAPE);
export const SIX_HOUR_TIER_SQL = `
SELECT 1 FROM :schema.rollup_state FOR UPDATE;
CREATE TABLE :schema.${SIX_HOUR.table} (LIKE :schema.flows_hour) PARTITION BY RANGE (bucket);
CREATE UNIQUE INDEX ${SIX_HOUR.table}_key ON :schema.${SIX_HOUR.table} (bucket, ${SIX_HOUR_KEY.join(', ')}) NULLS NOT DISTINCT;
CREATE OR REPLACE FUNCTION :schema.tier_partition_unit(tier text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
  SELECT CASE tier ${TIERS.map((t) => `WHEN '${t.name}' THEN '${t.partitionUnit}'`).join(' ')} END
$fn$;
SELECT :schema.ensure_tier_partitions('${SIX_HOUR.name}', ARRAY(SELECT DISTINCT date_trunc('${SIX_HOUR.partitionUnit}', bucket, 'UTC') FROM :schema.flows_hour));
INSERT INTO :schema.${SIX_HOUR.table} (bucket, ${SIX_HOUR_KEY.join(', ')}, flows, ${MEASURES.join(', ')})
SELECT ${tierBucketSql(SIX_HOUR, 'bucket')}, ${SIX_HOUR_KEY.join(', ')}, sum(flows)::bigint, ${MEASURES.map(sumOf).join(', ')}
FROM :schema.flows_hour GROUP BY ${Array.from({ length: 1 + SIX_HOUR_KEY.length }, (_, i) => i + 1).join(', ')};
INSERT INTO :schema.rollup_buckets (tier, bucket, first_start, last_start)
SELECT '${SIX_HOUR.name}', ${tierBucketSql(SIX_HOUR, 'bucket')}, min(first_start), max(last_start)
FROM :schema.rollup_buckets WHERE tier = 'hour' GROUP BY 2;
`;

/**
 * Migration 9: the minute tier packed like the raw rows (migration 7, flow-batches.ts). A row of
 * `flows_minute_parts` holds one rollup step's sums of one minute bucket: the bucket once, then
 * one lz4-compressed array per tier column with one element per tier key, sorted by key (the
 * arrays of neighbouring keys compress well). A tier row cost ~192 bytes; an element ~15.
 *
 * Several parts of one bucket (one per step that touched it) hold the same key more than once:
 * readers sum, as the graph functions and the README's queries always did. So a step appends
 * parts instead of upserting (no unique key, no ON CONFLICT). `flows_minute` becomes the view
 * that unnests the parts into the columns (and order) the table had; its `bucket` is the part's,
 * so a time predicate on the view prunes partitions and parts.
 */
const PART_ARRAYS: ReadonlyArray<readonly [name: string, element: string, required: boolean]> = [
  ['src_endpoint', 'integer', true], ['dst_endpoint', 'integer', true], ['inter_zone', 'boolean', false], ['transport', 'text', false],
  ['dst_port', 'integer', false], ['flows', 'bigint', true],
  ...COUNTER_MEASURES.map((m) => [m, 'bigint', true] as const), ['cost_class', 'text', false], ['cost_usd', 'numeric', false],
];

/**
 * Appends `rows` (a query with bucket, the tier key, flows and MEASURES, one row per bucket and
 * key) to `<table>_parts` of `schema` as one part per bucket. Every array_agg of a group sees the
 * rows in the same order, so element i of each array is the same key; the sort only packs tighter.
 */
export function packedTierInsertSql(schema: string, table: string, rows: string): string {
  const key = tierKey(TIER_SHAPE);
  return `INSERT INTO ${schema}.${table}_parts (bucket, rows, ${PART_ARRAYS.map(([c]) => c).join(', ')})
     SELECT bucket, count(*)::integer, ${PART_ARRAYS.map(([c]) => `array_agg(${c})`).join(', ')}
     FROM (SELECT * FROM (${rows}) r ORDER BY bucket, ${key.join(', ')}) r
     GROUP BY bucket`;
}

/** How far back of the oldest bucket a step touched it looks for buckets to compact. */
const COMPACT_LOOKBACK = '1 hour';

/**
 * A step's statements for a packed tier: append one part per bucket it touched; then compact:
 * every bucket with several parts, older than the newest bucket this step touched (a finished
 * minute: steps run every rollup.interval, so the minute being written gets a part from each),
 * and not older than COMPACT_LOOKBACK before the oldest one, becomes one part of its sums. In the
 * step's transaction: the merged part replaces its parts atomically, the sums are unchanged.
 */
function packedTierStatements(s: string, t: Tier, shape: TierShape): string[] {
  const key = tierKey(shape);
  const sums = shape.measures.map((m) => `${sumOf(m)} AS ${m}`).join(', ');
  const byKey = Array.from({ length: 1 + key.length }, (_, i) => i + 1).join(', ');
  return [
    packedTierInsertSql(s, t.table, `SELECT ${tierBucketSql(t, 'bucket')} AS bucket, ${key.join(', ')}, sum(flows)::bigint AS flows, ${sums}
     FROM rollup_keyed GROUP BY ${byKey}`),
    // The CTEs and the INSERT's read of the view share the statement's snapshot: the merged sums
    // are those of the parts the DELETE removes, and the DELETE does not see the new part.
    `WITH merge AS (
       SELECT p.bucket FROM ${s}.${t.table}_parts p
       WHERE p.bucket >= (SELECT min(bucket) FROM rollup_minutes) - interval '${COMPACT_LOOKBACK}'
         AND p.bucket < (SELECT ${tierBucketSql(t, 'max(bucket)')} FROM rollup_minutes)
       GROUP BY p.bucket HAVING count(*) > 1),
     merged AS (DELETE FROM ${s}.${t.table}_parts p USING merge m WHERE p.bucket = m.bucket)
     ${packedTierInsertSql(s, t.table, `SELECT bucket, ${key.join(', ')}, sum(flows)::bigint AS flows, ${sums}
       FROM ${s}.${t.table} WHERE bucket IN (SELECT bucket FROM merge) GROUP BY ${byKey}`)}`,
  ];
}

const MINUTE = TIERS_V4[0];
export const MINUTE_PARTS_SQL = `
-- No rollup step meanwhile: the rows moved below are all the minute tier holds.
SELECT 1 FROM :schema.rollup_state FOR UPDATE;
ALTER TABLE :schema.${MINUTE.table} RENAME TO ${MINUTE.table}_v8;
CREATE TABLE :schema.${MINUTE.table}_parts (
  bucket timestamptz NOT NULL,
  rows   integer NOT NULL CHECK (rows > 0),
  ${PART_ARRAYS.map(([c, t]) => `${c} ${t}[] COMPRESSION lz4 NOT NULL`).join(',\n  ')},
  -- unnest would pad a short array with NULLs: every array holds one element per key, and the
  -- columns the tier had NOT NULL hold no NULL element.
  CONSTRAINT ${MINUTE.table}_parts_one_element_per_key CHECK (
    ${PART_ARRAYS.map(([c]) => `cardinality(${c}) = rows`).join(' AND ')}
    AND ${PART_ARRAYS.filter(([, , required]) => required).map(([c]) => `array_position(${c}, NULL) IS NULL`).join(' AND ')})
) PARTITION BY RANGE (bucket);
-- A day holds a few thousand parts: a small btree finds a window's.
CREATE INDEX ${MINUTE.table}_parts_bucket ON :schema.${MINUTE.table}_parts (bucket);

CREATE VIEW :schema.${MINUTE.table} AS
SELECT p.bucket, r.src_endpoint, r.dst_endpoint, r.inter_zone, r.transport, r.dst_port, r.flows,
       ${COUNTER_MEASURES.map((m) => `r.${m}`).join(', ')}, r.cost_class, r.cost_usd
FROM :schema.${MINUTE.table}_parts p
CROSS JOIN LATERAL unnest(${PART_ARRAYS.map(([c]) => `p.${c}`).join(', ')}) AS r(${PART_ARRAYS.map(([c]) => c).join(', ')});

-- The minute tier's partitions (made and dropped by ensure_tier_partitions and
-- drop_tier_partitions_before) are now those of the parts: flows_minute_parts_pYYYYMMDD.
CREATE OR REPLACE FUNCTION :schema.tier_table(tier text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$ SELECT CASE tier WHEN '${MINUTE.name}' THEN '${MINUTE.table}_parts' ELSE 'flows_' || tier END $fn$;

SELECT :schema.ensure_tier_partitions('${MINUTE.name}', ARRAY(SELECT DISTINCT date_trunc('${MINUTE.partitionUnit}', bucket, 'UTC') FROM :schema.${MINUTE.table}_v8));
${packedTierInsertSql(':schema', MINUTE.table, `SELECT bucket, ${tierKey(TIER_SHAPE).join(', ')}, flows, ${MEASURES.join(', ')} FROM :schema.${MINUTE.table}_v8`)};
DROP TABLE :schema.${MINUTE.table}_v8;
`;
