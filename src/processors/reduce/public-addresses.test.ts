// Public peers as a person reads them, from reduce to what is drawn: reduce's groups go to a
// real PostgreSQL through the postgres exporter, whose graph functions and the shipped dashboard
// name each peer, and to the servicemap, from memory and from PostgreSQL. A domain where
// dnsnames knows one, else the address or its prefix; typed `public`; never `0.0.0.0`.
import test from 'ava';
import { collector, testContext } from '../../../test/harness/context.ts';
import { sendNow } from '../../../test/harness/exporter-queue.ts';
import { expandMacros, readDashboard } from '../../../test/harness/grafana.ts';
import { ManualClock } from '../../../test/harness/manual-clock.ts';
import { missingPostgres, startPostgres, type PostgresServer } from '../../../test/harness/postgres.ts';
import { skipOrFail } from '../../../test/harness/privileges.ts';
import type { Attributes, Flow } from '../../model/index.ts';
import { postgresConfigSchema } from '../../exporters/postgres/config.ts';
import { PostgresExporter } from '../../exporters/postgres/postgres-exporter.ts';
import { servicemapConfigSchema } from '../../exporters/servicemap/config.ts';
import type { Graph } from '../../exporters/servicemap/graph.ts';
import { MemoryGraphSource } from '../../exporters/servicemap/memory-source.ts';
import { ServicemapExporter } from '../../exporters/servicemap/servicemap-exporter.ts';
import { reduceConfigSchema } from './config.ts';
import { ReduceProcessor } from './reduce.ts';

const web: Attributes = {
  'source.k8s.namespace.name': 'shop', 'source.k8s.owner.name': 'web', 'source.k8s.owner.type': 'Deployment',
  'source.k8s.pod.name': 'web-1', 'source.address': '10.1.0.5', 'source.address.type': 'pod',
};
const web2: Attributes = {
  'destination.k8s.namespace.name': 'shop', 'destination.k8s.owner.name': 'web', 'destination.k8s.owner.type': 'Deployment',
  'destination.k8s.pod.name': 'web-1', 'destination.address': '10.1.0.5', 'destination.address.type': 'pod',
};

function flow(attributes: Attributes, txBytes: number, startMs: number): Flow {
  const start = BigInt(startMs) * 1_000_000n;
  return { startTimeUnixNano: start, timeUnixNano: start + 1_000_000_000n, attributes, txBytes, rxBytes: 2 * txBytes, txPackets: 1, rxPackets: 1, connections: 1 };
}

/** Raw flows as k8sattributes and dnsnames leave them: two addresses of one domain, a /24 without names, an IPv6 peer, an internet client. */
function rawFlows(startMs: number): Flow[] {
  return [
    flow({ ...web, 'destination.address': '52.1.1.1', 'destination.address.type': 'public', 'destination.domain': 'api.stripe.com' }, 1, startMs),
    flow({ ...web, 'destination.address': '52.1.1.2', 'destination.address.type': 'public', 'destination.domain': 'api.stripe.com' }, 2, startMs),
    flow({ ...web, 'destination.address': '104.16.3.9', 'destination.address.type': 'public' }, 4, startMs),
    flow({ ...web, 'destination.address': '104.16.3.77', 'destination.address.type': 'public' }, 8, startMs),
    flow({ ...web, 'destination.address': '2606:4700:10::6814:1f', 'destination.address.type': 'public' }, 16, startMs),
    flow({ 'source.address': '198.50.1.77', 'source.address.type': 'public', ...web2 }, 32, startMs),
  ];
}

/** reduce with public_addresses by domain, /24 and /48, as a delta batch for the exporters. */
async function reduced(startMs: number): Promise<Flow[]> {
  const out = collector();
  const config = reduceConfigSchema.parse({ temporality: 'delta', public_addresses: { ipv4_prefix: 24, ipv6_prefix: 48 } });
  const reducer = new ReduceProcessor(testContext('reduce'), config, out, new ManualClock(startMs));
  await reducer.start();
  await reducer.consume({ temporality: 'delta', flows: rawFlows(startMs) });
  await reducer.shutdown();
  // Stamped at the raw flows' time, so the graph windows below find them.
  return out.batches.flatMap((b) => b.flows).map((f) => ({ ...f, startTimeUnixNano: BigInt(startMs) * 1_000_000n, timeUnixNano: BigInt(startMs + 1_000) * 1_000_000n }));
}

/** Bytes both ways of each peer, as the test's flows give them. */
const EXPECTED_PEERS = {
  'api.stripe.com': 9, // 1+2 sent, 2+4 received
  '104.16.3.0/24': 36,
  '2606:4700:10::/48': 48,
  '198.50.1.0/24': 96,
};

test('reduce: each public peer is a domain, an address prefix, typed public; nothing is 0.0.0.0', async (t) => {
  const flows = await reduced(Date.UTC(2030, 0, 1));
  const peers = flows.map((f) => {
    const end = f.attributes['source.address.type'] === 'public' ? 'source' : 'destination';
    return [f.attributes[`${end}.address`] ?? f.attributes['destination.domain'], f.attributes[`${end}.address.type`], f.txBytes + f.rxBytes];
  });
  t.deepEqual(peers.sort(), Object.entries(EXPECTED_PEERS).map(([peer, bytes]) => [peer, 'public', bytes]).sort());
  t.false(JSON.stringify(flows.map((f) => f.attributes)).includes('0.0.0.0'));
});

const unavailable = missingPostgres();
let server: PostgresServer | undefined;

test.after.always(async () => {
  await server?.stop();
});

test.serial('through PostgreSQL: graph_nodes, the dashboard and the servicemap name each public peer', async (t) => {
  if (unavailable) return skipOrFail(t, unavailable);
  server = await startPostgres();
  const url = await server.createDatabase('public_peers');
  const startMs = Date.now() - 60_000;
  const flows = await reduced(startMs);
  const exporter = new PostgresExporter(testContext('postgres'), postgresConfigSchema.parse({ endpoint: url, retention: 0 }));
  await exporter.start();
  await sendNow(exporter, { temporality: 'delta', flows });
  await exporter.shutdown();

  const from = new Date(startMs - 60_000).toISOString();
  const to = new Date(startMs + 120_000).toISOString();
  // The node graph: external ends titled by domain or prefix, subtitled public.
  const nodes = await server.query<{ id: string; title: string; subtitle: string; bytes: number }>(
    'public_peers', `SELECT id, title, subtitle, mainstat::int AS bytes FROM podflow.graph_nodes($1, $2) WHERE detail__type = 'external'`, [from, to]);
  t.deepEqual(nodes.map((n) => [n.id, n.title, n.subtitle, n.bytes]).sort(), Object.entries(EXPECTED_PEERS).map(([peer, bytes]) => [peer, peer, 'public', bytes]).sort());

  // The dashboard's tables of external destinations and top talkers.
  const panels = readDashboard().panels;
  const run = (title: string) => server!.query('public_peers', expandMacros(panels.find((p) => p.title === title)!.targets[0]!.rawSql, from, to, 60));
  const external = await run('External destinations');
  t.deepEqual(external.map((r) => r.destination).sort(), ['104.16.3.0/24', '2606:4700:10::/48', 'api.stripe.com']);
  const talkers = await run('Top talkers');
  t.deepEqual(talkers.map((r) => `${r.source} → ${r.destination}`).sort(), [
    '198.50.1.0/24 → shop/web', 'shop/web → 104.16.3.0/24', 'shop/web → 2606:4700:10::/48', 'shop/web → api.stripe.com',
  ]);

  // The service map, from PostgreSQL and from memory: the same readable titles, drawn as the internet.
  const map = new ServicemapExporter(testContext('servicemap'), servicemapConfigSchema.parse({ endpoint: '127.0.0.1:0', source: { postgres: { endpoint: url } } }));
  await map.start();
  t.teardown(() => map.shutdown());
  const fromPostgres = (await (await fetch(`http://127.0.0.1:${map.address.port}/api/graph?group=workload`)).json()) as Graph;
  const memory = new MemoryGraphSource(3_600_000, 5_000, startMs - 1_000);
  memory.apply({ temporality: 'delta', flows }, startMs + 1_000);
  const fromMemory = await memory.graph({ windowMs: 3_600_000, grouping: 'workload', namespaces: [] }, startMs + 2_000);
  for (const graph of [fromPostgres, fromMemory]) {
    const outside = graph.nodes.filter((n) => n.namespace === null).map((n) => [n.title, n.kind]);
    t.deepEqual(outside.sort(), Object.keys(EXPECTED_PEERS).map((peer) => [peer, 'Internet']).sort(), graph.source);
    t.false(JSON.stringify(graph).includes('0.0.0.0'), graph.source);
  }
});
