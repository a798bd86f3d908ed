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
