import { createServer, type IncomingMessage, type Server } from 'node:http';
import test from 'ava';
import { testContext } from '../../../test/harness/context.ts';
import { queued, sendNow } from '../../../test/harness/exporter-queue.ts';
import { PermanentError } from '../../contracts/component.ts';
import { requirePrivileges } from '../../../test/harness/privileges.ts';
import { freePort } from '../../../test/harness/ports.ts';
import { startPrometheus } from '../../../test/harness/prometheus.ts';
import { batch, flow } from '../../../test/harness/flows.ts';
import { configSchema } from './config.ts';
import { prometheusRemoteWriteExporterFactory } from './index.ts';
import { RemoteWriteExporter } from './remote-write-exporter.ts';
import { decodeWriteRequest, type WriteRequestBody } from './write-request.ts';

const fast = { initial_interval: '20ms', max_interval: '50ms', max_elapsed_time: '10s' };
const web = { 'source.k8s.namespace.name': 'shop', 'source.k8s.owner.name': 'web', 'destination.k8s.namespace.name': 'shop', 'destination.k8s.owner.name': 'db', 'destination.port': 5432, 'network.transport': 'tcp' };

interface Received {
  headers: IncomingMessage['headers'];
  body: WriteRequestBody;
}

/** A remote-write receiver speaking the real protocol: answers with `statuses` in turn, then 204. */
async function fakeReceiver(statuses: number[] = []): Promise<{ url: string; received: Received[]; requests: number; server: Server }> {
  const state = { url: '', received: [] as Received[], requests: 0, server: undefined as unknown as Server };
  state.server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.requests++;
      const status = statuses.shift() ?? 204;
      if (status === 204) state.received.push({ headers: req.headers, body: decodeWriteRequest(Buffer.concat(chunks)) });
      res.writeHead(status, status === 429 ? { 'retry-after': '0' } : {}).end(status >= 400 ? `status ${status}` : undefined);
    });
  });
  await new Promise<void>((resolve) => state.server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(state.server.address() as { port: number }).port}/api/v1/write`;
  return state;
}

/** The exporter behind its exporter queue. */
function behindQueue(endpoint: string, extra: Record<string, unknown> = {}) {
  const config = configSchema.parse({ endpoint, retry_on_failure: fast, ...extra });
  return queued('prw', prometheusRemoteWriteExporterFactory.queueSettings!(config), (ctx) => new RemoteWriteExporter(ctx, config));
}

test('config: endpoint has no default, the rest do', (t) => {
  const missing = configSchema.safeParse({});
  t.deepEqual(missing.error!.issues.map((i) => i.path.join('.')), ['endpoint']);
  const bad = configSchema.safeParse({ endpoint: 'mimir:8080', external_labels: { 'bad-name': 'x' }, timeout: 'never' });
  t.deepEqual(bad.error!.issues.map((i) => i.path.join('.')).sort(), ['endpoint', 'external_labels.bad-name', 'timeout']);
  const config = configSchema.parse({ endpoint: 'http://mimir:8080/api/v1/push' });
  t.deepEqual(
    { ...config, retry_on_failure: undefined },
    { endpoint: 'http://mimir:8080/api/v1/push', headers: {}, external_labels: {}, timeout: 5_000, sending_queue: { enabled: true, num_consumers: 1, queue_size: 100 }, max_series_per_request: 2_000, metric_expiration: 300_000, retry_on_failure: undefined },
  );
  t.deepEqual(config.retry_on_failure, { enabled: true, initial_interval: 1_000, max_interval: 30_000, multiplier: 1.5, max_elapsed_time: 300_000 });
  t.deepEqual(prometheusRemoteWriteExporterFactory.queueSettings!(config), {
    sending_queue: { enabled: true, num_consumers: 1, queue_size: 100 },
    retry_on_failure: { enabled: true, initial_interval: 1_000, max_interval: 30_000, multiplier: 1.5, max_elapsed_time: 300_000 },
    timeout: 5_000,
  });
});

test('request: snappy protobuf WriteRequest, spec headers, sorted labels, external labels, counters summed', async (t) => {
  const rx = await fakeReceiver();
  t.teardown(() => rx.server.close());
  const exporter = new RemoteWriteExporter(testContext('prometheus_remote_write'), configSchema.parse({ endpoint: rx.url, headers: { 'X-Scope-OrgID': 'tenant-1' }, external_labels: { cluster: 'prod', zone_a: 'x' } }));
  await sendNow(exporter, batch('delta', [flow({ ...web, 'Upper.Case': 'U', 'empty.one': '' }, [100, 2], [50, 1], 1_760_000_000_000)]));
  await sendNow(exporter, batch('delta', [flow({ ...web, 'Upper.Case': 'U', 'empty.one': '' }, [11, 1], [0, 0], 1_760_000_015_000)]));

  t.is(rx.received.length, 2);
  const { headers, body } = rx.received[0]!;
  t.is(headers['content-encoding'], 'snappy');
  t.is(headers['content-type'], 'application/x-protobuf');
  t.is(headers['x-prometheus-remote-write-version'], '0.1.0');
  t.is(headers['x-scope-orgid'], 'tenant-1');
  t.is(body.timeseries.length, 4);
  const names = body.timeseries[0]!.labels.map((l) => l.name);
  t.deepEqual(names, ['Upper_Case', '__name__', 'cluster', 'destination_k8s_namespace_name', 'destination_k8s_owner_name', 'destination_port', 'network_io_direction', 'network_transport', 'source_k8s_namespace_name', 'source_k8s_owner_name', 'zone_a']);
  for (const ts of body.timeseries) {
    const n = ts.labels.map((l) => l.name);
    t.deepEqual(n, [...n].sort(), 'byte-wise sorted label names');
    t.true(ts.labels.every((l) => l.value !== ''));
  }
  const sample = (b: WriteRequestBody, name: string, dir: string) =>
    b.timeseries.find((s) => s.labels.some((l) => l.name === '__name__' && l.value === name) && s.labels.some((l) => l.name === 'network_io_direction' && l.value === dir))?.samples;
  t.deepEqual(sample(body, 'network_flow_io_bytes_total', 'transmit'), [{ value: 100, timestamp: 1_760_000_000_000 }]);
  t.deepEqual(sample(body, 'network_flow_packets_total', 'receive'), [{ value: 1, timestamp: 1_760_000_000_000 }]);
  t.deepEqual(body.metadata.map((m) => [m.metric_family_name, m.type, m.unit]), [['network_flow_io_bytes_total', 1, 'bytes'], ['network_flow_packets_total', 1, '']]);
  // second batch: every series the batch mentions (keeps them fresh), cumulative values
  const second = rx.received[1]!.body;
  t.is(second.timeseries.length, 4);
  t.deepEqual(sample(second, 'network_flow_io_bytes_total', 'receive'), [{ value: 50, timestamp: 1_760_000_015_000 }]);
  t.deepEqual(sample(second, 'network_flow_io_bytes_total', 'transmit'), [{ value: 111, timestamp: 1_760_000_015_000 }]);
  t.deepEqual(sample(second, 'network_flow_packets_total', 'transmit'), [{ value: 3, timestamp: 1_760_000_015_000 }]);
});

test('max_series_per_request splits a batch', async (t) => {
  const rx = await fakeReceiver();
  t.teardown(() => rx.server.close());
  const exporter = new RemoteWriteExporter(testContext('prw'), configSchema.parse({ endpoint: rx.url, max_series_per_request: 3 }));
  await sendNow(exporter, batch('cumulative', [flow(web, [1, 1], [1, 1]), flow({ ...web, 'destination.port': 80 }, [1, 1], [0, 0])]));
  t.deepEqual(rx.received.map((r) => r.body.timeseries.length), [3, 3]);
});

test('503 twice then success: retried, every sample arrives', async (t) => {
  const rx = await fakeReceiver([503, 429]);
  t.teardown(() => rx.server.close());
  const q = behindQueue(rx.url);
  await q.consume(batch('delta', [flow(web, [777, 7], [888, 8])]));
  t.true(await q.shutdown());
  t.is(rx.requests, 3);
  t.is(await q.metric('podflow_exporter_retries_total'), 2);
  t.is(await q.metric('podflow_exporter_sent_flows_total'), 1);
  t.is(rx.received[0]!.body.timeseries.length, 4);
});

test('400 is not retried', async (t) => {
  const rx = await fakeReceiver([400, 400]);
  t.teardown(() => rx.server.close());
  const q = behindQueue(rx.url);
  await t.throwsAsync(sendNow(q.exporter, batch('delta', [flow(web, [1, 1], [1, 1])])), { instanceOf: PermanentError, message: /HTTP 400: status 400$/ });
  // behind the queue: one attempt, no retry, the flows counted failed
  await q.consume(batch('delta', [flow(web, [1, 1], [1, 1]), flow({ ...web, 'destination.port': 80 }, [1, 1], [1, 1])]));
  t.true(await q.shutdown());
  t.is(rx.requests, 2);
  t.is(await q.metric('podflow_exporter_retries_total'), 0);
  t.is(await q.metric('podflow_exporter_send_failed_flows_total'), 2);
});

test('server down: retries until given up, no crash; nothing accepted is lost once it is back', async (t) => {
  const port = await freePort();
  const q = behindQueue(`http://127.0.0.1:${port}/api/v1/write`, { retry_on_failure: { ...fast, max_elapsed_time: '1s' } });
  await q.consume(batch('delta', [flow(web, [1_000, 10], [2_000, 20])]));
  await new Promise((r) => setTimeout(r, 1_300));
  t.is(await q.metric('podflow_exporter_send_failed_flows_total'), 1);
  const retries = await q.metric('podflow_exporter_retries_total');
  t.true(retries >= 3, `retries: ${retries}`);

  // The next batch finds the receiver back up after a few failed attempts, and carries the totals.
  await q.consume(batch('delta', [flow(web, [5, 1], [0, 0])]));
  await new Promise((r) => setTimeout(r, 100));
  const rx = await new Promise<Server>((resolve) => {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push(decodeWriteRequest(Buffer.concat(chunks)));
        res.writeHead(204).end();
      });
    });
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
  const received: WriteRequestBody[] = [];
  t.teardown(() => rx.close());
  t.true(await q.shutdown());
  const values = received.flatMap((b) => b.timeseries.map((s) => [s.labels.find((l) => l.name === '__name__')!.value, s.labels.find((l) => l.name === 'network_io_direction')!.value, s.samples[0]!.value]));
  t.deepEqual(values, [
    ['network_flow_io_bytes_total', 'transmit', 1_005],
    ['network_flow_io_bytes_total', 'receive', 2_000],
    ['network_flow_packets_total', 'transmit', 11],
    ['network_flow_packets_total', 'receive', 20],
  ]);
});

test('a real Prometheus receives exact totals through remote write', async (t) => {
  if (!requirePrivileges(t, ['prometheus'])) return;
  const prometheus = await startPrometheus({ remoteWriteReceiver: true });
  t.teardown(() => prometheus.stop());
  const exporter = new RemoteWriteExporter(testContext('prometheus_remote_write'), configSchema.parse({ endpoint: prometheus.remoteWriteUrl, external_labels: { cluster: 'kind' } }));
  const now = Date.now();
  await sendNow(exporter, batch('delta', [flow(web, [1_234_567, 900], [98_765, 700], now - 2_000), flow({ ...web, 'source.k8s.owner.name': 'api' }, [42, 1], [43, 1], now - 2_000)]));
  await sendNow(exporter, batch('delta', [flow(web, [1_000_000, 100], [1, 1], now - 1_000)]));
  // a cumulative pipeline: values are taken as they are
  await sendNow(exporter, batch('cumulative', [flow({ ...web, 'network.transport': 'udp' }, [500, 5], [0, 0], now - 1_000)]));
  await sendNow(exporter, batch('cumulative', [flow({ ...web, 'network.transport': 'udp' }, [800, 8], [0, 0], now)]));

  const samples = await prometheus.query('network_flow_io_bytes_total{source_k8s_owner_name="web"}');
  const got = Object.fromEntries(samples.map((s) => [`${s.metric.network_transport}/${s.metric.network_io_direction}`, s.value]));
  t.deepEqual(got, { 'tcp/transmit': 2_234_567, 'tcp/receive': 98_766, 'udp/transmit': 800 }, prometheus.log().slice(-1_500));
  t.is(samples[0]!.metric.cluster, 'kind');
  t.is((await prometheus.query('sum(network_flow_packets_total)'))[0]!.value, 900 + 700 + 100 + 1 + 1 + 1 + 8);
  t.is((await prometheus.query('network_flow_io_bytes_total{source_k8s_owner_name="api",network_io_direction="receive"}'))[0]!.value, 43);
});
