// The in-memory map: what /api/graph says about known reduced flows, under every grouping, over
// time windows, with cumulative input, past max_edges and with costs.
import test from 'ava';
import type { Flow, FlowBatch } from '../../model/index.ts';
import type { Grouping } from './ends.ts';
import { SLICES } from './flow-window.ts';
import type { Graph, GraphEdge } from './graph.ts';
import { MemoryGraphSource } from './memory-source.ts';
import { bookinfoFlows, counters, externalFlow, HOSTILE, workloadFlow } from './testdata/flows.ts';

const HOUR = 3_600_000;
const T0 = Date.UTC(2030, 0, 1, 12);

const delta = (flows: Flow[]): FlowBatch => ({ temporality: 'delta', flows });
const cumulative = (flows: Flow[]): FlowBatch => ({ temporality: 'cumulative', flows });

async function graphOf(source: MemoryGraphSource, nowMs: number, grouping: Grouping = 'workload', windowMs = HOUR, namespaces: string[] = []): Promise<Graph> {
  return source.graph({ windowMs, grouping, namespaces }, nowMs);
}

function edge(graph: Graph, id: string): GraphEdge {
  const found = graph.edges.find((e) => e.id === id);
  if (!found) throw new Error(`no edge ${id} in ${graph.edges.map((e) => e.id).join(', ')}`);
  return found;
}

const W = (ns: string, kind: string, name: string) => `workload:${ns}/${kind}/${name}`;
const PRODUCTPAGE = W('bookinfo', 'Deployment', 'productpage-v1');
const REVIEWS = W('bookinfo', 'Deployment', 'reviews-v1');
const RATINGS = W('bookinfo', 'StatefulSet', 'ratings');
const DETAILS = W('bookinfo', 'Deployment', 'details-v1');

test('workload map: one edge per workload pair, zones summed, exact counters, readable titles', async (t) => {
  const source = new MemoryGraphSource(HOUR, 5_000, T0);
  source.apply(delta(bookinfoFlows()), T0 + 1_000);
  const graph = await graphOf(source, T0 + 11_000);
  t.is(graph.source, 'memory');
  t.is(graph.edges.length, 7);
  // productpage calls reviews in zone-a (same zone) and in zone-b (across zones): one edge.
  t.deepEqual(edge(graph, `${PRODUCTPAGE} -> ${REVIEWS}`), {
    id: `${PRODUCTPAGE} -> ${REVIEWS}`,
    source: PRODUCTPAGE,
    target: REVIEWS,
    tx_bytes: 9_000 + 9_100,
    rx_bytes: 60_000 + 61_000,
    tx_packets: 90 + 91,
    rx_packets: 80 + 81,
    packets: 90 + 91 + 80 + 81,
    connections: 42,
    bytes_per_second: (18_100 + 121_000) / 11,
    cross_zone: true,
    cross_zone_bytes: 9_100 + 61_000,
    leaves_cluster: false,
    internet: false,
  });
  t.false(edge(graph, `${PRODUCTPAGE} -> ${DETAILS}`).cross_zone);
  t.is(edge(graph, `${PRODUCTPAGE} -> ${DETAILS}`).cross_zone_bytes, 0);
  const reviews = graph.nodes.find((n) => n.id === REVIEWS)!;
  t.deepEqual(reviews, {
    id: REVIEWS, title: 'bookinfo/reviews-v1', kind: 'Deployment', namespace: 'bookinfo', zone: null, zones: ['zone-a', 'zone-b'],
    // in: what productpage sent it and what ratings and 10.20.0.5 answered; out: the reverse.
    bytes_in: 18_100 + 30_000 + 30_500 + 900, bytes_out: 121_000 + 4_000 + 4_100 + 700,
  });
  const ratings = graph.nodes.find((n) => n.id === RATINGS)!;
  t.is(ratings.kind, 'StatefulSet');
  t.is(ratings.zone, 'zone-b');
  // Edges come most bytes first.
  const totals = graph.edges.map((e) => e.tx_bytes + e.rx_bytes);
  t.deepEqual(totals, [...totals].sort((a, b) => b - a));
  t.deepEqual(graph.namespaces, ['bookinfo', 'load']);
  t.is(graph.window_ms, HOUR);
  t.is(graph.max_window_ms, HOUR);
  t.is(graph.from, new Date(T0).toISOString());
  t.is(graph.updated_at, new Date(T0 + 1_000).toISOString());
});

test('external peers: by domain, folded public addresses as the internet, private addresses as themselves; never 0.0.0.0', async (t) => {
  const source = new MemoryGraphSource(HOUR, 5_000, T0);
  source.apply(delta([
    ...bookinfoFlows(),
    counters(externalFlow({ namespace: 'bookinfo', name: 'details-v1' }, { address: '::' }), [5, 1], [6, 1]),
    counters(externalFlow({ namespace: 'bookinfo', name: 'details-v1' }, { address: '140.82.112.3' }), [7, 1], [8, 1]),
  ]), T0);
  const graph = await graphOf(source, T0 + 1_000);
  const byId = Object.fromEntries(graph.nodes.map((n) => [n.id, n]));
  t.like(byId['external:api.books.example.com'], { title: 'api.books.example.com', kind: 'Internet', namespace: null });
  t.like(byId['internet:public'], { title: 'internet (public addresses)', kind: 'Internet' });
  t.like(byId['external:10.20.0.5'], { title: '10.20.0.5', kind: 'External' });
  t.like(byId['external:140.82.112.3'], { title: '140.82.112.3', kind: 'Internet' });
  // 0.0.0.0 and :: are one honest node, never drawn as an address.
  t.false(graph.nodes.some((n) => n.title === '0.0.0.0' || n.title === '::'));
  t.deepEqual(edge(graph, `${DETAILS} -> internet:public`), {
    id: `${DETAILS} -> internet:public`, source: DETAILS, target: 'internet:public',
    tx_bytes: 1_000 + 5, rx_bytes: 5_000 + 6, tx_packets: 11, rx_packets: 10, packets: 21, connections: 4,
    bytes_per_second: (1_005 + 5_006) / 1, cross_zone: false, cross_zone_bytes: 0, leaves_cluster: true, internet: true,
  });
  t.like(edge(graph, `${REVIEWS} -> external:10.20.0.5`), { leaves_cluster: true, internet: false });
  t.like(edge(graph, `${DETAILS} -> external:api.books.example.com`), { leaves_cluster: true, internet: true, tx_bytes: 3_000, rx_bytes: 420_000 });
});

test('groupings: namespace, zone and node sum the same bytes into fewer nodes', async (t) => {
  const source = new MemoryGraphSource(HOUR, 5_000, T0);
  const a = { namespace: 'shop', name: 'web', zone: 'z1', node: 'n1' };
  const b = { namespace: 'shop', name: 'api', zone: 'z2', node: 'n2' };
  const c = { namespace: 'data', name: 'db', kind: 'StatefulSet', zone: 'z2', node: 'n2' };
  const d = { namespace: 'data', name: 'cache', zone: 'z1', node: 'n1' };
  source.apply(delta([
    counters(workloadFlow(a, b), [100, 1], [1_000, 2]),
    counters(workloadFlow(b, c), [200, 3], [2_000, 4]),
    counters(workloadFlow(a, d), [300, 5], [3_000, 6]),
    counters(workloadFlow(b, d), [400, 7], [4_000, 8]),
    // A node process (hostNetwork) on n1 calling db.
    counters({ ...workloadFlow(a, c), 'source.k8s.owner.type': 'Node', 'source.k8s.owner.name': 'n1', 'source.address.type': 'node' }, [1, 1], [2, 1]),
  ]), T0);
  const pairs = (g: Graph) => Object.fromEntries(g.edges.map((e) => [e.id, [e.tx_bytes, e.rx_bytes, e.cross_zone_bytes]]));

  const namespaces = await graphOf(source, T0 + 1_000, 'namespace');
  t.deepEqual(pairs(namespaces), {
    'namespace:shop -> namespace:shop': [100, 1_000, 1_100],
    'namespace:shop -> namespace:data': [200 + 300 + 400, 2_000 + 3_000 + 4_000, 4_400],
    'node:n1 -> namespace:data': [1, 2, 3],
  });
  t.like(namespaces.nodes.find((n) => n.id === 'namespace:data'), { title: 'data', kind: 'Namespace', namespace: 'data', zone: null, zones: ['z1', 'z2'] });

  const zones = await graphOf(source, T0 + 1_000, 'zone');
  t.deepEqual(pairs(zones), {
    'zone:z1 -> zone:z2': [100 + 1, 1_000 + 2, 1_100 + 3],
    'zone:z2 -> zone:z2': [200, 2_000, 0],
    'zone:z1 -> zone:z1': [300, 3_000, 0],
    'zone:z2 -> zone:z1': [400, 4_000, 4_400],
  });

  const nodes = await graphOf(source, T0 + 1_000, 'node');
  t.deepEqual(pairs(nodes), {
    'node:n1 -> node:n2': [100 + 1, 1_000 + 2, 1_100 + 3],
    'node:n2 -> node:n2': [200, 2_000, 0],
    'node:n1 -> node:n1': [300, 3_000, 0],
    'node:n2 -> node:n1': [400, 4_000, 4_400],
  });
  // Without node names in the flows (reduce's default group_by drops them) the map says so.
  const unnamed = new MemoryGraphSource(HOUR, 5_000, T0);
  unnamed.apply(delta([counters(workloadFlow({ namespace: 'shop', name: 'web' }, { namespace: 'shop', name: 'api' }), [1, 1], [1, 1])]), T0);
  t.deepEqual((await graphOf(unnamed, T0, 'node')).nodes.map((n) => [n.id, n.title]), [['unknown:node', '(node not in the flows)']]);
  t.deepEqual((await graphOf(unnamed, T0, 'zone')).nodes.map((n) => [n.id, n.title]), [['unknown:zone', '(zone not in the flows)']]);
});

test('namespace filter: edges with an end in a chosen namespace; the choices stay all namespaces', async (t) => {
  const source = new MemoryGraphSource(HOUR, 5_000, T0);
  source.apply(delta(bookinfoFlows()), T0);
  const load = await graphOf(source, T0 + 1_000, 'workload', HOUR, ['load']);
  t.deepEqual(load.edges.map((e) => e.id), [`${W('load', 'Deployment', 'loadgen')} -> ${PRODUCTPAGE}`]);
  t.deepEqual(load.nodes.map((n) => n.id).sort(), [PRODUCTPAGE, W('load', 'Deployment', 'loadgen')].sort());
  t.deepEqual(load.namespaces, ['bookinfo', 'load']);
  const both = await graphOf(source, T0 + 1_000, 'workload', HOUR, ['load', 'bookinfo']);
  t.is(both.edges.length, 7);
  t.is((await graphOf(source, T0 + 1_000, 'workload', HOUR, ['nope'])).edges.length, 0);
});

test('window: a query sums the slices it covers, old slices leave the window, rates use the covered time', async (t) => {
  const sliceMs = HOUR / SLICES; // 1 minute
  const source = new MemoryGraphSource(HOUR, 5_000, T0);
  const ab = workloadFlow({ namespace: 'x', name: 'a' }, { namespace: 'x', name: 'b' });
  const id = `${W('x', 'Deployment', 'a')} -> ${W('x', 'Deployment', 'b')}`;
  source.apply(delta([counters(ab, [1_000, 1], [0, 0])]), T0 + 10_000); // slice 0
  source.apply(delta([counters(ab, [200, 1], [0, 0])]), T0 + 30 * sliceMs + 5_000); // slice 30
  source.apply(delta([counters(ab, [30, 1], [0, 0])]), T0 + 59 * sliceMs + 5_000); // slice 59
  const now = T0 + 59 * sliceMs + 10_000;
  t.is(edge(await graphOf(source, now), id).tx_bytes, 1_230);
  // The last 5 minutes: slices 54..59.
  const recent = await graphOf(source, now, 'workload', 5 * 60_000);
  t.is(edge(recent, id).tx_bytes, 30);
  t.is(recent.from, new Date(T0 + 54 * sliceMs).toISOString());
  t.is(edge(recent, id).bytes_per_second, 30 / ((now - (T0 + 54 * sliceMs)) / 1000));
  // An hour later than slice 0: slice 0 has left the window, the others are still in it.
  t.is(edge(await graphOf(source, T0 + 60 * sliceMs + 1), id).tx_bytes, 230);
  t.is(source.window.size, 1);
  // Once nothing of the edge is left, it is gone from memory too.
  t.deepEqual((await graphOf(source, T0 + 120 * sliceMs)).edges, []);
  t.is(source.window.size, 0);
});

test('cumulative input: each series adds its increase; a new start time or a lower value is a reset', async (t) => {
  const source = new MemoryGraphSource(HOUR, 5_000, T0);
  const ab = workloadFlow({ namespace: 'x', name: 'a' }, { namespace: 'x', name: 'b' });
  const id = `${W('x', 'Deployment', 'a')} -> ${W('x', 'Deployment', 'b')}`;
  const port = (p: number) => ({ ...ab, 'destination.port': p });
  // Two series (ports 80 and 443) of one edge, running totals.
  source.apply(cumulative([counters(port(80), [100, 1], [10, 1], 1, 1n), counters(port(443), [1_000, 1], [0, 0], 1, 1n)]), T0);
  source.apply(cumulative([counters(port(80), [150, 2], [10, 1], 2, 1n), counters(port(443), [1_000, 1], [0, 0], 1, 1n)]), T0 + 15_000);
  t.like(edge(await graphOf(source, T0 + 16_000), id), { tx_bytes: 1_150, rx_bytes: 10, tx_packets: 3, connections: 3 });
  // Port 80's group was evicted and re-created by reduce (new start): its whole value is new.
  source.apply(cumulative([counters(port(80), [40, 1], [0, 0], 1, 2n), counters(port(443), [1_500, 2], [0, 0], 1, 1n)]), T0 + 30_000);
  t.like(edge(await graphOf(source, T0 + 31_000), id), { tx_bytes: 1_150 + 40 + 500, connections: 4 });
  t.is(source.trackedSeries, 2);
  // Series not seen for a window are forgotten.
  source.apply(cumulative([]), T0 + 30_000 + HOUR + 1);
  t.is(source.trackedSeries, 0);
});

test('max_edges: the smallest edges are merged into "other" and counted; no byte is lost', async (t) => {
  const source = new MemoryGraphSource(HOUR, 3, T0);
  const flows = [1, 2, 3, 4, 5].map((i) => counters(workloadFlow({ namespace: 'n', name: `s${i}` }, { namespace: 'n', name: 'db' }), [i * 100, i], [i * 10, i], i));
  t.is(source.apply(delta(flows), T0), 2);
  t.is(source.window.size, 3);
  const graph = await graphOf(source, T0 + 1_000);
  t.deepEqual(graph.edges.map((e) => e.source), ['s5', 's4', 's3'].map((s) => W('n', 'Deployment', s)));
  t.deepEqual(graph.other, { merged_edges_total: 2, tx_bytes: 300, rx_bytes: 30, packets: 6, connections: 3 });
  const drawn = graph.edges.reduce((n, e) => n + e.tx_bytes + e.rx_bytes, 0);
  t.is(drawn + graph.other.tx_bytes + graph.other.rx_bytes, 1_500 + 150);
  // A new small edge at a full table is merged too; a big one pushes out the smallest drawn.
  t.is(source.apply(delta([counters(workloadFlow({ namespace: 'n', name: 'big' }, { namespace: 'n', name: 'db' }), [10_000, 1], [0, 0])]), T0 + 2_000), 1);
  const after = await graphOf(source, T0 + 3_000);
  t.deepEqual(after.edges.map((e) => e.source), ['big', 's5', 's4'].map((s) => W('n', 'Deployment', s)));
  t.like(after.other, { merged_edges_total: 3, tx_bytes: 600, rx_bytes: 60 });
});

test('cost_usd: present where flows carried a cost, absent elsewhere', async (t) => {
  const source = new MemoryGraphSource(HOUR, 5_000, T0);
  const priced = (f: Flow, costUsd: number) => Object.assign(f, { costZeptoUsd: BigInt(Math.round(costUsd * 1e9)) * 10n ** 12n });
  const ab = workloadFlow({ namespace: 'x', name: 'a', zone: 'z1' }, { namespace: 'x', name: 'b', zone: 'z2' });
  const ac = workloadFlow({ namespace: 'x', name: 'a', zone: 'z1' }, { namespace: 'x', name: 'c', zone: 'z1' });
  source.apply(delta([priced(counters(ab, [1e9, 1], [0, 0]), 0.01), priced(counters(ab, [5e8, 1], [0, 0]), 0.005), counters(ac, [1e6, 1], [0, 0])]), T0);
  const graph = await graphOf(source, T0 + 1_000);
  t.is(edge(graph, `${W('x', 'Deployment', 'a')} -> ${W('x', 'Deployment', 'b')}`).cost_usd, 0.015);
  t.false('cost_usd' in edge(graph, `${W('x', 'Deployment', 'a')} -> ${W('x', 'Deployment', 'c')}`));
  t.false('cost_usd' in graph.other);
});

test('hostile names: kept verbatim as titles; names holding / and : never collide', async (t) => {
  const source = new MemoryGraphSource(HOUR, 5_000, T0);
  source.apply(delta([
    counters(workloadFlow({ namespace: HOSTILE.namespace, name: HOSTILE.workload }, { namespace: 'a/b', name: 'c' }), [1, 1], [1, 1]),
    counters(workloadFlow({ namespace: 'a', name: 'b/c' }, { namespace: 'a:b', name: 'c' }), [2, 1], [2, 1]),
    counters(externalFlow({ namespace: 'a', name: 'b' }, { domain: HOSTILE.domain, address: '0.0.0.0' }), [3, 1], [3, 1]),
  ]), T0);
  const graph = await graphOf(source, T0 + 1_000);
  const titles = graph.nodes.map((n) => n.title).sort();
  t.deepEqual(titles, [`${HOSTILE.namespace}/${HOSTILE.workload}`, 'a/b', 'a/b/c', 'a/b/c', 'a:b/c', HOSTILE.domain].sort());
  t.is(new Set(graph.nodes.map((n) => n.id)).size, 6, 'six different ends, six ids');
  t.true(graph.namespaces.includes(HOSTILE.namespace));
});
