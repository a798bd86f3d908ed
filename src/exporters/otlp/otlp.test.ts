import { createServer, type IncomingMessage, type Server } from 'node:http';
import { gunzipSync } from 'node:zlib';
import test from 'ava';
import { ExportMetricsServiceRequest, ExportMetricsServiceResponse } from '../../../test/harness/otlp-proto.ts';
import { queued, sendNow } from '../../../test/harness/exporter-queue.ts';
import { freePort } from '../../../test/harness/ports.ts';
import { readUntil } from '../../../test/harness/wait.ts';
import { PermanentError } from '../../contracts/component.ts';
import type { Flow } from '../../model/index.ts';
import { batch, flow } from '../../../test/harness/flows.ts';
import { configSchema, metricsUrl } from './config.ts';
import { otlpExporterFactory } from './index.ts';
import { OtlpExporter } from './otlp-exporter.ts';

const fast = { initial_interval: '20ms', max_interval: '50ms', max_elapsed_time: '20s' };
const web = { 'source.k8s.namespace.name': 'shop', 'source.k8s.owner.name': 'web', 'destination.k8s.namespace.name': 'shop', 'destination.k8s.owner.name': 'db', 'destination.port': 5432, 'network.transport': 'tcp', 'network.flow.inter_zone': false };

// The receiver decodes with the official opentelemetry-proto definitions (test/harness/otlp-proto.ts),
// not podflow's encoder.

type AnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
interface KeyValue { key: string; value: AnyValue }
interface NumberDataPoint { attributes: KeyValue[]; asInt?: string | number; asDouble?: number; startTimeUnixNano: string | number; timeUnixNano: string | number }
interface Metric { name: string; unit: string; description: string; sum?: { dataPoints: NumberDataPoint[]; aggregationTemporality: number | string; isMonotonic: boolean } }
interface Request {
  resourceMetrics: Array<{ resource: { attributes: KeyValue[] }; scopeMetrics: Array<{ scope: { name: string; version: string }; metrics: Metric[] }> }>;
}
interface Received { path: string; headers: IncomingMessage['headers']; body: Request }

function decode(req: IncomingMessage, raw: Buffer): Request {
  const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
  if (req.headers['content-type'] === 'application/json') return JSON.parse(body.toString()) as Request;
  const message = ExportMetricsServiceRequest.decode(body);
  return ExportMetricsServiceRequest.toObject(message, { longs: String, enums: Number, defaults: true }) as Request;
}

/** An OTLP/HTTP receiver: answers with `statuses` in turn, then 200 with an empty response. */
async function receiver(statuses: number[] = [], port = 0): Promise<{ url: string; received: Received[]; requests: number; server: Server }> {
  const state = { url: '', received: [] as Received[], requests: 0, server: undefined as unknown as Server };
  state.server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.requests++;
      const status = statuses.shift() ?? 200;
      if (status !== 200) return void res.writeHead(status, { 'content-type': 'text/plain' }).end(`status ${status}`);
      state.received.push({ path: req.url ?? '', headers: req.headers, body: decode(req, Buffer.concat(chunks)) });
      if (req.headers['content-type'] === 'application/json') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(ExportMetricsServiceResponse.encode({}).finish());
    });
  });
  await new Promise<void>((resolve) => state.server.listen(port, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(state.server.address() as { port: number }).port}`;
  return state;
}

function attrs(list: KeyValue[]): Record<string, string | number | boolean> {
  return Object.fromEntries(list.map(({ key, value }) => [key, value.stringValue ?? (value.intValue !== undefined && value.intValue !== null && value.intValue !== '0' ? Number(value.intValue) : value.boolValue ?? Number(value.intValue ?? 0))]));
}

/** `metric name/direction/owner` → value, over every byte and packet data point of a request. */
function points(body: Request): Record<string, number> {
  const out: Record<string, number> = {};
  for (const rm of body.resourceMetrics) {
    for (const sm of rm.scopeMetrics) {
      for (const m of sm.metrics) {
        if (m.name === 'network.flow.connections') continue;
        for (const dp of m.sum!.dataPoints) {
          const a = attrs(dp.attributes);
          out[`${m.name}/${a['network.io.direction']}/${a['source.k8s.owner.name']}`] = Number(dp.asInt);
        }
      }
    }
  }
  return out;
}

/** The exporter behind its exporter queue, configured as `extra` says. */
function exporter(url: string, extra: Record<string, unknown> = {}) {
  const config = configSchema.parse({ endpoint: url, retry_on_failure: fast, ...extra });
  const q = queued('otlp', otlpExporterFactory.queueSettings!(config), (ctx) => {
    ctx.resource = { 'k8s.node.name': 'node-a', 'k8s.cluster.name': 'kind' };
    return new OtlpExporter(ctx, config);
  });
  return { q, exporter: q.exporter };
}

function retries(q: ReturnType<typeof exporter>['q']): Promise<number> {
  return q.metric('podflow_exporter_retries_total');
}

test('config: defaults, errors name the key, URL, the replaced max_groups', (t) => {
  const config = configSchema.parse({});
  t.is(config.endpoint, 'http://localhost:4318');
  t.is(config.compression, 'gzip');
  t.is(config.encoding, 'proto');
  t.is(config.temporality, 'cumulative');
  t.is(config.timeout, 10_000);
  t.is(config.max_request_size, 4 * 1024 * 1024);
  t.is(config.protocol, 'http');
  t.deepEqual(config.sending_queue, { enabled: true, num_consumers: 1, queue_size: 100 });
  t.deepEqual(otlpExporterFactory.queueSettings!(config), {
    sending_queue: { enabled: true, num_consumers: 1, queue_size: 100 },
    retry_on_failure: { enabled: true, initial_interval: 1_000, max_interval: 30_000, multiplier: 1.5, max_elapsed_time: 300_000 },
    timeout: 10_000,
  });
  const bad = configSchema.safeParse({ encoding: 'grpc', temporality: 'sometimes', endpoint: 'collector:4318', max_groups: 0 });
  t.deepEqual(bad.error!.issues.map((i) => i.path.join('.')).sort(), ['encoding', 'endpoint', 'max_groups', 'temporality']);
  t.is(metricsUrl('http://collector:4318'), 'http://collector:4318/v1/metrics');
  t.is(metricsUrl('http://collector:4318/otlp/'), 'http://collector:4318/otlp/v1/metrics');
  t.is(metricsUrl('https://x.example/v1/metrics'), 'https://x.example/v1/metrics');
  t.regex(configSchema.safeParse({ max_groups: 10 }).error!.issues[0]!.message, /no longer a key: use max_request_size/);
  t.deepEqual(configSchema.safeParse({ protocol: 'grpc', encoding: 'json' }).error!.issues.map((i) => i.path.join('.')), ['encoding']);
});

test('proto, delta: names, units, resource, attributes, exact values, DELTA temporality', async (t) => {
  const rx = await receiver();
  t.teardown(() => rx.server.close());
  const { exporter: e } = exporter(rx.url, { temporality: 'delta' });
  t.teardown(() => e.shutdown());
  await sendNow(e, batch('delta', [flow(web, [1_234_567, 900], [98_765, 700]), flow({ ...web, 'source.k8s.owner.name': 'api' }, [42, 1], [0, 0])]));
  await sendNow(e, batch('delta', [flow(web, [1_000, 10], [1, 1])]));
  t.is(rx.received.length, 2);
  const first = rx.received[0]!;
  t.is(first.path, '/v1/metrics');
  t.is(first.headers['content-type'], 'application/x-protobuf');
  t.is(first.headers['content-encoding'], 'gzip');
  const rm = first.body.resourceMetrics[0]!;
  t.deepEqual(attrs(rm.resource.attributes), { 'service.name': 'podflow', 'service.version': '0.1.0', 'k8s.node.name': 'node-a', 'k8s.cluster.name': 'kind' });
  t.is(rm.scopeMetrics[0]!.scope.name, 'podflow');
  const metrics = rm.scopeMetrics[0]!.metrics;
  t.deepEqual(metrics.map((m) => [m.name, m.unit, m.sum!.isMonotonic, Number(m.sum!.aggregationTemporality)]), [
    ['network.flow.io', 'By', true, 1],
    ['network.flow.packets', '{packet}', true, 1],
    ['network.flow.connections', '{connection}', true, 1],
  ]);
  t.deepEqual(metrics[2]!.sum!.dataPoints.map((p) => [attrs(p.attributes)['source.k8s.owner.name'], Number(p.asInt)]), [['web', 1], ['api', 1]]);
  const dp = metrics[0]!.sum!.dataPoints.find((p) => attrs(p.attributes)['source.k8s.owner.name'] === 'web' && attrs(p.attributes)['network.io.direction'] === 'transmit')!;
  t.deepEqual(attrs(dp.attributes), { ...web, 'network.io.direction': 'transmit' });
  t.deepEqual(points(first.body), {
    'network.flow.io/transmit/web': 1_234_567,
    'network.flow.io/receive/web': 98_765,
    'network.flow.io/transmit/api': 42,
    'network.flow.packets/transmit/web': 900,
    'network.flow.packets/receive/web': 700,
    'network.flow.packets/transmit/api': 1,
  });
  t.deepEqual(points(rx.received[1]!.body), {
    'network.flow.io/transmit/web': 1_000,
    'network.flow.io/receive/web': 1,
    'network.flow.packets/transmit/web': 10,
    'network.flow.packets/receive/web': 1,
  });
});

test('cumulative temporality: delta input is summed', async (t) => {
  const rx = await receiver();
  t.teardown(() => rx.server.close());
  const { exporter: e } = exporter(rx.url, { temporality: 'cumulative', compression: 'none' });
  await sendNow(e, batch('delta', [flow(web, [100, 1], [10, 1])]));
  await sendNow(e, batch('delta', [flow(web, [50, 1], [5, 1])]));
  const last = rx.received[1]!;
  t.is(last.headers['content-encoding'], undefined);
  t.is(Number(last.body.resourceMetrics[0]!.scopeMetrics[0]!.metrics[0]!.sum!.aggregationTemporality), 2);
  t.is(points(last.body)['network.flow.io/transmit/web'], 150);
  t.is(points(last.body)['network.flow.io/receive/web'], 15);
});

test('cumulative input is never summed again (both temporalities), resets are new counts', async (t) => {
  const rx = await receiver();
  t.teardown(() => rx.server.close());
  const running = (tx: number, start: bigint): Flow => ({ ...flow(web, [tx, tx / 10], [0, 0]), startTimeUnixNano: start });
  const { exporter: delta } = exporter(rx.url, { temporality: 'delta' });
  await sendNow(delta, batch('cumulative', [running(100, 1n)]));
  await sendNow(delta, batch('cumulative', [running(150, 1n)]));
  await sendNow(delta, batch('cumulative', [running(150, 1n)])); // nothing new: no request
  await sendNow(delta, batch('cumulative', [running(30, 2n)])); // the reducer re-created the group
  t.deepEqual(rx.received.map((r) => points(r.body)['network.flow.io/transmit/web']), [100, 50, 30]);

  rx.received.length = 0;
  const { exporter: cumulative } = exporter(rx.url, { temporality: 'cumulative' });
  await sendNow(cumulative, batch('cumulative', [running(100, 1n)]));
  await sendNow(cumulative, batch('cumulative', [running(150, 1n)]));
  t.deepEqual(rx.received.map((r) => points(r.body)['network.flow.io/transmit/web']), [100, 150]);
});

test('json encoding', async (t) => {
  const rx = await receiver();
  t.teardown(() => rx.server.close());
  const { exporter: e } = exporter(`${rx.url}/v1/metrics`, { encoding: 'json', temporality: 'delta' });
  await sendNow(e, batch('delta', [flow(web, [4_294_967_296 + 5, 3], [7, 1])]));
  const got = rx.received[0]!;
  t.is(got.headers['content-type'], 'application/json');
  t.is(got.path, '/v1/metrics');
  t.deepEqual(points(got.body), {
    'network.flow.io/transmit/web': 4_294_967_301,
    'network.flow.io/receive/web': 7,
    'network.flow.packets/transmit/web': 3,
    'network.flow.packets/receive/web': 1,
  });
  t.is(got.body.resourceMetrics[0]!.scopeMetrics[0]!.metrics[0]!.unit, 'By');
});

test('max_request_size: a large batch is sent in several requests, every point in exactly one', async (t) => {
  const rx = await receiver();
  t.teardown(() => rx.server.close());
  const { exporter: e } = exporter(rx.url, { temporality: 'delta', max_request_size: '4KiB' });
  const big = Array.from({ length: 40 }, (_, i) => flow({ ...web, 'source.k8s.owner.name': `b${i}` }, [1_000 + i, 1], [1, 1]));
  big.push(flow({ 'otel.metric.overflow': true }, [9, 1], [9, 1]));
  await sendNow(e, batch('delta', big));
  t.true(rx.received.length > 2, `${rx.received.length} requests`);
  const rest = Object.assign({}, ...rx.received.map((r) => points(r.body))) as Record<string, number>;
  t.is(Object.keys(rest).filter((k) => k.startsWith('network.flow.io/transmit/b')).length, 40);
  t.is(Object.entries(rest).filter(([k]) => k.startsWith('network.flow.io/transmit/b')).reduce((n, [, v]) => n + v, 0), 40 * 1_000 + 780);
  t.is(rest['network.flow.io/transmit/undefined'], 9, 'the reducer overflow group is passed on as a group');
});

test('503 twice then 200: retried with backoff, every data point arrives', async (t) => {
  const rx = await receiver([503, 503]);
  t.teardown(() => rx.server.close());
  const { q } = exporter(rx.url, { temporality: 'delta' });
  await q.consume(batch('delta', [flow(web, [777, 7], [888, 8])]));
  t.true(await q.shutdown());
  t.is(rx.requests, 3);
  t.is(await retries(q), 2);
  t.is(await q.metric('podflow_exporter_sent_flows_total'), 1);
  t.deepEqual(points(rx.received[0]!.body), {
    'network.flow.io/transmit/web': 777,
    'network.flow.io/receive/web': 888,
    'network.flow.packets/transmit/web': 7,
    'network.flow.packets/receive/web': 8,
  });
});

test('400 is not retried', async (t) => {
  const rx = await receiver([400, 400]);
  t.teardown(() => rx.server.close());
  const { q, exporter: e } = exporter(rx.url, { temporality: 'delta' });
  await t.throwsAsync(sendNow(e, batch('delta', [flow(web, [1, 1], [1, 1])])), { instanceOf: PermanentError, message: /HTTP 400 / });
  // behind the queue: one attempt, no retry, the flows counted failed
  await q.consume(batch('delta', [flow(web, [2, 1], [2, 1]), flow({ ...web, 'source.k8s.owner.name': 'api' }, [2, 1], [2, 1])]));
  t.true(await q.shutdown());
  t.is(rx.requests, 2);
  t.is(await retries(q), 0);
  t.is(await q.metric('podflow_exporter_send_failed_flows_total'), 2);
});

test('receiver down: export keeps retrying without crashing, delivers once it is back', async (t) => {
  const port = await freePort();
  const { q } = exporter(`http://127.0.0.1:${port}`, { temporality: 'delta', timeout: '2s', retry_on_failure: { ...fast, max_elapsed_time: '2s' } });
  // given up after max_elapsed_time: counted failed, nothing thrown elsewhere
  await q.consume(batch('delta', [flow({ ...web, 'source.k8s.owner.name': 'lost' }, [5, 1], [5, 1])]));
  t.is(await readUntil(() => q.metric('podflow_exporter_send_failed_flows_total'), (n) => n > 0, 15_000), 1);
  const before = await retries(q);
  t.true(before >= 3, `retries: ${before}`);

  // still down when the next batch comes; it is delivered, unchanged, when the receiver returns
  await q.consume(batch('delta', [flow(web, [2_000, 20], [3_000, 30])]));
  await new Promise((r) => setTimeout(r, 300));
  const rx = await receiver([], port);
  t.teardown(() => rx.server.close());
  t.true(await q.shutdown());
  t.true((await retries(q)) > before);
  t.is(await q.metric('podflow_exporter_sent_flows_total'), 1);
  t.is(rx.received.length, 1);
  t.deepEqual(points(rx.received[0]!.body), {
    'network.flow.io/transmit/web': 2_000,
    'network.flow.io/receive/web': 3_000,
    'network.flow.packets/transmit/web': 20,
    'network.flow.packets/receive/web': 30,
  });
});

test('cumulative temporality loses nothing even when a batch is given up', async (t) => {
  const port = await freePort();
  const { q } = exporter(`http://127.0.0.1:${port}`, { temporality: 'cumulative', timeout: '200ms', retry_on_failure: { ...fast, max_elapsed_time: '200ms' } });
  await q.consume(batch('delta', [flow(web, [5, 1], [0, 0])]));
  await new Promise((r) => setTimeout(r, 400));
  t.is(await q.metric('podflow_exporter_send_failed_flows_total'), 1);
  const rx = await receiver([], port);
  t.teardown(() => rx.server.close());
  await q.consume(batch('delta', [flow(web, [10, 1], [0, 0])]));
  t.true(await q.shutdown());
  t.is(points(rx.received[0]!.body)['network.flow.io/transmit/web'], 15);
});

test('behind the runtime queue a down receiver never blocks the pipeline; accepted batches arrive, overflow is counted', async (t) => {
  const port = await freePort();
  // (a generous timeout: an attempt aborted after the receiver took it would be sent twice)
  const { q } = exporter(`http://127.0.0.1:${port}`, { temporality: 'delta', timeout: '5s', sending_queue: { queue_size: 3 } });
  const queue = q.queue;
  const sizes = [1, 2, 3, 4, 5].map((n) => batch('delta', Array.from({ length: n }, (_, i) => flow({ ...web, 'source.k8s.owner.name': `b${n}-${i}` }, [n * 100, 1], [0, 0]))));
  for (const b of sizes) await queue.consume(b);
  // consume never waits for the exporter: every call returned while nothing could be delivered
  // (a time bound here measured the machine's load, not the queue)
  t.is(await q.metric('podflow_exporter_sent_flows_total'), 0, 'consume never waits for the exporter');
  t.is(await q.metric('podflow_exporter_queue_size'), 3);
  // batch 1 is in flight (retrying), 2..4 fill the queue, 5 pushes out the oldest waiting one (2)
  t.is(await q.metric('podflow_exporter_enqueue_failed_flows_total'), 2);

  await new Promise((r) => setTimeout(r, 300));
  const rx = await receiver([], port);
  t.teardown(() => rx.server.close());
  t.true(await queue.drain(Date.now() + 15_000));
  const delivered = rx.received.flatMap((r) => Object.entries(points(r.body)).filter(([k]) => k.startsWith('network.flow.io/transmit/')));
  t.is(delivered.length, 1 + 3 + 4 + 5);
  t.is(delivered.reduce((n, [, v]) => n + v, 0), 1 * 100 + 3 * 300 + 4 * 400 + 5 * 500);
  t.is(await q.metric('podflow_exporter_sent_flows_total'), 1 + 3 + 4 + 5);
  t.true((await retries(q)) >= 1);
});

/** `owner` → the sum of its `network.flow.cost` points (USD; one per priced flow), and the metric's unit. */
function costs(body: Request): { unit: string | undefined; byOwner: Record<string, number> } {
  const metric = body.resourceMetrics.flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics)).find((m) => m.name === 'network.flow.cost');
  const byOwner: Record<string, number> = {};
  for (const dp of metric?.sum?.dataPoints ?? []) {
    const a = attrs(dp.attributes);
    if ('network.io.direction' in a) throw new Error('the cost has no direction');
    const owner = String(a['source.k8s.owner.name']);
    byOwner[owner] = (byOwner[owner] ?? 0) + dp.asDouble!;
  }
  return { unit: metric?.unit, byOwner };
}

test('network.flow.cost: USD, a sum of the priced flows (delta input; cumulative input adds only the increase)', async (t) => {
  const rx = await receiver();
  t.teardown(() => rx.server.close());
  const { exporter: e } = exporter(rx.url, { temporality: 'delta' });
  t.teardown(() => e.shutdown());
  const priced = (owner: string, zepto: bigint, tx = 100): Flow => ({ ...flow({ ...web, 'source.k8s.owner.name': owner }, [tx, 1], [0, 0]), costZeptoUsd: zepto });
  await sendNow(e, batch('delta', [priced('web', 1_250n * 10n ** 18n), priced('web', 250n * 10n ** 18n), flow({ ...web, 'source.k8s.owner.name': 'api' }, [42, 1], [0, 0])]));
  const first = costs(rx.received[0]!.body);
  t.is(first.unit, 'USD');
  t.deepEqual(first.byOwner, { web: 1.5 }, 'an unpriced flow has no cost point');

  const rx2 = await receiver();
  t.teardown(() => rx2.server.close());
  const { exporter: c } = exporter(rx2.url, { temporality: 'delta' });
  t.teardown(() => c.shutdown());
  const running = (zepto: bigint, tx: number) => ({ ...priced('db', zepto, tx), startTimeUnixNano: 5n });
  await sendNow(c, batch('cumulative', [running(10n ** 21n, 100)]));
  await sendNow(c, batch('cumulative', [running(3n * 10n ** 21n, 300)]));
  t.deepEqual(rx2.received.map((r) => costs(r.body).byOwner), [{ db: 1 }, { db: 2 }]);
});
