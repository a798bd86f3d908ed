// Kernel tests: a DNS server (dnsmasq) in pod2's namespace answers A, AAAA and CNAME records for
// test names that point at "public" addresses pod2 also holds; pod1 resolves (UDP through Node's
// dns.Resolver, TCP by hand), then connects. The packet receiver captures the connections on
// pod1's veth and the dnsnames processor, capturing DNS answers on every interface of the node
// namespace, names the destinations.
import test, { type ExecutionContext } from 'ava';
import { collector, testContext } from '../../../test/harness/context.ts';
import { type DnsServer, resolve, startDnsmasq } from '../../../test/harness/dns.ts';
import { createNodeTopology, type NodeTopology, POD2_V4, POD2_V6 } from '../../../test/harness/netns.ts';
import { requirePrivileges } from '../../../test/harness/privileges.ts';
import { cloneBatch, type FlowBatch } from '../../model/flow.ts';
import { reduceConfigSchema } from '../reduce/config.ts';
import { ManualClock } from '../../../test/harness/manual-clock.ts';
import { ReduceProcessor } from '../reduce/reduce.ts';
import { packetConfigSchema } from '../../receivers/packet/config.ts';
import { PacketReceiver } from '../../receivers/packet/packet.ts';
import { dnsnamesConfigSchema } from './config.ts';
import { DnsnamesProcessor } from './dnsnames.ts';

const TOOLS = ['ip', 'nft', 'dnsmasq'];

// Public-looking addresses, routed only inside the test namespaces.
const API_V4 = '93.184.216.34';
const API_V6 = '2606:2800:220:1::1';
const EDGE_V4 = '151.101.1.1';
const EDGE_V6 = '2a04:4e42::1';
const SHORT_V4 = '151.101.2.2';
const BOUND = ['151.101.3.1', '151.101.3.2', '151.101.3.3'];

const RECORDS = [
  `--host-record=api.shop.test,${API_V4},${API_V6},300`,
  // www.shop.test → lb.shop.test → edge.cdn.test: a CNAME chain.
  '--cname=www.shop.test,lb.shop.test,300',
  '--cname=lb.shop.test,edge.cdn.test,300',
  `--host-record=edge.cdn.test,${EDGE_V4},${EDGE_V6},300`,
  `--host-record=short.shop.test,${SHORT_V4},1`,
  // Distinct TTLs: with a full cache the entry closest to expiry (b2) is evicted.
  `--host-record=b1.test,${BOUND[0]},300`,
  `--host-record=b2.test,${BOUND[1]},200`,
  `--host-record=b3.test,${BOUND[2]},250`,
];

interface World { topo: NodeTopology; dns: DnsServer }

async function withWorld(t: ExecutionContext, prefix: string, body: (w: World) => Promise<void>) {
  if (!requirePrivileges(t, TOOLS)) return;
  const topo = await createNodeTopology(prefix);
  let dns: DnsServer | undefined;
  try {
    for (const a of [API_V4, EDGE_V4, SHORT_V4, ...BOUND]) {
      await topo.pod2.exec('ip', ['addr', 'add', `${a}/32`, 'dev', 'eth0']);
      await topo.node.exec('ip', ['route', 'add', `${a}/32`, 'via', POD2_V4]);
    }
    for (const a of [API_V6, EDGE_V6]) {
      await topo.pod2.exec('ip', ['addr', 'add', `${a}/128`, 'dev', 'eth0', 'nodad']);
      await topo.node.exec('ip', ['-6', 'route', 'add', `${a}/128`, 'via', POD2_V6]);
    }
    await topo.pod2.trafficServer('tcp-server', 8080);
    dns = await startDnsmasq(topo.pod2, [POD2_V4, POD2_V6], RECORDS);
    await body({ topo, dns });
  } finally {
    await dns?.stop();
    await topo.destroy();
  }
}

function processor(topo: NodeTopology, overrides: Record<string, unknown> = {}) {
  const out = collector();
  const config = dnsnamesConfigSchema.parse({ netns: topo.node.path, ttl_floor: '0s', ...overrides });
  const ctx = testContext('dnsnames');
  return { out, ctx, processor: new DnsnamesProcessor(ctx, config, out) };
}

/** destination.address → destination.domain (or null) over a processor's output. */
function domains(batches: FlowBatch[]): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const f of batches.flatMap((b) => b.flows)) {
    out[String(f.attributes['destination.address'])] = (f.attributes['destination.domain'] as string | undefined) ?? null;
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('flows to resolved addresses carry the queried name (A, AAAA, CNAME chain, UDP and TCP); TTL expiry and the floor', async (t) => {
  await withWorld(t, 'dnsnm', async ({ topo }) => {
    const flows = collector();
    // A long interval: the test reads once, by moving the receiver's clock one interval on.
    const clock = new ManualClock(Date.now());
    const receiver = new PacketReceiver(testContext('packet'), packetConfigSchema.parse({ interface: 'vpod1', netns: topo.node.path, interval: '1h' }), flows, clock);
    const a = processor(topo);
    const floored = processor(topo, { ttl_floor: '30s' });
    const everyAddress = processor(topo, { only_public: false });
    await receiver.start();
    for (const p of [a, floored, everyAddress]) await p.processor.start();
    try {
      t.deepEqual(await resolve(topo.pod1, POD2_V4, 'api.shop.test', 'A', 'udp'), [API_V4]);
      t.deepEqual(await resolve(topo.pod1, POD2_V6, 'API.Shop.test', 'AAAA', 'tcp'), [API_V6]);
      t.deepEqual(await resolve(topo.pod1, POD2_V4, 'www.shop.test', 'A', 'tcp'), [EDGE_V4]);
      t.deepEqual(await resolve(topo.pod1, POD2_V6, 'www.shop.test', 'AAAA', 'udp'), [EDGE_V6]);
      t.deepEqual(await resolve(topo.pod1, POD2_V4, 'short.shop.test', 'A', 'udp'), [SHORT_V4]);
      const resolvedAt = Date.now();
      for (const address of [API_V4, API_V6, EDGE_V4, EDGE_V6, SHORT_V4, POD2_V4]) {
        await topo.pod1.traffic('tcp-client', [address, 8080, 100, 100]);
      }
      // short.shop.test's 1 s TTL runs out before the flows reach the processors.
      await sleep(Math.max(0, 1300 - (Date.now() - resolvedAt)));
      await clock.advance(3_600_000);
      t.is(flows.batches.length, 1);
      for (const p of [a, floored, everyAddress]) await p.processor.consume(cloneBatch(flows.batches[0]!));

      t.deepEqual(domains(a.out.batches), {
        [API_V4]: 'api.shop.test',
        [API_V6]: 'api.shop.test',
        [EDGE_V4]: 'www.shop.test',
        [EDGE_V6]: 'www.shop.test',
        [SHORT_V4]: null,
        [POD2_V4]: null,
        // The DNS-over-TCP query itself: a private destination, never named.
        [POD2_V6]: null,
      });
      t.is(domains(floored.out.batches)[SHORT_V4], 'short.shop.test', 'the TTL floor keeps the name');
      // only_public: false names any address with an answer; pod2's own address has none.
      t.is(domains(everyAddress.out.batches)[POD2_V4], null);
      t.is(domains(everyAddress.out.batches)[EDGE_V6], 'www.shop.test');
      const s = a.processor.status()!;
      t.is(s.badMessages, 0);
      t.true(s.responses >= 5, `responses ${s.responses}`);
      t.is(s.entries, 4, 'short.shop.test expired and was purged');
      t.true(s.expired >= 1);

      // reduce's defaults: a public destination with a known name is grouped by its domain (no
      // address), one without keeps its address; both typed public, none shown as 0.0.0.0.
      const reduced = collector();
      const reducer = new ReduceProcessor(testContext('reduce'), reduceConfigSchema.parse({ temporality: 'delta' }), reduced, new ManualClock(Date.now()));
      await reducer.start();
      await reducer.consume(cloneBatch(a.out.batches[0]!));
      await reducer.shutdown();
      const named = a.out.batches[0]!.flows;
      const bytesTo = (...addresses: string[]) =>
        named.filter((f) => addresses.includes(String(f.attributes['destination.address']))).reduce((sum, f) => sum + f.txBytes + f.rxBytes, 0);
      const publicGroups = reduced.batches.flatMap((b) => b.flows).filter((f) => f.attributes['destination.address.type'] === 'public');
      t.deepEqual(
        publicGroups.map((f) => f.attributes['destination.address'] ?? f.attributes['destination.domain']).sort(),
        [SHORT_V4, 'api.shop.test', 'api.shop.test', 'www.shop.test', 'www.shop.test'],
        'named destinations by domain, the unnamed one by its address',
      );
      // (pod1's IPv4 and IPv6 source addresses are separate groups; sum them per domain.)
      const byDomain: Record<string, number> = {};
      for (const f of publicGroups) {
        const domain = String(f.attributes['destination.domain'] ?? '-');
        byDomain[domain] = (byDomain[domain] ?? 0) + f.txBytes + f.rxBytes;
      }
      t.is(publicGroups.length, 5, 'api and www: one group per source address family; short: one');
      t.deepEqual(byDomain, {
        'api.shop.test': bytesTo(API_V4, API_V6),
        'www.shop.test': bytesTo(EDGE_V4, EDGE_V6),
        '-': bytesTo(SHORT_V4),
      });
    } finally {
      await receiver.shutdown();
      for (const p of [a, floored, everyAddress]) await p.processor.shutdown();
    }
  });
});

test('the cache is bounded: a full cache evicts the name closest to expiry', async (t) => {
  await withWorld(t, 'dnsbd', async ({ topo }) => {
    const p = processor(topo, { max_entries: 2 });
    await p.processor.start();
    try {
      for (const name of ['b1.test', 'b2.test', 'b3.test']) await resolve(topo.pod1, POD2_V4, name, 'A', 'udp');
      await sleep(100);
      const flow = (address: string) => ({
        startTimeUnixNano: 0n, timeUnixNano: 1n, txBytes: 1, rxBytes: 1, txPackets: 1, rxPackets: 1, connections: 1,
        attributes: { 'source.address': '10.0.1.2', 'destination.address': address, 'network.transport': 'tcp' },
      });
      await p.processor.consume({ temporality: 'delta', flows: BOUND.map(flow) });
      t.deepEqual(domains(p.out.batches), { [BOUND[0]!]: 'b1.test', [BOUND[1]!]: null, [BOUND[2]!]: 'b3.test' });
      const s = p.processor.status()!;
      t.is(s.entries, 2);
      t.is(s.evictions, 1);
      // Totals since start are counters (named _total), equal to the core's own counts.
      const counter = async (name: string) => {
        const m = await p.ctx.metrics.getSingleMetric(name)?.get();
        return { type: m?.type, value: m?.values.find((v) => v.labels.processor === 'dnsnames')?.value };
      };
      t.deepEqual(await counter('podflow_dnsnames_cache_evictions_total'), { type: 'counter', value: 1 });
      t.deepEqual(await counter('podflow_dnsnames_responses_total'), { type: 'counter', value: s.responses });
    } finally {
      await p.processor.shutdown();
    }
  });
});

test('interface any: a response crossing two veths of the node is read once, as on one interface', async (t) => {
  await withWorld(t, 'dnsdup', async ({ topo }) => {
    // The node forwards pod2's answers to pod1: in on vpod2, out on vpod1. `any` captures both.
    const any = processor(topo, { interface: 'any' });
    const one = processor(topo, { interface: 'vpod1' });
    for (const p of [any, one]) await p.processor.start();
    try {
      const queries: Array<[string, string, 'A' | 'AAAA', 'udp' | 'tcp']> = [
        [POD2_V4, 'api.shop.test', 'A', 'udp'],
        [POD2_V6, 'api.shop.test', 'AAAA', 'udp'],
        [POD2_V4, 'www.shop.test', 'A', 'udp'],
        [POD2_V4, 'b1.test', 'A', 'tcp'],
        [POD2_V6, 'edge.cdn.test', 'AAAA', 'tcp'],
      ];
      for (const [server, name, type, transport] of queries) t.is((await resolve(topo.pod1, server, name, type, transport)).length, 1, name);
      await sleep(300);
      const a = any.processor.status()!;
      const o = one.processor.status()!;
      t.is(o.responses, queries.length, 'one interface: every response once');
      t.is(o.duplicates, 0);
      t.is(a.responses, queries.length, 'any: every response once, not once per interface');
      t.is(a.names, o.names);
      // The three UDP answers were captured twice; TCP's second copies are retransmissions to the stream reassembly.
      t.is(a.duplicates, 3);
      t.is(a.badMessages, 0);
    } finally {
      for (const p of [any, one]) await p.processor.shutdown();
    }
  });
});
