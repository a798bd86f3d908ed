// The prometheus exporter with SERIES series (default 400,000, max_series raised to match), scraped SCRAPES
// times plain and SCRAPES times with gzip by a child process (so the client's own work is not on
// this event loop). Measured here: the scrape time as the client sees it, the worst and p99
// event-loop delay while scrapes run (monitorEventLoopDelay, 1 ms resolution), bytes, RSS.
// On a shared machine the wall-clock delay also counts the time the OS gave the CPU to other
// processes, so a 1 ms timer also measures each block in this thread's own CPU time
// (process.threadCpuUsage between two ticks): the longest block the exporter's work caused,
// whatever the load.
// Then the same series rendered as one string, the way the exporter did before streaming: the
// event loop is blocked for the whole render (and gzip had a whole copy to compress).
// Prints a table and, last, one JSON line.
import { spawn } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { testContext } from '../../test/harness/context.ts';
import { sendNow } from '../../test/harness/exporter-queue.ts';
import { batch, groups } from '../../test/harness/flows.ts';
import { configSchema } from '../../src/exporters/prometheus/config.ts';
import { PrometheusExporter } from '../../src/exporters/prometheus/prometheus-exporter.ts';
import { METRIC_HELP, SeriesStore, type StoredSeries } from '../../src/exporters/shared/prometheus-series.ts';

const SERIES = Number(process.env.SERIES ?? 400_000);
const SCRAPES = Number(process.env.SCRAPES ?? 5);
const gzip = promisify(gzipCallback);
const mb = (bytes: number) => bytes / (1024 * 1024);
const maxRssBytes = () => process.resourceUsage().maxRSS * 1024;

// One scrape by a separate Node process: prints "<ms> <bytes on the wire>".
const CLIENT = `
import { get } from 'node:http';
const t0 = performance.now();
get(process.argv[1], { headers: { 'accept-encoding': process.argv[2] } }, (res) => {
  if (res.statusCode !== 200) { console.error('HTTP ' + res.statusCode); process.exit(1); }
  let bytes = 0;
  res.on('data', (c) => (bytes += c.length));
  res.on('end', () => console.log((performance.now() - t0).toFixed(1), bytes));
});`;

function scrape(url: string, encoding: 'gzip' | 'identity'): Promise<{ ms: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CLIENT, url, encoding], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`scrape client exited with ${code}`));
      const [ms, bytes] = out.trim().split(' ').map(Number);
      resolve({ ms: ms!, bytes: bytes! });
    });
  });
}

/** GC pauses seen (start and duration, ms on the performance clock). */
const gcPauses: Array<{ startMs: number; durationMs: number }> = [];

/**
 * A 1 ms timer: each gap between two ticks in wall time and in this thread's CPU time. Besides
 * the longest block in CPU, the longest among the blocks that no GC pause overlapped: the
 * exporter's own work (GC entries arrive after the fact, so this is worked out at stop; a pause's
 * duration is wall time, so subtracting it from CPU time would not be exact).
 */
function blockProbe() {
  const gaps: Array<{ fromMs: number; toMs: number; cpuMs: number }> = [];
  let lastWallMs = performance.now();
  let lastCpu = process.threadCpuUsage();
  const timer = setInterval(() => {
    const wallMs = performance.now();
    const cpu = process.threadCpuUsage();
    gaps.push({ fromMs: lastWallMs, toMs: wallMs, cpuMs: (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000 });
    lastWallMs = wallMs;
    lastCpu = cpu;
  }, 1);
  return {
    stop: async () => {
      clearInterval(timer);
      await new Promise((r) => setTimeout(r, 50)); // the last GC entries are delivered
      let worstWallMs = 0;
      let worstCpuMs = 0;
      let worstCpuWithoutGcMs = 0;
      let cpuBlocksOver20Ms = 0;
      for (const g of gaps) {
        const gc = gcPauses.some((p) => p.startMs < g.toMs && p.startMs + p.durationMs > g.fromMs);
        worstWallMs = Math.max(worstWallMs, g.toMs - g.fromMs);
        worstCpuMs = Math.max(worstCpuMs, g.cpuMs);
        if (!gc) worstCpuWithoutGcMs = Math.max(worstCpuWithoutGcMs, g.cpuMs);
        if (g.cpuMs > 20) cpuBlocksOver20Ms++;
      }
      return { worstWallMs, worstCpuMs, worstCpuWithoutGcMs, cpuBlocksOver20Ms };
    },
  };
}

interface Row {
  name: string;
  scrapeMs: number;
  /** The longest block in this thread's CPU time (not counting time other processes had the CPU). */
  worstBlockCpuMs: number;
  /** The longest block in this thread's CPU that no GC pause overlapped: the exporter's own work. */
  worstBlockCpuWithoutGcMs: number;
  /** Blocks of more than 20 ms of this thread's CPU. */
  cpuBlocksOver20Ms: number;
  worstLoopDelayMs: number;
  p99LoopDelayMs: number;
  /** The longest garbage-collection pause meanwhile (part of the loop delay, not the render's doing). */
  worstGcMs: number;
  bytes: number;
  maxRssMiB: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

let worstGcMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    worstGcMs = Math.max(worstGcMs, e.duration);
    gcPauses.push({ startMs: e.startTime, durationMs: e.duration });
  }
}).observe({ entryTypes: ['gc'] });

const rssStart = process.memoryUsage().rss;
const exporter = new PrometheusExporter(testContext('prometheus'), configSchema.parse({ endpoint: '127.0.0.1:0', max_series: SERIES }));
await exporter.start();
// Four series per group: bytes and packets, each direction.
await sendNow(exporter, batch('cumulative', groups(Math.ceil(SERIES / 4))));
const url = `http://127.0.0.1:${exporter.address.port}/metrics`;
const rssLoaded = process.memoryUsage().rss;

const rows: Row[] = [];
for (const encoding of ['identity', 'gzip'] as const) {
  await scrape(url, encoding); // warm-up
  const delay = monitorEventLoopDelay({ resolution: 1 });
  const times: number[] = [];
  let bytes = 0;
  worstGcMs = 0;
  delay.enable();
  const probe = blockProbe();
  for (let i = 0; i < SCRAPES; i++) {
    const r = await scrape(url, encoding);
    times.push(r.ms);
    bytes = r.bytes;
  }
  const blocks = await probe.stop();
  delay.disable();
  rows.push({ name: `streamed (${encoding === 'gzip' ? 'gzip' : 'plain'})`, scrapeMs: median(times), worstBlockCpuMs: blocks.worstCpuMs, worstBlockCpuWithoutGcMs: blocks.worstCpuWithoutGcMs, cpuBlocksOver20Ms: blocks.cpuBlocksOver20Ms, worstLoopDelayMs: delay.max / 1e6, p99LoopDelayMs: delay.percentile(99) / 1e6, worstGcMs, bytes, maxRssMiB: mb(maxRssBytes()) });
}
await exporter.shutdown();

// Before: every line of the same series joined into one string, then (for gzip) one Buffer.
function oneString(series: Iterable<StoredSeries>): string {
  const byName = new Map<string, StoredSeries[]>();
  for (const s of series) {
    let list = byName.get(s.name);
    if (!list) byName.set(s.name, (list = []));
    list.push(s);
  }
  const lines: string[] = [];
  for (const name of [...byName.keys()].sort()) {
    lines.push(`# HELP ${name} ${METRIC_HELP[name]}`, `# TYPE ${name} counter`);
    for (const s of byName.get(name)!) lines.push(`${name}{${s.labels.map(([n, v]) => `${n}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}} ${s.value}`);
  }
  return `${lines.join('\n')}\n`;
}
const store = new SeriesStore();
store.apply(batch('cumulative', groups(Math.ceil(SERIES / 4))));
{
  const times: number[] = [];
  const delay = monitorEventLoopDelay({ resolution: 1 });
  let bytes = 0;
  worstGcMs = 0;
  delay.enable();
  const probe = blockProbe();
  for (let i = 0; i < SCRAPES; i++) {
    const t0 = performance.now();
    const body = await gzip(oneString(store.values()));
    times.push(performance.now() - t0);
    bytes = body.length;
    await new Promise((r) => setTimeout(r, 5)); // let the monitor sample
  }
  const blocks = await probe.stop();
  delay.disable();
  rows.push({ name: 'one string (before, gzip)', scrapeMs: median(times), worstBlockCpuMs: blocks.worstCpuMs, worstBlockCpuWithoutGcMs: blocks.worstCpuWithoutGcMs, cpuBlocksOver20Ms: blocks.cpuBlocksOver20Ms, worstLoopDelayMs: delay.max / 1e6, p99LoopDelayMs: delay.percentile(99) / 1e6, worstGcMs, bytes, maxRssMiB: mb(maxRssBytes()) });
}

console.log(`prometheus exporter: ${SERIES} series, ${SCRAPES} scrapes each (Node ${process.versions.node}, load ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} CPUs)`);
console.log(`RSS: ${mb(rssStart).toFixed(0)} MiB at start, ${mb(rssLoaded).toFixed(0)} MiB holding the series`);
console.log('scrape'.padEnd(28), 'ms'.padStart(8), 'worst block CPU ms'.padStart(19), 'no GC in it'.padStart(12), 'CPU blocks >20ms'.padStart(17), 'worst loop delay ms'.padStart(20), 'p99 ms'.padStart(8), 'worst GC ms'.padStart(12), 'bytes'.padStart(12), 'max RSS MiB'.padStart(12));
for (const r of rows) {
  console.log(r.name.padEnd(28), r.scrapeMs.toFixed(0).padStart(8), r.worstBlockCpuMs.toFixed(1).padStart(19), r.worstBlockCpuWithoutGcMs.toFixed(1).padStart(12), String(r.cpuBlocksOver20Ms).padStart(17), r.worstLoopDelayMs.toFixed(1).padStart(20), r.p99LoopDelayMs.toFixed(1).padStart(8), r.worstGcMs.toFixed(1).padStart(12), String(r.bytes).padStart(12), r.maxRssMiB.toFixed(0).padStart(12));
}
const streamed = rows.filter((r) => r.name.startsWith('streamed'));
const streamedWorst = Math.max(...streamed.map((r) => r.worstLoopDelayMs));
const streamedWorstCpu = Math.max(...streamed.map((r) => r.worstBlockCpuMs));
const before = rows.at(-1)!.worstLoopDelayMs;
const beforeCpu = rows.at(-1)!.worstBlockCpuMs;
const streamedWorstOwn = Math.max(...streamed.map((r) => r.worstBlockCpuWithoutGcMs));
console.log(`longest event-loop block while scraping, in this thread's CPU: ${streamedWorstCpu.toFixed(1)} ms streamed (target ≤ 20 ms), ${streamedWorstOwn.toFixed(1)} ms among blocks without a GC pause, vs ${beforeCpu.toFixed(1)} ms as one string`);
console.log(`worst event-loop delay (wall clock, includes time other processes ran): ${streamedWorst.toFixed(1)} ms streamed vs ${before.toFixed(1)} ms as one string: ${(before / streamedWorst).toFixed(1)}× shorter`);
console.log(JSON.stringify({ bench: 'prometheus', series: SERIES, scrapes: SCRAPES, rssStartMiB: Math.round(mb(rssStart)), rssLoadedMiB: Math.round(mb(rssLoaded)), streamedWorstBlockCpuMs: Number(streamedWorstCpu.toFixed(1)), streamedWorstBlockCpuWithoutGcMs: Number(streamedWorstOwn.toFixed(1)), oneStringWorstBlockCpuMs: Number(beforeCpu.toFixed(1)), streamedWorstLoopDelayMs: Number(streamedWorst.toFixed(1)), oneStringWorstLoopDelayMs: Number(before.toFixed(1)), rows, load: Number(loadavg()[0]!.toFixed(2)) }));
