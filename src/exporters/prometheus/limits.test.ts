// What a scrape may cost: max_series, max_label_value_length, a streamed exposition that yields to
// the event loop and renders only as fast as the client reads, and the cap on concurrent scrapes.
import { get, type IncomingMessage } from 'node:http';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { capturingContext } from '../../../test/harness/context.ts';
import { sendNow } from '../../../test/harness/exporter-queue.ts';
import { batch, flow, groups } from '../../../test/harness/flows.ts';
import { requirePrivileges } from '../../../test/harness/privileges.ts';
import { startPrometheus } from '../../../test/harness/prometheus.ts';
import type { Flow } from '../../model/index.ts';
import { SeriesStore, truncateLabelValue } from '../shared/prometheus-series.ts';
import { configSchema } from './config.ts';
import { exposition } from './exposition.ts';
import { MAX_CONCURRENT_SCRAPES, PrometheusExporter } from './prometheus-exporter.ts';

const group = (n: number, extra: Record<string, string> = {}): Flow['attributes'] => ({
  'source.k8s.namespace.name': 'shop',
  'source.k8s.owner.name': `web-${n}`,
  'destination.k8s.owner.name': 'db',
  'network.transport': 'tcp',
  ...extra,
});

async function metric(ctx: { metrics: { getSingleMetric(name: string): unknown } }, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = ctx.metrics.getSingleMetric(name) as { get(): Promise<{ values: Array<{ labels: Record<string, string>; value: number }> }> } | undefined;
  if (!m) return 0;
  return (await m.get()).values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((n, v) => n + v.value, 0);
}

async function started(config: Record<string, unknown>, ctx = capturingContext('prometheus')) {
  const exporter = new PrometheusExporter(ctx, configSchema.parse({ endpoint: '127.0.0.1:0', ...config }));
  await exporter.start();
  return { exporter, ctx, url: `http://127.0.0.1:${exporter.address.port}/metrics` };
}

/** Series lines of an exposition as [name, labels text, value]. */
function seriesLines(text: string): Array<[string, string, number]> {
  return text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => {
    const m = /^([a-z_]+)\{(.*)\} (\S+)$/.exec(l);
    if (!m) throw new Error(`not a series line: ${l.slice(0, 200)}`);
    return [m[1]!, m[2]!, Number(m[3])];
  });
}

test('max_series: a flow whose new series would pass it creates none; existing series keep counting; counted, logged once', async (t) => {
  const { exporter, ctx, url } = await started({ max_series: 10 });
  t.teardown(() => exporter.shutdown());
  // Three two-way flows want 12 series: the first two get theirs (8), the third would make 12.
  await sendNow(exporter, batch('delta', [flow(group(1), [100, 1], [10, 1]), flow(group(2), [200, 2], [20, 2]), flow(group(3), [300, 3], [30, 3])]));
  // A one-way flow needs 2 more (10: fits); group 1 counts on; group 4 and 5 find no room.
  await sendNow(exporter, batch('delta', [flow(group(9), [9, 1], [0, 0]), flow(group(1), [1, 1], [1, 1]), flow(group(4), [4, 1], [0, 0])]));
  await sendNow(exporter, batch('delta', [flow(group(5), [5, 1], [5, 1])]));
  const lines = seriesLines(await (await fetch(url)).text());
  t.is(lines.length, 10);
  const owners = new Set(lines.map(([, labels]) => /source_k8s_owner_name="([^"]+)"/.exec(labels)![1]));
  t.deepEqual([...owners].sort(), ['web-1', 'web-2', 'web-9']);
  const web1 = lines.filter(([name, labels]) => name === 'network_flow_io_bytes_total' && labels.includes('"web-1"') && labels.includes('transmit'));
  t.deepEqual(web1.map(([, , v]) => v), [101]);
  t.is(await metric(ctx, 'podflow_exporter_prometheus_dropped_series_total'), 4 + 2 + 4);
  t.is(await metric(ctx, 'podflow_exporter_prometheus_series'), 10);
  const warnings = ctx.logs.filter((l) => /max_series reached/.test(l.msg));
  t.is(warnings.length, 1, 'logged once');
  t.is(warnings[0]!.max_series, 10);
});

test('max_label_value_length: a 10 MB label value is cut to 1 KiB with a marker saying so, counted; values that fit are untouched', async (t) => {
  const { exporter, ctx, url } = await started({});
  t.teardown(() => exporter.shutdown());
  const huge = 'x'.repeat(10 * 1024 * 1024);
  await sendNow(exporter, batch('delta', [
    flow(group(1, { 'source.k8s.pod.label.blob': huge }), [100, 1], [0, 0]),
    flow(group(1, { 'source.k8s.pod.label.blob': huge }), [5, 1], [0, 0]), // the same cut value: the same series
    flow(group(2, { 'source.k8s.pod.label.app': 'a'.repeat(1024) }), [7, 1], [0, 0]),
  ]));
  const text = await (await fetch(url)).text();
  t.true(text.length < 10_000, 'the scrape no longer carries the value');
  const lines = seriesLines(text);
  t.is(lines.length, 4);
  const blob = /source_k8s_pod_label_blob="([^"]*)"/.exec(lines.find(([n, l]) => n === 'network_flow_io_bytes_total' && l.includes('blob'))![1])![1]!;
  t.is(Buffer.byteLength(blob), 1024);
  t.true(blob.endsWith('…[truncated from 10485760 bytes]'));
  t.true(blob.startsWith('x'.repeat(900)));
  t.is(lines.find(([n, l]) => n === 'network_flow_io_bytes_total' && l.includes('blob'))![2], 105);
  t.true(text.includes(`source_k8s_pod_label_app="${'a'.repeat(1024)}"`), 'exactly 1 KiB fits');
  t.is(await metric(ctx, 'podflow_exporter_prometheus_truncated_label_values_total'), 2);
});

test('label values are cut between characters, never inside one', (t) => {
  for (const unit of ['é', '日', '😀']) {
    const value = unit.repeat(2000);
    const cut = truncateLabelValue(value, 100);
    t.true(Buffer.byteLength(cut) <= 100);
    t.true(cut.isWellFormed());
    const head = cut.slice(0, cut.indexOf('…'));
    t.is(head, unit.repeat(head.length / unit.length), `${unit}: only whole characters`);
    t.true(cut.endsWith(`…[truncated from ${Buffer.byteLength(value)} bytes]`));
    t.true(Buffer.byteLength(cut) > 100 - Buffer.byteLength(unit), 'as much kept as fits');
  }
  t.is(truncateLabelValue('short', 64), 'short');
  const store = new SeriesStore([['cluster', 'c'.repeat(5000)]], { maxLabelValueBytes: 64 });
  store.apply(batch('delta', [flow(group(1), [1, 1], [0, 0])]));
  t.true([...store.values()].every((s) => Buffer.byteLength(s.labels.find(([n]) => n === 'cluster')![1]) <= 64), 'const_labels are cut too');
});

test('the exposition comes in chunks, and the event loop runs between them', async (t) => {
  const store = new SeriesStore();
  const flows = Array.from({ length: 20_000 }, (_, i) => flow(group(i), [i + 1, 1], [0, 0]));
  store.apply(batch('delta', flows));
  let turns = 0;
  let ticking = true;
  const tick = async () => {
    while (ticking) {
      turns++;
      await nextTurn();
    }
  };
  void tick();
  const chunks: string[] = [];
  const turnsBefore: number[] = [];
  for await (const chunk of exposition([...store.values()])) {
    chunks.push(chunk);
    turnsBefore.push(turns);
  }
  ticking = false;
  t.true(chunks.length > 10, `${chunks.length} chunks`);
  for (const c of chunks) t.true(c.length < 64 * 1024 + 1024, 'a chunk is about 64 KiB at most');
  // Between any two chunks the event loop took at least one turn.
  for (let i = 1; i < turnsBefore.length; i++) t.true(turnsBefore[i]! > turnsBefore[i - 1]!, `turn between chunk ${i - 1} and ${i}`);
  const lines = seriesLines(chunks.join(''));
  t.is(lines.length, 40_000);
  t.is(new Set(lines.map(([n, l]) => `${n}{${l}}`)).size, 40_000, 'every series once');
});

/** A GET whose body is not read until `resume()`. */
function pausedGet(url: string): Promise<{ res: IncomingMessage; text(): Promise<string>; destroy(): void }> {
  return new Promise((resolve, reject) => {
    const req = get(url, (res) => {
      res.pause();
      resolve({
        res,
        text: () =>
          new Promise<string>((done, fail) => {
            const parts: Buffer[] = [];
            res.on('data', (d: Buffer) => parts.push(d));
            res.on('end', () => done(Buffer.concat(parts).toString('utf8')));
            res.on('error', fail);
            res.resume();
          }),
        destroy: () => req.destroy(),
      });
    });
    req.on('error', reject);
  });
}

const LONG_LABELS = (n: number) => group(n, { 'source.k8s.pod.name': `web-${n}-${'p'.repeat(150)}`, 'destination.k8s.pod.name': `db-0-${'q'.repeat(150)}` });

test('a scrape is rendered only as fast as the client reads: lines written after a slow client resumes carry the newer values', async (t) => {
  const { exporter, url } = await started({});
  t.teardown(() => exporter.shutdown());
  const n = 50_000; // 100k series, about 40 MB of text: far more than the socket buffers hold
  const flows = (bytes: number) => Array.from({ length: n }, (_, i) => flow(LONG_LABELS(i), [bytes, 1], [0, 0]));
  await sendNow(exporter, batch('delta', flows(1)));
  const scrape = await pausedGet(url);
  t.is(scrape.res.statusCode, 200);
  t.is(scrape.res.headers['transfer-encoding'], 'chunked');
  await sleep(300); // let the server fill the socket buffers and stop
  await sendNow(exporter, batch('delta', flows(1))); // every byte counter goes 1 → 2
  const lines = seriesLines(await scrape.text()).filter(([name]) => name === 'network_flow_io_bytes_total');
  t.is(lines.length, n);
  t.is(lines[0]![2], 1, 'the first lines were written before the update');
  t.is(lines.at(-1)![2], 2, 'the last lines were rendered after it: nothing was rendered ahead of the reader');
  const switched = lines.findIndex(([, , v]) => v === 2);
  t.log(`the values changed at line ${switched} of ${n}`);
  t.true(lines.slice(switched).every(([, , v]) => v === 2), 'values only move forward through the scrape');
});

test(`at most ${MAX_CONCURRENT_SCRAPES} scrapes at once: the next is answered 503 with Retry-After, and served once one ends`, async (t) => {
  const { exporter, ctx, url } = await started({});
  t.teardown(() => exporter.shutdown());
  await sendNow(exporter, batch('delta', Array.from({ length: 50_000 }, (_, i) => flow(LONG_LABELS(i), [1, 1], [0, 0]))));
  const slow = await Promise.all(Array.from({ length: MAX_CONCURRENT_SCRAPES }, () => pausedGet(url)));
  t.deepEqual(slow.map((s) => s.res.statusCode), Array(MAX_CONCURRENT_SCRAPES).fill(200));
  const refused = await fetch(url);
  t.is(refused.status, 503);
  t.is(refused.headers.get('retry-after'), '1');
  t.is(await metric(ctx, 'podflow_exporter_prometheus_scrape_errors_total', { reason: 'busy' }), 1);
  for (const s of slow) s.destroy();
  let status = 0;
  for (let i = 0; i < 100 && status !== 200; i++) {
    await sleep(20);
    const res = await fetch(url, { method: 'HEAD' });
    status = res.status;
  }
  t.is(status, 200);
  t.is(await metric(ctx, 'podflow_exporter_prometheus_scrape_errors_total', { reason: 'aborted' }), MAX_CONCURRENT_SCRAPES);
});

test('a real Prometheus takes in a streamed scrape of many chunks whole (gzip, chunked), and sees exactly max_series series', async (t) => {
  if (!requirePrivileges(t, ['prometheus'])) return;
  // 6,000 groups would be 24,000 series; max_series keeps 20,000 (5,000 whole groups).
  const { exporter, ctx, url } = await started({ max_series: 20_000 });
  t.teardown(() => exporter.shutdown());
  const flows = groups(6_000);
  await sendNow(exporter, batch('cumulative', flows));
  t.is(await metric(ctx, 'podflow_exporter_prometheus_dropped_series_total'), 4_000);
  // Far more than one chunk of text.
  const body = await (await fetch(url)).text();
  t.true(body.length > 10 * 64 * 1024, `${body.length} bytes`);
  // A large scrape on a loaded machine can take longer than the harness' 1 s interval (which is also the timeout).
  const prometheus = await startPrometheus({ scrapeTargets: [url.slice('http://'.length, -'/metrics'.length)], scrapeIntervalSec: 5 });
  t.teardown(() => prometheus.stop());
  const [bytes] = await prometheus.waitFor('count(network_flow_io_bytes_total)', (s) => s[0]?.value === 10_000, 60_000);
  t.is(bytes?.value, 10_000, JSON.stringify(await prometheus.targets()));
  const [packets] = await prometheus.query('count(network_flow_packets_total)');
  t.is(packets?.value, 10_000);
  // Exact totals of the groups kept (the first 5,000: a group gets all four series or none).
  const kept = flows.slice(0, 5_000);
  const [sum] = await prometheus.query('sum(network_flow_io_bytes_total)');
  t.is(sum?.value, kept.reduce((n, f) => n + f.txBytes + f.rxBytes, 0));
});
