// SQL for Grafana's node graph panel (contract: ../../../../shared/reference/anchors.md,
// "Grafana node graph"): `graph_nodes(from, to)` and `graph_edges(from, to)` return exactly the
// frames the panel reads, so a dashboard query is `SELECT * FROM podflow.graph_nodes(...)`.
//
// A graph node is one end of a flow, identified as
//   workload  `<namespace>/<kind>/<name>`  (owner from k8sattributes; a bare pod is kind Pod)
//   node      `node/<name>`                (host processes and host-network ends)
//   external  `<domain>` or `<address>`    (anything without a Kubernetes identity)
// These never collide: workload ids have two slashes, node ids one, external ids none.
// Both functions read the same `graph_links`, so every edge endpoint is a node id.
// Time window: flows whose start_time is in [from, to).
import { BUCKET_ORIGIN, TIERS } from './rollup-sql.ts';

/**
 * `graph_endpoint`: the graph identity of one flow end. An external end's title is its domain,
 * else its address as `addressText` writes it: migration 2 used `host()`, which prints a prefix
 * (reduce's public_addresses: `104.16.3.0/24`) as if it were one address; migration 3 replaces
 * it with `abbrev()`, which prints an address as `host()` does and a prefix as a prefix.
 */
function graphEndpointSql(statement: 'CREATE FUNCTION' | 'CREATE OR REPLACE FUNCTION', addressText: 'host' | 'abbrev'): string {
  return `
-- The graph identity of one flow end.
${statement} :schema.graph_endpoint(
  end_namespace text, end_kind text, end_workload text, end_pod text, end_node text, end_address_type text,
  end_domain text, end_address inet)
RETURNS TABLE (id text, title text, subtitle text, type text, kind text, namespace text)
LANGUAGE sql IMMUTABLE AS $fn$
  SELECT CASE t.type WHEN 'workload' THEN $1 || '/' || t.kind || '/' || t.name
                     WHEN 'node' THEN 'node/' || t.name
                     ELSE t.name END,
         t.name,
         CASE t.type WHEN 'workload' THEN $1 WHEN 'node' THEN 'node' ELSE coalesce($6, 'external') END,
         t.type,
         t.kind,
         CASE WHEN t.type = 'workload' THEN $1 END
  FROM (SELECT
    CASE WHEN $2 = 'Node' AND $3 IS NOT NULL THEN 'node'
         WHEN $1 IS NOT NULL AND ($3 IS NOT NULL OR $4 IS NOT NULL) THEN 'workload'
         WHEN $6 = 'node' AND $5 IS NOT NULL THEN 'node'
         ELSE 'external' END AS type,
    CASE WHEN $2 = 'Node' AND $3 IS NOT NULL THEN $3
         WHEN $1 IS NOT NULL AND $3 IS NOT NULL THEN $3
         WHEN $1 IS NOT NULL AND $4 IS NOT NULL THEN $4
         WHEN $6 = 'node' AND $5 IS NOT NULL THEN $5
         ELSE coalesce($7, ${addressText}($8), 'unknown') END AS name,
    CASE WHEN $2 = 'Node' AND $3 IS NOT NULL THEN 'Node'
         WHEN $1 IS NOT NULL AND $3 IS NOT NULL THEN coalesce($2, 'Pod')
         WHEN $1 IS NOT NULL AND $4 IS NOT NULL THEN 'Pod'
         WHEN $6 = 'node' AND $5 IS NOT NULL THEN 'Node' END AS kind) t
$fn$;
`;
}

/** Migration 3: external ends that are prefixes are titled as prefixes, never as one address. */
export const PREFIX_TITLES_SQL = graphEndpointSql('CREATE OR REPLACE FUNCTION', 'abbrev');

export const NODE_GRAPH_SQL = `${graphEndpointSql('CREATE FUNCTION', 'host')}
-- Traffic between graph nodes in [from, to): one row per (source, target).
-- Bytes are split by where they went: inside a zone, across zones, or to/from outside the cluster.
CREATE FUNCTION :schema.graph_links("from" timestamptz, "to" timestamptz)
RETURNS TABLE (
  src_id text, src_title text, src_subtitle text, src_type text, src_kind text, src_namespace text,
  dst_id text, dst_title text, dst_subtitle text, dst_type text, dst_kind text, dst_namespace text,
  tx_bytes bigint, rx_bytes bigint, packets bigint, connections bigint,
  in_zone_bytes bigint, cross_zone_bytes bigint, external_bytes bigint)
LANGUAGE sql STABLE AS $fn$
  SELECT s.id, min(s.title), min(s.subtitle), min(s.type), min(s.kind), min(s.namespace),
         d.id, min(d.title), min(d.subtitle), min(d.type), min(d.kind), min(d.namespace),
         sum(f.tx_bytes)::bigint, sum(f.rx_bytes)::bigint, sum(f.tx_packets + f.rx_packets)::bigint,
         sum(f.connections)::bigint,
         sum(CASE WHEN s.type <> 'external' AND d.type <> 'external' AND f.inter_zone IS NOT TRUE
                  THEN f.tx_bytes + f.rx_bytes ELSE 0 END)::bigint,
         sum(CASE WHEN s.type <> 'external' AND d.type <> 'external' AND f.inter_zone
                  THEN f.tx_bytes + f.rx_bytes ELSE 0 END)::bigint,
         sum(CASE WHEN s.type = 'external' OR d.type = 'external'
                  THEN f.tx_bytes + f.rx_bytes ELSE 0 END)::bigint
  FROM :schema.flows f
  CROSS JOIN LATERAL :schema.graph_endpoint(f.src_namespace, f.src_workload_kind, f.src_workload, f.src_pod,
                                            f.src_node, f.src_address_type, NULL, f.src_address) s
  CROSS JOIN LATERAL :schema.graph_endpoint(f.dst_namespace, f.dst_workload_kind, f.dst_workload, f.dst_pod,
                                            f.dst_node, f.dst_address_type, f.dst_domain, f.dst_address) d
  WHERE f.start_time >= $1 AND f.start_time < $2
  GROUP BY s.id, d.id
$fn$;

-- Grafana node graph "edges" frame: id, source, target, mainstat (bytes both ways),
-- secondarystat (connections opened), detail__* (context menu).
CREATE FUNCTION :schema.graph_edges("from" timestamptz, "to" timestamptz)
RETURNS TABLE (id text, source text, target text, mainstat bigint, secondarystat bigint,
               detail__tx_bytes bigint, detail__rx_bytes bigint, detail__packets bigint)
LANGUAGE sql STABLE AS $fn$
  SELECT l.src_id || ' -> ' || l.dst_id, l.src_id, l.dst_id, l.tx_bytes + l.rx_bytes, l.connections,
         l.tx_bytes, l.rx_bytes, l.packets
  FROM :schema.graph_links($1, $2) l
  ORDER BY 4 DESC, 1
$fn$;

-- Grafana node graph "nodes" frame: id, title, subtitle, mainstat (bytes sent + received),
-- secondarystat (connections the node took part in), arc__* (share of its bytes inside its zone,
-- across zones, with the outside; they sum to 1), detail__* (context menu).
-- A flow from a node to itself (two pods of one workload) counts once.
CREATE FUNCTION :schema.graph_nodes("from" timestamptz, "to" timestamptz)
RETURNS TABLE (id text, title text, subtitle text, mainstat bigint, secondarystat bigint,
               arc__in_zone double precision, arc__cross_zone double precision, arc__external double precision,
               detail__type text, detail__kind text, detail__namespace text,
               detail__sent_bytes bigint, detail__received_bytes bigint)
LANGUAGE sql STABLE AS $fn$
  WITH l AS (SELECT * FROM :schema.graph_links($1, $2)),
  ends AS (
    SELECT src_id AS end_id, src_title AS end_title, src_subtitle AS end_subtitle, src_type AS end_type,
           src_kind AS end_kind, src_namespace AS end_namespace, tx_bytes AS sent, rx_bytes AS received,
           connections AS conns, in_zone_bytes AS in_zone, cross_zone_bytes AS cross_zone, external_bytes AS outside
    FROM l
    UNION ALL
    SELECT dst_id, dst_title, dst_subtitle, dst_type, dst_kind, dst_namespace, rx_bytes, tx_bytes,
           connections, in_zone_bytes, cross_zone_bytes, external_bytes
    FROM l WHERE dst_id <> src_id
  ),
  totals AS (
    SELECT end_id, min(end_title) AS t_title, min(end_subtitle) AS t_subtitle, min(end_type) AS t_type,
           min(end_kind) AS t_kind, min(end_namespace) AS t_namespace,
           sum(sent) AS t_sent, sum(received) AS t_received, sum(conns) AS t_conns,
           sum(in_zone) AS t_in_zone, sum(cross_zone) AS t_cross_zone, sum(outside) AS t_outside
    FROM ends GROUP BY end_id
  )
  SELECT end_id, t_title, t_subtitle, (t_sent + t_received)::bigint, t_conns::bigint,
         CASE WHEN t_in_zone + t_cross_zone + t_outside = 0 THEN 1
              ELSE t_in_zone::double precision / (t_in_zone + t_cross_zone + t_outside) END,
         CASE WHEN t_in_zone + t_cross_zone + t_outside = 0 THEN 0
              ELSE t_cross_zone::double precision / (t_in_zone + t_cross_zone + t_outside) END,
         CASE WHEN t_in_zone + t_cross_zone + t_outside = 0 THEN 0
              ELSE t_outside::double precision / (t_in_zone + t_cross_zone + t_outside) END,
         t_type, t_kind, t_namespace, t_sent::bigint, t_received::bigint
  FROM totals
  ORDER BY 4 DESC, 1
$fn$;
`;

// graph_nodes of migration 2 with the group_by argument passed through to graph_links.
const GRAPH_NODES_TIERS_SQL = NODE_GRAPH_SQL.slice(NODE_GRAPH_SQL.indexOf('-- Grafana node graph "nodes" frame'))
  .replace('graph_nodes("from" timestamptz, "to" timestamptz)', 'graph_nodes("from" timestamptz, "to" timestamptz, group_by text DEFAULT \'workload\')')
  .replace(':schema.graph_links($1, $2)', ':schema.graph_links($1, $2, $3)');

// graph_links' result columns (migrations 4 and 6), and the start of its body: the grouping
// checked, the watermark read, the loop over the window's cover (graph_cover).
const LINKS_COLUMNS_SQL = `RETURNS TABLE (
  src_id text, src_title text, src_subtitle text, src_type text, src_kind text, src_namespace text,
  dst_id text, dst_title text, dst_subtitle text, dst_type text, dst_kind text, dst_namespace text,
  tx_bytes bigint, rx_bytes bigint, packets bigint, connections bigint,
  in_zone_bytes bigint, cross_zone_bytes bigint, external_bytes bigint,
  src_node text, src_zone text, dst_node text, dst_zone text)
`;
const LINKS_PIECES_START_SQL = `  IF group_by IS NULL OR group_by NOT IN ('workload', 'namespace', 'node', 'zone') THEN
    RAISE EXCEPTION 'graph grouping must be workload, namespace, node or zone, not %', coalesce(group_by, 'NULL')
      USING ERRCODE = '22023';
  END IF;
  SELECT r.rolled_xid INTO rolled FROM :schema.rollup_state r;
  FOR part IN SELECT * FROM :schema.graph_cover($1, $2) LOOP
    IF part.tier = 'raw' THEN
      -- Rolled rows only: the rows not rolled up yet are all read below, once.
`;
// One tier piece of the cover as SQL text (the loop's last branch, in both).
const TIER_PIECE_SQL = `format(
        ' UNION ALL SELECT src_endpoint, dst_endpoint, inter_zone, %1$s * flows, %1$s * tx_bytes, %1$s * rx_bytes,
                  %1$s * (tx_packets + rx_packets), %1$s * connections
           FROM %2$I.%3$I WHERE bucket >= %4$L AND bucket < %5$L',
        part.sign, :schema_literal, 'flows_' || part.tier, part.lo, part.hi);
    END IF;
  END LOOP;
`;
// Shared by graph_links of migrations 4 and 6 (inside their format(): %2$I the schema, %7$L the
// grouping, %8$L the namespaces): id pairs to their graph nodes, and graph nodes to link rows.
const ENDS_OF_ID_PAIRS_SQL = `      SELECT f.inter_zone, f.flows, f.tx, f.rx, f.packets, f.conns, s.end_namespace AS s_ns, d.end_namespace AS d_ns,
             s.id AS s_id, s.title AS s_title, s.subtitle AS s_subtitle, s.type AS s_type, s.kind AS s_kind, s.namespace AS s_namespace, s.node AS s_node, s.zone AS s_zone,
             d.id AS d_id, d.title AS d_title, d.subtitle AS d_subtitle, d.type AS d_type, d.kind AS d_kind, d.namespace AS d_namespace, d.node AS d_node, d.zone AS d_zone
      FROM id_pairs f
      JOIN %2$I.endpoint_groups s ON s.group_by = %7$L AND s.endpoint = f.src_endpoint
      JOIN %2$I.endpoint_groups d ON d.group_by = %7$L AND d.endpoint = f.dst_endpoint
`;
/**
 * How the graph functions sum bigints inside their dynamic query: migrations 4 and 6 with the
 * built-in `sum` (a numeric result, cast back), migration 8 with `bigint_sum` (a bigint state:
 * several times cheaper per row; exact, an overflow is an error).
 */
type Summer = (expression: string) => string;
const BUILTIN_SUM: Summer = (e) => `sum(${e})::bigint`;
const BIGINT_SUM: Summer = (e) => `%2$I.bigint_sum(${e})`;

function linksOfEndsSql(sum: Summer): string {
  const flowsSum = sum === BUILTIN_SUM ? 'sum(f.flows)' : sum('f.flows');
  return `    SELECT f.s_id, min(f.s_title), min(f.s_subtitle), min(f.s_type), min(f.s_kind), min(f.s_namespace),
           f.d_id, min(f.d_title), min(f.d_subtitle), min(f.d_type), min(f.d_kind), min(f.d_namespace),
           ${sum('f.tx')}, ${sum('f.rx')}, ${sum('f.packets')}, ${sum('f.conns')},
           ${sum("CASE WHEN f.s_type <> 'external' AND f.d_type <> 'external' AND f.inter_zone IS NOT TRUE THEN f.tx + f.rx ELSE 0 END")},
           ${sum("CASE WHEN f.s_type <> 'external' AND f.d_type <> 'external' AND f.inter_zone THEN f.tx + f.rx ELSE 0 END")},
           ${sum("CASE WHEN f.s_type = 'external' OR f.d_type = 'external' THEN f.tx + f.rx ELSE 0 END")},
           min(f.s_node), min(f.s_zone), min(f.d_node), min(f.d_zone)
    FROM ends f
    WHERE %8$L::text[] IS NULL OR f.s_ns = ANY (%8$L::text[]) OR f.d_ns = ANY (%8$L::text[])
    GROUP BY f.s_id, f.d_id
    -- A pair whose rows were all subtracted again (a bucket less its parts outside the window) is not in the window.
    HAVING ${flowsSum} <> 0
`;
}
const LINKS_OF_ENDS_SQL = linksOfEndsSql(BUILTIN_SUM);

/** How graph_cover_span / graph_cover_piece find a level's buckets (migration 4's, frozen, and 8's). */
interface CoverLevels {
  statement: 'CREATE FUNCTION' | 'CREATE OR REPLACE FUNCTION';
  /** The comment's list of levels. */
  levelsText: string;
  /** Tier names, widest first; the level after the last is raw rows. */
  tiers: string[];
  /** A level's bucket width (SQL, may read `unit` and `level`). */
  step: string;
  /** The start of the level's bucket holding instant `ts` (SQL). */
  bucketOf: (ts: string) => string;
}

const COVER_V4: CoverLevels = {
  statement: 'CREATE FUNCTION',
  levelsText: '1 (days), 2 (hours), 3 (minutes) or 4 (raw rows): the whole buckets inside,\n-- and the pieces',
  tiers: ['day', 'hour', 'minute'],
  step: "('1 ' || unit)::interval",
  bucketOf: (ts) => `date_trunc(unit, ${ts}, 'UTC')`,
};

const sqlArray = (values: readonly string[]) => `ARRAY[${values.map((v) => `'${v}'`).join(', ')}]`;
// Migration 8: TIERS widest first, buckets of any width (date_bin from a UTC midnight).
const COVER_LEVELS = [...TIERS].reverse(); // TIERS is narrowest first
const COVER_V8_STEP = `(${sqlArray(COVER_LEVELS.map((t) => t.width))})[level]::interval`;
const COVER_V8: CoverLevels = {
  statement: 'CREATE OR REPLACE FUNCTION',
  levelsText: '1 (days), 2 (six hours), 3 (hours), 4 (minutes) or 5 (raw rows): the whole\n-- buckets inside, and the pieces',
  tiers: COVER_LEVELS.map((t) => t.name),
  step: COVER_V8_STEP,
  bucketOf: (ts) => `date_bin(${COVER_V8_STEP}, ${ts}, '${BUCKET_ORIGIN}')`,
};

function coverFunctionsSql(v: CoverLevels): string {
  return `-- [a, b) at level ${v.levelsText} at each end (each inside one bucket) left to graph_cover_piece.
${v.statement} :schema.graph_cover_span(a timestamptz, b timestamptz, level integer, s integer)
RETURNS TABLE (tier text, lo timestamptz, hi timestamptz, sign integer)
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
  unit text := (${sqlArray(v.tiers)})[level];
  first_whole timestamptz;
  last_whole timestamptz;
BEGIN
  IF a >= b THEN RETURN; END IF;
  IF level = ${v.tiers.length + 1} THEN
    tier := 'raw'; lo := a; hi := b; sign := s;
    RETURN NEXT;
    RETURN;
  END IF;
  first_whole := ${v.bucketOf('a')};
  IF first_whole < a THEN first_whole := first_whole + ${v.step}; END IF;
  last_whole := ${v.bucketOf('b')};
  IF first_whole > last_whole THEN
    -- a and b inside one bucket
    RETURN QUERY SELECT * FROM :schema.graph_cover_piece(a, b, level, s);
    RETURN;
  END IF;
  IF first_whole < last_whole THEN
    tier := unit; lo := first_whole; hi := last_whole; sign := s;
    RETURN NEXT;
  END IF;
  RETURN QUERY SELECT * FROM :schema.graph_cover_piece(a, first_whole, level, s);
  RETURN QUERY SELECT * FROM :schema.graph_cover_piece(last_whole, b, level, s);
END
$fn$;

-- A piece [x, y) of one bucket B at a level: B whole when every row rolled into it lies in
-- [x, y) (the bucket of "now"); B less its parts outside [x, y) when the piece is most of it
-- (sums subtract exactly); else the piece at the next finer level.
${v.statement} :schema.graph_cover_piece(x timestamptz, y timestamptz, level integer, s integer)
RETURNS TABLE (tier text, lo timestamptz, hi timestamptz, sign integer)
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
  unit text := (${sqlArray(v.tiers)})[level];
  step interval := ${v.step};
  bucket timestamptz := ${v.bucketOf('x')};
BEGIN
  IF x >= y THEN RETURN; END IF;
  IF :schema.graph_bucket_inside(unit, bucket, x, y) THEN
    tier := unit; lo := bucket; hi := bucket + step; sign := s;
    RETURN NEXT;
  ELSIF (y - x) * 2 > step THEN
    tier := unit; lo := bucket; hi := bucket + step; sign := s;
    RETURN NEXT;
    RETURN QUERY SELECT * FROM :schema.graph_cover_span(bucket, x, level + 1, -s);
    RETURN QUERY SELECT * FROM :schema.graph_cover_span(y, bucket + step, level + 1, -s);
  ELSE
    RETURN QUERY SELECT * FROM :schema.graph_cover_span(x, y, level + 1, s);
  END IF;
END
$fn$;
`;
}

// Migration 4: the same frames, read from the rollup tiers (rollup-sql.ts), at a grouping level.
//
// graph_cover(from, to) splits [from, to) into the coarsest tier buckets that cover it exactly:
// whole days, then whole hours at the ragged ends, then whole minutes, then raw rows for what is
// left (under a minute at each end). A bucket the window cuts is still taken whole when every row
// rolled into it lies inside the window (rollup_buckets keeps each bucket's first and last
// start_time): the bucket of "now", which has no rows after now, is the common case. A bucket the
// window holds most of is read whole less its parts outside the window (sums subtract exactly;
// a pair whose row count comes to 0 is dropped), so an end never costs more than half a bucket
// of the next finer tier.
// graph_links adds the raw rows not rolled up yet (ingest_xid at or above the watermark), read
// in the same snapshot as the tiers, so the answer equals a sum over the raw rows.
//
// Groupings: `workload` (the ids above), `namespace` (a workload becomes `namespace/<name>`),
// `node` (an in-cluster end becomes the node it runs on, `node/<name>`), `zone` (`zone/<name>`).
// Peers outside the cluster stay themselves at every level; an end whose node or zone is
// unknown becomes `unknown/node` or `unknown/zone`.
export const NODE_GRAPH_TIERS_SQL = `
DROP FUNCTION :schema.graph_nodes(timestamptz, timestamptz);
DROP FUNCTION :schema.graph_edges(timestamptz, timestamptz);
DROP FUNCTION :schema.graph_links(timestamptz, timestamptz);

-- Each endpoint's graph node at every level, filled by the rollup as endpoints are first seen
-- (rollup-sql.ts), so the graph functions look nodes up instead of computing them per row.
CREATE TABLE :schema.endpoint_groups (
  endpoint      integer NOT NULL,
  group_by      text NOT NULL,
  id            text NOT NULL,
  title         text,
  subtitle      text,
  type          text,
  kind          text,
  namespace     text,
  node          text,
  zone          text,
  end_namespace text,
  PRIMARY KEY (group_by, endpoint)
);

-- The graph node one flow end becomes at a grouping level (graph_endpoint is the workload level).
CREATE FUNCTION :schema.graph_group(
  end_namespace text, end_kind text, end_workload text, end_pod text, end_node text, end_zone text,
  end_address_type text, end_domain text, end_address inet, group_by text)
RETURNS TABLE (id text, title text, subtitle text, type text, kind text, namespace text, node text, zone text)
LANGUAGE sql IMMUTABLE AS $fn$
  SELECT CASE WHEN e.type = 'external' OR $10 = 'workload' OR ($10 = 'namespace' AND e.type = 'node') THEN e.id
              WHEN $10 = 'namespace' THEN 'namespace/' || e.namespace
              WHEN $10 = 'node' THEN coalesce('node/' || n.name, 'unknown/node')
              ELSE coalesce('zone/' || $6, 'unknown/zone') END,
         CASE WHEN e.type = 'external' OR $10 = 'workload' OR ($10 = 'namespace' AND e.type = 'node') THEN e.title
              WHEN $10 = 'namespace' THEN e.namespace
              WHEN $10 = 'node' THEN coalesce(n.name, '(node not in the flows)')
              ELSE coalesce($6, '(zone not in the flows)') END,
         CASE WHEN e.type = 'external' OR $10 = 'workload' OR ($10 = 'namespace' AND e.type = 'node') THEN e.subtitle
              ELSE $10 END,
         CASE WHEN e.type = 'external' OR $10 = 'workload' OR ($10 = 'namespace' AND e.type = 'node') THEN e.type
              ELSE $10 END,
         CASE WHEN e.type = 'external' OR $10 = 'workload' OR ($10 = 'namespace' AND e.type = 'node') THEN e.kind
              WHEN $10 = 'namespace' THEN 'Namespace'
              WHEN $10 = 'node' THEN 'Node'
              ELSE 'Zone' END,
         CASE WHEN $10 IN ('workload', 'namespace') THEN e.namespace END,
         CASE WHEN e.type <> 'external' AND $10 <> 'zone' THEN n.name END,
         CASE WHEN e.type <> 'external' THEN $6 END
  FROM :schema.graph_endpoint($1, $2, $3, $4, $5, $7, $8, $9) e
  CROSS JOIN LATERAL (SELECT CASE WHEN e.type = 'node' THEN e.title ELSE $5 END AS name) n
$fn$;

-- Whether every row rolled into a tier bucket started inside [a, b) (true for an empty bucket).
CREATE FUNCTION :schema.graph_bucket_inside(tier text, bucket timestamptz, a timestamptz, b timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $fn$
  SELECT NOT EXISTS (SELECT 1 FROM :schema.rollup_buckets r
                     WHERE r.tier = $1 AND r.bucket = $2 AND (r.first_start < $3 OR r.last_start >= $4))
$fn$;

-- [from, to) as signed ranges of tier buckets (tier, lo, hi, sign: the buckets lo <= bucket < hi,
-- added or subtracted) and of raw rows (tier 'raw', lo <= start_time < hi).
CREATE FUNCTION :schema.graph_cover("from" timestamptz, "to" timestamptz)
RETURNS TABLE (tier text, lo timestamptz, hi timestamptz, sign integer)
LANGUAGE plpgsql STABLE AS $fn$
BEGIN
  RETURN QUERY SELECT * FROM :schema.graph_cover_span($1, $2, 1, 1);
END
$fn$;

${coverFunctionsSql(COVER_V4)}
-- Traffic between graph nodes in [from, to) at a grouping level: one row per (source, target).
-- Bytes are split by where they went: inside a zone, across zones, or to/from outside the cluster.
-- The node and zone columns say where a graph node is, when its grouping makes that one place.
-- namespaces: only flows with an end in one of them (NULL: every flow).
CREATE FUNCTION :schema.graph_links("from" timestamptz, "to" timestamptz, group_by text DEFAULT 'workload',
                                    namespaces text[] DEFAULT NULL)
${LINKS_COLUMNS_SQL}-- Tens of thousands of pairs are summed at once: in memory, not in sort files.
LANGUAGE plpgsql STABLE SET work_mem = '64MB' AS $fn$
DECLARE
  rolled bigint;
  part record;
  tiered text := '';
  raw text := '';
BEGIN
${LINKS_PIECES_START_SQL}      raw := raw || format(
        ' UNION ALL SELECT src_namespace, src_workload_kind, src_workload, src_pod, src_node, src_zone, src_address, NULL, src_address_type,
                  dst_namespace, dst_workload_kind, dst_workload, dst_pod, dst_node, dst_zone, dst_address, dst_domain, dst_address_type,
                  inter_zone, %1$s, %1$s * tx_bytes, %1$s * rx_bytes, %1$s * (tx_packets + rx_packets), %1$s * connections
           FROM %2$I.flows WHERE start_time >= %3$L AND start_time < %4$L AND (ingest_xid IS NULL OR ingest_xid < %5$s)',
        part.sign, :schema_literal, part.lo, part.hi, rolled);
    ELSE
      tiered := tiered || ${TIER_PIECE_SQL}  -- Tier rows name their ends by endpoint id, and each endpoint's graph node at every level is
  -- kept in endpoint_groups: summing by id pair first and joining that table costs one lookup
  -- per pair. Raw rows (the ragged ends, rows not rolled up yet) are summed by their ends'
  -- attributes and find their endpoint by key; only an end seen for the first time since the
  -- last rollup is computed here (graph_group).
  RETURN QUERY EXECUTE format($q$
    WITH raw_pairs AS (
      SELECT ROW(r.s_ns, r.s_kind, r.s_wl, r.s_pod, r.s_node, r.s_zone, r.s_addr, r.s_domain, r.s_class)::text AS s_key,
             ROW(r.d_ns, r.d_kind, r.d_wl, r.d_pod, r.d_node, r.d_zone, r.d_addr, r.d_domain, r.d_class)::text AS d_key, r.*
      FROM (SELECT s_ns, s_kind, s_wl, s_pod, s_node, s_zone, s_addr, s_domain, s_class,
                   d_ns, d_kind, d_wl, d_pod, d_node, d_zone, d_addr, d_domain, d_class, inter_zone,
                   sum(flows)::bigint AS flows, sum(tx)::bigint AS tx, sum(rx)::bigint AS rx, sum(packets)::bigint AS packets, sum(conns)::bigint AS conns
            FROM (SELECT src_namespace AS s_ns, src_workload_kind AS s_kind, src_workload AS s_wl, src_pod AS s_pod, src_node AS s_node,
                         src_zone AS s_zone, src_address AS s_addr, NULL::text AS s_domain, src_address_type AS s_class,
                         dst_namespace AS d_ns, dst_workload_kind AS d_kind, dst_workload AS d_wl, dst_pod AS d_pod, dst_node AS d_node,
                         dst_zone AS d_zone, dst_address AS d_addr, dst_domain AS d_domain, dst_address_type AS d_class,
                         inter_zone, 1::bigint AS flows, tx_bytes AS tx, rx_bytes AS rx, tx_packets + rx_packets AS packets, connections AS conns
                  FROM %2$I.flows WHERE start_time >= %3$L AND start_time < %4$L AND ingest_xid >= %5$s
                  %6$s) u
            GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19) r
    ),
    raw_ids AS (
      SELECT p.*, se.id AS src_endpoint, de.id AS dst_endpoint
      FROM raw_pairs p LEFT JOIN %2$I.endpoints se ON se.key = p.s_key LEFT JOIN %2$I.endpoints de ON de.key = p.d_key
    ),
    id_pairs AS (
      SELECT u.src_endpoint, u.dst_endpoint, u.inter_zone, sum(u.flows)::bigint AS flows, sum(u.tx)::bigint AS tx,
             sum(u.rx)::bigint AS rx, sum(u.packets)::bigint AS packets, sum(u.conns)::bigint AS conns
      FROM (SELECT src_endpoint, dst_endpoint, inter_zone, flows, tx, rx, packets, conns
            FROM raw_ids WHERE src_endpoint IS NOT NULL AND dst_endpoint IS NOT NULL
            %1$s) u
      GROUP BY 1, 2, 3
    ),
    ends AS (
${ENDS_OF_ID_PAIRS_SQL}      UNION ALL
      SELECT f.inter_zone, f.flows, f.tx, f.rx, f.packets, f.conns, f.s_ns, f.d_ns,
             s.id, s.title, s.subtitle, s.type, s.kind, s.namespace, s.node, s.zone,
             d.id, d.title, d.subtitle, d.type, d.kind, d.namespace, d.node, d.zone
      FROM raw_ids f
      CROSS JOIN LATERAL %2$I.graph_group(f.s_ns, f.s_kind, f.s_wl, f.s_pod, f.s_node, f.s_zone, f.s_class, f.s_domain, f.s_addr, %7$L) s
      CROSS JOIN LATERAL %2$I.graph_group(f.d_ns, f.d_kind, f.d_wl, f.d_pod, f.d_node, f.d_zone, f.d_class, f.d_domain, f.d_addr, %7$L) d
      WHERE f.src_endpoint IS NULL OR f.dst_endpoint IS NULL
    )
${LINKS_OF_ENDS_SQL}  $q$, tiered, :schema_literal, $1, $2, rolled, raw, group_by, namespaces);
END
$fn$;

-- Grafana node graph "edges" frame: id, source, target, mainstat (bytes both ways),
-- secondarystat (connections opened), detail__* (context menu).
CREATE FUNCTION :schema.graph_edges("from" timestamptz, "to" timestamptz, group_by text DEFAULT 'workload')
RETURNS TABLE (id text, source text, target text, mainstat bigint, secondarystat bigint,
               detail__tx_bytes bigint, detail__rx_bytes bigint, detail__packets bigint)
LANGUAGE sql STABLE AS $fn$
  SELECT l.src_id || ' -> ' || l.dst_id, l.src_id, l.dst_id, l.tx_bytes + l.rx_bytes, l.connections,
         l.tx_bytes, l.rx_bytes, l.packets
  FROM :schema.graph_links($1, $2, $3) l
  ORDER BY 4 DESC, 1
$fn$;

${GRAPH_NODES_TIERS_SQL}`;

// Migration 6: raw rows name their ends by endpoint id (narrow-rows.ts), so the raw pieces of a
// window (its ragged ends under a minute, and the rows not rolled up yet) are summed by id pair
// together with the tier rows, and every pair finds its graph nodes in endpoint_groups: no
// endpoint is computed per row or per query any more. Same signature, columns and answer.
function narrowGraphLinksSql(sum: Summer, settings: string): string {
  return `
CREATE OR REPLACE FUNCTION :schema.graph_links("from" timestamptz, "to" timestamptz, group_by text DEFAULT 'workload',
                                               namespaces text[] DEFAULT NULL)
${LINKS_COLUMNS_SQL}LANGUAGE plpgsql STABLE ${settings} AS $fn$
DECLARE
  rolled bigint;
  part record;
  pieces text := '';
BEGIN
${LINKS_PIECES_START_SQL}      pieces := pieces || format(
        ' UNION ALL SELECT src_endpoint, dst_endpoint, inter_zone, %1$s::bigint, %1$s * tx_bytes, %1$s * rx_bytes,
                  %1$s * (tx_packets + rx_packets), %1$s * connections
           FROM %2$I.flows WHERE start_time >= %3$L AND start_time < %4$L AND (ingest_xid IS NULL OR ingest_xid < %5$s)',
        part.sign, :schema_literal, part.lo, part.hi, rolled);
    ELSE
      pieces := pieces || ${TIER_PIECE_SQL}  RETURN QUERY EXECUTE format($q$
    WITH id_pairs AS (
      SELECT u.src_endpoint, u.dst_endpoint, u.inter_zone, ${sum('u.flows')} AS flows, ${sum('u.tx')} AS tx,
             ${sum('u.rx')} AS rx, ${sum('u.packets')} AS packets, ${sum('u.conns')} AS conns
      FROM (SELECT src_endpoint, dst_endpoint, inter_zone, 1::bigint AS flows, tx_bytes AS tx, rx_bytes AS rx,
                   tx_packets + rx_packets AS packets, connections AS conns
            FROM %2$I.flows WHERE start_time >= %3$L AND start_time < %4$L AND ingest_xid >= %5$s
            %1$s) u
      GROUP BY 1, 2, 3
    ),
    ends AS (
${ENDS_OF_ID_PAIRS_SQL}    )
${linksOfEndsSql(sum)}  $q$, pieces, :schema_literal, $1, $2, rolled, NULL, group_by, namespaces);
END
$fn$;
`;
}

export const NODE_GRAPH_NARROW_SQL = narrowGraphLinksSql(BUILTIN_SUM, "SET work_mem = '64MB'");

// Migration 8: the same function, cheaper per row. Where the time of a 24-hour or 7-day window
// went (EXPLAIN ANALYZE, bench/postgres-rollups): ~25 % in JIT compilation (its estimated cost is
// far above jit_above_cost, but the query reads under a million rows once: compiling cost more
// than it saved), and most of the rest in the built-in sum(bigint), whose numeric/int128 state is
// advanced through a pointer per row and group; bigint_sum keeps a bigint state (int8pl, which
// raises an error on overflow: the sums stay exact or fail, never wrap).
//
// And the cover reads the six-hour tier (rollup-sql.ts SIX_HOUR_TIER_SQL) between days and hours:
// a window starting at 12:07:30 read 11 whole hour buckets up to midnight and hour 12 less its
// first minutes (12 of the 13 buckets it read, each a row per edge); it now reads the 18:00
// six-hour bucket and the 12:00 one less hour 12:00's first minutes.

export const NODE_GRAPH_FAST_SQL = `
-- The exact sum of bigints as a bigint (NULL over no rows, as sum()); an overflow is an error.
CREATE AGGREGATE :schema.bigint_sum(bigint) (SFUNC = int8pl, STYPE = bigint, COMBINEFUNC = int8pl, PARALLEL = SAFE);
${narrowGraphLinksSql(BIGINT_SUM, "SET work_mem = '64MB' SET jit = off")}
${coverFunctionsSql(COVER_V8)}`;
