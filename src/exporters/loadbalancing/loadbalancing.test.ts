// The loadbalancing exporter against real gateways: podflow otlp receivers on loopback addresses,
// found from a static list or through a real DNS server (dnsmasq) whose records change under it.
import { Resolver } from 'node:dns/promises';
import test from 'ava';
import { queued, type QueuedExporter } from '../../../test/harness/exporter-queue.ts';
import { startLocalDnsmasq } from '../../../test/harness/dns.ts';
import { freePort } from '../../../test/harness/ports.ts';
import { missingTool } from '../../../test/harness/system-tools.ts';
import { readUntil, until } from '../../../test/harness/wait.ts';
import type { Flow, FlowBatch } from '../../model/index.ts';
import { startReceiver, type RunningReceiver } from '../../receivers/otlp/testdata/round-trip.ts';
import { loadbalancingConfigSchema } from './config.ts';
import { HashRing } from './hash-ring.ts';
import { loadbalancingExporterFactory } from './index.ts';
import { LoadbalancingExporter, routingKeyOf } from './loadbalancing-exporter.ts';
import { systemResolver } from './resolver.ts';

const T0 = 1_764_000_000_000_000_000n;
const fast = { initial_interval: '20ms', max_interval: '50ms', max_elapsed_time: '30s' };

/** `sources` source addresses, each talking to `peers` destinations. */
function flows(sources: number, peers: number, tick = 0): Flow[] {
  const out: Flow[] = [];
  for (let s = 0; s < sources; s++) {
    for (let p = 0; p < peers; p++) {
      out.push({
        startTimeUnixNano: T0 + BigInt(tick) * 5_000_000_000n,
        timeUnixNano: T0 + BigInt(tick + 1) * 5_000_000_000n,
        attributes: { 'source.address': `10.1.${s >> 8}.${s & 255}`, 'destination.address': `10.2.0.${p}`, 'destination.port': 443, 'network.transport': 'tcp' },
        txBytes: 1_000 * s + p + 1, rxBytes: 7 * s + 1, txPackets: 3, rxPackets: 2, connections: 1,
      });
    }
  }
  return out;
}

/** Source address → the gateways (receiver indexes) its flows reached. */
function gatewaysBySource(receivers: RunningReceiver[]): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  receivers.forEach((rx, i) => {
    for (const f of rx.batches.flatMap((b) => b.flows)) {
      const src = String(f.attributes['source.address']);
      if (!out.has(src)) out.set(src, new Set());
      out.get(src)!.add(i);
    }
  });
  return out;
}

/** A podflow_exporter_* metric summed over the gateways' queues (`loadbalancing/<host:port>`, `loadbalancing/unrouted`). */
async function gatewaysMetric(q: QueuedExporter<LoadbalancingExporter>, name: string, endpoint?: string): Promise<number> {
  const metric = q.metrics.registry.getSingleMetric(name);
  if (!metric) return 0;
  const id = endpoint === undefined ? undefined : q.exporter.queueId(endpoint);
  return (await metric.get()).values
    .filter((v) => (id === undefined ? String(v.labels.exporter).startsWith('loadbalancing/') : v.labels.exporter === id))
    .reduce((n, v) => n + v.value, 0);
}

const bytesOf = (list: readonly Flow[]) => list.reduce((n, f) => n + f.txBytes + f.rxBytes, 0);
const costOf = (list: readonly Flow[]) => list.reduce((n, f) => n + (f.costZeptoUsd ?? 0n), 0n);
const received = (receivers: RunningReceiver[]) => receivers.flatMap((rx) => rx.batches.flatMap((b) => b.flows));

test('hash ring: the same owner for a key, an even spread, and a new gateway takes only its share', (t) => {
  const three = new HashRing(['10.0.0.1:4317', '10.0.0.2:4317', '10.0.0.3:4317']);
  const keys = Array.from({ length: 6_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  const owners = keys.map((k) => three.owner(k)!);
  const reordered = new HashRing(['10.0.0.3:4317', '10.0.0.1:4317', '10.0.0.2:4317']);
  t.deepEqual(keys.map((k) => reordered.owner(k)), owners, 'order of the list does not matter');
  for (const e of three.endpoints) {
    const share = owners.filter((o) => o === e).length / keys.length;
    t.true(share > 0.2 && share < 0.47, `${e}: ${share}`);
  }
  const four = new HashRing([...three.endpoints, '10.0.0.4:4317']);
  let moved = 0;
  keys.forEach((k, i) => {
    const now = four.owner(k)!;
    if (now === owners[i]) return;
    moved++;
    t.is(now, '10.0.0.4:4317', 'a key only ever moves to the new gateway');
  });
  t.true(moved / keys.length > 0.12 && moved / keys.length < 0.4, `moved ${moved}`);
  t.is(new HashRing([]).owner('x'), undefined);
});

test('config: defaults like the Collector\'s, one resolver, errors name the key', (t) => {
  const config = loadbalancingConfigSchema.parse({ resolver: { static: { hostnames: ['gw-0:4317'] } } });
  t.is(config.routing_key, 'source');
  t.is(config.protocol.otlp.protocol, 'grpc');
  t.is(config.protocol.otlp.compression, 'gzip');
  t.is(config.sending_queue.num_consumers, 4);
  const dns = loadbalancingConfigSchema.parse({ resolver: { dns: { hostname: 'gw.svc' } }, protocol: { otlp: { protocol: 'http' } } });
  t.deepEqual(dns.resolver.dns, { hostname: 'gw.svc', interval: 5_000, timeout: 1_000 });
  const paths = (input: unknown) => loadbalancingConfigSchema.safeParse(input).error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  t.deepEqual(paths({}), ['resolver: Invalid input: expected object, received undefined']);
  t.deepEqual(paths({ resolver: { static: { hostnames: ['gw-0'] }, dns: { hostname: 'x' } } }).map((p) => p.split(':')[0]), ['resolver.static.hostnames.0', 'resolver']);
  t.regex(paths({ resolver: { static: { hostnames: ['a:1'] } }, routing_key: 'attributes' })[0]!, /^routing_attributes: routing_key: attributes needs routing_attributes/);
  t.regex(paths({ resolver: { static: { hostnames: ['a:1'] } }, protocol: { otlp: { encoding: 'json' } } })[0]!, /^protocol\.otlp\.encoding: OTLP\/gRPC is protobuf only/);
});

test('routing keys: source address, destination service, chosen attributes', (t) => {
  const f = (attributes: Flow['attributes']): Flow => ({ startTimeUnixNano: 0n, timeUnixNano: 1n, attributes, txBytes: 1, rxBytes: 0, txPackets: 1, rxPackets: 0, connections: 0 });
  const a = { 'source.address': '10.0.0.1', 'destination.address': '10.0.0.9', 'destination.original.address': '10.96.0.10' };
  t.is(routingKeyOf({ routing_key: 'source', routing_attributes: [] })(f(a)), '10.0.0.1');
  t.is(routingKeyOf({ routing_key: 'service', routing_attributes: [] })(f(a)), '10.96.0.10');
  t.is(routingKeyOf({ routing_key: 'service', routing_attributes: [] })(f({ ...a, 'destination.k8s.service.name': 'db', 'destination.k8s.namespace.name': 'shop' })), 'shop/db');
  t.is(routingKeyOf({ routing_key: 'attributes', routing_attributes: ['destination.address', 'x'] })(f(a)), '10.0.0.9\x00');
});

for (const protocol of ['grpc', 'http'] as const) {
  test(`static gateways over ${protocol}: every source reaches exactly one gateway, all of them are used, totals exact (costs too)`, async (t) => {
    const receivers = await Promise.all([0, 1, 2].map(() => startReceiver()));
    t.teardown(() => Promise.all(receivers.map((r) => r.stop())));
    const hostnames = receivers.map((r) => (protocol === 'grpc' ? r.grpcUrl : r.httpUrl).replace('http://', ''));
    const config = loadbalancingConfigSchema.parse({ resolver: { static: { hostnames } }, protocol: { otlp: { protocol, temporality: 'delta' } }, retry_on_failure: fast });
    const q = queued('loadbalancing', loadbalancingExporterFactory.queueSettings!(config), (ctx) => new LoadbalancingExporter(ctx, config, systemResolver(1_000)));
    await q.exporter.start();
    const sent: Flow[] = [];
    for (let tick = 0; tick < 3; tick++) {
      // every other flow priced (netcost), at most 15 significant digits: exact through a double
      const batch: FlowBatch = { temporality: 'delta', flows: flows(60, 3, tick).map((f, i) => (i % 2 === 0 ? { ...f, costZeptoUsd: BigInt(f.txBytes) * 10_000_000_000n } : f)) };
      sent.push(...batch.flows);
      await q.consume(batch);
    }
    t.true(await q.shutdown(10_000));
    const bySource = gatewaysBySource(receivers);
    t.is(bySource.size, 60);
    t.true([...bySource.values()].every((g) => g.size === 1), 'no source split over two gateways');
    for (const rx of receivers) t.true(rx.batches.length > 0, 'each gateway got its share');
    t.is(received(receivers).length, sent.length);
    t.is(bytesOf(received(receivers)), bytesOf(sent));
    t.is(costOf(received(receivers)), costOf(sent));
    t.is(received(receivers).filter((f) => f.costZeptoUsd !== undefined).length, sent.length / 2);
    t.is(await gatewaysMetric(q, 'podflow_exporter_sent_flows_total'), sent.length);
    t.is(await gatewaysMetric(q, 'podflow_exporter_send_failed_flows_total'), 0);
    t.is(await q.metric('podflow_loadbalancer_gateways'), 3);
  });
}

test('DNS: gateways come and go with the records; a gone gateway\'s queued flows go to the others, nothing lost, each source still on one gateway at a time', async (t) => {
  const missing = missingTool('dnsmasq');
  if (missing) return process.env.CI === 'true' ? t.fail(missing) : t.pass(`skipped: ${missing}`);
  const dns = await startLocalDnsmasq(await freePort());
  t.teardown(() => dns.stop());
  // Three gateways on one port, each on its own loopback address, as pods behind a headless Service.
  const port = await freePort();
  const addresses = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
  const receivers = await Promise.all(addresses.map((a) => startReceiver({ protocols: { grpc: { endpoint: `${a}:${port}` } } })));
  t.teardown(() => Promise.all(receivers.map((r) => r.stop())));
  await dns.setRecords('gateways.podflow.test', addresses.slice(0, 2));

  const resolver = new Resolver({ timeout: 500, tries: 1 });
  resolver.setServers([dns.server]);
  const config = loadbalancingConfigSchema.parse({
    resolver: { dns: { hostname: 'gateways.podflow.test', port, interval: '100ms' } },
    protocol: { otlp: { temporality: 'delta' } },
    timeout: '5s',
    retry_on_failure: fast,
  });
  const q = queued('loadbalancing', loadbalancingExporterFactory.queueSettings!(config), (ctx) => new LoadbalancingExporter(ctx, config, resolver));
  const lb = q.exporter;
  await lb.start();
  t.deepEqual(lb.gateways, [`127.0.0.2:${port}`, `127.0.0.3:${port}`]);

  const sent: Flow[] = [];
  const send = async (tick: number) => {
    const batch: FlowBatch = { temporality: 'delta', flows: flows(40, 2, tick) };
    sent.push(...batch.flows);
    await q.consume(batch);
  };
  await send(0);
  await until(() => received(receivers).length === sent.length, 15_000, 'the first batch delivered');
  t.true(receivers[0]!.batches.length > 0 && receivers[1]!.batches.length > 0);
  t.is(receivers[2]!.batches.length, 0, 'not in DNS: not used');

  // Gateway .2 goes down; flows queued for it keep being retried...
  await receivers[0]!.stop();
  const before = receivers[0]!.batches.length;
  await send(1);
  t.true((await readUntil(() => gatewaysMetric(q, 'podflow_exporter_retries_total', `127.0.0.2:${port}`), (n) => n >= 1, 15_000)) >= 1, 'the gone gateway\'s request is being retried');
  // ...until DNS says it is gone and .4 has come: they are routed again and delivered.
  await dns.setRecords('gateways.podflow.test', ['127.0.0.3', '127.0.0.4']);
  await until(() => !lb.gateways.includes(`127.0.0.2:${port}`), 15_000, 'the resolver dropping 127.0.0.2');
  t.deepEqual(lb.gateways, [`127.0.0.3:${port}`, `127.0.0.4:${port}`]);
  await send(2);
  t.true(await q.shutdown(15_000));

  t.is(receivers[0]!.batches.length, before, 'nothing reached the stopped gateway');
  t.true(receivers[2]!.batches.length > 0, 'the new gateway is used');
  t.true((await q.metric('podflow_loadbalancer_rerouted_flows_total')) > 0);
  t.is(received(receivers).length, sent.length, 'every flow once');
  t.is(bytesOf(received(receivers)), bytesOf(sent));
  t.is(await gatewaysMetric(q, 'podflow_exporter_send_failed_flows_total'), 0);
  t.is(await gatewaysMetric(q, 'podflow_exporter_sent_flows_total'), sent.length, 'a re-routed flow is counted once, where it was delivered');
  t.is(await q.metric('podflow_loadbalancer_gateways'), 2);
  // After the change, a source's later flows stay on one gateway.
  const tick2 = (rx: RunningReceiver) => rx.batches.flatMap((b) => b.flows).filter((f) => f.startTimeUnixNano === T0 + 10_000_000_000n);
  const owners = new Map<string, Set<number>>();
  receivers.forEach((rx, i) => tick2(rx).forEach((f) => {
    const s = String(f.attributes['source.address']);
    owners.set(s, (owners.get(s) ?? new Set()).add(i));
  }));
  t.true([...owners.values()].every((g) => g.size === 1 && !g.has(0)));
});

test('a gateway that is down holds no other gateway up: each has its own queue', async (t) => {
  const up = await startReceiver({ protocols: { grpc: { endpoint: '127.0.0.1:0' } } });
  t.teardown(() => up.stop());
  const downPort = await freePort();
  const upEndpoint = up.grpcUrl.replace('http://', '');
  const downEndpoint = `127.0.0.1:${downPort}`;
  // One consumer per queue: with one queue for both, the down gateway's retries would hold it.
  const config = loadbalancingConfigSchema.parse({
    resolver: { static: { hostnames: [upEndpoint, downEndpoint] } },
    protocol: { otlp: { temporality: 'delta' } },
    sending_queue: { num_consumers: 1 },
    retry_on_failure: { initial_interval: '50ms', max_interval: '200ms', max_elapsed_time: '60s' },
  });
  const q = queued('loadbalancing', loadbalancingExporterFactory.queueSettings!(config), (ctx) => new LoadbalancingExporter(ctx, config, systemResolver(1_000)));
  await q.exporter.start();
  const ring = new HashRing([upEndpoint, downEndpoint]);
  const sent: Flow[] = [];
  for (let tick = 0; tick < 4; tick++) {
    const batch: FlowBatch = { temporality: 'delta', flows: flows(30, 2, tick) };
    sent.push(...batch.flows);
    await q.consume(batch);
  }
  const forUp = sent.filter((f) => ring.owner(String(f.attributes['source.address'])) === upEndpoint);
  t.true(forUp.length > 0 && forUp.length < sent.length);
  await until(() => received([up]).length === forUp.length, 15_000, 'the live gateway getting its share');
  t.true((await gatewaysMetric(q, 'podflow_exporter_retries_total', downEndpoint)) >= 1, 'the other one is being retried meanwhile');
  t.is(await gatewaysMetric(q, 'podflow_exporter_retries_total', upEndpoint), 0);
  // It comes back: its queue delivers what waited.
  const back = await startReceiver({ protocols: { grpc: { endpoint: downEndpoint } } });
  t.teardown(() => back.stop());
  t.true(await q.shutdown(15_000));
  t.is(received([up, back]).length, sent.length);
  t.is(bytesOf(received([up, back])), bytesOf(sent));
});

test('DNS without records yet: flows wait, retried, and go once a gateway appears', async (t) => {
  const missing = missingTool('dnsmasq');
  if (missing) return process.env.CI === 'true' ? t.fail(missing) : t.pass(`skipped: ${missing}`);
  const dns = await startLocalDnsmasq(await freePort());
  t.teardown(() => dns.stop());
  const port = await freePort();
  const gateway = await startReceiver({ protocols: { grpc: { endpoint: `127.0.0.5:${port}` } } });
  t.teardown(() => gateway.stop());
  const resolver = new Resolver({ timeout: 500, tries: 1 });
  resolver.setServers([dns.server]);
  const config = loadbalancingConfigSchema.parse({
    resolver: { dns: { hostname: 'later.podflow.test', port, interval: '100ms' } },
    protocol: { otlp: { temporality: 'delta' } },
    retry_on_failure: { initial_interval: '50ms', max_interval: '200ms', max_elapsed_time: '60s' },
  });
  const q = queued('loadbalancing', loadbalancingExporterFactory.queueSettings!(config), (ctx) => new LoadbalancingExporter(ctx, config, resolver));
  await q.exporter.start();
  t.deepEqual(q.exporter.gateways, []);
  const batch: FlowBatch = { temporality: 'delta', flows: flows(10, 2) };
  await q.consume(batch);
  t.true((await readUntil(() => gatewaysMetric(q, 'podflow_exporter_retries_total', 'unrouted'), (n) => n >= 1, 15_000)) >= 1);
  await dns.setRecords('later.podflow.test', ['127.0.0.5']);
  await until(() => received([gateway]).length === batch.flows.length, 15_000, 'the flows that waited delivered');
  t.true(await q.shutdown(15_000));
  t.is(received([gateway]).length, batch.flows.length);
  t.is(await gatewaysMetric(q, 'podflow_exporter_sent_flows_total', 'unrouted'), 0, 'handed on by the unrouted queue, counted by the gateway\'s');
  t.is(await gatewaysMetric(q, 'podflow_exporter_sent_flows_total'), batch.flows.length);
});
