// The raw tier's daily partitions and their retention, as SQL functions: migration 1 made them
// for the table `flows`, migration 4 the rolled-up-only retention, migration 7 makes all three
// again for `flow_batches` (the partitions keep their names, flows_pYYYYMMDD).

/** `create`: how the function is made (CREATE the first time, CREATE OR REPLACE after). */
type Create = 'CREATE' | 'CREATE OR REPLACE';

/** ensure_partitions(days date[]): creates the daily partitions of `parent` the days need. */
export function ensurePartitionsSql(parent: string, create: Create = 'CREATE'): string {
  return `-- Creates the daily partitions flows_pYYYYMMDD for the given UTC days when missing.
-- The advisory lock makes concurrent creators (several replicas) wait instead of failing.
${create} FUNCTION :schema.ensure_partitions(days date[]) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
  day date;
  part text;
  created integer := 0;
BEGIN
  FOREACH day IN ARRAY days LOOP
    part := 'flows_p' || to_char(day, 'YYYYMMDD');
    CONTINUE WHEN to_regclass(format('%I.%I', :schema_literal, part)) IS NOT NULL;
    PERFORM pg_advisory_xact_lock(hashtext('podflow.partitions'), hashtext(:schema_literal));
    CONTINUE WHEN to_regclass(format('%I.%I', :schema_literal, part)) IS NOT NULL;
    -- IF NOT EXISTS: a transaction that waited for the lock while another created the partition
    -- can still miss it in its catalog cache (an advisory lock reads no invalidations).
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I.%I PARTITION OF %I.${parent} FOR VALUES FROM (%L) TO (%L)',
      :schema_literal, part, :schema_literal,
      to_char(day, 'YYYY-MM-DD') || ' 00:00:00+00', to_char(day + 1, 'YYYY-MM-DD') || ' 00:00:00+00');
    created := created + 1;
  END LOOP;
  RETURN created;
END
$fn$;
`;
}

/**
 * drop_partitions_before(cutoff) (migration 1's retention): drops `parent`'s days ended by
 * cutoff. `rolledOnly`: drop_raw_partitions_before (migration 4), only days whose rows are all
 * rolled up, so a rollup that fell behind loses nothing.
 */
export function dropPartitionsBeforeSql(parent: string, create: Create = 'CREATE', rolledOnly = false): string {
  return `${rolledOnly ? `-- Retention of the raw rows: like drop_partitions_before (migration 1), but a day is dropped
-- only once every row in it is rolled up, so a rollup that fell behind loses nothing.` : `-- Retention: drops every daily partition whose whole day ends at or before cutoff, returns
-- their names, and forgets old ingest batch ids.`}
${create} FUNCTION :schema.${rolledOnly ? 'drop_raw_partitions_before' : 'drop_partitions_before'}(cutoff timestamptz) RETURNS SETOF text
LANGUAGE plpgsql AS $fn$
DECLARE
  part text;${rolledOnly ? `
  rolled bigint;
  pending boolean;` : ''}
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('podflow.partitions'), hashtext(:schema_literal));${rolledOnly ? `
  SELECT rolled_xid INTO rolled FROM :schema.rollup_state;` : ''}
  FOR part IN
    SELECT c.relname::text
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = to_regclass(format('%I.${parent}', :schema_literal))
      AND c.relname ~ '^flows_p[0-9]{8}$'
      AND (to_date(substr(c.relname, 8), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC' <= cutoff
    ORDER BY c.relname
  LOOP${rolledOnly ? `
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I WHERE ingest_xid >= %s)', :schema_literal, part, rolled) INTO pending;
    CONTINUE WHEN pending;` : ''}
    EXECUTE format('DROP TABLE %I.%I', :schema_literal, part);
    RETURN NEXT part;
  END LOOP;
  DELETE FROM :schema.ingest_batches WHERE committed_at < now() - interval '1 day';
END
$fn$;
`;
}
