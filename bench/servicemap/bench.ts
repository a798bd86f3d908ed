// The servicemap exporter at max_edges (5,000) with all 60 slices of its 1h window filled:
//   memory  heap + array buffers it holds (after GC), with delta input (5,000 flows per interval)
//           and with cumulative input (10,000 series: two ports per edge, running totals)
//   speed   GET /api/graph over loopback HTTP from a client in another process (the whole window,
//           every grouping, a namespace filter, a 5m window): median, p95 and max of repeated
//           requests to the last byte, and the graph build alone
// Targets (issue 22): ≤ 50 MB at 5,000 edges, /api/graph ≤ 50 ms at 5,000 edges.
// Prints a table and, last, one JSON line.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { testContext } from '../../test/harness/context.ts';
import { ServicemapServer } from '../../src/exporters/servicemap/http-server.ts';
import { MemoryGraphSource } from '../../src/exporters/servicemap/memory-source.ts';
import { SLICES } from '../../src/exporters/servicemap/flow-window.ts';
import { counters, externalFlow, workloadFlow } from '../../src/exporters/servicemap/testdata/flows.ts';
import type { Flow, FlowBatch } from '../../src/model/index.ts';

const EDGES = Number(process.env.EDGES ?? 5_000);
const REQUESTS = Number(process.env.REQUESTS ?? 40);
const WINDOW_MS = 3_600_000;
const SLICE_MS = WINDOW_MS / SLICES;
const TARGET_MB = 50;
const TARGET_MS = 50;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (bench/servicemap/run.sh)');

/** Edge i: a workload of one of 50 namespaces calling another, zones alternating; every 10th to the outside. */
function edgeAttributes(i: number, port: number) {
  const src = { namespace: `ns-${i % 50}`, name: `app-${i}`, zone: `zone-${i % 3}`, node: `node-${i % 100}` };
  if (i % 10 === 9) return externalFlow(src, { address: `10.${(i >> 8) & 255}.${i & 255}.7` }, { 'destination.port': port });
  return workloadFlow(src, { namespace: `ns-${(i * 7) % 50}`, name: `svc-${(i * 13) % 1_000}`, kind: 'StatefulSet', zone: `zone-${(i >> 1) % 3}`, node: `node-${(i * 3) % 100}` }, { 'destination.port': port });
}

function deltaBatch(slice: number): FlowBatch {
  const flows: Flow[] = [];
  for (let i = 0; i < EDGES; i++) flows.push(counters(edgeAttributes(i, 5432), [1_000 + i + slice, 10], [5_000 + i, 8], 2));
  return { temporality: 'delta', flows };
}

function cumulativeBatch(slice: number): FlowBatch {
  const flows: Flow[] = [];
  for (let i = 0; i < EDGES; i++) {
    for (const port of [5432, 9090]) flows.push(counters(edgeAttributes(i, port), [(1_000 + i) * (slice + 1), 10 * (slice + 1)], [(5_000 + i) * (slice + 1), 8 * (slice + 1)], slice + 1));
  }
  return { temporality: 'cumulative', flows };
}

function heldBytes(): number {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** A source with every slice of the window filled, ending now; `before`: bytes held without it. */
function filled(make: (slice: number) => FlowBatch): { source: MemoryGraphSource; heldMb: number; applyMs: number; before: number } {
  const now = Date.now();
  const start = now - (SLICES - 1) * SLICE_MS;
  const before = heldBytes();
  const source = new MemoryGraphSource(WINDOW_MS, EDGES, start - 1);
  const times: number[] = [];
  for (let s = 0; s < SLICES; s++) {
    const batch = make(s);
    const t0 = performance.now();
    source.apply(batch, start + s * SLICE_MS);
    times.push(performance.now() - t0);
  }
  const heldMb = (heldBytes() - before) / 1e6;
  if (source.window.size !== EDGES) throw new Error(`expected ${EDGES} edges, have ${source.window.size}`);
  return { source, heldMb, applyMs: quantile(times, 0.5), before };
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

const delta = filled(deltaBatch);
console.log(`servicemap: ${EDGES} edges, ${SLICES} slices of ${SLICE_MS / 1000}s filled (1h window)`);
console.log(`  memory, delta input:       ${delta.heldMb.toFixed(1)} MB (${((delta.heldMb * 1e6) / EDGES).toFixed(0)} bytes/edge); apply ${delta.applyMs.toFixed(1)} ms/batch of ${EDGES} flows`);

const ctx = testContext('servicemap');
const server = new ServicemapServer({
  id: 'servicemap',
  endpoint: { host: '127.0.0.1', port: 0 },
  maxWindowMs: WINDOW_MS,
  auth: undefined,
  allowedOrigins: [],
  source: delta.source,
  logger: ctx.logger,
  onStreamClients: () => undefined,
});
await server.listen();
const base = `http://127.0.0.1:${server.address.port}/api/graph`;

/**
 * Times GET requests from a child process (its own event loop and CPU, as a browser would be):
 * from sending the request to the last byte of the body. Three warm-up requests first.
 */
async function timeRequests(url: string, count: number): Promise<{ times: number[]; jsonBytes: number; edges: number }> {
  const client = `
    const times = []; let jsonBytes = 0; let edges = 0;
    for (let i = 0; i < ${count} + 3; i++) {
      const t0 = performance.now();
      const res = await fetch(${JSON.stringify(url)});
      const body = await res.text();
      const ms = performance.now() - t0;
      if (res.status !== 200) throw new Error('HTTP ' + res.status + ' ' + body);
      if (i < 3) continue;
      times.push(ms); jsonBytes = body.length; edges = JSON.parse(body).edges.length;
    }
    process.stdout.write(JSON.stringify({ times, jsonBytes, edges }));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', client], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`the request client exited with ${code}`);
  return JSON.parse(out) as { times: number[]; jsonBytes: number; edges: number };
}

interface Timing { query: string; p50: number; p95: number; max: number; buildMs: number; edges: number; jsonBytes: number }
const timings: Timing[] = [];
for (const [query, grouping, windowMs, namespaces] of [
  ['', 'workload', WINDOW_MS, []],
  ['?group=namespace', 'namespace', WINDOW_MS, []],
  ['?group=zone', 'zone', WINDOW_MS, []],
  ['?namespace=ns-7', 'workload', WINDOW_MS, ['ns-7']],
  ['?window=5m', 'workload', 300_000, []],
] as const) {
  const { times, jsonBytes, edges } = await timeRequests(base + query, REQUESTS);
  const builds: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    await delta.source.graph({ windowMs, grouping, namespaces }, Date.now());
    builds.push(performance.now() - t0);
  }
  timings.push({ query: `/api/graph${query}`, p50: quantile(times, 0.5), p95: quantile(times, 0.95), max: Math.max(...times), buildMs: quantile(builds, 0.5), edges, jsonBytes });
}
// Memory once every grouping was asked for (each edge keeps its map nodes per grouping), with
// the server and its assets: what a running exporter holds.
const servingMb = (heldBytes() - delta.before) / 1e6;
await server.close();

console.log(`  GET /api/graph over loopback HTTP from another process, ${REQUESTS} requests each, to the last byte (ms):`);
console.log('  query                         p50     p95     max   build  edges  JSON bytes');
for (const x of timings) {
  console.log(`  ${x.query.padEnd(28)} ${x.p50.toFixed(1).padStart(6)}  ${x.p95.toFixed(1).padStart(6)}  ${x.max.toFixed(1).padStart(6)}  ${x.buildMs.toFixed(1).padStart(6)}  ${String(x.edges).padStart(5)}  ${x.jsonBytes.toLocaleString('en-US').padStart(10)}`);
}
console.log(`  memory after serving every grouping (server, assets, cached map nodes): ${servingMb.toFixed(1)} MB`);
const cumulative = filled(cumulativeBatch);
console.log(`  memory, cumulative input:  ${cumulative.heldMb.toFixed(1)} MB (${2 * EDGES} series tracked); apply ${cumulative.applyMs.toFixed(1)} ms/batch of ${2 * EDGES} flows`);
const full = timings[0]!;
const heldMb = Math.max(servingMb, cumulative.heldMb);
const meets = heldMb <= TARGET_MB && full.p50 <= TARGET_MS;
console.log(`  targets: memory ≤ ${TARGET_MB} MB (${heldMb.toFixed(1)}), /api/graph ≤ ${TARGET_MS} ms (p50 ${full.p50.toFixed(1)}, p95 ${full.p95.toFixed(1)}): ${meets ? 'met' : 'NOT met'}; load average ${(await import('node:os')).loadavg()[0]!.toFixed(1)}`);
console.log(JSON.stringify({
  bench: 'servicemap',
  edges: EDGES,
  slices: SLICES,
  memory_mb_delta_input: Number(delta.heldMb.toFixed(2)),
  memory_mb_serving: Number(servingMb.toFixed(2)),
  memory_mb_cumulative_input: Number(cumulative.heldMb.toFixed(2)),
  apply_ms_per_batch: Number(delta.applyMs.toFixed(2)),
  api_graph_ms: Object.fromEntries(timings.map((x) => [x.query, { p50: Number(x.p50.toFixed(2)), p95: Number(x.p95.toFixed(2)), max: Number(x.max.toFixed(2)), build: Number(x.buildMs.toFixed(2)), json_bytes: x.jsonBytes }])),
  target_memory_mb: TARGET_MB,
  target_api_graph_ms: TARGET_MS,
  meets_targets: meets,
}));
