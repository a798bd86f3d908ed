// netcost end to end on the real kernel: the simulated two-node cluster, one `bin/podflow run`
// per node with conntrack → k8sattributes → netcost (AWS us-east-1, the external host as a NAT
// gateway) → reduce → file and OTLP. The oracle is the kernel: each connection's final counters from its
// reporting node's conntrack table, classed from the topology and the zones the API server gives
// the nodes, priced with AWS's rule as an exact rational. Two phases:
//   1. node-a in zone-a, node-b in zone-b: cross-node Bookinfo calls are inter_zone;
//   2. node-b relabelled into zone-a (podflow restarted so k8sattributes lists the new label):
//      the same calls are intra_zone, priced at 0.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { FakeApiServer } from '../harness/fake-apiserver.ts';
import { startOtlpReceiver } from '../harness/otlp-receiver.ts';
import { node as nodeObject } from '../harness/k8s-objects.ts';
import { requirePrivileges } from '../harness/privileges.ts';
import { loadApiServer, SimulatedCluster } from '../harness/cluster/cluster.ts';
import { readNewFinalTables, reporter, type CtEntry } from '../harness/cluster/kernel-oracle.ts';
import { assertKernelCosts, classesOf, costsByClass, NETCOST, type Zones } from '../harness/cluster/netcost-oracle.ts';
import { fileCosts } from '../harness/cluster/outputs.ts';
import { startPodflowNode, type PodflowNode } from '../harness/cluster/podflow-node.ts';
import { NODES } from '../harness/cluster/topology.ts';

const ROUNDS = 4;

test('netcost on two simulated nodes: cross-zone calls are inter_zone and priced from the kernel\'s bytes, same-zone ones intra_zone', async (t) => {
  if (!requirePrivileges(t, ['ip', 'nft', 'conntrack'])) return;
  t.timeout(180_000);
  const cleanups: Array<() => Promise<unknown> | void> = [];
  try {
    const dir = mkdtempSync(join(tmpdir(), 'podflow-netcost-e2e-'));
    if (process.env.PODFLOW_E2E_KEEP === '1') t.log(`podflow configs, logs and flow files: ${dir}`);
    else cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const started = <T>(value: Promise<T>, stop: (v: T) => Promise<unknown>) => value.then((v) => (cleanups.push(() => stop(v)), v));
    const [cluster, api, otlp] = await Promise.all([
      started(SimulatedCluster.create('netcost'), (c) => c.destroy()),
      started(FakeApiServer.start({ token: 'netcost-token' }), (a) => a.close()),
      started(startOtlpReceiver(), (o) => o.close()),
    ]);
    await cluster.startApps();
    loadApiServer(api);
    const kubeconfig = api.writeKubeconfig();

    const phase = async (name: string, earlier: readonly CtEntry[]) => {
      const pointsBefore = otlp.points().length;
      const phaseDir = join(dir, name);
      mkdirSync(phaseDir);
      const nodes: PodflowNode[] = await Promise.all(NODES.map((n) => started(startPodflowNode({
        nodeName: n.name, netnsPath: cluster.node(n.name).path, kubeconfig, dir: phaseDir,
        conntrackInterval: '500ms', reduceInterval: '1s', netcost: NETCOST, otlpUrl: otlp.url,
      }), async (node) => node.kill())));
      t.deepEqual(await cluster.runLoad(ROUNDS), { ok: ROUNDS, failed: 0 });
      const entries = await readNewFinalTables(cluster.nodes, earlier);
      t.deepEqual(await Promise.all(nodes.map((n) => n.stop())), [0, 0]);
      // The OTLP points of this phase: network.flow.cost in USD per class.
      const otlpUsd: Record<string, number> = {};
      for (const p of otlp.points().slice(pointsBefore)) {
        if (p.metric !== 'network.flow.cost') continue;
        if (p.unit !== 'USD') throw new Error(`network.flow.cost in ${p.unit}`);
        const cls = String(p.attributes['network.flow.cost.class']);
        otlpUsd[cls] = (otlpUsd[cls] ?? 0) + p.value;
      }
      const unknown = await Promise.all(nodes.map((n) => n.selfMetric('podflow_processor_netcost_flows_total', { class: 'unknown' }).catch(() => 0)));
      return { entries, files: nodes.map((n) => n.flowsFile), unknown, otlpUsd };
    };

    // ---- phase 1: zone-a and zone-b -------------------------------------------------------------
    const zones1: Zones = { 'node-a': 'zone-a', 'node-b': 'zone-b' };
    const one = await phase('zones-differ', []);
    t.is(one.entries.filter((e) => reporter(e) === undefined || reporter(e) === e.node).length, 6 * ROUNDS, 'the kernel saw every call once');
    // ---- phase 2: node-b moved into zone-a ------------------------------------------------------
    const b = NODES.find((n) => n.name === 'node-b')!;
    api.modify('nodes', nodeObject({ name: b.name, internalIPs: [b.ip], zone: 'zone-a', region: b.region }));
    const zones2: Zones = { 'node-a': 'zone-a', 'node-b': 'zone-a' };
    const two = await phase('same-zone', one.entries);
    t.is(two.entries.filter((e) => reporter(e) === undefined || reporter(e) === e.node).length, 6 * ROUNDS);

    for (const [label, run, zones] of [['zones differ', one, zones1], ['same zone', two, zones2]] as const) {
      const actual = costsByClass(fileCosts(run.files));
      assertKernelCosts(t, label, run.entries, zones, actual);
      t.deepEqual(run.unknown, [0, 0], `${label}: no flow without zones`);
      // OTLP carries the same cost per class (doubles: to 1e-12), and no point for a free class.
      const fileUsd: Record<string, number> = {};
      for (const [key, v] of Object.entries(actual)) {
        const cls = key.split(' class=')[1]!;
        if (v.costZeptoUsd > 0n) fileUsd[cls] = (fileUsd[cls] ?? 0) + Number(v.costZeptoUsd) / 1e21;
      }
      t.deepEqual(Object.keys(run.otlpUsd).sort(), Object.keys(fileUsd).sort(), `${label}: OTLP cost classes`);
      for (const [cls, usd] of Object.entries(fileUsd)) t.true(Math.abs(run.otlpUsd[cls]! - usd) <= 1e-12 * usd, `${label}: OTLP ${cls} ${run.otlpUsd[cls]} vs ${usd}`);
    }
    t.deepEqual(classesOf(costsByClass(fileCosts(one.files))), ['inter_zone', 'nat_gateway', 'same_node']);
    t.deepEqual(classesOf(costsByClass(fileCosts(two.files))), ['intra_zone', 'nat_gateway', 'same_node']);
    const crossZoneUsd = Object.entries(costsByClass(fileCosts(one.files))).filter(([k]) => k.endsWith('class=inter_zone')).reduce((s, [, v]) => s + v.costZeptoUsd, 0n);
    t.true(crossZoneUsd > 0n);
  } finally {
    for (const c of cleanups.reverse()) await Promise.resolve().then(c).catch(() => undefined);
  }
});
