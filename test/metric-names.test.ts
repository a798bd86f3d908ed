// Every counter podflow exposes ends in `_total` and no gauge does: in its own /metrics (the
// metrics of every component type) and in the prometheus exporter's output. `promtool check
// metrics` (Debian's prometheus package) is the judge; the TYPE lines are checked by our own
// reading as well, so a promtool that reports nothing for another reason cannot pass it.
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { parseConfig } from '../src/config/load.ts';
import { FACTORIES } from '../src/components.ts';
import { Service } from '../src/pipeline/service.ts';
import { RENAMED_GAUGES } from '../src/telemetry/self-metrics.ts';
import { freePort } from './harness/ports.ts';
import { requirePrivileges } from './harness/privileges.ts';
import { systemTool } from './harness/system-tools.ts';
import { TEST_FACTORIES } from './harness/test-components.ts';
import { until } from './harness/wait.ts';

const PROMTOOL = 'promtool';

/** promtool's verdict on an exposition: its exit code and the problems it printed. */
function promtoolCheck(exposition: string): Promise<{ code: number; problems: string[] }> {
  return new Promise((resolve, reject) => {
    const child = execFile(systemTool(PROMTOOL), ['check', 'metrics'], (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      if (code === -1) return reject(err);
      resolve({ code, problems: `${stdout}${stderr}`.split('\n').filter(Boolean) });
    });
    child.stdin!.end(exposition);
  });
}

/** `name → type` of every `# TYPE` line. */
function metricTypes(exposition: string): Map<string, string> {
  return new Map([...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
}

/** The families named against their type (our own reading of the rule promtool applies). */
function misnamed(types: Map<string, string>): string[] {
  return [...types]
    .filter(([name, type]) => (type === 'counter') !== name.endsWith('_total'))
    .map(([name, type]) => `${name} (${type})`);
}

async function assertWellNamed(t: ExecutionContext, what: string, exposition: string): Promise<Map<string, string>> {
  const types = metricTypes(exposition);
  t.deepEqual(misnamed(types), [], `${what}: counters end in _total, gauges do not`);
  t.deepEqual(await promtoolCheck(exposition), { code: 0, problems: [] }, `${what}: promtool check metrics`);
  return types;
}

test('promtool reports a gauge named like a counter and a counter without _total (the check can fail)', async (t) => {
  if (!requirePrivileges(t, [PROMTOOL])) return;
  const bad = '# HELP a_total x\n# TYPE a_total gauge\na_total 1\n# HELP b x\n# TYPE b counter\nb 1\n';
  const { code, problems } = await promtoolCheck(bad);
  t.is(code, 3);
  t.deepEqual(problems.map((p) => p.split(' ')[0]).sort(), ['a_total', 'b']);
  t.deepEqual(misnamed(metricTypes(bad)), ['a_total (gauge)', 'b (counter)']);
});

test("podflow's /metrics with every component type: counters end in _total, no gauge does", async (t) => {
  if (!requirePrivileges(t, [PROMTOOL])) return;
  const dir = await mkdtemp(join(tmpdir(), 'podflow-metric-names-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // Built, not started: every component registers its metrics when it is made.
  const config = parseConfig(`
receivers:
  conntrack: {}
  packet: {interface: lo}
  cilium: {}
  otlp: {protocols: {http: {endpoint: "127.0.0.1:0"}}}
processors:
  filter: {exclude: [{key: destination.port, value: 53}]}
  k8sattributes: {auth_type: none}
  dnsnames: {interface: lo}
  netcost: {provider: aws, region: us-east-1}
  reduce: {temporality: delta}
exporters:
  otlp: {endpoint: "http://127.0.0.1:1"}
  loadbalancing: {protocol: {otlp: {}}, resolver: {static: {hostnames: ["127.0.0.1:1"]}}}
  prometheus: {endpoint: "127.0.0.1:0"}
  prometheus_remote_write: {endpoint: "http://127.0.0.1:1/api/v1/write"}
  debug: {}
  file: {path: ${join(dir, 'flows.jsonl')}}
  postgres: {endpoint: "postgres://podflow@127.0.0.1:1/podflow"}
  servicemap: {endpoint: "127.0.0.1:0"}
service:
  telemetry: {metrics: {address: ""}}
  pipelines:
    flows:
      receivers: [conntrack, packet, cilium, otlp]
      processors: [filter, k8sattributes, dnsnames, netcost, reduce]
      exporters: [otlp, loadbalancing, prometheus, prometheus_remote_write, debug, file, postgres, servicemap]
`, FACTORIES);
  const configured = new Set([...config.receivers.keys(), ...config.processors.keys(), ...config.exporters.keys()]);
  t.deepEqual(FACTORIES.map((f) => f.type).filter((type) => !configured.has(type)), [], 'every component type is in the pipeline');
  const svc = new Service(config, pino({ level: 'silent' }));
  await svc.build();
  const types = await assertWellNamed(t, '/metrics', await svc.metrics.registry.metrics());
  // One family of each kind of component, as a sign that their metrics are in what was checked.
  for (const [name, type] of [
    ['podflow_conntrack_tick_errors_total', 'counter'],
    ['podflow_dnsnames_responses_total', 'counter'],
    ['podflow_dnsnames_cache_entries', 'gauge'],
    ['podflow_processor_reduce_groups', 'gauge'],
    ['podflow_exporter_prometheus_series', 'gauge'],
    ['podflow_postgres_dropped_rows_total', 'counter'],
  ]) t.is(types.get(name!), type, name);
  // prom-client's gauges named like counters are served under a gauge's name.
  for (const { oldName, name } of RENAMED_GAUGES) {
    t.false(types.has(oldName), oldName);
    t.is(types.get(name), 'gauge', name);
  }
});

test("the running program: its /metrics and the prometheus exporter's output pass promtool", async (t) => {
  if (!requirePrivileges(t, [PROMTOOL])) return;
  const telemetry = `127.0.0.1:${await freePort()}`;
  const exporter = `127.0.0.1:${await freePort()}`;
  const svc = new Service(parseConfig(`
receivers:
  sequence: {interval: 20ms, flows_per_batch: 3}
processors:
  reduce: {interval: 100ms, group_by: [source.address]}
exporters:
  prometheus: {endpoint: "${exporter}"}
service:
  telemetry: {metrics: {address: "${telemetry}"}}
  pipelines:
    flows: {receivers: [sequence], processors: [reduce], exporters: [prometheus]}
`, [...FACTORIES, ...TEST_FACTORIES]), pino({ level: 'silent' }));
  await svc.start();
  t.teardown(() => svc.shutdown());
  const scrape = async (address: string) => (await fetch(`http://${address}/metrics`)).text();
  let flows = '';
  await until(async () => (flows = await scrape(exporter)).includes('network_flow_io_bytes_total{'), 10_000, 'flows in the exporter');
  const exported = await assertWellNamed(t, 'prometheus exporter', flows);
  t.deepEqual([...exported.values()].sort(), ['counter', 'counter']);
  const own = await assertWellNamed(t, 'telemetry /metrics', await scrape(telemetry));
  t.is(own.get('podflow_exporter_sent_flows_total'), 'counter');
  t.is(own.get('podflow_nodejs_active_handles_all'), 'gauge');
});
