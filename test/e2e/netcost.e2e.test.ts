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
import { entryKey, readFinalTables, reporter, type CtEntry } from '../harness/cluster/kernel-oracle.ts';
import { fileCosts } from '../harness/cluster/outputs.ts';
import { startPodflowNode, type PodflowNode } from '../harness/cluster/podflow-node.ts';
import { EXTERNAL, NODES, POD_CIDR, podByIp, SERVICE_CIDR, type NodeName } from '../harness/cluster/topology.ts';

const ROUNDS = 4;
const GIB = 2n ** 30n;
/** AWS us-east-1 list prices in nano-USD per GB (src/processors/netcost/README.md). */
const NANO_USD_PER_GB = { inter_zone: 10_000_000n, nat_gateway: 45_000_000n } as const;
const NETCOST = { provider: 'aws', region: 'us-east-1', cluster_cidrs: [POD_CIDR, SERVICE_CIDR], nat_gateway: [EXTERNAL.ip] };

type Zones = Record<NodeName, string>;

/** The class of a connection from the topology and the nodes' zones alone. */
function classOf(e: CtEntry, zones: Zones): string {
  const src = podByIp(e.origSrc);
  const dst = podByIp(e.replySrc);
  if (src && e.replySrc === EXTERNAL.ip) return 'nat_gateway';
  if (!src || !dst) throw new Error(`unexpected connection ${e.origSrc} -> ${e.replySrc}`);
  if (src.node === dst.node) return 'same_node';
  return zones[src.node] === zones[dst.node] ? 'intra_zone' : 'inter_zone';
}

/** AWS: cross-AZ bytes are billed on both sides, NAT gateway bytes once each way; the rest is free. */
function billedBytes(cls: string, e: CtEntry): bigint {
  const bytes = BigInt(e.txBytes + e.rxBytes);
  return cls === 'inter_zone' ? 2n * bytes : cls === 'nat_gateway' ? bytes : 0n;
}

/** Per group and class: the exact cost × 2^30 (zepto-USD), from the kernel's counters. */
function kernelCosts(entries: readonly CtEntry[], zones: Zones): Record<string, { costTimesGib: bigint; bytes: number; connections: number }> {
  const out: Record<string, { costTimesGib: bigint; bytes: number; connections: number }> = {};
  for (const e of entries) {
    const who = reporter(e);
    if (who !== undefined && who !== e.node) continue;
    const cls = classOf(e, zones);
    const rate = cls === 'inter_zone' || cls === 'nat_gateway' ? NANO_USD_PER_GB[cls] : 0n;
    const key = `${entryKey(e).replace(/ inter_zone=\S*/, '')} class=${cls}`;
    const cur = (out[key] ??= { costTimesGib: 0n, bytes: 0, connections: 0 });
    cur.connections++;
    cur.costTimesGib += billedBytes(cls, e) * rate * 10n ** 12n;
    cur.bytes += e.txBytes + e.rxBytes;
  }
  return out;
}

/** fileCosts() by group without `inter_zone` (the class says it; zones change between phases). */
function costsByClass(files: readonly string[]): ReturnType<typeof fileCosts> {
  const out: ReturnType<typeof fileCosts> = {};
  for (const [key, v] of Object.entries(fileCosts(files))) {
    const cur = (out[key.replace(/ inter_zone=\S*/, '')] ??= { costZeptoUsd: 0n, txBytes: 0, rxBytes: 0, rows: 0 });
    cur.costZeptoUsd += v.costZeptoUsd;
    cur.txBytes += v.txBytes;
    cur.rxBytes += v.rxBytes;
    cur.rows += v.rows;
  }
  return out;
}

const identity = (e: CtEntry) => `${e.node} ${e.origSrc}:${e.origSport} ${e.origDst}:${e.origDport}`;

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

    const phase = async (name: string, before: ReadonlySet<string>) => {
      const pointsBefore = otlp.points().length;
      const phaseDir = join(dir, name);
      mkdirSync(phaseDir);
      const nodes: PodflowNode[] = await Promise.all(NODES.map((n) => started(startPodflowNode({
        nodeName: n.name, netnsPath: cluster.node(n.name).path, kubeconfig, dir: phaseDir,
        conntrackInterval: '500ms', reduceInterval: '1s', netcost: NETCOST, otlpUrl: otlp.url,
      }), async (node) => node.kill())));
      t.deepEqual(await cluster.runLoad(ROUNDS), { ok: ROUNDS, failed: 0 });
      const entries = (await readFinalTables(cluster.nodes)).filter((e) => !before.has(identity(e)));
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
    const one = await phase('zones-differ', new Set());
    t.is(one.entries.filter((e) => reporter(e) === undefined || reporter(e) === e.node).length, 6 * ROUNDS, 'the kernel saw every call once');
    // ---- phase 2: node-b moved into zone-a ------------------------------------------------------
    const b = NODES.find((n) => n.name === 'node-b')!;
    api.modify('nodes', nodeObject({ name: b.name, internalIPs: [b.ip], zone: 'zone-a', region: b.region }));
    const zones2: Zones = { 'node-a': 'zone-a', 'node-b': 'zone-a' };
    const two = await phase('same-zone', new Set(one.entries.map(identity)));
    t.is(two.entries.filter((e) => reporter(e) === undefined || reporter(e) === e.node).length, 6 * ROUNDS);

    for (const [label, run, zones] of [['zones differ', one, zones1], ['same zone', two, zones2]] as const) {
      const expected = kernelCosts(run.entries, zones);
      const actual = costsByClass(run.files);
      t.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), `${label}: the groups and their classes`);
      for (const [key, want] of Object.entries(expected)) {
        const got = actual[key];
        if (!got) continue;
        t.is(got.txBytes + got.rxBytes, want.bytes, `${label}: ${key} bytes`);
        // Each priced record is rounded to the zepto-dollar (within half of one); a connection of
        // this test lives well under a second, so it is in at most four 500 ms conntrack reads.
        const errorTimesGib = got.costZeptoUsd * GIB - want.costTimesGib;
        const bound = BigInt(want.connections) * 4n * (GIB / 2n);
        t.true(errorTimesGib <= bound && -errorTimesGib <= bound, `${label}: ${key}: ${got.costZeptoUsd} zUSD vs ${want.costTimesGib / GIB} from the kernel`);
        if (want.costTimesGib > 0n) t.true(Math.abs(Number(errorTimesGib) / Number(want.costTimesGib)) <= 1e-12, `${label}: ${key} to 1e-12`);
        else t.is(got.costZeptoUsd, 0n, `${label}: ${key} is free`);
      }
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
    const classes = (run: typeof one) => [...new Set(Object.keys(costsByClass(run.files)).map((k) => k.split(' class=')[1]))].sort();
    t.deepEqual(classes(one), ['inter_zone', 'nat_gateway', 'same_node']);
    t.deepEqual(classes(two), ['intra_zone', 'nat_gateway', 'same_node']);
    const crossZoneUsd = Object.entries(costsByClass(one.files)).filter(([k]) => k.endsWith('class=inter_zone')).reduce((s, [, v]) => s + v.costZeptoUsd, 0n);
    t.true(crossZoneUsd > 0n);
  } finally {
    for (const c of cleanups.reverse()) await Promise.resolve().then(c).catch(() => undefined);
  }
});
