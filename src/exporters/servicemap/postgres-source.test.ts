// The PostgreSQL source against a real server: the postgres exporter writes flows, the
// servicemap reads them back through the graph functions, and draws the same workload and
// namespace maps as the in-memory source does from the same flows. Serial: one test stops the server.
import test from 'ava';
import { testContext } from '../../../test/harness/context.ts';
import { sendNow } from '../../../test/harness/exporter-queue.ts';
import { missingPostgres, startPostgres, type PostgresServer } from '../../../test/harness/postgres.ts';
import { skipOrFail } from '../../../test/harness/privileges.ts';
import type { Flow } from '../../model/index.ts';
import { postgresConfigSchema } from '../postgres/config.ts';
import { PostgresExporter } from '../postgres/postgres-exporter.ts';
import { servicemapConfigSchema } from './config.ts';
import type { Graph, GraphEdge } from './graph.ts';
import { MemoryGraphSource } from './memory-source.ts';
import { ServicemapExporter } from './servicemap-exporter.ts';
import { bookinfoFlows, counters, externalFlow, HOSTILE, workloadFlow } from './testdata/flows.ts';

const unavailable = missingPostgres();
let server: PostgresServer | undefined;
let url = '';

/** The flows, stamped a minute ago (the exporter writes their start times), plus ends of every type. */
function flows(): Flow[] {
  const start = BigInt(Date.now() - 60_000) * 1_000_000n;
  return [
    ...bookinfoFlows(),
    // A node process on node-a calling coredns.
    counters({
      'source.k8s.owner.type': 'Node', 'source.k8s.owner.name': 'node-a', 'source.address.type': 'node', 'source.address': '192.168.50.1',
      'destination.k8s.namespace.name': 'kube-system', 'destination.k8s.owner.name': 'coredns', 'destination.k8s.owner.type': 'DaemonSet', 'destination.port': 53, 'network.transport': 'udp',
    }, [50, 1], [60, 1]),
    counters(workloadFlow({ namespace: HOSTILE.namespace, name: HOSTILE.workload }, { namespace: 'bookinfo', name: 'details-v1', zone: 'zone-a' }), [70, 1], [80, 1]),
    counters(externalFlow({ namespace: 'bookinfo', name: 'details-v1' }, { address: '0.0.0.0', domain: HOSTILE.domain.replace('\u0000', '') }), [90, 1], [100, 1]),
  ].map((f) => ({ ...f, startTimeUnixNano: start, timeUnixNano: start + 15_000_000_000n }));
}

test.before(async () => {
  if (unavailable) return;
  server = await startPostgres();
  url = await server.createDatabase('servicemap');
  const exporter = new PostgresExporter(testContext('postgres'), postgresConfigSchema.parse({ endpoint: url, retention: 0 }));
  await exporter.start();
  await sendNow(exporter, { temporality: 'delta', flows: flows() });
  await exporter.shutdown();
});

test.after.always(async () => {
  await server?.stop();
});

/** What both sources agree on: per edge, bytes, packets, connections, zones crossed, where it goes. */
function comparable(graph: Graph) {
  const edge = (e: GraphEdge) => [e.tx_bytes, e.rx_bytes, e.packets, e.connections, e.cross_zone_bytes, e.leaves_cluster, e.internet];
  return {
    edges: Object.fromEntries(graph.edges.map((e) => [e.id, edge(e)])),
    nodes: Object.fromEntries(graph.nodes.map((n) => [n.id, [n.title, n.kind, n.namespace, n.bytes_in, n.bytes_out]])),
    namespaces: graph.namespaces,
  };
}

for (const grouping of ['workload', 'namespace', 'node', 'zone'] as const) {
  test.serial(`${grouping} map from PostgreSQL's graph functions equals the in-memory map of the same flows`, async (t) => {
    if (!server) return skipOrFail(t, unavailable ?? 'no PostgreSQL server');
    const exporter = new ServicemapExporter(testContext('servicemap/pg'), servicemapConfigSchema.parse({ endpoint: '127.0.0.1:0', source: { postgres: { endpoint: url } } }));
    await exporter.start();
    t.teardown(() => exporter.shutdown());
    // Batches given to a PostgreSQL-backed map are not kept (it reads what the postgres exporter wrote).
    await sendNow(exporter, { temporality: 'delta', flows: flows() });
    const res = await fetch(`http://127.0.0.1:${exporter.address.port}/api/graph?group=${grouping}`);
    t.is(res.status, 200);
    const fromPostgres = (await res.json()) as Graph;
    t.is(fromPostgres.source, 'postgres');

    const memory = new MemoryGraphSource(3_600_000, 5_000, Date.now() - 1_000);
    memory.apply({ temporality: 'delta', flows: flows() }, Date.now());
    const fromMemory = await memory.graph({ windowMs: 3_600_000, grouping, namespaces: [] }, Date.now());
    t.deepEqual(comparable(fromPostgres), comparable(fromMemory));
    t.true(fromPostgres.edges.length >= { workload: 10, namespace: 5, node: 3, zone: 3 }[grouping]);
    // PostgreSQL keeps only the packet sum.
    t.true(fromPostgres.edges.every((e) => e.tx_packets === null && e.rx_packets === null));
  });
}

test.serial('PostgreSQL source: every grouping, an unknown one refused, a namespace filter at every grouping', async (t) => {
  if (!server) return skipOrFail(t, unavailable ?? 'no PostgreSQL server');
  const exporter = new ServicemapExporter(testContext('servicemap/pg'), servicemapConfigSchema.parse({ endpoint: '127.0.0.1:0', source: { postgres: { endpoint: url } } }));
  await exporter.start();
  t.teardown(() => exporter.shutdown());
  const base = `http://127.0.0.1:${exporter.address.port}`;
  const pod = await fetch(`${base}/api/graph?group=pod`);
  t.is(pod.status, 400);
  t.is(((await pod.json()) as { error: string }).error, 'group: must be one of workload, namespace, node, zone');
  for (const group of ['node', 'zone']) {
    const filtered = (await (await fetch(`${base}/api/graph?group=${group}&namespace=load`)).json()) as Graph;
    const memory = new MemoryGraphSource(3_600_000, 5_000, Date.now() - 1_000);
    memory.apply({ temporality: 'delta', flows: flows() }, Date.now());
    const fromMemory = await memory.graph({ windowMs: 3_600_000, grouping: group as 'node' | 'zone', namespaces: ['load'] }, Date.now());
    t.deepEqual(comparable(filtered), comparable(fromMemory), group);
    t.true(filtered.edges.length > 0);
  }
  const load = (await (await fetch(`${base}/api/graph?namespace=load`)).json()) as Graph;
  t.deepEqual(load.edges.map((e) => [e.id, e.tx_bytes, e.rx_bytes]), [['workload:load/Deployment/loadgen -> workload:bookinfo/Deployment/productpage-v1', 27_000, 91_000]]);
});

test.serial('PostgreSQL source down: 503 naming the source, and the map comes back with the server', async (t) => {
  if (!server) return skipOrFail(t, unavailable ?? 'no PostgreSQL server');
  const exporter = new ServicemapExporter(testContext('servicemap/pg'), servicemapConfigSchema.parse({ endpoint: '127.0.0.1:0', source: { postgres: { endpoint: url, connect_timeout: '2s' } } }));
  await exporter.start();
  t.teardown(() => exporter.shutdown());
  const base = `http://127.0.0.1:${exporter.address.port}`;
  await server.stopServer('fast');
  try {
    const down = await fetch(`${base}/api/graph`);
    t.is(down.status, 503);
    t.regex(((await down.json()) as { error: string }).error, /^postgres source: /);
  } finally {
    await server.startServer();
  }
  const back = await fetch(`${base}/api/graph`);
  t.is(back.status, 200);
  t.true(((await back.json()) as Graph).edges.length > 0);
});
