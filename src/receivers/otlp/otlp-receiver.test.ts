// The otlp receiver's answers to what is not a good request, its limits, back-pressure, TLS and
// bearer auth, over real sockets: HTTP with undici's fetch, gRPC with @grpc/grpc-js.
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { Agent, fetch } from 'undici';
import { queued, sendNow } from '../../../test/harness/exporter-queue.ts';
import { testContext } from '../../../test/harness/context.ts';
import { decodeRpcStatus, encodeMetricsRequest } from '../../../test/harness/otlp-proto.ts';
import { makeTestCertificates, missingOpenssl } from '../../../test/harness/tls.ts';
import { configSchema as exporterConfig } from '../../exporters/otlp/config.ts';
import { otlpExporterFactory } from '../../exporters/otlp/index.ts';
import { OtlpExporter } from '../../exporters/otlp/otlp-exporter.ts';
import { PermanentError } from '../../contracts/component.ts';
import { otlpReceiverConfigSchema } from './config.ts';
import { agentTicks, startReceiver } from './testdata/round-trip.ts';

const T0 = 1_764_000_000_000_000_000n;
const series = [{ 'source.address': '10.0.1.5', 'destination.address': '10.0.2.9', 'destination.port': 80, 'network.transport': 'tcp' }];
const EXPORT = '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export';

function post(url: string, body: Buffer | string, headers: Record<string, string>) {
  return fetch(`${url}/v1/metrics`, { method: 'POST', body, headers });
}

async function status(res: Awaited<ReturnType<typeof fetch>>) {
  return decodeRpcStatus(Buffer.from(await res.arrayBuffer()));
}

/** A request of another metric than podflow's: a gauge. */
const gaugeRequest = encodeMetricsRequest({
  resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'system.cpu.utilization', gauge: { dataPoints: [{ asDouble: 0.5, timeUnixNano: '1' }] } }] }] }],
});

/** network.flow.io with a direction that is not one. */
const badDirection = encodeMetricsRequest({
  resourceMetrics: [{ scopeMetrics: [{ metrics: [
    { name: 'network.flow.io', sum: { aggregationTemporality: 1, isMonotonic: true, dataPoints: [
      { asInt: '5', timeUnixNano: '2', attributes: [{ key: 'network.io.direction', value: { stringValue: 'transmit' } }] },
      { asInt: '5', timeUnixNano: '2', attributes: [{ key: 'network.io.direction', value: { stringValue: 'sideways' } }] },
    ] } },
  ] }] }],
});

function grpcExport(target: string, body: Buffer, options: { metadata?: grpc.Metadata; compress?: boolean; credentials?: grpc.ChannelCredentials } = {}): Promise<grpc.ServiceError | undefined> {
  const client = new grpc.Client(target, options.credentials ?? grpc.credentials.createInsecure(), options.compress ? { 'grpc.default_compression_algorithm': 2 } : {});
  return new Promise((resolve) => {
    client.makeUnaryRequest(EXPORT, (b: Buffer) => b, (b: Buffer) => b, body, options.metadata ?? new grpc.Metadata(), (err) => {
      client.close();
      resolve(err ?? undefined);
    });
  });
}

test('config: both protocols by default on the Collector\'s ports, limits and keys named on error', (t) => {
  const config = otlpReceiverConfigSchema.parse({});
  t.deepEqual(config.protocols.grpc?.endpoint, { host: 'localhost', port: 4317 });
  t.deepEqual(config.protocols.http?.endpoint, { host: 'localhost', port: 4318 });
  t.is(config.protocols.http?.max_request_body_size, 16 * 1024 * 1024);
  t.is(config.max_pending_requests, 16);
  t.is(config.retry_after, 1_000);
  t.is(otlpReceiverConfigSchema.parse({ protocols: { grpc: null } }).protocols.http, undefined);
  const bad = otlpReceiverConfigSchema.safeParse({ protocols: { http: { endpoint: 'nowhere', max_request_body_size: '1TB', auth: { bearer_token: '' } } } });
  t.deepEqual(bad.error!.issues.map((i) => i.path.join('.')).sort(), ['protocols.http.auth.bearer_token', 'protocols.http.endpoint', 'protocols.http.max_request_body_size']);
  t.regex(otlpReceiverConfigSchema.safeParse({ protocols: {} }).error!.issues[0]!.message, /at least one of grpc and http/);
});

test('HTTP: bad input is answered with the status and a google.rpc.Status naming the place; counted; the receiver keeps working', async (t) => {
  const rx = await startReceiver({ protocols: { http: { endpoint: '127.0.0.1:0', max_request_body_size: '64KiB' } } });
  t.teardown(() => rx.stop());
  const proto = { 'content-type': 'application/x-protobuf' };

  let res = await post(rx.httpUrl, Buffer.from([0x0a, 0xff, 0xff, 0x03, 0x01]), proto);
  t.is(res.status, 400);
  t.regex((await status(res)).message, /resourceMetrics\[0\]: .*(past the end|not a valid protobuf)/);

  res = await post(rx.httpUrl, gaugeRequest, proto);
  t.is(res.status, 400);
  const gauge = await status(res);
  t.is(gauge.code, 3);
  t.regex(gauge.message, /^resourceMetrics\[0\]\.scopeMetrics\[0\]\.metrics\[0\]: metric "system\.cpu\.utilization" is not a podflow flow metric/);

  res = await post(rx.httpUrl, badDirection, proto);
  t.is(res.status, 400);
  t.regex((await status(res)).message, /metrics\[0\]\.sum\.dataPoints\[1\]: network\.io\.direction must be "transmit" or "receive" \(got "sideways"\)/);

  res = await post(rx.httpUrl, '{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"network.flow.io","sum":{"isMonotonic":true,"aggregationTemporality":1,"dataPoints":[{"asInt":"x"}]}}]}]}]}', { 'content-type': 'application/json' });
  t.is(res.status, 400);
  t.is(res.headers.get('content-type'), 'application/json');
  t.regex(((await res.json()) as { message: string }).message, /dataPoints\[0\]\.asInt: "x" is not a 64-bit integer/);

  res = await post(rx.httpUrl, '{"resourceMetrics": [', { 'content-type': 'application/json' });
  t.is(res.status, 400);

  res = await post(rx.httpUrl, 'hello', { 'content-type': 'text/plain' });
  t.is(res.status, 415);
  res = await post(rx.httpUrl, gaugeRequest, { ...proto, 'content-encoding': 'br' });
  t.is(res.status, 415);

  res = await post(rx.httpUrl, Buffer.alloc(100 * 1024), proto);
  t.is(res.status, 413);
  t.regex((await status(res)).message, /over max_request_body_size \(65536 bytes\)/);

  // a gzip bomb: 4 KiB on the wire, 64 MiB inflated
  const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
  t.true(bomb.length < 100 * 1024);
  res = await post(rx.httpUrl, bomb, { ...proto, 'content-encoding': 'gzip' });
  t.is(res.status, 413);
  t.regex((await status(res)).message, /gzip body decompresses to more than max_request_body_size \(65536 bytes\): refused/);
  res = await post(rx.httpUrl, Buffer.from('not gzip'), { ...proto, 'content-encoding': 'gzip' });
  t.is(res.status, 400);

  res = await fetch(`${rx.httpUrl}/v1/traces`, { method: 'POST', body: 'x', headers: proto });
  t.is(res.status, 404);

  t.is(await rx.refused({ protocol: 'http', reason: 'malformed' }), 4);
  t.is(await rx.refused({ protocol: 'http', reason: 'not_a_flow' }), 2);
  t.is(await rx.refused({ protocol: 'http', reason: 'content_type' }), 2);
  t.is(await rx.refused({ protocol: 'http', reason: 'too_large' }), 2);
  t.is(rx.batches.length, 0);

  // still serving
  const exporter = new OtlpExporter(testContext('otlp'), exporterConfig.parse({ endpoint: rx.httpUrl, temporality: 'delta' }));
  t.teardown(() => exporter.shutdown());
  await sendNow(exporter, { temporality: 'delta', flows: agentTicks(T0, 1, series)[0]! });
  t.is(rx.batches[0]!.flows[0]!.txBytes, 1_000_003);
});

test('gRPC: bad input is INVALID_ARGUMENT naming the place; over the size (decompressed too) RESOURCE_EXHAUSTED; counted', async (t) => {
  const rx = await startReceiver({ protocols: { grpc: { endpoint: '127.0.0.1:0', max_request_body_size: '64KiB' } } });
  t.teardown(() => rx.stop());
  const target = rx.grpcUrl.replace('http://', '');
  let err = await grpcExport(target, gaugeRequest);
  t.is(err?.code, grpc.status.INVALID_ARGUMENT);
  t.regex(err!.details, /metrics\[0\]: metric "system\.cpu\.utilization" is not a podflow flow metric/);
  err = await grpcExport(target, Buffer.from([0x0a, 0x05, 0x01]));
  t.is(err?.code, grpc.status.INVALID_ARGUMENT);
  err = await grpcExport(target, Buffer.alloc(100 * 1024));
  t.is(err?.code, grpc.status.RESOURCE_EXHAUSTED);
  // 64 MiB of zeros, gzip-compressed by the client: refused after decompression, not a crash
  err = await grpcExport(target, Buffer.alloc(64 * 1024 * 1024), { compress: true });
  t.is(err?.code, grpc.status.RESOURCE_EXHAUSTED);
  t.is(await rx.refused({ protocol: 'grpc', reason: 'not_a_flow' }), 1);
  t.is(await rx.refused({ protocol: 'grpc', reason: 'malformed' }), 1);
  t.is(rx.batches.length, 0);
  t.is(await grpcExport(target, Buffer.alloc(0)), undefined, 'an empty request is a valid one, still served');
});

for (const protocol of ['http', 'grpc'] as const) {
  test(`${protocol}: a full pipeline answers ${protocol === 'http' ? '429' : 'RESOURCE_EXHAUSTED'} with a retry hint; the exporter retries; nothing is lost`, async (t) => {
    // The pipeline holds the first request until released: max_pending_requests 1 is then full.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    const rx = await startReceiver({ max_pending_requests: 1, retry_after: '200ms' }, async () => {
      if (calls++ === 0) await held;
    });
    t.teardown(() => rx.stop());
    const endpoint = protocol === 'grpc' ? rx.grpcUrl : rx.httpUrl;
    const config = exporterConfig.parse({ endpoint, protocol, temporality: 'delta', retry_on_failure: { initial_interval: '10ms', max_interval: '20ms' }, sending_queue: { num_consumers: 2 } });
    const q = queued('otlp', otlpExporterFactory.queueSettings!(config), (ctx) => new OtlpExporter(ctx, config));
    const ticks = agentTicks(T0, 2, series);
    await q.consume({ temporality: 'delta', flows: ticks[0]! });
    while (calls === 0) await new Promise((r) => setTimeout(r, 5));
    await q.consume({ temporality: 'delta', flows: ticks[1]! });
    while ((await rx.refused({ reason: 'pipeline_full' })) === 0) await new Promise((r) => setTimeout(r, 5));
    release();
    t.true(await q.shutdown(10_000));
    t.is(await q.metric('podflow_exporter_sent_flows_total'), 2);
    t.true((await q.metric('podflow_exporter_retries_total')) >= 1);
    t.deepEqual(rx.batches.map((b) => b.flows[0]!.txBytes).sort(), [1_000_003, 2_000_006]);
  });
}

test('the retry hint of a refusal: Retry-After and RetryInfo over HTTP, RetryInfo in grpc-status-details-bin', async (t) => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let entered = 0;
  const rx = await startReceiver({ max_pending_requests: 1, retry_after: '2500ms' }, () => {
    entered++;
    return held;
  });
  t.teardown(() => rx.stop());
  const body = encodeMetricsRequest({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'network.flow.connections', sum: { aggregationTemporality: 1, isMonotonic: true, dataPoints: [{ asInt: '1', timeUnixNano: '5' }] } }] }] }] });
  const first = post(rx.httpUrl, body, { 'content-type': 'application/x-protobuf' });
  while (entered === 0) await new Promise((r) => setTimeout(r, 5));
  const res = await post(rx.httpUrl, body, { 'content-type': 'application/x-protobuf' });
  t.is(res.status, 429);
  t.is(res.headers.get('retry-after'), '3');
  const s = await status(res);
  t.is(s.code, 8);
  t.is(s.retryDelayMs, 2_500);
  const err = await grpcExport(rx.grpcUrl.replace('http://', ''), body);
  t.is(err?.code, grpc.status.RESOURCE_EXHAUSTED);
  t.is(decodeRpcStatus(err!.metadata.get('grpc-status-details-bin')[0] as Buffer).retryDelayMs, 2_500);
  // the exporter reads the hint as its wait
  const exporter = new OtlpExporter(testContext('otlp'), exporterConfig.parse({ endpoint: rx.httpUrl, temporality: 'delta' }));
  t.teardown(() => exporter.shutdown());
  const refused = await t.throwsAsync(sendNow(exporter, { temporality: 'delta', flows: agentTicks(T0, 1, series)[0]! }));
  t.is((refused as { retryAfterMs?: number }).retryAfterMs, 3_000);
  release();
  t.is((await first).status, 200);
});

test('TLS and bearer auth: the exporter with the CA and the token is served; without the token 401 / UNAUTHENTICATED (permanent)', async (t) => {
  const missing = missingOpenssl();
  if (missing) return process.env.CI === 'true' ? t.fail(missing) : t.pass(`skipped: ${missing}`);
  const ca = makeTestCertificates();
  t.teardown(() => ca.remove());
  const server = { tls: { cert_file: ca.serverCertFile, key_file: ca.serverKeyFile }, auth: { bearer_token: 's3cret' } };
  const rx = await startReceiver({ protocols: { http: { endpoint: '127.0.0.1:0', ...server }, grpc: { endpoint: '127.0.0.1:0', ...server } } });
  t.teardown(() => rx.stop());
  const flows = agentTicks(T0, 1, series)[0]!;
  for (const protocol of ['http', 'grpc'] as const) {
    const endpoint = (protocol === 'http' ? rx.httpUrl : rx.grpcUrl).replace('http://', 'https://');
    const good = new OtlpExporter(testContext('otlp'), exporterConfig.parse({ endpoint, protocol, temporality: 'delta', tls: { ca_file: ca.caFile }, headers: { authorization: 'Bearer s3cret' } }));
    t.teardown(() => good.shutdown());
    await sendNow(good, { temporality: 'delta', flows });
    const noToken = new OtlpExporter(testContext('otlp'), exporterConfig.parse({ endpoint, protocol, temporality: 'delta', tls: { ca_file: ca.caFile }, headers: { authorization: 'Bearer guess' } }));
    t.teardown(() => noToken.shutdown());
    await t.throwsAsync(sendNow(noToken, { temporality: 'delta', flows }), { instanceOf: PermanentError, message: protocol === 'http' ? /HTTP 401/ : /UNAUTHENTICATED/ });
    const wrongCa = new OtlpExporter(testContext('otlp'), exporterConfig.parse({ endpoint, protocol, temporality: 'delta', tls: { ca_file: ca.otherCaFile }, headers: { authorization: 'Bearer s3cret' }, timeout: '2s' }));
    t.teardown(() => wrongCa.shutdown());
    await t.throwsAsync(sendNow(wrongCa, { temporality: 'delta', flows }, AbortSignal.timeout(3_000)));
  }
  t.is(rx.batches.length, 2);
  t.deepEqual(rx.batches.map((b) => b.flows[0]!.txBytes), [1_000_003, 1_000_003]);
  t.is(await rx.refused({ reason: 'unauthenticated' }), 2);
  // plain HTTP to the TLS port gets nowhere
  await t.throwsAsync(fetch(`${rx.httpUrl}/v1/metrics`, { method: 'POST', body: 'x', dispatcher: new Agent({ connectTimeout: 2_000 }) }));
});

test('a pipeline that fails: 503 / UNAVAILABLE with a retry hint (the sender tries again), counted; the receiver goes on', async (t) => {
  let fail = true;
  const rx = await startReceiver({ retry_after: '300ms' }, async () => {
    if (fail) throw new Error('downstream broke');
  });
  t.teardown(() => rx.stop());
  const flows = agentTicks(T0, 1, series)[0]!;
  const body = encodeMetricsRequest({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'network.flow.connections', sum: { aggregationTemporality: 1, isMonotonic: true, dataPoints: [{ asInt: '1', timeUnixNano: '5' }] } }] }] }] });
  const res = await post(rx.httpUrl, body, { 'content-type': 'application/x-protobuf' });
  t.is(res.status, 503);
  t.is(res.headers.get('retry-after'), '1');
  t.regex((await status(res)).message, /the pipeline failed: downstream broke/);
  const err = await grpcExport(rx.grpcUrl.replace('http://', ''), body);
  t.is(err?.code, grpc.status.UNAVAILABLE);
  t.is(await rx.refused({ reason: 'pipeline_error' }), 2);
  // The exporter retries it (retryable) and it goes through once the pipeline is back.
  const exporter = new OtlpExporter(testContext('otlp'), exporterConfig.parse({ endpoint: rx.httpUrl, temporality: 'delta' }));
  t.teardown(() => exporter.shutdown());
  const refused = await t.throwsAsync(sendNow(exporter, { temporality: 'delta', flows }));
  t.is(refused?.name, 'RetryableError');
  fail = false;
  await sendNow(exporter, { temporality: 'delta', flows });
  t.is(rx.batches.length, 1);
});
