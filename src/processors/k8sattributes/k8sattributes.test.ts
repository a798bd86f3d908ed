// End to end: the real @kubernetes/client-node informers against the fake API server
// (test/harness/fake-apiserver.ts), flows through the processor, attributes compared exactly.
import test, { type ExecutionContext } from 'ava';
import { FakeApiServer, type FakeApiServerOptions } from '../../../test/harness/fake-apiserver.ts';
import { job, node, pod, replicaSet, service } from '../../../test/harness/k8s-objects.ts';
import { capturingContext, type CapturingContext } from '../../../test/harness/context.ts';
import { flowBetween } from '../../../test/harness/flows.ts';
import { enrich, makeProcessor } from '../../../test/harness/k8sattributes.ts';
import { until } from '../../../test/harness/wait.ts';
import type { Attributes, FlowBatch } from '../../model/index.ts';
import { k8sattributesConfigSchema } from './config.ts';
import { K8sAttributesProcessor, type K8sAttributesOptions } from './processor.ts';

async function cluster(t: ExecutionContext, options: FakeApiServerOptions = {}): Promise<FakeApiServer> {
  const server = await FakeApiServer.start({ token: 'secret', ...options });
  t.teardown(() => server.close());
  server.add('nodes', node({ name: 'node-a', internalIPs: ['192.168.1.10'], externalIPs: ['203.0.113.10'], zone: 'eu-1a', region: 'eu-1' }));
  server.add('nodes', node({ name: 'node-b', internalIPs: ['192.168.1.11', 'fd00:1::11'], zone: 'eu-1b', region: 'eu-1' }));
  server.add('nodes', node({ name: 'node-c', internalIPs: ['192.168.1.12'] })); // no zone labels
  return server;
}

async function processor(t: ExecutionContext, server: FakeApiServer, config: Record<string, unknown> = {}, ctx: CapturingContext = capturingContext('k8sattributes'), options: K8sAttributesOptions = {}) {
  const made = makeProcessor(ctx, { auth_type: 'kubeConfig', kubeconfig: server.writeKubeconfig(), report_once: false, ...config }, options);
  t.teardown(() => made.p.shutdown());
  await made.p.start();
  return { ...made, ctx, run: (flows: ReturnType<typeof flowBetween>[]) => enrich(made.p, made.sink, flows) };
}

/** The k8s attributes of one end, without the flow's own address/port keys. */
function end(a: Attributes | undefined, prefix: 'source' | 'destination'): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(a ?? {})) {
    if (k.startsWith(`${prefix}.`) && k !== `${prefix}.address` && k !== `${prefix}.port` && !k.startsWith('destination.original')) out[k.slice(prefix.length + 1)] = v;
  }
  return out;
}

async function metric(ctx: CapturingContext, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const m = await ctx.metrics.getSingleMetric(name)?.get();
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value;
}

/** podflow_k8sattributes_synced: every kind's initial list is in the cache. */
async function synced(ctx: CapturingContext): Promise<boolean> {
  return (await metric(ctx, 'podflow_k8sattributes_synced', {})) === 1;
}

test('a pod end gets namespace, pod, uid, node, owner, zone, region; add, update and delete are followed', async (t) => {
  const server = await cluster(t);
  const created = server.add('pods', pod({ namespace: 'shop', name: 'cart-0', ip: '10.1.0.5', node: 'node-a', owner: { kind: 'StatefulSet', name: 'cart' }, labels: { app: 'cart', tier: 'be' }, annotations: { team: 'payments' } }));
  const { run, cache, ctx } = await processor(t, server, { extract: { labels: ['app', 'missing'], annotations: ['team'] }, deleted_pod_grace: '400ms' });
  t.true(await synced(ctx));

  let [a] = await run([flowBetween({ src: '10.1.0.5', dst: '8.8.8.8' })]);
  t.deepEqual(end(a, 'source'), {
    'address.type': 'pod', 'k8s.namespace.name': 'shop', 'k8s.pod.name': 'cart-0', 'k8s.pod.uid': created.metadata.uid,
    'k8s.node.name': 'node-a', 'k8s.owner.name': 'cart', 'k8s.owner.type': 'StatefulSet',
    'cloud.availability_zone': 'eu-1a', 'cloud.region': 'eu-1', 'k8s.pod.label.app': 'cart', 'k8s.pod.annotation.team': 'payments',
  });
  t.deepEqual(end(a, 'destination'), { 'address.type': 'public' });
  t.false('network.flow.inter_zone' in a!, 'one zone unknown: no inter_zone');

  // Update: a label changes (same pod, new resourceVersion).
  const updated = pod({ namespace: 'shop', name: 'cart-0', ip: '10.1.0.5', node: 'node-a', uid: created.metadata.uid as string, owner: { kind: 'StatefulSet', name: 'cart' }, labels: { app: 'cart-v2' } });
  server.modify('pods', updated);
  await until(() => cache.podAt('10.1.0.5', Date.now(), Date.now())?.pod.labels[0]?.[1] === 'cart-v2', 2000, 'the update');
  [a] = await run([flowBetween({ src: '10.1.0.5', dst: '8.8.8.8' })]);
  t.is(a!['source.k8s.pod.label.app'], 'cart-v2');
  t.false('source.k8s.pod.annotation.team' in a!);

  // Delete: still resolvable during the grace period, then not.
  server.remove('pods', 'cart-0', 'shop');
  await until(() => cache.podAt('10.1.0.5', Date.now(), Date.now())?.deleted === true, 2000, 'the delete');
  [a] = await run([flowBetween({ src: '10.1.0.5', dst: '8.8.8.8' })]);
  t.is(a!['source.k8s.pod.name'], 'cart-0', 'within deleted_pod_grace');
  await new Promise((r) => setTimeout(r, 450));
  [a] = await run([flowBetween({ src: '10.1.0.5', dst: '8.8.8.8' })]);
  t.deepEqual(end(a, 'source'), { 'address.type': 'private' }, 'after the grace period the IP is unknown');
});

test('IP reuse: the pod whose lifetime covers the flow interval wins', async (t) => {
  const server = await cluster(t);
  const now = Date.now();
  server.add('pods', pod({ namespace: 'a', name: 'old', ip: '10.1.0.9', node: 'node-a', created: new Date(now - 120_000) }));
  const { run, cache } = await processor(t, server);
  server.remove('pods', 'old', 'a');
  await until(() => cache.podAt('10.1.0.9', now - 60_000, now - 50_000)?.deleted === true, 2000, 'the delete');
  const deletedAt = cache.podAt('10.1.0.9', now - 60_000, now - 50_000)!.endMs!;
  server.add('pods', pod({ namespace: 'b', name: 'new', ip: '10.1.0.9', node: 'node-b', created: new Date(deletedAt + 1_000) }));
  await until(() => cache.counts().pods === 2, 2000, 'the new pod');

  const [before, after, straddle] = await run([
    flowBetween({ src: '10.1.0.9', dst: '1.1.1.1', startMs: now - 60_000, endMs: now - 50_000 }),
    flowBetween({ src: '10.1.0.9', dst: '1.1.1.1', startMs: deletedAt + 2_000, endMs: deletedAt + 12_000 }),
    // Mostly in the new pod's life: [deletedAt - 1s, deletedAt + 9s].
    flowBetween({ src: '10.1.0.9', dst: '1.1.1.1', startMs: deletedAt - 1_000, endMs: deletedAt + 9_000 }),
  ]);
  t.is(before!['source.k8s.pod.name'], 'old');
  t.is(before!['source.k8s.namespace.name'], 'a');
  t.is(after!['source.k8s.pod.name'], 'new');
  t.is(after!['source.k8s.node.name'], 'node-b');
  t.is(straddle!['source.k8s.pod.name'], 'new');

  // A finished Job pod releases its IP while its object remains.
  server.add('pods', pod({ namespace: 'c', name: 'done', ip: '10.1.0.77', node: 'node-a', phase: 'Succeeded', created: new Date(now - 100_000), finishedAt: new Date(now - 50_000) }));
  server.add('pods', pod({ namespace: 'c', name: 'next', ip: '10.1.0.77', node: 'node-a', created: new Date(now - 40_000) }));
  await until(() => cache.counts().pods === 4, 2000, 'job pods');
  const [jobTime, nextTime] = await run([
    flowBetween({ src: '10.1.0.77', dst: '1.1.1.1', startMs: now - 70_000, endMs: now - 60_000 }),
    flowBetween({ src: '10.1.0.77', dst: '1.1.1.1', startMs: now - 10_000, endMs: now }),
  ]);
  t.is(jobTime!['source.k8s.pod.name'], 'done');
  t.is(nextTime!['source.k8s.pod.name'], 'next');
});

test('owner chain: ReplicaSet → Deployment, Job → CronJob, DaemonSet, StatefulSet, bare pod, static pod', async (t) => {
  const server = await cluster(t);
  server.add('replicasets', replicaSet({ namespace: 'shop', name: 'frontend-7d9f8c', owner: { kind: 'Deployment', name: 'frontend' } }));
  server.add('replicasets', replicaSet({ namespace: 'shop', name: 'bare-rs' }));
  server.add('jobs', job({ namespace: 'ops', name: 'backup-29123', owner: { kind: 'CronJob', name: 'backup' } }));
  server.add('jobs', job({ namespace: 'ops', name: 'migrate' }));
  const pods: Array<[string, string, Parameters<typeof pod>[0]['owner'], Record<string, string>?]> = [
    ['10.1.1.1', 'shop', { kind: 'ReplicaSet', name: 'frontend-7d9f8c' }],
    ['10.1.1.2', 'shop', { kind: 'ReplicaSet', name: 'bare-rs' }],
    // Its ReplicaSet is not in the API (yet): named from pod-template-hash.
    ['10.1.1.3', 'shop', { kind: 'ReplicaSet', name: 'checkout-5c6b7' }, { 'pod-template-hash': '5c6b7' }],
    ['10.1.1.4', 'ops', { kind: 'Job', name: 'backup-29123' }],
    ['10.1.1.5', 'ops', { kind: 'Job', name: 'migrate' }],
    ['10.1.1.6', 'kube-system', { kind: 'DaemonSet', name: 'kube-proxy' }],
    ['10.1.1.7', 'db', { kind: 'StatefulSet', name: 'redis' }],
    ['10.1.1.8', 'shop', undefined],
    ['10.1.1.9', 'kube-system', { kind: 'Node', name: 'node-a', apiVersion: 'v1' }],
    ['10.1.1.10', 'x', { kind: 'Rollout', name: 'custom', apiVersion: 'argoproj.io/v1alpha1' }],
  ];
  pods.forEach(([ip, ns, owner, labels], i) => server.add('pods', pod({ namespace: ns, name: `p${i}`, ip, node: 'node-a', owner, labels })));
  const { run } = await processor(t, server);
  const out = await run(pods.map(([ip]) => flowBetween({ src: ip, dst: '10.9.9.9' })));
  t.deepEqual(out.map((a) => `${a['source.k8s.owner.type']}/${a['source.k8s.owner.name']}`), [
    'Deployment/frontend', 'ReplicaSet/bare-rs', 'Deployment/checkout', 'CronJob/backup', 'Job/migrate',
    'DaemonSet/kube-proxy', 'StatefulSet/redis', 'Pod/p7', 'Node/node-a', 'Pod/p9',
  ]);
});

test('node addresses, hostNetwork pods by declared port, zones, inter_zone and address types', async (t) => {
  const server = await cluster(t);
  server.add('pods', pod({ namespace: 'a', name: 'pa', ip: '10.1.0.1', node: 'node-a' }));
  server.add('pods', pod({ namespace: 'a', name: 'pa2', ip: '10.1.0.2', node: 'node-a' }));
  server.add('pods', pod({ namespace: 'b', name: 'pb', ip: '10.2.0.1', ips: ['fd00:10:2::1'], node: 'node-b' }));
  server.add('pods', pod({ namespace: 'c', name: 'pc', ip: '10.3.0.1', node: 'node-c' }));
  server.add('pods', pod({ namespace: 'kube-system', name: 'exporter', ip: '192.168.1.11', node: 'node-b', hostNetwork: true, containerPorts: [{ containerPort: 9100 }], owner: { kind: 'DaemonSet', name: 'node-exporter' } }));
  const { run } = await processor(t, server);
  const [cross, same, unknownZone, hostPod, nodeProc, external, v6, loop] = await run([
    flowBetween({ src: '10.1.0.1', dst: '10.2.0.1' }),
    flowBetween({ src: '10.1.0.1', dst: '10.1.0.2' }),
    flowBetween({ src: '10.1.0.1', dst: '10.3.0.1' }),
    flowBetween({ src: '10.1.0.1', dst: '192.168.1.11', dstPort: 9100 }),
    flowBetween({ src: '10.1.0.1', dst: '192.168.1.11', dstPort: 10250 }),
    flowBetween({ src: '203.0.113.10', dst: '10.2.0.1' }),
    flowBetween({ src: 'fd00:10:2::1', dst: 'fd00:1::11', dstPort: 22 }),
    flowBetween({ src: '127.0.0.1', dst: '172.16.5.5' }),
  ]);
  t.is(cross!['network.flow.inter_zone'], true);
  t.is(cross!['destination.cloud.availability_zone'], 'eu-1b');
  t.is(same!['network.flow.inter_zone'], false);
  t.false('network.flow.inter_zone' in unknownZone!);
  t.deepEqual(end(hostPod, 'destination'), {
    'address.type': 'node', 'k8s.namespace.name': 'kube-system', 'k8s.pod.name': 'exporter', 'k8s.pod.uid': server.get('pods', 'exporter', 'kube-system')!.metadata.uid,
    'k8s.node.name': 'node-b', 'k8s.owner.name': 'node-exporter', 'k8s.owner.type': 'DaemonSet', 'cloud.availability_zone': 'eu-1b', 'cloud.region': 'eu-1',
  });
  t.deepEqual(end(nodeProc, 'destination'), {
    'address.type': 'node', 'k8s.node.name': 'node-b', 'k8s.owner.name': 'node-b', 'k8s.owner.type': 'Node', 'cloud.availability_zone': 'eu-1b', 'cloud.region': 'eu-1',
  });
  t.is(external!['source.address.type'], 'node', 'an ExternalIP of node-a');
  t.is(external!['source.k8s.node.name'], 'node-a');
  t.is(v6!['source.k8s.pod.name'], 'pb', 'second (IPv6) pod IP');
  t.is(v6!['destination.k8s.node.name'], 'node-b', 'IPv6 node InternalIP');
  t.is(loop!['source.address.type'], 'loopback');
  t.is(loop!['destination.address.type'], 'private');
});

test('a pod end made once is made again when its node changes (a pod on its own address and a hostNetwork pod on its node\'s)', async (t) => {
  const server = await cluster(t);
  server.add('pods', pod({ namespace: 'a', name: 'pa', ip: '10.1.0.1', node: 'node-a' }));
  server.add('pods', pod({ namespace: 'kube-system', name: 'exporter', ip: '192.168.1.11', node: 'node-b', hostNetwork: true, containerPorts: [{ containerPort: 9100 }], owner: { kind: 'DaemonSet', name: 'node-exporter' } }));
  const { run, cache } = await processor(t, server);
  const zones = async () => {
    const [a] = await run([flowBetween({ src: '10.1.0.1', dst: '192.168.1.11', dstPort: 9100 })]);
    return [a!['source.address.type'], a!['source.k8s.pod.name'], a!['source.cloud.availability_zone'], a!['destination.address.type'], a!['destination.k8s.pod.name'], a!['destination.cloud.availability_zone']];
  };
  t.deepEqual(await zones(), ['pod', 'pa', 'eu-1a', 'node', 'exporter', 'eu-1b']);
  t.deepEqual(await zones(), ['pod', 'pa', 'eu-1a', 'node', 'exporter', 'eu-1b'], 'the same, from the memo');
  server.modify('nodes', node({ name: 'node-a', internalIPs: ['192.168.1.10'], externalIPs: ['203.0.113.10'], zone: 'eu-1c', region: 'eu-1' }));
  server.modify('nodes', node({ name: 'node-b', internalIPs: ['192.168.1.11', 'fd00:1::11'], zone: 'eu-1d', region: 'eu-1' }));
  await until(() => cache.node('node-a')?.zone === 'eu-1c' && cache.node('node-b')?.zone === 'eu-1d', 2000, 'the node changes');
  t.deepEqual(await zones(), ['pod', 'pa', 'eu-1c', 'node', 'exporter', 'eu-1d']);
});

test('service VIPs: destination.original.address and a destination that is still a VIP', async (t) => {
  const server = await cluster(t);
  server.add('services', service({ namespace: 'shop', name: 'cart', clusterIPs: ['10.96.0.20', 'fd00:96::20'] }));
  server.add('services', service({ namespace: 'shop', name: 'headless', clusterIPs: ['None'] }));
  server.add('pods', pod({ namespace: 'shop', name: 'web', ip: '10.1.0.1', node: 'node-a' }));
  server.add('pods', pod({ namespace: 'shop', name: 'cart-0', ip: '10.1.0.2', node: 'node-b' }));
  const { run, cache } = await processor(t, server);
  const [dnat, vip, v6vip] = await run([
    flowBetween({ src: '10.1.0.1', dst: '10.1.0.2', original: '10.96.0.20' }),
    flowBetween({ src: '10.1.0.1', dst: '10.96.0.20' }),
    flowBetween({ src: '10.1.0.1', dst: 'fd00:96::20' }),
  ]);
  t.is(dnat!['destination.k8s.service.name'], 'cart');
  t.is(dnat!['destination.k8s.pod.name'], 'cart-0');
  t.is(dnat!['destination.address.type'], 'pod');
  t.deepEqual(end(vip, 'destination'), { 'address.type': 'service', 'k8s.namespace.name': 'shop', 'k8s.service.name': 'cart' });
  t.is(v6vip!['destination.k8s.service.name'], 'cart');
  t.is(cache.counts().services, 2);

  server.remove('services', 'cart', 'shop');
  await until(() => cache.serviceByIp('10.96.0.20') === undefined, 2000, 'service delete');
  const [gone] = await run([flowBetween({ src: '10.1.0.1', dst: '10.96.0.20' })]);
  t.is(gone!['destination.address.type'], 'private');
  t.false('destination.k8s.service.name' in gone!);
});

test('report once: same-node, cross-node and external flows; the dropped ones are counted', async (t) => {
  const server = await cluster(t);
  server.add('pods', pod({ namespace: 'a', name: 'a1', ip: '10.1.0.1', node: 'node-a' }));
  server.add('pods', pod({ namespace: 'a', name: 'a2', ip: '10.1.0.2', node: 'node-a' }));
  server.add('pods', pod({ namespace: 'b', name: 'b1', ip: '10.2.0.1', node: 'node-b' }));
  const flows = () => [
    flowBetween({ src: '10.1.0.1', dst: '10.1.0.2' }), // same node A: A
    flowBetween({ src: '10.1.0.1', dst: '10.2.0.1' }), // A → B: initiator's node A
    flowBetween({ src: '10.2.0.1', dst: '10.1.0.1' }), // B → A: B
    flowBetween({ src: '8.8.8.8', dst: '10.1.0.1' }), // external → A: responder's node A
    flowBetween({ src: '8.8.8.8', dst: '10.2.0.1' }), // external → B: B
    flowBetween({ src: '10.1.0.1', dst: '1.1.1.1' }), // A → external: A
    flowBetween({ src: '192.168.1.11', dst: '10.1.0.2' }), // node-b process → pod on A: A
    flowBetween({ src: '192.168.1.11', dst: '8.8.4.4' }), // node-b process → external: B
    flowBetween({ src: '172.20.0.1', dst: '8.8.4.4' }), // nobody the cluster knows: kept
  ];
  const a = await processor(t, server, { report_once: true, node_name: 'node-a' });
  const keptA = await a.run(flows());
  t.deepEqual(keptA.map((x) => `${x['source.address']}>${x['destination.address']}`), [
    '10.1.0.1>10.1.0.2', '10.1.0.1>10.2.0.1', '8.8.8.8>10.1.0.1', '10.1.0.1>1.1.1.1', '192.168.1.11>10.1.0.2', '172.20.0.1>8.8.4.4',
  ]);
  t.is(a.ctx.dropped, 3);

  const ctxB = capturingContext('k8sattributes/b', { 'k8s.node.name': 'node-b' });
  const b = await processor(t, server, { report_once: true }, ctxB); // node name from the resource
  const keptB = await b.run(flows());
  t.is(keptB.length, 4);
  t.is(ctxB.dropped, 5);
  // Every cluster flow is reported by exactly one of the two nodes (the last by both: nobody knows it).
  t.is(keptA.length + keptB.length, flows().length + 1);

  const env = capturingContext('k8sattributes/env');
  const fromEnv = await processor(t, server, { report_once: true }, env, { auth: { env: { NODE_NAME: 'node-b' }, home: '/nonexistent', serviceAccountRoot: '/nonexistent' } });
  t.is((await fromEnv.run(flows())).length, 4, 'NODE_NAME from the environment');

  const none = await processor(t, server, { report_once: true }, capturingContext('k8sattributes/none'));
  t.is((await none.run(flows())).length, flows().length, 'no node name: nothing dropped');
  const off = await processor(t, server, { report_once: false, node_name: 'node-a' }, capturingContext('k8sattributes/off'));
  t.is((await off.run(flows())).length, flows().length, 'report_once: false');
});

test('report once at a gateway: each batch is judged as its sender\'s (resource k8s.node.name), so every connection is kept once', async (t) => {
  const server = await cluster(t);
  server.add('pods', pod({ namespace: 'a', name: 'a1', ip: '10.1.0.1', node: 'node-a' }));
  server.add('pods', pod({ namespace: 'a', name: 'a2', ip: '10.1.0.2', node: 'node-a' }));
  server.add('pods', pod({ namespace: 'b', name: 'b1', ip: '10.2.0.1', node: 'node-b' }));
  // What each node's conntrack sees: a cross-node connection is in both tables.
  const seenBy = {
    'node-a': () => [
      flowBetween({ src: '10.1.0.1', dst: '10.1.0.2' }), flowBetween({ src: '10.1.0.1', dst: '10.2.0.1' }), flowBetween({ src: '10.2.0.1', dst: '10.1.0.1' }),
      flowBetween({ src: '8.8.8.8', dst: '10.1.0.1' }), flowBetween({ src: '192.168.1.11', dst: '10.1.0.2' }), flowBetween({ src: '172.20.0.1', dst: '8.8.4.4' }),
    ],
    'node-b': () => [
      flowBetween({ src: '10.1.0.1', dst: '10.2.0.1' }), flowBetween({ src: '10.2.0.1', dst: '10.1.0.1' }), flowBetween({ src: '8.8.8.8', dst: '10.2.0.1' }),
      flowBetween({ src: '192.168.1.11', dst: '10.1.0.2' }), flowBetween({ src: '192.168.1.11', dst: '8.8.4.4' }),
    ],
  };
  const pairs = (batches: FlowBatch[]) => batches.flatMap((b) => b.flows.map((f) => `${b.resource?.['k8s.node.name']}:${f.attributes['source.address']}>${f.attributes['destination.address']}`));
  // A gateway: no node_name, and a NODE_NAME of its own that must not decide for the agents' batches.
  const gateway = await processor(t, server, { report_once: true }, capturingContext('k8sattributes/gateway', { 'k8s.node.name': 'node-c' }), { auth: { env: { NODE_NAME: 'node-c' }, home: '/nonexistent', serviceAccountRoot: '/nonexistent' } });
  for (const [node, flows] of Object.entries(seenBy)) await gateway.p.consume({ flows: flows(), temporality: 'delta', resource: { 'k8s.node.name': node, 'k8s.cluster.name': 'c1' } });
  t.deepEqual(pairs(gateway.sink.batches), [
    'node-a:10.1.0.1>10.1.0.2', 'node-a:10.1.0.1>10.2.0.1', 'node-a:8.8.8.8>10.1.0.1', 'node-a:192.168.1.11>10.1.0.2', 'node-a:172.20.0.1>8.8.4.4',
    'node-b:10.2.0.1>10.1.0.1', 'node-b:8.8.8.8>10.2.0.1', 'node-b:192.168.1.11>8.8.4.4',
  ]);
  t.is(gateway.ctx.dropped, 3, 'the second sighting of each cross-node connection');
  t.deepEqual(gateway.sink.batches.map((b) => b.resource), [{ 'k8s.node.name': 'node-a', 'k8s.cluster.name': 'c1' }, { 'k8s.node.name': 'node-b', 'k8s.cluster.name': 'c1' }], 'the sender travels on');
  t.is(gateway.sink.batches[1]!.flows[0]!.attributes['source.k8s.pod.name'], 'b1');
  // Each flow says which node reported it, so a reduce after the gateway can keep it (group_by k8s.node.name).
  t.deepEqual(gateway.sink.batches.map((b) => [...new Set(b.flows.map((f) => f.attributes['k8s.node.name']))]), [['node-a'], ['node-b']]);
  // Its own receivers' batches (no resource) are this node's.
  gateway.sink.batches.length = 0;
  await gateway.p.consume({ flows: seenBy['node-a'](), temporality: 'delta' });
  t.deepEqual(pairs(gateway.sink.batches), ['undefined:172.20.0.1>8.8.4.4']);
  t.is(gateway.sink.batches[0]!.flows[0]!.attributes['k8s.node.name'], undefined, 'its own flows: the exporters add its resource');

  // A sender that does not name itself: nothing can be judged, nothing is dropped, one warning.
  const unnamed = await processor(t, server, { report_once: true }, capturingContext('k8sattributes/unnamed'));
  for (let i = 0; i < 2; i++) await unnamed.p.consume({ flows: seenBy['node-b'](), temporality: 'delta', resource: { 'k8s.cluster.name': 'c1' } });
  t.is(unnamed.sink.batches.flatMap((b) => b.flows).length, 10);
  t.is(unnamed.ctx.logs.filter((l) => l.msg.includes('without k8s.node.name')).length, 1);

  // node_name set on a gateway wins (as configured) and says once why that is wrong there.
  const pinned = await processor(t, server, { report_once: true, node_name: 'node-a' }, capturingContext('k8sattributes/pinned'));
  for (let i = 0; i < 2; i++) await pinned.p.consume({ flows: seenBy['node-b'](), temporality: 'delta', resource: { 'k8s.node.name': 'node-b' } });
  t.deepEqual(pairs(pinned.sink.batches), ['node-b:10.1.0.1>10.2.0.1', 'node-b:192.168.1.11>10.1.0.2', 'node-b:10.1.0.1>10.2.0.1', 'node-b:192.168.1.11>10.1.0.2']);
  t.is(pinned.ctx.logs.filter((l) => l.msg.includes('leave node_name empty on a gateway')).length, 1);
});

test('lists are read in pages of 500; an expired continue token restarts the list, and nothing is missed', async (t) => {
  const server = await cluster(t);
  for (let i = 0; i < 1_203; i++) server.add('pods', pod({ namespace: 'big', name: `p-${i}`, ip: `10.9.${i >> 8}.${i & 255}`, node: 'node-a' }));
  server.expireNextContinue();
  const { cache, ctx } = await processor(t, server);
  t.is(cache.counts().pods, 1_203);
  const pages = server.requests.filter((r) => r.resource === 'pods' && !r.watch);
  t.deepEqual(pages.map((r) => `${r.limit}:${r.continued ? 'next' : 'first'}:${r.status}`), ['500:first:200', '500:next:410', '500:first:200', '500:next:200', '500:next:200']);
  t.true(ctx.logs.some((l) => /pods list\/watch failed/.test(l.msg) && /HTTP 410/.test(String(l.err))), JSON.stringify(ctx.logs));
  t.true(pages.every((r) => r.token === 'secret'));
});

test('watch expiry: a live watch ends with 410, a resumed one gets 410 (as an event or HTTP 410); both relist', async (t) => {
  for (const expireAsHttp of [false, true]) {
    const server = await cluster(t, { expireAsHttp });
    server.add('pods', pod({ namespace: 'a', name: 'one', ip: '10.1.0.1', node: 'node-a' }));
    const { run, cache, ctx } = await processor(t, server, {}, capturingContext(`k8sattributes/${expireAsHttp}`));
    const lists = () => server.requests.filter((r) => r.resource === 'pods' && !r.watch).length;
    const known = (ip: string) => cache.podAt(ip, Date.now(), Date.now());
    t.is(lists(), 1);
    await until(() => server.watchCount('pods') === 1, 2000, 'the watch');

    // 1. The live watch is expired (ERROR event, code 410); changes made meanwhile must not be missed.
    server.expireWatches();
    server.remove('pods', 'one', 'a');
    server.add('pods', pod({ namespace: 'a', name: 'two', ip: '10.1.0.2', node: 'node-a' }));
    server.compact();
    await until(() => lists() === 2 && known('10.1.0.2') !== undefined, 5000, 'the relist');
    const [two, one] = await run([flowBetween({ src: '10.1.0.2', dst: '8.8.8.8' }), flowBetween({ src: '10.1.0.1', dst: '8.8.8.8' })]);
    t.is(two!['source.k8s.pod.name'], 'two');
    t.is(one!['source.k8s.pod.name'], 'one', 'the pod missing from the relist is deleted, inside its grace period');
    t.true(known('10.1.0.1')!.deleted);

    // 2. The connection drops; the history is compacted before the informer resumes: 410 on resume.
    await until(() => server.watchCount('pods') === 1, 2000, 'the new watch');
    server.dropWatches();
    server.add('pods', pod({ namespace: 'a', name: 'three', ip: '10.1.0.3', node: 'node-a' }));
    server.compact();
    await until(() => known('10.1.0.3') !== undefined, 5000, 'the second relist');
    t.true(server.requests.some((r) => r.resource === 'pods' && r.watch && r.status === 410), JSON.stringify(server.requests));
    t.is(lists(), 3);
    t.true((await metric(ctx, 'podflow_k8sattributes_watch_restarts_total', { kind: 'pods' }))! >= 2);
  }
});

test('API server goes away and comes back: no crash, the cache keeps serving, then resyncs', async (t) => {
  const server = await cluster(t);
  server.add('pods', pod({ namespace: 'a', name: 'one', ip: '10.1.0.1', node: 'node-a' }));
  const { run, cache, ctx } = await processor(t, server);
  await until(() => server.watchCount() === 5, 2000, 'all watches');

  server.dropWatches(); // abrupt: sockets destroyed mid-stream
  server.add('pods', pod({ namespace: 'a', name: 'after-drop', ip: '10.1.0.3', node: 'node-a' }));
  await until(() => cache.podAt('10.1.0.3', Date.now(), Date.now()) !== undefined, 5000, 'events after the drop');

  await server.stop();
  const [whileDown] = await run([flowBetween({ src: '10.1.0.1', dst: '8.8.8.8' })]);
  t.is(whileDown!['source.k8s.pod.name'], 'one', 'served from the cache while the API is down');
  // Changes while down, and the history compacted: the resumed watch gets 410 and relists.
  server.add('pods', pod({ namespace: 'a', name: 'two', ip: '10.1.0.2', node: 'node-b' }));
  server.remove('pods', 'one', 'a');
  server.compact();
  await new Promise((r) => setTimeout(r, 300)); // a few failed reconnects (backoff 50ms → 400ms)
  t.true(ctx.logs.some((l) => l.level === 40 && /pods list\/watch failed; retrying with backoff/.test(l.msg)));
  await server.listen();
  await until(() => cache.podAt('10.1.0.2', Date.now(), Date.now()) !== undefined, 5000, 'the resync');
  const [two] = await run([flowBetween({ src: '10.1.0.2', dst: '8.8.8.8' })]);
  t.is(two!['source.k8s.node.name'], 'node-b');
  t.true(cache.podAt('10.1.0.1', Date.now(), Date.now())!.deleted);
  t.true(ctx.logs.some((l) => /pods watch recovered/.test(l.msg)));
  t.true((await metric(ctx, 'podflow_k8sattributes_watch_restarts_total', { kind: 'pods' }))! >= 2);
});

test('malformed API objects are skipped with an error naming them; the rest is kept', async (t) => {
  const server = await cluster(t);
  server.add('pods', pod({ namespace: 'a', name: 'good', ip: '10.1.0.1', node: 'node-a' }));
  server.injectListItem('pods', { metadata: { name: 'bad-ip', namespace: 'a', uid: 'u1', creationTimestamp: '2026-01-01T00:00:00Z' }, spec: {}, status: { podIPs: [{ ip: '10.1.0.300' }] } });
  server.injectListItem('pods', { metadata: { name: 'no-spec', namespace: 'a', uid: 'u2', creationTimestamp: '2026-01-01T00:00:00Z' } });
  server.injectListItem('pods', 'not an object');
  const ctx = capturingContext('k8sattributes');
  const { run, cache } = await processor(t, server, {}, ctx);
  t.is(cache.counts().pods, 1);
  const errors = ctx.logs.filter((l) => l.level === 50).map((l) => l.msg);
  t.true(errors.includes('k8sattributes: skipping a malformed object: Pod a/bad-ip: status.podIPs[0].ip is not an IP address ("10.1.0.300")'), errors.join('\n'));
  t.true(errors.includes('k8sattributes: skipping a malformed object: Pod a/no-spec: spec is missing'));
  t.true(errors.includes('k8sattributes: skipping a malformed object: Pod ?: the object is not a JSON object'));

  await until(() => server.watchCount('pods') === 1, 2000, 'the watch');
  server.injectEvent('pods', JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'bad-time', namespace: 'a', uid: 'u3', resourceVersion: '999', creationTimestamp: 'yesterday' }, spec: {} } }));
  server.injectEvent('pods', '{ this is not json');
  server.add('pods', pod({ namespace: 'a', name: 'later', ip: '10.1.0.2', node: 'node-a' }));
  await until(() => cache.counts().pods === 2, 2000, 'the good event after the bad ones');
  t.true(ctx.logs.some((l) => l.msg === 'k8sattributes: skipping a malformed object: Pod a/bad-time: metadata.creationTimestamp is not a timestamp ("yesterday")'));
  t.true(ctx.logs.some((l) => l.level === 50 && l.msg.startsWith('k8sattributes: watch /api/v1/pods: skipping a line that is not JSON (')), 'a line that is not JSON is logged, not dropped silently');
  t.is(await metric(ctx, 'podflow_k8sattributes_bad_objects_total', { kind: 'pods' }), 4);
  const [later] = await run([flowBetween({ src: '10.1.0.2', dst: '8.8.8.8' })]);
  t.is(later!['source.k8s.pod.name'], 'later');
});

test('wait_for_sync: start() gives up waiting, says so, passes flows; synced later when the API appears', async (t) => {
  const server = await cluster(t);
  server.add('pods', pod({ namespace: 'a', name: 'one', ip: '10.1.0.1', node: 'node-a' }));
  const kubeconfig = server.writeKubeconfig();
  await server.stop();
  const ctx = capturingContext('k8sattributes');
  const made = makeProcessor(ctx, { auth_type: 'kubeConfig', kubeconfig, wait_for_sync: '300ms', report_once: false });
  t.teardown(() => made.p.shutdown());
  const started = Date.now();
  await made.p.start();
  const waited = Date.now() - started;
  t.true(waited >= 290 && waited < 2_000, `waited ${waited}ms`);
  // Ready (start() returned), not synced, and the warning says what it waits for.
  t.false(await synced(ctx));
  t.true(ctx.logs.some((l) => l.level === 40 && l.msg === 'k8sattributes: initial sync incomplete after 300ms (waiting for nodes, replicasets, jobs, services, pods): passing flows with what is known'));
  const [a] = await enrich(made.p, made.sink, [flowBetween({ src: '10.1.0.1', dst: '8.8.8.8' })]);
  t.is(a!['source.address.type'], 'private');
  t.is(await metric(ctx, 'podflow_k8sattributes_synced', {}), 0);

  await server.listen();
  await until(() => synced(ctx), 5000, 'the late sync');
  t.true(ctx.logs.some((l) => l.level === 30 && l.msg === 'k8sattributes: initial sync done (late)'));
  const [b] = await enrich(made.p, made.sink, [flowBetween({ src: '10.1.0.1', dst: '8.8.8.8' })]);
  t.is(b!['source.k8s.pod.name'], 'one');
  t.is(await metric(ctx, 'podflow_k8sattributes_synced', {}), 1);
  t.is(await metric(ctx, 'podflow_k8sattributes_objects_cached', { kind: 'nodes' }), 3);
});

test('self-metrics: lookup hits and misses per end, objects cached', async (t) => {
  const server = await cluster(t);
  server.add('pods', pod({ namespace: 'a', name: 'one', ip: '10.1.0.1', node: 'node-a' }));
  server.add('services', service({ namespace: 'a', name: 'svc', clusterIPs: ['10.96.0.1'] }));
  const ctx = capturingContext('k8sattributes');
  const { run } = await processor(t, server, {}, ctx);
  await run([
    flowBetween({ src: '10.1.0.1', dst: '10.96.0.1' }),
    flowBetween({ src: '10.1.0.1', dst: '8.8.8.8' }),
    flowBetween({ src: '9.9.9.9', dst: '192.168.1.10' }),
  ]);
  t.is(await metric(ctx, 'podflow_k8sattributes_lookups_total', { end: 'source', result: 'hit' }), 2);
  t.is(await metric(ctx, 'podflow_k8sattributes_lookups_total', { end: 'source', result: 'miss' }), 1);
  t.is(await metric(ctx, 'podflow_k8sattributes_lookups_total', { end: 'destination', result: 'hit' }), 2);
  t.is(await metric(ctx, 'podflow_k8sattributes_lookups_total', { end: 'destination', result: 'miss' }), 1);
  t.is(await metric(ctx, 'podflow_k8sattributes_objects_cached', { kind: 'pods' }), 1);
  t.is(await metric(ctx, 'podflow_k8sattributes_objects_cached', { kind: 'services' }), 1);
  t.is(await metric(ctx, 'podflow_k8sattributes_objects_cached', { kind: 'nodes' }), 3);
  t.is(await metric(ctx, 'podflow_k8sattributes_synced', {}), 1);
});

test('the bearer token from the kubeconfig is sent; a wrong one is refused and retried', async (t) => {
  const server = await cluster(t);
  const ctx = capturingContext('k8sattributes');
  const made = makeProcessor(ctx, { auth_type: 'kubeConfig', kubeconfig: server.writeKubeconfig('wrong'), wait_for_sync: '200ms' });
  t.teardown(() => made.p.shutdown());
  await made.p.start();
  t.false(await synced(ctx));
  await until(() => server.requests.length >= 10, 5000, 'retries');
  t.false(await synced(ctx));
  t.true(server.requests.length > 0 && server.requests.every((r) => r.status === 401), JSON.stringify(server.requests));
  t.true(ctx.logs.some((l) => typeof l.err === 'string' && l.err.includes('HTTP 401')), JSON.stringify(ctx.logs));
});

test('a BOOKMARK carries the resourceVersion: after compaction the informer resumes without a relist', async (t) => {
  const server = await cluster(t);
  const { cache } = await processor(t, server);
  await until(() => server.watchCount('pods') === 1, 2000, 'the watch');
  // Unrelated kinds move the revision on; the pods watch hears of it only through the bookmark.
  server.add('services', service({ namespace: 'x', name: 's', clusterIPs: ['10.96.1.1'] }));
  server.bookmark();
  await new Promise((r) => setTimeout(r, 100));
  server.compact();
  server.dropWatches();
  server.add('pods', pod({ namespace: 'a', name: 'p', ip: '10.1.0.1', node: 'node-a' }));
  await until(() => cache.podAt('10.1.0.1', Date.now(), Date.now()) !== undefined, 5000, 'the pod');
  const pods = server.requests.filter((r) => r.resource === 'pods');
  t.is(pods.filter((r) => !r.watch).length, 1, 'no relist');
  t.false(pods.some((r) => r.status === 410));
  t.true(pods.filter((r) => r.watch).every((r) => r.allowWatchBookmarks), 'watches ask for bookmarks');
  t.is(pods.at(-1)!.resourceVersion, String(server.resourceVersion - 1), 'resumed from the bookmark');
});

test('a watch line over max_watch_line_size drops the watch, is logged, and relists; nothing already known is lost', async (t) => {
  const server = await cluster(t);
  server.add('pods', pod({ namespace: 'a', name: 'one', ip: '10.1.0.1', node: 'node-a' }));
  const { cache, ctx } = await processor(t, server, { max_watch_line_size: '1MiB' });
  const lists = () => server.requests.filter((r) => r.resource === 'pods' && !r.watch).length;
  const known = (ip: string) => cache.podAt(ip, Date.now(), Date.now());
  await until(() => server.watchCount('pods') === 1, 2000, 'the watch');
  t.is(lists(), 1);

  // 8 MiB without a newline: the client stops reading after 1 MiB (the server sees it go away).
  await server.sendUnendingLine('pods', 8 * 1024 * 1024);
  server.add('pods', pod({ namespace: 'a', name: 'two', ip: '10.1.0.2', node: 'node-a' }));
  await until(() => lists() === 2 && known('10.1.0.2') !== undefined, 5000, 'the relist');
  t.is(known('10.1.0.1')?.deleted, false, 'the pod known before is still there, not deleted');
  const errors = ctx.logs.filter((l) => l.level === 50).map((l) => l.msg);
  t.true(errors.some((m) => /^k8sattributes: watch \/api\/v1\/pods: a line exceeds max_watch_line_size \(1048576 bytes; \d+ bytes without a newline so far\); dropping the watch and relisting$/.test(m)), errors.join('\n'));
  t.true((await metric(ctx, 'podflow_k8sattributes_watch_restarts_total', { kind: 'pods' }))! >= 1);

  // The new watch works: a later event arrives over it, without another list.
  await until(() => server.watchCount('pods') === 1, 2000, 'the new watch');
  server.add('pods', pod({ namespace: 'a', name: 'three', ip: '10.1.0.3', node: 'node-a' }));
  await until(() => known('10.1.0.3') !== undefined, 2000, 'an event on the new watch');
  t.is(lists(), 2);
});

test('a torn watch line at the end of the stream is an error that relists: the cut event is applied, not lost', async (t) => {
  const server = await cluster(t);
  server.add('pods', pod({ namespace: 'a', name: 'one', uid: 'uid-one', ip: '10.1.0.1', node: 'node-a' }));
  const { cache, ctx } = await processor(t, server);
  const lists = () => server.requests.filter((r) => r.resource === 'pods' && !r.watch).length;
  await until(() => server.watchCount('pods') === 1, 2000, 'the watch');

  // The event that moves the pod to node-b is cut in half, then the stream ends.
  server.applyTorn('pods', pod({ namespace: 'a', name: 'one', uid: 'uid-one', ip: '10.1.0.1', node: 'node-b' }));
  await until(() => lists() === 2, 5000, 'the relist');
  await until(() => cache.podAt('10.1.0.1', Date.now(), Date.now())?.pod.nodeName === 'node-b', 2000, 'the cut event, from the relist');
  const errors = ctx.logs.filter((l) => l.level === 50).map((l) => l.msg);
  t.true(errors.some((m) => /^k8sattributes: watch \/api\/v1\/pods: the stream ended inside a line \(\d+ bytes after the last newline\); dropping the watch and relisting$/.test(m)), errors.join('\n'));
  await until(() => server.watchCount('pods') === 1, 2000, 'the new watch');
});

test('the pipelines of one process that name flows share one set of watches and one cache', async (t) => {
  const server = await cluster(t);
  server.add('pods', pod({ namespace: 'shop', name: 'web-0', ip: '10.1.0.5', node: 'node-a' }));
  const kubeconfig = server.writeKubeconfig();
  const config = k8sattributesConfigSchema.parse({ auth_type: 'kubeConfig', kubeconfig, report_once: false });
  const auth = { env: {}, home: '/nonexistent', serviceAccountRoot: '/nonexistent' };
  const make = (id: string) => {
    const batches: FlowBatch[] = [];
    const p = new K8sAttributesProcessor(capturingContext(id), config, { consume: async (b) => void batches.push(b) }, { auth, backoff: { initialMs: 50, maxMs: 400 } });
    t.teardown(() => p.shutdown());
    return { p, batches };
  };
  // Two pipelines (deltas for PostgreSQL, cumulative sums for Prometheus), one processor each.
  const a = make('k8sattributes');
  const b = make('k8sattributes');
  await a.p.start();
  await b.p.start();
  const podRequests = () => server.requests.filter((r) => r.resource === 'pods');
  t.is(podRequests().filter((r) => !r.watch).length, 1, 'one list of pods');
  await until(() => server.watchCount() === 5, 5_000, 'the watches open');
  t.is(server.requests.filter((r) => r.watch).length, 5, 'one watch per kind');
  for (const x of [a, b]) await x.p.consume({ flows: [flowBetween({ src: '10.1.0.5', dst: '8.8.8.8' })], temporality: 'delta' });
  t.deepEqual([a, b].map((x) => x.batches[0]!.flows[0]!.attributes['source.k8s.pod.name']), ['web-0', 'web-0']);
  // A change reaches both through the one watch.
  server.add('pods', pod({ namespace: 'shop', name: 'web-1', ip: '10.1.0.6', node: 'node-a' }));
  await until(async () => {
    b.batches.length = 0;
    await b.p.consume({ flows: [flowBetween({ src: '10.1.0.6', dst: '8.8.8.8' })], temporality: 'delta' });
    return b.batches[0]?.flows[0]?.attributes['source.k8s.pod.name'] === 'web-1';
  }, 5_000, 'web-1 named');
  // The watches outlive the first pipeline's shutdown and end with the last one's.
  await a.p.shutdown();
  t.is(server.watchCount(), 5);
  await b.p.shutdown();
  await until(() => server.watchCount() === 0, 5_000, 'watches closed');
  // A processor started later lists anew.
  const c = make('k8sattributes/later');
  await c.p.start();
  t.is(podRequests().filter((r) => !r.watch).length, 2);
  // Different settings (labels to extract) are another cache and other watches.
  const other = new K8sAttributesProcessor(capturingContext('k8sattributes/labels'), k8sattributesConfigSchema.parse({ auth_type: 'kubeConfig', kubeconfig, report_once: false, extract: { labels: ['app'] } }), { consume: async () => {} }, { auth });
  t.teardown(() => other.shutdown());
  await other.start();
  await until(() => server.watchCount() === 10, 5_000, 'the second set of watches opens');
  t.is(podRequests().filter((r) => !r.watch).length, 3);
});
