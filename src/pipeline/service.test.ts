import test from 'ava';
import pino from 'pino';
import { parseConfig } from '../config/load.ts';
import { capturingContext } from '../../test/harness/context.ts';
import { freePort } from '../../test/harness/ports.ts';
import { lifecycle, recorded, TEST_FACTORIES } from '../../test/harness/test-components.ts';
import { Service } from './service.ts';

const silent = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function service(yaml: string): Service {
  return new Service(parseConfig(yaml, TEST_FACTORIES), silent);
}

async function metric(svc: Service, name: string, labels: Record<string, string>): Promise<number> {
  const m = await svc.metrics.registry.getSingleMetric(name)!.get();
  const v = m.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

test.serial('start order: exporters, processors (last first), receivers; shutdown the reverse', async (t) => {
  lifecycle.length = 0;
  const address = `127.0.0.1:${await freePort()}`;
  const svc = service(`
receivers:
  sequence: {interval: 1h}
processors:
  tag/a: {}
  tag/b: {}
exporters:
  recording/out: {}
service:
  telemetry: {metrics: {address: "${address}"}}
  pipelines:
    flows: {receivers: [sequence], processors: [tag/a, tag/b], exporters: [recording/out]}
`);
  await svc.start();
  t.is((await fetch(`http://${address}/readyz`)).status, 200, 'ready once started');
  await svc.shutdown();
  t.deepEqual(lifecycle, [
    'start:recording/out', 'start:tag/b', 'start:tag/a', 'start:sequence',
    'shutdown:sequence', 'shutdown:tag/a', 'shutdown:tag/b', 'shutdown:recording/out',
  ]);
  // The receiver's final batch went through both processors and was drained before shutdown.
  const flows = recorded.get('recording/out')!.flatMap((b) => b.flows);
  t.is(flows.length, 2);
  t.true(flows.every((f) => f.attributes['test.final'] === true && f.attributes['test.tag'] === 'x'));
});

test.serial('a throwing and a hanging exporter are counted as failed; their neighbour gets every flow', async (t) => {
  const svc = service(`
receivers:
  sequence: {interval: 20ms, flows_per_batch: 3}
exporters:
  recording/good: {}
  recording/throws: {behaviour: throw}
  recording/hangs: {behaviour: hang, timeout: 50ms}
service:
  telemetry: {metrics: {address: "127.0.0.1:0"}}
  pipelines:
    flows: {receivers: [sequence], exporters: [recording/throws, recording/hangs, recording/good]}
`);
  await svc.start();
  await sleep(300);
  await svc.shutdown();
  const accepted = await metric(svc, 'podflow_receiver_accepted_flows_total', { receiver: 'sequence' });
  const good = recorded.get('recording/good')!.reduce((n, b) => n + b.flows.length, 0);
  t.true(accepted >= 9, `accepted ${accepted}`);
  t.is(good, accepted);
  t.is(await metric(svc, 'podflow_exporter_sent_flows_total', { exporter: 'recording/good' }), accepted);
  t.is(await metric(svc, 'podflow_exporter_send_failed_flows_total', { exporter: 'recording/throws' }), accepted);
  t.is(await metric(svc, 'podflow_exporter_send_failed_flows_total', { exporter: 'recording/good' }), 0);
  // Hanging: every batch either timed out or was cut at the shutdown deadline, none was "sent".
  t.is(await metric(svc, 'podflow_exporter_sent_flows_total', { exporter: 'recording/hangs' }), 0);
  t.true((await metric(svc, 'podflow_exporter_send_failed_flows_total', { exporter: 'recording/hangs' })) >= 3);
});

test.serial('a receiver shared by two pipelines feeds both, each with its own copy', async (t) => {
  const svc = service(`
receivers:
  sequence: {interval: 1h}
processors:
  tag: {value: changed}
exporters:
  recording/plain: {}
  recording/tagged: {}
service:
  telemetry: {metrics: {address: ""}}
  pipelines:
    flows/plain: {receivers: [sequence], exporters: [recording/plain]}
    flows/tagged: {receivers: [sequence], processors: [tag], exporters: [recording/tagged]}
`);
  await svc.start();
  await svc.shutdown();
  const plain = recorded.get('recording/plain')!.flatMap((b) => b.flows);
  const tagged = recorded.get('recording/tagged')!.flatMap((b) => b.flows);
  t.is(plain.length, 2);
  t.is(tagged.length, 2);
  t.true(plain.every((f) => f.attributes['test.tag'] === undefined));
  t.true(tagged.every((f) => f.attributes['test.tag'] === 'changed'));
});

test.serial('/metrics, /healthz and /readyz are served', async (t) => {
  const address = `127.0.0.1:${await freePort()}`;
  const svc = service(`
receivers:
  sequence: {interval: 10ms}
exporters:
  recording: {}
service:
  telemetry: {metrics: {address: "${address}"}}
  pipelines:
    flows: {receivers: [sequence], exporters: [recording]}
`);
  await svc.start();
  await sleep(60);
  const base = `http://${address}`;
  t.is((await fetch(`${base}/healthz`)).status, 200);
  t.is((await fetch(`${base}/readyz`)).status, 200);
  const text = await (await fetch(`${base}/metrics`)).text();
  for (const name of [
    'podflow_receiver_accepted_flows_total{receiver="sequence"}',
    'podflow_exporter_sent_flows_total{exporter="recording"}',
    'podflow_exporter_queue_capacity{exporter="recording"} 1000',
    'podflow_process_cpu_seconds_total',
    'podflow_process_resident_memory_bytes',
    'podflow_process_uptime_seconds',
  ]) t.true(text.includes(name), name);
  await svc.shutdown();
  await t.throwsAsync(fetch(`${base}/healthz`));
});

test.serial('a component that fails to start stops what started and names itself', async (t) => {
  const address = `127.0.0.1:${await freePort()}`;
  const svc = service(`
receivers:
  sequence: {}
exporters:
  recording/fails: {behaviour: fail_start}
service:
  telemetry: {metrics: {address: "${address}"}}
  pipelines:
    flows: {receivers: [sequence], exporters: [recording/fails]}
`);
  await t.throwsAsync(svc.start(), { message: /^recording\/fails: failed to start/ });
  await t.throwsAsync(fetch(`http://${address}/readyz`), undefined, 'not ready: the telemetry server is closed again');
});

test.serial('the start line sums up pipelines, endpoints and outputs, without credentials', async (t) => {
  const port = await freePort();
  const { logger, logs } = capturingContext('service');
  const svc = new Service(parseConfig(`
receivers:
  sequence: {interval: 1h}
processors:
  tag: {}
exporters:
  recording/db: {writes_to: ["postgres://podflow:s3cret@db:5432/flows?sslmode=require&password=s3cret"]}
  recording/file: {writes_to: [/var/log/podflow/flows.jsonl]}
service:
  telemetry: {metrics: {address: "127.0.0.1:${port}"}}
  pipelines:
    flows: {receivers: [sequence], processors: [tag], exporters: [recording/db, recording/file]}
    copy: {receivers: [sequence], exporters: [recording/file]}
`, TEST_FACTORIES), logger);
  await svc.start();
  await svc.shutdown();
  const started = logs.filter((l) => l.msg.startsWith('podflow started'));
  t.is(started.length, 1);
  t.is(
    started[0]!.msg,
    `podflow started: pipelines flows: sequence → tag → recording/db, recording/file; copy: sequence → recording/file; ` +
      `telemetry listens on 127.0.0.1:${port} (/metrics /healthz /readyz); ` +
      'recording/db writes to postgres://[REDACTED]@db:5432/flows?sslmode=require&password=[REDACTED]; ' +
      'recording/file writes to /var/log/podflow/flows.jsonl',
  );
  t.deepEqual(started[0]!.writesTo, {
    'recording/db': ['postgres://[REDACTED]@db:5432/flows?sslmode=require&password=[REDACTED]'],
    'recording/file': ['/var/log/podflow/flows.jsonl'],
  });
  t.deepEqual((started[0]!.pipelines as Record<string, unknown>).copy, { receivers: ['sequence'], processors: [], exporters: ['recording/file'] });
  t.false(JSON.stringify(logs).includes('s3cret'), 'no log line carries the password');
});

test.serial('/readyz is 503 while a started component reports a failure, and names it', async (t) => {
  const address = `127.0.0.1:${await freePort()}`;
  const svc = service(`
receivers:
  sequence: {interval: 1h}
exporters:
  recording/ok: {}
  recording/sick: {unhealthy: "the disk is full"}
service:
  telemetry: {metrics: {address: "${address}"}}
  pipelines:
    flows: {receivers: [sequence], exporters: [recording/ok, recording/sick]}
`);
  await svc.start();
  const res = await fetch(`http://${address}/readyz`);
  t.is(res.status, 503);
  t.is(await res.text(), 'recording/sick: the disk is full\n');
  t.is((await fetch(`http://${address}/healthz`)).status, 200, 'alive all the same');
  await svc.shutdown();
});
