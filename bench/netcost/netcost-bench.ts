// CPU of the netcost processor per 262,144 flows (target: ≤ 50 ms), and what priced flows add to
// reduce's hot path. Usage: bench/netcost/run.sh [ticks] [flowsPerTick]
import { Registry } from 'prom-client';
import pino from 'pino';
import type { Attributes, Flow, FlowBatch } from '../../src/model/index.ts';
import type { ComponentContext } from '../../src/contracts/component.ts';
import { netcostConfigSchema } from '../../src/processors/netcost/config.ts';
import { NetcostProcessor } from '../../src/processors/netcost/netcost.ts';
import { reduceConfigSchema } from '../../src/processors/reduce/config.ts';
import { ReduceProcessor } from '../../src/processors/reduce/reduce.ts';
import { ManualClock } from '../../test/harness/manual-clock.ts';

const TICKS = Number(process.argv[2] ?? 40);
const FLOWS = Number(process.argv[3] ?? 262_144);
const TARGET_CPU_MS = 50;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (bench/netcost/run.sh does)');

const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
const NODES = names('node', 30);
const ZONES = ['us-east-1a', 'us-east-1b', 'us-east-1c'];
const APPS = names('app', 1000);
const NAMESPACES = names('ns', 40);

/** One flow as k8sattributes leaves it: both ends named, zones and regions from the nodes. */
function flow(i: number): Flow {
  const node = i % 30;
  const peer = (i * 7 + (i >> 3)) % 30; // every third flow in its own zone, one in thirty on its own node
  const a: Attributes = {
    'source.address': `10.${node}.${(i >> 8) & 255}.${i & 255}`,
    'source.address.type': 'pod',
    'source.k8s.namespace.name': NAMESPACES[i % 40]!,
    'source.k8s.owner.name': APPS[i % 1000]!,
    'source.k8s.owner.type': 'Deployment',
    'source.k8s.node.name': NODES[node]!,
    'source.cloud.availability_zone': ZONES[node % 3]!,
    'source.cloud.region': 'us-east-1',
    'destination.port': 8080,
    'network.transport': 'tcp',
  };
  if (i % 20 === 0) {
    a['destination.address'] = `52.0.${(i >> 8) & 255}.${i & 255}`; // through the NAT gateway
    a['destination.address.type'] = 'public';
  } else if (i % 10 === 0) {
    a['destination.address'] = `34.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    a['destination.address.type'] = 'public';
  } else {
    a['destination.address'] = `10.${peer}.${(i >> 8) & 255}.${(i + 1) & 255}`;
    a['destination.address.type'] = 'pod';
    a['destination.k8s.namespace.name'] = NAMESPACES[(i >> 3) % 40]!;
    a['destination.k8s.owner.name'] = APPS[(i >> 2) % 1000]!;
    a['destination.k8s.owner.type'] = 'StatefulSet';
    a['destination.k8s.node.name'] = NODES[peer]!;
    a['destination.cloud.availability_zone'] = ZONES[peer % 3]!;
    a['destination.cloud.region'] = 'us-east-1';
  }
  const f: Flow = { startTimeUnixNano: 0n, timeUnixNano: 0n, attributes: a, txBytes: 0.5, rxBytes: 0.5, txPackets: 0.5, rxPackets: 0.5, connections: 0.5 };
  f.txBytes = 1_500 + (i % 100_000);
  f.rxBytes = 300 + (i % 7_000);
  f.txPackets = 3;
  f.rxPackets = 2;
  f.connections = i % 5 === 0 ? 1 : 0;
  return f;
}

function context(id: string): ComponentContext {
  return { id, logger: pino({ level: 'silent' }), metrics: new Registry(), resource: {}, countDropped: () => {} };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number, digits = 1) => Number(x.toFixed(digits));
const cpuMs = (since: NodeJS.CpuUsage) => {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1000;
};

const batch: FlowBatch = { temporality: 'delta', flows: Array.from({ length: FLOWS }, (_, i) => flow(i)) };
const config = netcostConfigSchema.parse({ provider: 'aws', region: 'us-east-1', nat_gateway: ['52.0.0.0/16'], cluster_cidrs: ['10.0.0.0/8'] });
const netcost = new NetcostProcessor(context('netcost/bench'), config, { consume: async () => {} });

const netcostCpu: number[] = [];
const netcostWall: number[] = [];
for (let tick = 0; tick < TICKS; tick++) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await netcost.consume(batch);
  netcostWall.push(performance.now() - t0);
  netcostCpu.push(cpuMs(cpu0));
}
const warm = Math.min(5, Math.floor(TICKS / 2));
const classes = new Map<string, number>();
for (const f of batch.flows) classes.set(String(f.attributes['network.flow.cost.class']), (classes.get(String(f.attributes['network.flow.cost.class'])) ?? 0) + 1);

/** reduce's consume CPU per tick on this batch, priced or not (costs removed). */
async function reduceCpu(priced: boolean): Promise<number> {
  const flows = priced ? batch.flows : batch.flows.map((f) => {
    const { costZeptoUsd: _, ...rest } = f;
    return rest;
  });
  gc!();
  const clock = new ManualClock(1_767_225_600_000);
  const reducer = new ReduceProcessor(context('reduce/bench'), reduceConfigSchema.parse({ temporality: 'delta', interval: 15_000 }), { consume: async () => {} }, clock);
  await reducer.start();
  const times: number[] = [];
  for (let tick = 0; tick < Math.max(10, Math.floor(TICKS / 2)); tick++) {
    const cpu0 = process.cpuUsage();
    await reducer.consume({ temporality: 'delta', flows });
    times.push(cpuMs(cpu0));
    await clock.advance(15_000);
  }
  await reducer.shutdown();
  return median(times.slice(warm));
}
const reduceUnpriced = await reduceCpu(false);
const reducePriced = await reduceCpu(true);

const result = {
  bench: 'netcost',
  flows_per_tick: FLOWS,
  netcost_cpu_ms_median: round(median(netcostCpu.slice(warm))),
  netcost_wall_ms_median: round(median(netcostWall.slice(warm))),
  netcost_cpu_ns_per_flow: Math.round((median(netcostCpu.slice(warm)) * 1e6) / FLOWS),
  target_cpu_ms: TARGET_CPU_MS,
  ratio_to_target: round(median(netcostCpu.slice(warm)) / TARGET_CPU_MS, 2),
  reduce_cpu_ms_unpriced: round(reduceUnpriced),
  reduce_cpu_ms_priced: round(reducePriced),
  reduce_priced_over_unpriced: round(reducePriced / reduceUnpriced, 2),
  load_average_1m: round((await import('node:os')).loadavg()[0]!, 2),
};
console.log(`netcost: ${FLOWS} flows/tick (${[...classes].map(([c, n]) => `${c} ${n}`).join(', ')})`);
console.log(`  CPU median ${result.netcost_cpu_ms_median} ms per tick (${result.netcost_cpu_ns_per_flow} ns/flow; target ≤ ${TARGET_CPU_MS} ms: ratio ${result.ratio_to_target}), wall ${result.netcost_wall_ms_median} ms`);
console.log(`  reduce consume CPU median: ${result.reduce_cpu_ms_unpriced} ms unpriced, ${result.reduce_cpu_ms_priced} ms priced (×${result.reduce_priced_over_unpriced}); load average ${result.load_average_1m}`);
console.log(JSON.stringify(result));
