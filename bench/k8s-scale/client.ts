// One API-server client of the k8s-scale benchmark, in its own process so its RSS is its own.
//   MODE=node     a node-mode DaemonSet pod's k8sattributes (node_name: node-0)
//   MODE=gateway  a gateway's k8sattributes (no node_name: each batch is its agent's) → reduce
// Talks to bench.ts over stdio: prints {"event":"synced",…} once every kind is listed; the line
// "measure" (gateway) runs the CPU measurement and prints {"event":"measured",…}; "exit" (or the
// end of stdin) shuts down.
import { createInterface } from 'node:readline';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { Attributes, FlowBatch } from '../../src/model/index.ts';
import { OtlpProtoEncoder } from '../../src/exporters/shared/otlp/proto-encoder.ts';
import { reduceConfigSchema } from '../../src/processors/reduce/config.ts';
import { decodeProtoRequest } from '../../src/receivers/otlp/decode-proto.ts';
import { ReduceProcessor } from '../../src/processors/reduce/reduce.ts';
import { capturingContext } from '../../test/harness/context.ts';
import { flowBetween } from '../../test/harness/flows.ts';
import { deploymentOf, deployments, nodeName, podIp, serviceIp, type ScaleCluster } from '../../test/harness/k8s-scale-cluster.ts';
import { makeProcessor } from '../../test/harness/k8sattributes.ts';
import { ManualClock } from '../../test/harness/manual-clock.ts';

const MODE = process.env.MODE === 'gateway' ? 'gateway' : 'node';
const cluster = JSON.parse(process.env.CLUSTER!) as ScaleCluster;
const FLOWS = Number(process.env.FLOWS ?? 262_144);
const TICKS = Number(process.env.TICKS ?? 5);
/** Deployments each Deployment calls: with zones and services this sets the groups a gateway reduces to. */
const PEERS = Number(process.env.PEERS ?? 2);
const INTERVAL_MS = 15_000;
/** A gateway reduces the whole cluster's flows: more groups than one node's default 10,000. */
const MAX_GROUPS = 200_000;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const mib = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
const say = (o: object) => console.log(JSON.stringify(o));

const config = { auth_type: 'kubeConfig', kubeconfig: process.env.SCALE_KUBECONFIG, wait_for_sync: '300s', ...(MODE === 'node' ? { node_name: 'node-0' } : {}) };
const clock = new ManualClock(1_767_225_600_000);
let reducedGroups = 0;
const reduceConfig = reduceConfigSchema.parse({ interval: '15s', temporality: 'delta', max_groups: MAX_GROUPS });
const reducer = (on: ManualClock) => new ReduceProcessor(capturingContext('reduce'), reduceConfig, { consume: async (b: FlowBatch) => void (reducedGroups += b.flows.length) }, on);
/** The gateway's reduce: its groups recur interval after interval (the bench's agents send the same flows every interval). */
const reduce = reducer(clock);
/** A reduce that has never seen these groups (a gateway's first interval, or every pod pair new): made anew each tick. */
let fresh: ReduceProcessor | undefined;
/** The fresh reduce's own clock: its flush must not end an interval of the gateway's reduce. */
const freshClock = new ManualClock(clock.nowMs());
let kept = 0;
/** k8sattributes → reduce, → a fresh reduce, or → a counter only (to split the CPU between the two). */
let target: 'reduce' | 'fresh' | 'none' = 'reduce';
const next = { consume: (b: FlowBatch) => ((kept += b.flows.length), target === 'reduce' ? reduce.consume(b) : target === 'fresh' ? fresh!.consume(b) : Promise.resolve()) };

gc();
const rssBefore = process.memoryUsage().rss;
const k8s = makeProcessor(capturingContext('k8sattributes'), config, {}, next);
const t0 = performance.now();
await k8s.p.start();
await reduce.start();
const syncMs = performance.now() - t0;
gc();
const counts = k8s.cache.counts();
say({ event: 'synced', mode: MODE, sync_ms: Math.round(syncMs), rss_mib: mib(process.memoryUsage().rss), rss_growth_mib: mib(process.memoryUsage().rss - rssBefore), heap_mib: mib(process.memoryUsage().heapUsed), pods: counts.pods });

/**
 * One interval of the cluster's agents' output: FLOWS flows in one batch per agent (its resource
 * names it). Each Deployment calls PEERS others. Per agent: 60% its pods → any pod, 20% its pods → a Service VIP (DNATed to one of
 * its pods), 10% its pods → the internet, 10% another node's pods → its pods (the other node's
 * to report: report-once drops them here).
 */
function agentBatches(): FlowBatch[] {
  // xorshift32: an LCG's low bits cycle in step with the fixed number of draws per flow.
  let seed = 42;
  const rand = (n: number) => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const perNode = Math.ceil(FLOWS / cluster.nodes);
  const podsPerNode = Math.floor(cluster.pods / cluster.nodes);
  const localPod = (n: number) => n + rand(podsPerNode) * cluster.nodes;
  const batches: FlowBatch[] = [];
  let made = 0;
  for (let n = 0; n < cluster.nodes && made < FLOWS; n++) {
    const flows = [];
    for (let k = 0; k < perNode && made < FLOWS; k++, made++) {
      const kind = rand(10);
      const src = localPod(n);
      // A service graph: each Deployment calls PEERS others.
      const peer = (deploymentOf(cluster, src) * 7 + 1 + rand(PEERS)) % deployments(cluster);
      const other = Math.min(cluster.pods - 1, peer * cluster.podsPerDeployment + rand(cluster.podsPerDeployment));
      const srcPort = 30_000 + rand(30_000);
      if (kind < 6) flows.push(flowBetween({ src: podIp(src), dst: podIp(other), srcPort, dstPort: 8080 }));
      else if (kind < 8) flows.push(flowBetween({ src: podIp(src), dst: podIp(other), srcPort, dstPort: 8080, original: serviceIp(deploymentOf(cluster, other)) }));
      else if (kind < 9) flows.push(flowBetween({ src: podIp(src), dst: `34.${rand(256)}.${rand(256)}.${rand(256)}`, srcPort, dstPort: 443 }));
      else flows.push(flowBetween({ src: podIp(other % cluster.nodes === n ? (other + 1) % cluster.pods : other), dst: podIp(src), srcPort, dstPort: 8080 }));
    }
    batches.push({ flows, temporality: 'delta', resource: { 'k8s.node.name': nodeName(n), 'k8s.cluster.name': 'bench' } });
  }
  return batches;
}

/**
 * How the batches reach the gateway's k8sattributes, in the pipeline's shape: the otlp receiver
 * decodes one request and hands its batches (one per agent) through the processors before it
 * decodes the next, so a batch and the enriched maps of its flows die young and only reduce's
 * groups live through the interval. Each tick therefore decodes request after request inside the
 * loop, and the enrich and reduce CPU is the difference to the same loop with a consumer that
 * only counts (the receiver's own work, measured in bench/otlp):
 *  - INPUT=decoder (default): each agent's batch encoded once by podflow's otlp encoder (one
 *    request per agent), decoded by the receiver's decoder every interval.
 *  - INPUT=strings: every attribute value a new string decoded from its UTF-8 bytes, the maps
 *    built key by key, one agent's batch at a time (the figures before the receiver's decoder
 *    was measured here).
 */
const INPUT = process.env.INPUT === 'strings' ? 'strings' : 'decoder';
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();
function decoded(a: Attributes): Attributes {
  const out: Attributes = {};
  for (const [k, v] of Object.entries(a)) out[k] = typeof v === 'string' ? fromUtf8.decode(utf8.encode(v)) : v;
  return out;
}

/** One request: what the receiver decodes it to. */
type Request = () => FlowBatch[];

/**
 * The interval's requests, and a function that releases their bytes. The protobuf bodies are
 * gunzipped once, before the ticks, into one buffer (~264 MB, freed before the RSS is read):
 * gunzip is the receiver's work too, and per-request timing around it cost more than the
 * difference measured.
 */
function requestsOf(template: FlowBatch[]): { requests: Request[]; release: () => void } {
  if (INPUT === 'strings') {
    return { requests: template.map((b) => () => [{ ...b, flows: b.flows.map((f) => ({ ...f, attributes: decoded(f.attributes) })) }]), release: () => {} };
  }
  const encoder = new OtlpProtoEncoder({ maxRequestBytes: 4 * 1024 * 1024, scopeVersion: 'bench' });
  const gzipped = template.flatMap((b) => encoder.encode(b.resource!, 'delta', b.flows, (body) => gzipSync(body, { level: 1 })));
  const bodies = gzipped.map((body) => gunzipSync(body));
  const ends: number[] = [];
  let end = 0;
  for (const body of bodies) ends.push((end += body.length));
  let all: Buffer | undefined = Buffer.concat(bodies);
  return {
    requests: ends.map((to, i) => () => decodeProtoRequest(all!.subarray(i === 0 ? 0 : ends[i - 1], to)).map((r): FlowBatch => ({ flows: r.flows, temporality: 'delta', resource: r.resource }))),
    release: () => void (all = undefined),
  };
}

type Stages = 'decode' | 'enrich' | 'reduce' | 'fresh';

/** CPU ms of one interval: every request decoded and handed to `stages`, then (reduce) the flush. */
async function interval(requests: Request[], stages: Stages): Promise<number> {
  const sink = stages !== 'decode';
  target = stages === 'reduce' || stages === 'fresh' ? stages : 'none';
  if (stages === 'fresh') {
    fresh = reducer(freshClock);
    await fresh.start();
  }
  kept = 0;
  reducedGroups = 0;
  const c0 = process.cpuUsage();
  for (const request of requests) {
    const batches = request();
    if (sink) for (const b of batches) await k8s.p.consume(b);
    else for (const b of batches) kept += b.flows.length;
  }
  if (target !== 'none') await (target === 'fresh' ? freshClock : clock).advance(INTERVAL_MS); // the interval's flush
  const c = process.cpuUsage(c0);
  if (fresh !== undefined) {
    // Garbage before the next stage set (its groups would weigh on the others' collections).
    await fresh.shutdown();
    fresh = undefined;
  }
  return (c.user + c.system) / 1000;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * TICKS rounds, each one interval of every stage set in turn (decode only, + enrich, + enrich
 * and reduce, + enrich and a reduce that has never seen the groups), so they see the same load;
 * medians per stage set.
 */
async function measure() {
  const template = agentBatches();
  const { requests, release } = requestsOf(template);
  const cpu: Record<Stages, number[]> = { decode: [], enrich: [], reduce: [], fresh: [] };
  const counts = { kept: 0, groups: 0 };
  for (let tick = 0; tick < TICKS; tick++) {
    for (const stages of ['decode', 'enrich', 'reduce', 'fresh'] as const) {
      gc(); // every stage set starts from the same heap
      if (process.env.GC_TRACE) console.log(`-- ${stages}, tick ${tick}`); // among the GC trace lines
      cpu[stages].push(await interval(requests, stages));
      if (stages === 'reduce') Object.assign(counts, { kept, groups: reducedGroups });
    }
  }
  release();
  if (process.env.BENCH_VERBOSE) console.error(JSON.stringify(cpu));
  const decodeMs = median(cpu.decode);
  return {
    decodeMs: Math.round(decodeMs),
    enrichMs: Math.round(median(cpu.enrich) - decodeMs),
    enrichReduceMs: Math.round(median(cpu.reduce) - decodeMs),
    enrichReduceNewMs: Math.round(median(cpu.fresh) - decodeMs),
    ...counts,
    agents: template.length,
    requests: requests.length,
  };
}

for await (const line of createInterface(process.stdin)) {
  if (line === 'measure') {
    const m = await measure();
    gc();
    gc();
    say({
      event: 'measured', flows: FLOWS, agents: m.agents, requests: m.requests, ticks: TICKS, input: INPUT,
      decode_cpu_ms: m.decodeMs, enrich_cpu_ms: m.enrichMs, enrich_reduce_cpu_ms: m.enrichReduceMs, enrich_reduce_new_groups_cpu_ms: m.enrichReduceNewMs, kept: m.kept, groups: m.groups,
      rss_mib: mib(process.memoryUsage().rss), heap_mib: mib(process.memoryUsage().heapUsed),
    });
  }
  if (line === 'exit') break;
}
await reduce.shutdown();
await k8s.p.shutdown();
process.exit(0);
