// graph_nodes / graph_edges on a known topology, and the Grafana dashboard that calls them,
// against a real PostgreSQL server.
import test from 'ava';
import { expandMacros, readDashboard } from '../../../test/harness/grafana.ts';
import { skipOrFail } from '../../../test/harness/privileges.ts';
import { missingPostgres, startPostgres, type PostgresServer } from '../../../test/harness/postgres.ts';
import { queued } from '../../../test/harness/exporter-queue.ts';
import type { Attributes } from '../../model/index.ts';
import { postgresConfigSchema } from './config.ts';
import { postgresExporterFactory } from './index.ts';
import { PostgresExporter } from './postgres-exporter.ts';
import { deltaBatch, flowAt } from './testdata/flows.ts';

const T0 = Date.UTC(2030, 5, 1, 10);
const FROM = new Date(T0).toISOString();
const TO = new Date(T0 + 3_600_000).toISOString();

const unavailable = missingPostgres();
let server: PostgresServer | undefined;
let db = '';

function workload(end: 'source' | 'destination', ns: string, kind: string, name: string, zone?: string): Attributes {
  return {
    [`${end}.k8s.namespace.name`]: ns,
    [`${end}.k8s.owner.type`]: kind,
    [`${end}.k8s.owner.name`]: name,
    [`${end}.k8s.pod.name`]: `${name}-abc`,
    [`${end}.address.type`]: 'pod',
    ...(zone ? { [`${end}.cloud.availability_zone`]: zone } : {}),
  };
}

// P productpage (zone a), R reviews (zone b), RA ratings (zone b), G api.github.com, N node-a,
// C kube-system coredns, X a public client, D a bare pod, Q an unknown private address.
const TOPOLOGY = [
  flowAt(T0 + 1000, { ...workload('source', 'default', 'Deployment', 'productpage', 'a'), ...workload('destination', 'default', 'Deployment', 'reviews', 'b'), 'network.flow.inter_zone': true },
    { txBytes: 1000, rxBytes: 5000, txPackets: 10, rxPackets: 20, connections: 2 }),
  flowAt(T0 + 2000, { ...workload('source', 'default', 'Deployment', 'reviews', 'b'), ...workload('destination', 'default', 'Deployment', 'ratings', 'b'), 'network.flow.inter_zone': false },
    { txBytes: 300, rxBytes: 700, txPackets: 3, rxPackets: 4, connections: 1 }),
  flowAt(T0 + 3000, { ...workload('source', 'default', 'Deployment', 'reviews', 'b'), ...workload('destination', 'default', 'Deployment', 'ratings', 'b'), 'network.flow.inter_zone': false },
    { txBytes: 100, rxBytes: 100, txPackets: 1, rxPackets: 1, connections: 1 }),
  flowAt(T0 + 4000, { ...workload('source', 'default', 'Deployment', 'productpage', 'a'), 'destination.address': '140.82.112.3', 'destination.domain': 'api.github.com', 'destination.address.type': 'public' },
    { txBytes: 200, rxBytes: 800, txPackets: 2, rxPackets: 3, connections: 1 }),
  flowAt(T0 + 5000, { 'source.k8s.owner.type': 'Node', 'source.k8s.owner.name': 'node-a', 'source.address.type': 'node', 'source.address': '10.0.1.1', ...workload('destination', 'kube-system', 'DaemonSet', 'coredns') },
    { txBytes: 50, rxBytes: 50, txPackets: 1, rxPackets: 1, connections: 1 }),
  flowAt(T0 + 6000, { 'source.address': '203.0.113.9', 'source.address.type': 'public', ...workload('destination', 'default', 'Deployment', 'productpage', 'a') },
    { txBytes: 400, rxBytes: 4000, txPackets: 4, rxPackets: 5, connections: 1 }),
  flowAt(T0 + 7000, { ...workload('source', 'default', 'Deployment', 'reviews', 'b'), ...workload('destination', 'default', 'Deployment', 'reviews', 'b'), 'network.flow.inter_zone': false },
    { txBytes: 10, rxBytes: 10, txPackets: 1, rxPackets: 1, connections: 1 }),
  flowAt(T0 + 8000, { 'source.k8s.namespace.name': 'default', 'source.k8s.pod.name': 'debug', 'destination.address': '10.0.0.5', 'destination.address.type': 'private' },
    { txBytes: 1, rxBytes: 2, txPackets: 1, rxPackets: 1, connections: 0 }),
  // outside [FROM, TO): in neither function's answer
  flowAt(T0 - 1000, { ...workload('source', 'default', 'Deployment', 'productpage', 'a'), ...workload('destination', 'default', 'Deployment', 'reviews', 'b') }, { txBytes: 99_999 }),
  flowAt(T0 + 3_601_000, { ...workload('source', 'default', 'Deployment', 'stranger', 'a') }, { txBytes: 77_777 }),
];

test.before(async () => {
  if (unavailable) return;
  server = await startPostgres();
  const url = await server.createDatabase('graph');
  db = 'graph';
  const config = postgresConfigSchema.parse({ endpoint: url, retention: 0 });
  const q = queued('postgres/graph', postgresExporterFactory.queueSettings!(config), (ctx) => new PostgresExporter(ctx, config));
  await q.exporter.start();
  await q.consume(deltaBatch(TOPOLOGY));
  if (!(await q.shutdown())) throw new Error('the topology was not written');
});

test.after.always(async () => {
  await server?.stop();
});

function srv(t: import('ava').ExecutionContext): PostgresServer | undefined {
  if (server) return server;
  skipOrFail(t, unavailable ?? 'no PostgreSQL server');
  return undefined;
}

const P = 'default/Deployment/productpage';
const R = 'default/Deployment/reviews';
const RA = 'default/Deployment/ratings';
const C = 'kube-system/DaemonSet/coredns';

test('graph_edges: one edge per source/target pair with bytes and connections', async (t) => {
  const s = srv(t);
  if (!s) return;
  const rows = await s.query(db, `SELECT id, source, target, mainstat::int, secondarystat::int, detail__tx_bytes::int AS tx,
    detail__rx_bytes::int AS rx, detail__packets::int AS packets FROM podflow.graph_edges($1, $2)`, [FROM, TO]);
  t.deepEqual(rows, [
    { id: `${P} -> ${R}`, source: P, target: R, mainstat: 6000, secondarystat: 2, tx: 1000, rx: 5000, packets: 30 },
    { id: `203.0.113.9 -> ${P}`, source: '203.0.113.9', target: P, mainstat: 4400, secondarystat: 1, tx: 400, rx: 4000, packets: 9 },
    { id: `${R} -> ${RA}`, source: R, target: RA, mainstat: 1200, secondarystat: 2, tx: 400, rx: 800, packets: 9 },
    { id: `${P} -> api.github.com`, source: P, target: 'api.github.com', mainstat: 1000, secondarystat: 1, tx: 200, rx: 800, packets: 5 },
    { id: `node/node-a -> ${C}`, source: 'node/node-a', target: C, mainstat: 100, secondarystat: 1, tx: 50, rx: 50, packets: 2 },
    { id: `${R} -> ${R}`, source: R, target: R, mainstat: 20, secondarystat: 1, tx: 10, rx: 10, packets: 2 },
    { id: 'default/Pod/debug -> 10.0.0.5', source: 'default/Pod/debug', target: '10.0.0.5', mainstat: 3, secondarystat: 0, tx: 1, rx: 2, packets: 2 },
  ]);
});

test('graph_nodes: workloads, a node and external ends with stats, arcs and details', async (t) => {
  const s = srv(t);
  if (!s) return;
  const rows = await s.query(db, `SELECT id, title, subtitle, mainstat::int, secondarystat::int, arc__in_zone, arc__cross_zone,
    arc__external, detail__type, detail__kind, detail__namespace, detail__sent_bytes::int AS sent, detail__received_bytes::int AS received
    FROM podflow.graph_nodes($1, $2)`, [FROM, TO]);
  const node = (id: string, title: string, subtitle: string, mainstat: number, secondarystat: number, arcs: [number, number, number], type: string, kind: string | null, namespace: string | null, sent: number, received: number) => ({
    id, title, subtitle, mainstat, secondarystat, arc__in_zone: arcs[0], arc__cross_zone: arcs[1], arc__external: arcs[2],
    detail__type: type, detail__kind: kind, detail__namespace: namespace, sent, received,
  });
  t.deepEqual(rows, [
    node(P, 'productpage', 'default', 11_400, 4, [0, 6000 / 11_400, 5400 / 11_400], 'workload', 'Deployment', 'default', 5200, 6200),
    node(R, 'reviews', 'default', 7220, 5, [1220 / 7220, 6000 / 7220, 0], 'workload', 'Deployment', 'default', 5410, 1810),
    node('203.0.113.9', '203.0.113.9', 'public', 4400, 1, [0, 0, 1], 'external', null, null, 400, 4000),
    node(RA, 'ratings', 'default', 1200, 2, [1, 0, 0], 'workload', 'Deployment', 'default', 800, 400),
    node('api.github.com', 'api.github.com', 'public', 1000, 1, [0, 0, 1], 'external', null, null, 800, 200),
    node(C, 'coredns', 'kube-system', 100, 1, [1, 0, 0], 'workload', 'DaemonSet', 'kube-system', 50, 50),
    node('node/node-a', 'node-a', 'node', 100, 1, [1, 0, 0], 'node', 'Node', null, 50, 50),
    node('10.0.0.5', '10.0.0.5', 'private', 3, 0, [0, 0, 1], 'external', null, null, 2, 1),
    node('default/Pod/debug', 'debug', 'default', 3, 0, [0, 0, 1], 'workload', 'Pod', 'default', 1, 2),
  ]);
  for (const r of rows) t.true(Math.abs(r.arc__in_zone + r.arc__cross_zone + r.arc__external - 1) < 1e-12, `${r.id}: arcs sum to 1`);
});

test('node graph contract: unique node ids, every edge endpoint is a node, an empty window is empty', async (t) => {
  const s = srv(t);
  if (!s) return;
  const nodes = await s.query<{ id: string }>(db, 'SELECT id FROM podflow.graph_nodes($1, $2)', [FROM, TO]);
  const edges = await s.query<{ id: string; source: string; target: string }>(db, 'SELECT id, source, target FROM podflow.graph_edges($1, $2)', [FROM, TO]);
  const ids = new Set(nodes.map((n) => n.id));
  t.is(ids.size, nodes.length);
  t.is(new Set(edges.map((e) => e.id)).size, edges.length);
  for (const e of edges) {
    t.true(ids.has(e.source), `edge ${e.id}: source is a node`);
    t.true(ids.has(e.target), `edge ${e.id}: target is a node`);
  }
  // every node touches an edge
  const ends = new Set(edges.flatMap((e) => [e.source, e.target]));
  t.deepEqual([...ids].sort(), [...ends].sort());
  // column names Grafana matches (it lower-cases them; arc__/detail__ prefixes are literal)
  const cols = await s.query<{ name: string }>(db, `SELECT a.attname AS name FROM pg_proc p, unnest(p.proargnames, p.proargmodes) AS a(attname, mode)
    WHERE p.proname = 'graph_nodes' AND a.mode = 't' ORDER BY a.attname`);
  for (const required of ['id', 'title', 'subtitle', 'mainstat', 'secondarystat']) t.true(cols.some((c) => c.name === required), required);
  t.true(cols.every((c) => /^(id|title|subtitle|mainstat|secondarystat|arc__\w+|detail__\w+)$/.test(c.name)));
  t.deepEqual(await s.query(db, 'SELECT * FROM podflow.graph_nodes($1, $1)', [FROM]), []);
  t.deepEqual(await s.query(db, 'SELECT * FROM podflow.graph_edges($1, $1)', [FROM]), []);
});

test('dashboard: valid JSON, node graph queries call the functions, every panel query runs', async (t) => {
  const dashboard = readDashboard();
  const graph = dashboard.panels.filter((p) => p.type === 'nodeGraph');
  t.is(graph.length, 1);
  const byRef = Object.fromEntries(graph[0]!.targets.map((q) => [q.refId, q]));
  t.deepEqual(Object.keys(byRef).sort(), ['edges', 'nodes']);
  t.regex(byRef.nodes!.rawSql, /podflow\.graph_nodes\(\$__timeFrom\(\), \$__timeTo\(\), '\$\{group_by\}'\)/);
  t.regex(byRef.edges!.rawSql, /podflow\.graph_edges\(\$__timeFrom\(\), \$__timeTo\(\), '\$\{group_by\}'\)/);
  // the variable that switches the level offers every grouping the functions know
  const variable = dashboard.templating.list.find((v) => v.name === 'group_by');
  t.is(variable?.query, 'workload,namespace,node,zone');
  for (const q of graph[0]!.targets) t.is(q.format, 'table');
  const titles = dashboard.panels.map((p) => p.title);
  for (const title of ['Top talkers', 'Cross-zone bytes', 'Bytes leaving the cluster']) t.true(titles.includes(title), title);
  for (const p of dashboard.panels) for (const q of p.targets) t.is(q.datasource.uid, 'podflow-postgres');

  const s = srv(t);
  if (!s) return;
  const results: Record<string, Array<Record<string, unknown>>> = {};
  for (const p of dashboard.panels) {
    for (const q of p.targets) {
      const sql = expandMacros(q.rawSql, FROM, TO, 60, { group_by: 'workload' });
      t.notRegex(sql, /\$__/, `${p.title}/${q.refId}: every macro expanded`);
      results[`${p.title}/${q.refId}`] = await s.query(db, sql);
    }
  }
  // the node graph at the other levels: every query runs and the ends are grouped
  const levels: Record<string, number> = {};
  for (const groupBy of ['namespace', 'node', 'zone']) {
    for (const q of graph[0]!.targets) {
      levels[`${groupBy}/${q.refId}`] = (await s.query(db, expandMacros(q.rawSql, FROM, TO, 60, { group_by: groupBy }))).length;
    }
  }
  // namespaces default and kube-system, node-a, 3 external ends; by node: the nodes of the
  // workloads are not in these flows (one unknown node), node-a, 3 external; by zone: a, b, unknown, 3 external
  t.deepEqual(levels, { 'namespace/nodes': 6, 'namespace/edges': 5, 'node/nodes': 5, 'node/edges': 5, 'zone/nodes': 6, 'zone/edges': 6 });
  // the panels' answers on the known topology
  t.is(results['Service map/nodes']!.length, 9);
  t.is(results['Service map/edges']!.length, 7);
  t.deepEqual(results['Top talkers/A']![0], { source: 'default/productpage', destination: 'default/reviews', bytes: '6000', connections: '2' });
  t.deepEqual(results['Cross-zone bytes/A'], [{ time: String(T0 / 1000), metric: 'a → b', bytes: '6000' }]);
  // out: 200 sent to api.github.com by a default pod + 4000 answered by one to the public client
  t.deepEqual(results['Bytes leaving the cluster/A'], [{ time: String(T0 / 1000), metric: 'default', bytes: '4200' }]);
  t.deepEqual(results['External destinations/A'], [{ destination: 'api.github.com', bytes_sent: '200', bytes_received: '800', connections: '1' }]);
});
