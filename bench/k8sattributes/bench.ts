// k8sattributes benchmark: FLOWS flows per tick against PODS pods on NODES nodes.
// Figures: RSS growth from creating the processor to after the initial sync (the cache), time
// to sync, and the time per tick to enrich every flow (report_once off: every flow is
// enriched) and with report-once as one node (most flows are another node's and dropped).
// The API server runs in a child process (apiserver.ts) so it is not in the RSS.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Flow } from '../../src/model/index.ts';
import { capturingContext } from '../../test/harness/context.ts';
import { flowBetween } from '../../test/harness/flows.ts';
import { makeProcessor } from '../../test/harness/k8sattributes.ts';
import { podIp } from '../../test/harness/k8s-scale-cluster.ts';

const FLOWS = Number(process.env.FLOWS ?? 262_144);
const TICKS = Number(process.env.TICKS ?? 7);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const mib = (b: number) => Math.round((b / 1024 / 1024) * 10) / 10;

const child = spawn(process.execPath, [new URL('./apiserver.ts', import.meta.url).pathname], { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
const [line] = (await once(createInterface(child.stdout!), 'line')) as [string];
const cluster = JSON.parse(line) as { kubeconfig: string; nodes: number; pods: number; services: number };

try {
  gc();
  const rssBefore = process.memoryUsage().rss;
  const heapBefore = process.memoryUsage().heapUsed;
  const makeOne = (config: Record<string, unknown>) => makeProcessor(capturingContext('k8sattributes'), { auth_type: 'kubeConfig', kubeconfig: cluster.kubeconfig, wait_for_sync: '120s', ...config });
  const enrichAll = makeOne({ report_once: false });
  const syncStart = performance.now();
  await enrichAll.p.start();
  const syncMs = performance.now() - syncStart;
  gc();
  const rssAfterSync = process.memoryUsage().rss;
  const heapAfterSync = process.memoryUsage().heapUsed;
  if (enrichAll.cache.counts().pods !== cluster.pods) throw new Error(`synced ${enrichAll.cache.counts().pods} pods, expected ${cluster.pods}`);

  // A tick's flows: pod → pod (60%), pod → service VIP DNATed to a pod (20%), pod → public (10%), node → pod (10%).
  let seed = 42;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
  const templates: Flow[] = [];
  for (let i = 0; i < FLOWS; i++) {
    const kind = rand(10);
    const src = kind === 9 ? `192.168.0.${rand(cluster.nodes)}` : podIp(rand(cluster.pods));
    const dstPod = rand(cluster.pods);
    const dst = kind === 8 ? `34.${rand(256)}.${rand(256)}.${rand(256)}` : podIp(dstPod);
    const d = Math.floor(dstPod / 10);
    const f = flowBetween({ src, dst, srcPort: 30_000 + rand(30_000), dstPort: 8080, ...(kind >= 6 && kind < 8 ? { original: `10.96.${d >> 8}.${d & 255}` } : {}) });
    templates.push(f);
  }
  const fresh = () => templates.map((f) => ({ ...f, attributes: { ...f.attributes } }));

  async function timeTicks(p: typeof enrichAll): Promise<{ medianMs: number; cpuMs: number; kept: number }> {
    const times: number[] = [];
    const cpus: number[] = [];
    let kept = 0;
    for (let t = 0; t < TICKS; t++) {
      const flows = fresh();
      p.sink.batches.length = 0;
      gc(); // the batch's own allocation (the receiver's work) is not timed
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await p.p.consume({ flows, temporality: 'delta' });
      times.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpus.push((c.user + c.system) / 1000);
      kept = p.sink.batches.reduce((n, b) => n + b.flows.length, 0);
    }
    times.sort((a, b) => a - b);
    cpus.sort((a, b) => a - b);
    return { medianMs: times[Math.floor(times.length / 2)]!, cpuMs: cpus[Math.floor(cpus.length / 2)]!, kept };
  }

  const all = await timeTicks(enrichAll);
  const sample = enrichAll.sink.batches[0]!.flows[0]!.attributes;
  await enrichAll.p.shutdown();
  const once1 = makeOne({ report_once: true, node_name: 'node-0' });
  await once1.p.start();
  const reportOnce = await timeTicks(once1);
  await once1.p.shutdown();

  const result = {
    bench: 'k8sattributes',
    pods: cluster.pods,
    nodes: cluster.nodes,
    services: cluster.services,
    flows_per_tick: FLOWS,
    sync_ms: Math.round(syncMs),
    rss_growth_after_sync_mib: mib(rssAfterSync - rssBefore),
    heap_growth_after_sync_mib: mib(heapAfterSync - heapBefore),
    rss_after_sync_mib: mib(rssAfterSync),
    tick_ms_enrich_all: Math.round(all.medianMs),
    tick_cpu_ms_enrich_all: Math.round(all.cpuMs),
    flows_per_second_enrich_all: Math.round(FLOWS / (all.medianMs / 1000)),
    tick_ms_report_once: Math.round(reportOnce.medianMs),
    tick_cpu_ms_report_once: Math.round(reportOnce.cpuMs),
    report_once_kept: reportOnce.kept,
  };
  console.log(`k8sattributes: ${cluster.pods} pods on ${cluster.nodes} nodes, ${cluster.services} services; ${FLOWS} flows per tick, median of ${TICKS} ticks`);
  console.log(`  initial sync            ${result.sync_ms} ms`);
  console.log(`  RSS after sync          ${result.rss_after_sync_mib} MiB (growth ${result.rss_growth_after_sync_mib} MiB, heap growth ${result.heap_growth_after_sync_mib} MiB)`);
  console.log(`  tick, every flow enriched   ${result.tick_ms_enrich_all} ms wall, ${result.tick_cpu_ms_enrich_all} ms CPU (${result.flows_per_second_enrich_all} flows/s)`);
  console.log(`  tick, report-once node-0    ${result.tick_ms_report_once} ms wall, ${result.tick_cpu_ms_report_once} ms CPU (${result.report_once_kept} flows kept)`);
  console.log(`  sample: ${JSON.stringify(sample)}`);
  console.log(JSON.stringify(result));
} finally {
  child.kill('SIGTERM');
}
