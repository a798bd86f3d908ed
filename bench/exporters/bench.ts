// 10,000 groups per interval through each exporter (otlp proto/json, prometheus,
// prometheus_remote_write) against loopback receivers that only count bytes: time per export
// (the batch made into requests as it enters the exporter queue, then sent once) and payload
// bytes. Prints a table and, last, one JSON line.
import { createServer, get, type Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import { testContext } from '../../test/harness/context.ts';
import { sendNow } from '../../test/harness/exporter-queue.ts';
import type { Exporter } from '../../src/contracts/component.ts';
import { OtlpExporter } from '../../src/exporters/otlp/otlp-exporter.ts';
import { configSchema as otlpSchema } from '../../src/exporters/otlp/config.ts';
import { PrometheusExporter } from '../../src/exporters/prometheus/prometheus-exporter.ts';
import { configSchema as promSchema } from '../../src/exporters/prometheus/config.ts';
import { RemoteWriteExporter } from '../../src/exporters/prometheus_remote_write/remote-write-exporter.ts';
import { configSchema as rwSchema } from '../../src/exporters/prometheus_remote_write/config.ts';
import { batch, groups } from '../../test/harness/flows.ts';
import type { Temporality } from '../../src/model/index.ts';

const GROUPS = Number(process.env.GROUPS ?? 10_000);
const INTERVALS = Number(process.env.INTERVALS ?? 10);

async function sink(): Promise<{ url: string; bytes: () => number; requests: () => number; reset(): void; server: Server }> {
  let bytes = 0;
  let requests = 0;
  const server = createServer((req, res) => {
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return { url, bytes: () => bytes, requests: () => requests, reset: () => ((bytes = 0), (requests = 0)), server };
}

// CPU time is reported beside wall time: on a shared, loaded machine it is the steadier figure.
interface Result { name: string; msPerExport: number; cpuMsPerExport: number; payloadBytes: number; requests: number }

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function run(name: string, exporter: Exporter, temporality: Temporality, counter: { bytes: () => number; requests: () => number; reset(): void }): Promise<Result> {
  const times: number[] = [];
  const cpu: number[] = [];
  let payload = 0;
  let requests = 0;
  for (let i = 0; i < INTERVALS + 1; i++) {
    // cumulative input grows each interval, delta input stays the same size
    const flows = groups(GROUPS, temporality === 'cumulative' ? i * 1_000 : i);
    counter.reset();
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    await sendNow(exporter, batch(temporality, flows));
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    if (i === 0) continue; // warm-up
    times.push(ms);
    cpu.push((c.user + c.system) / 1_000);
    payload += counter.bytes();
    requests += counter.requests();
  }
  return { name, msPerExport: median(times), cpuMsPerExport: median(cpu), payloadBytes: Math.round(payload / INTERVALS), requests: requests / INTERVALS };
}

const results: Result[] = [];
const rx = await sink();
for (const [encoding, compression, temporality] of [['proto', 'gzip', 'delta'], ['proto', 'none', 'delta'], ['json', 'gzip', 'delta'], ['proto', 'gzip', 'cumulative']] as const) {
  const exporter = new OtlpExporter(testContext('otlp'), otlpSchema.parse({ endpoint: rx.url, encoding, compression, temporality }));
  results.push(await run(`otlp ${encoding}/${compression} ${temporality}`, exporter, 'delta', rx));
  await exporter.shutdown();
}
{
  const exporter = new RemoteWriteExporter(testContext('prw'), rwSchema.parse({ endpoint: `${rx.url}/api/v1/write` }));
  results.push(await run('prometheus_remote_write (snappy)', exporter, 'cumulative', rx));
}
{
  const exporter = new PrometheusExporter(testContext('prometheus'), promSchema.parse({ endpoint: '127.0.0.1:0' }));
  await exporter.start();
  const url = `http://127.0.0.1:${exporter.address.port}/metrics`;
  let scrapeBytes = 0;
  const scrapeMs: number[] = [];
  const scrapeCpu: number[] = [];
  const counter = { bytes: () => 0, requests: () => 0, reset() {} };
  const exportResult = await run('prometheus (export)', exporter, 'cumulative', counter);
  for (let i = 0; i < INTERVALS; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    // as Prometheus scrapes: asking for gzip; the bytes counted are the compressed ones
    const body = await new Promise<{ byteLength: number }>((resolve, reject) => {
      get(url, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
        let byteLength = 0;
        res.on('data', (c: Buffer) => (byteLength += c.length));
        res.on('end', () => resolve({ byteLength }));
      }).on('error', reject);
    });
    scrapeMs.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    scrapeCpu.push((c.user + c.system) / 1_000);
    scrapeBytes = body.byteLength;
  }
  results.push(exportResult, { name: 'prometheus (scrape /metrics, gzip)', msPerExport: median(scrapeMs), cpuMsPerExport: median(scrapeCpu), payloadBytes: scrapeBytes, requests: 1 });
  await exporter.shutdown();
}
rx.server.close();

console.log(`exporters: ${GROUPS} groups per interval, median of ${INTERVALS} intervals (Node ${process.versions.node}, load ${(await import('node:os')).loadavg()[0]!.toFixed(1)} on ${(await import('node:os')).availableParallelism()} CPUs)`);
console.log('exporter'.padEnd(36), 'ms/export'.padStart(10), 'cpu ms'.padStart(8), 'payload bytes'.padStart(14), 'requests'.padStart(9), 'bytes/group'.padStart(12));
for (const r of results) {
  console.log(r.name.padEnd(36), r.msPerExport.toFixed(1).padStart(10), r.cpuMsPerExport.toFixed(1).padStart(8), String(r.payloadBytes).padStart(14), String(r.requests).padStart(9), (r.payloadBytes / GROUPS).toFixed(1).padStart(12));
}
console.log(JSON.stringify({ bench: 'exporters', groups: GROUPS, intervals: INTERVALS, results }));
