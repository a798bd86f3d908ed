// Throughput and memory of the reduce processor's hot path, plus the string-key scheme it
// replaced as a baseline. Usage: bench/reduce/run.sh [ticks] [recordsPerTick] [groups]
import { Registry } from 'prom-client';
import pino from 'pino';
import type { Attributes, Flow, FlowBatch } from '../../src/model/index.ts';
import type { ComponentContext } from '../../src/contracts/component.ts';
import { reduceConfigSchema } from '../../src/processors/reduce/config.ts';
import { GroupKeyReader, type SlotValue } from '../../src/processors/reduce/group-key.ts';
import { ManualClock } from '../../test/harness/manual-clock.ts';
import { ReduceProcessor } from '../../src/processors/reduce/reduce.ts';

const TICKS = Number(process.argv[2] ?? 100);
const RECORDS = Number(process.argv[3] ?? 262_144);
const GROUPS = Number(process.argv[4] ?? 10_000);
const INTERVAL_MS = 15_000;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (bench/reduce/run.sh does)');

// Strings a Kubernetes cache would hand out: one instance per name, shared by every record.
const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
const NAMESPACES = names('ns', 40);
const APPS = names('app', 1000);
const SERVICES = names('svc', Math.ceil(GROUPS / 1000));
const ZONES = ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'];
const DOMAINS = names('ext', GROUPS).map((n) => `${n}.example.com`);

/** Record i of a tick belongs to group i % GROUPS; one group in ten talks to the internet. */
function record(i: number, tick: number): Flow {
  const g = i % GROUPS;
  const sourceZone = ZONES[g % 3]!;
  const attributes: Attributes = {
    'source.address': `10.${(g >> 8) & 255}.${g & 255}.${(i >> 16) & 255}`,
    'source.port': 32768 + ((i * 7 + tick) % 28000),
    'source.k8s.namespace.name': NAMESPACES[g % 40]!,
    'source.k8s.pod.name': APPS[g % 1000]! + '-7d9f8',
    'source.k8s.owner.name': APPS[g % 1000]!,
    'source.k8s.owner.type': 'Deployment',
    'source.cloud.availability_zone': sourceZone,
    'network.transport': g % 7 === 0 ? 'udp' : 'tcp',
    'network.type': 'ipv4',
  };
  if (g % 10 === 0) {
    attributes['destination.address'] = `52.${(i >> 8) & 255}.${i & 255}.${tick & 255}`;
    attributes['destination.port'] = 443;
    attributes['destination.domain'] = DOMAINS[g]!;
  } else {
    const destinationZone = ZONES[(g >> 2) % 3]!;
    attributes['destination.address'] = `10.200.${(g >> 8) & 255}.${g & 255}`;
    attributes['destination.port'] = 8080;
    attributes['destination.k8s.namespace.name'] = NAMESPACES[(g >> 3) % 40]!;
    attributes['destination.k8s.owner.name'] = SERVICES[Math.floor(g / 1000)]!;
    attributes['destination.k8s.owner.type'] = 'StatefulSet';
    attributes['destination.cloud.availability_zone'] = destinationZone;
    attributes['network.flow.inter_zone'] = destinationZone !== sourceZone;
  }
  // Counters start as doubles, as a receiver decoding them from a Buffer makes them: the reducer's
  // own output flows (counters read from a Float64Array) share this object shape, and a shape
  // that starts with small-integer fields would be generalized once mid-run, migrating every
  // input record (+80 bytes each), which is the bench's input growing, not the reducer.
  const flow: Flow = { startTimeUnixNano: 0n, timeUnixNano: 0n, attributes, txBytes: 0.5, rxBytes: 0.5, txPackets: 0.5, rxPackets: 0.5, connections: 0.5 };
  flow.txBytes = 1500;
  flow.rxBytes = 300;
  flow.txPackets = 3;
  flow.rxPackets = 2;
  flow.connections = i % 5 === 0 ? 1 : 0;
  return flow;
}

// Two prepared ticks, alternated: the receiver's work is not what is measured here.
const prepared: FlowBatch[] = [0, 1].map((tick) => ({ temporality: 'delta', flows: Array.from({ length: RECORDS }, (_, i) => record(i, tick)) }));

function context(): ComponentContext {
  return { id: 'reduce/bench', logger: pino({ level: 'silent' }), metrics: new Registry(), resource: {}, countDropped: () => {} };
}

function heapMiB(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
const round = (x: number, digits = 1) => Number(x.toFixed(digits));

async function measure(temporality: 'delta' | 'cumulative') {
  let groupsOut = 0;
  let flowsOut = 0;
  const next = { consume: async (batch: FlowBatch) => void ((groupsOut = batch.flows.length), (flowsOut += batch.flows.length)) };
  const heapBeforeMiB = heapMiB();
  const clock = new ManualClock(1_767_225_600_000);
  const reducer = new ReduceProcessor(context(), reduceConfigSchema.parse({ temporality, interval: INTERVAL_MS }), next, clock);
  await reducer.start();
  const consumeMs: number[] = [];
  const consumeCpuMs: number[] = [];
  const flushMs: number[] = [];
  const heap: number[] = [];
  for (let tick = 0; tick < TICKS; tick++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await reducer.consume(prepared[tick % 2]!);
    const t1 = performance.now();
    const cpu = process.cpuUsage(cpu0);
    consumeCpuMs.push((cpu.user + cpu.system) / 1000);
    await clock.advance(INTERVAL_MS); // one tick = one interval: every tick also pays a flush
    flushMs.push(performance.now() - t1);
    consumeMs.push(t1 - t0);
    if (tick === 9 || tick === TICKS - 1 || tick % 10 === 9) heap.push(heapMiB());
  }
  await reducer.shutdown();
  const skip = Math.min(5, Math.floor(TICKS / 2)); // warm-up ticks left out of the medians
  const warm = consumeMs.slice(skip);
  const result = {
    consume_ms_median: round(percentile(warm, 0.5)),
    consume_ms_p99: round(percentile(warm, 0.99)),
    consume_cpu_ms_median: round(percentile(consumeCpuMs.slice(skip), 0.5)),
    ns_per_record: Math.round((percentile(warm, 0.5) * 1e6) / RECORDS),
    cpu_ns_per_record: Math.round((percentile(consumeCpuMs.slice(skip), 0.5) * 1e6) / RECORDS),
    flush_ms_median: round(percentile(flushMs.slice(skip), 0.5)),
    groups_per_interval: groupsOut,
    heap_mib_tick10: round(heap[0]!),
    heap_mib_last: round(heap.at(-1)!),
    heap_growth_mib: round(heap.at(-1)! - heap[0]!, 2),
    reducer_heap_mib: round(heap.at(-1)! - heapBeforeMiB, 2),
  };
  console.log(`reduce ${temporality}: ${RECORDS} records/tick, ${groupsOut} groups: consume median ${result.consume_ms_median} ms wall (p99 ${result.consume_ms_p99} ms, ${result.ns_per_record} ns/record), ${result.consume_cpu_ms_median} ms CPU (${result.cpu_ns_per_record} ns/record), flush median ${result.flush_ms_median} ms`);
  console.log(`  heap after GC every 10 ticks (MiB): ${heap.map((h) => h.toFixed(1)).join(' ')}; growth tick 10 → ${TICKS}: ${result.heap_growth_mib} MiB; the reducer holds ${result.reducer_heap_mib} MiB`);
  return { result, flowsOut };
}

/** The scheme the table replaced: a concatenated, type-tagged string key per record. */
function stringKeyBaseline(): { wall_ms: number; cpu_ms: number } {
  const reader = new GroupKeyReader({ groupBy: reduceConfigSchema.parse({}).group_by, unidentifiedAddresses: true, publicAddresses: { byDomain: true, ipv4Prefix: 32, ipv6Prefix: 128 }, clusterCidrs: [] });
  const values = new Array<SlotValue>(reader.slotCount);
  const tag = (v: SlotValue) => (typeof v === 'string' ? v : v === undefined ? '\u0002' : typeof v === 'number' ? `\u0003${v}` : v ? '\u0004' : '\u0005');
  const times: number[] = [];
  const cpuTimes: number[] = [];
  for (let tick = 0; tick < 10; tick++) {
    const groups = new Map<string, Float64Array>();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (const flow of prepared[tick % 2]!.flows) {
      reader.read(flow.attributes, values);
      let key = '';
      for (let j = 0; j < values.length; j++) key += tag(values[j]) + '\u0001';
      let c = groups.get(key);
      if (!c) groups.set(key, (c = new Float64Array(5)));
      c[0]! += flow.txBytes; c[1]! += flow.rxBytes; c[2]! += flow.txPackets; c[3]! += flow.rxPackets; c[4]! += flow.connections;
    }
    times.push(performance.now() - t0);
    const cpu = process.cpuUsage(cpu0);
    cpuTimes.push((cpu.user + cpu.system) / 1000);
  }
  const median = percentile(times.slice(2), 0.5);
  const cpuMedian = percentile(cpuTimes.slice(2), 0.5);
  console.log(`baseline Map<string> with concatenated keys: ${round(median)} ms wall, ${round(cpuMedian)} ms CPU per tick (${Math.round((cpuMedian * 1e6) / RECORDS)} CPU ns/record)`);
  return { wall_ms: round(median), cpu_ms: round(cpuMedian) };
}

const cumulative = await measure('cumulative');
const delta = await measure('delta');
const baseline = stringKeyBaseline();
console.log(JSON.stringify({
  bench: 'reduce', records_per_tick: RECORDS, groups: GROUPS, ticks: TICKS, node: process.version,
  cumulative: cumulative.result, delta: delta.result, baseline_string_key_per_tick: baseline,
}));
