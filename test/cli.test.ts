// The podflow process: SIGTERM flushes the last batch, SIGHUP reloads (or keeps the old
// pipelines when the new file is invalid), `components` lists types.
import test from 'ava';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadedModules, moduleTraceEnv, packagesOf } from './harness/module-trace.ts';
import { until } from './harness/wait.ts';

const FIXTURE = new URL('harness/podflow-with-test-components.ts', import.meta.url).pathname;
const BIN = new URL('../bin/podflow', import.meta.url).pathname;

interface Line {
  start_time_unix_nano: string;
  time_unix_nano: string;
  attributes: Record<string, unknown>;
  tx_bytes: number;
  rx_bytes: number;
  tx_packets: number;
  rx_packets: number;
  connections: number;
}

async function lines(file: string): Promise<Line[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
}

/** Waits up to 10 s for what a podflow process does. */
const eventually = (what: string, check: () => Promise<boolean>) => until(check, 10_000, what, 25);

function start(config: string): { child: ChildProcess; exited: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, [FIXTURE, 'run', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, stderr: () => err };
}

const config = (out: string, interval = '50ms') => `
receivers:
  sequence: {interval: ${interval}, flows_per_batch: 2}
exporters:
  file: {path: ${out}}
service:
  telemetry: {metrics: {address: "127.0.0.1:0"}, logs: {level: info}}
  pipelines:
    flows: {receivers: [sequence], exporters: [file]}
`;

test('SIGTERM: graceful shutdown, the last batch reaches the file exporter', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'podflow-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const out = join(dir, 'flows.jsonl');
  await writeFile(join(dir, 'c.yaml'), config(out, '1h'));
  const p = start(join(dir, 'c.yaml'));
  t.teardown(() => p.child.kill('SIGKILL'));
  await eventually('start', async () => p.stderr().includes('podflow started'));
  t.deepEqual(await lines(out), []);
  p.child.kill('SIGTERM');
  t.is(await p.exited, 0);
  const written = await lines(out);
  t.is(written.length, 2);
  for (const l of written) {
    t.true(l.attributes['test.final']);
    t.deepEqual(Object.keys(l), ['start_time_unix_nano', 'time_unix_nano', 'attributes', 'tx_bytes', 'rx_bytes', 'tx_packets', 'rx_packets', 'connections']);
    t.regex(l.time_unix_nano, /^\d{19}$/);
    t.is(l.rx_bytes - l.tx_bytes, 100);
  }
  t.regex(p.stderr(), /"msg":"podflow stopped"/);
});

test('SIGHUP: a valid file swaps pipelines, an invalid one keeps the old', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'podflow-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const first = join(dir, 'first.jsonl');
  const second = join(dir, 'second.jsonl');
  const file = join(dir, 'c.yaml');
  await writeFile(file, config(first));
  const p = start(file);
  t.teardown(() => p.child.kill('SIGKILL'));
  await eventually('flows in the first file', async () => (await lines(first)).length >= 4);

  await writeFile(file, config(second));
  p.child.kill('SIGHUP');
  await eventually('reload', async () => p.stderr().includes('reload done'));
  const firstAfterReload = (await lines(first)).length;
  await eventually('flows in the second file', async () => (await lines(second)).length >= 4);
  t.is((await lines(first)).length, firstAfterReload, 'the old pipeline stopped writing');

  await writeFile(file, config(second).replace('flows_per_batch: 2', 'flows_per_batch: -1'));
  p.child.kill('SIGHUP');
  await eventually('rejected reload', async () => p.stderr().includes('reload rejected'));
  t.regex(p.stderr(), /receivers\.sequence\.flows_per_batch/);
  const before = (await lines(second)).length;
  await eventually('the old pipeline keeps running', async () => (await lines(second)).length >= before + 4);

  p.child.kill('SIGTERM');
  t.is(await p.exited, 0);
});

test('components lists the registered types; an unknown command exits 2', async (t) => {
  const run = promisify(execFile);
  const { stdout } = await run(BIN, ['components']);
  t.regex(stdout, /exporters:\n(.|\n)*\s+file\s+Appends one JSON object/);
  t.regex(stdout, /\s+debug\s+Prints/);
  const err = await t.throwsAsync(run(BIN, ['frobnicate']));
  t.is((err as unknown as { code: number }).code, 2);
});

/** Runs a command to its end: exit code and output. */
async function runToEnd(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  const exec = promisify(execFile);
  const [command, commandArgs] = file.endsWith('.ts') ? [process.execPath, [file, ...args]] : [file, args];
  try {
    const { stdout, stderr } = await exec(command, commandArgs, { env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

test('--version, -v and version print the version; help, --help and -h the usage; no command is a usage error', async (t) => {
  for (const args of [['--version'], ['-v'], ['version'], ['validate', '--version']]) {
    t.deepEqual(await runToEnd(BIN, args), { code: 0, stdout: `podflow ${PACKAGE_VERSION}\n`, stderr: '' }, args.join(' '));
  }
  for (const args of [['help'], ['--help'], ['-h'], ['run', '--help']]) {
    const r = await runToEnd(BIN, args);
    t.is(r.code, 0, args.join(' '));
    t.regex(r.stdout, /^usage: podflow <command>/);
    t.regex(r.stdout, /version .*--version/);
  }
  const none = await runToEnd(BIN, []);
  t.is(none.code, 2);
  const unknownOption = await runToEnd(BIN, ['--frobnicate']);
  t.is(unknownOption.code, 2);
  t.regex(unknownOption.stderr, /Unknown option '--frobnicate'/);
});

test('--version and help load nothing but the command line: not the config, not the pipeline, no package', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'podflow-trace-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const args of [['--version'], ['version'], ['help']]) {
    const trace = join(dir, `${args[0]}.txt`);
    const r = await runToEnd(BIN, args, moduleTraceEnv(trace));
    t.is(r.code, 0);
    t.deepEqual((await loadedModules(trace)).sort(), ['src/command-line.ts', 'src/main.ts'], args.join(' '));
  }
});

/** A component's factory or config schema (netcost's checks `region` against its price tables: data, no dependency). */
const isFactoryOrSchema = (module: string) => /\/(index|config)\.ts$/.test(module) || module === 'src/processors/netcost/prices.ts';

const HEAVY = ['pg', 'pg-copy-streams', '@kubernetes/client-node', '@grpc/grpc-js', 'prom-client', 'pino', 'protobufjs', 'undici'];

test('validate loads the config and the schemas, never the pipeline or a heavy package', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'podflow-trace-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  await writeFile(join(dir, 'config.yaml'), /## Configuration\s+```yaml\n([\s\S]*?)```/.exec(readme)![1]!);
  const trace = join(dir, 'trace.txt');
  const r = await runToEnd(BIN, ['validate', '--config', join(dir, 'config.yaml')], moduleTraceEnv(trace, { ...process.env, NODE_NAME: 'node-a', PGPASSWORD: 'secret' }));
  t.is(r.stdout, 'ok\n', r.stderr);
  const modules = await loadedModules(trace);
  t.true(modules.includes('src/config/load.ts'));
  t.true(modules.includes('src/exporters/postgres/config.ts'));
  t.deepEqual(modules.filter((m) => m.startsWith('src/pipeline/') || m.startsWith('src/telemetry/') || m.startsWith('src/native/')), []);
  t.deepEqual(modules.filter((m) => /^src\/(receivers|processors|exporters)\/[^/]+\//.test(m) && !isFactoryOrSchema(m) && !m.includes('/shared/')), [], 'only factories and schemas');
  const packages = packagesOf(modules);
  t.deepEqual(HEAVY.filter((p) => packages.has(p)), []);
});

test('validate of a config that uses every component type loads each factory and schema, still no pipeline or heavy package', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'podflow-trace-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'config.yaml'), `
receivers: {conntrack: {}, packet: {}, cilium: {}, otlp: {}}
processors: {filter: {}, k8sattributes: {}, dnsnames: {}, netcost: {provider: aws, region: us-east-1}, reduce: {temporality: delta}}
exporters:
  debug: {}
  loadbalancing: {protocol: {otlp: {}}, resolver: {static: {hostnames: ["127.0.0.1:1"]}}}
  file: {path: ${join(dir, 'flows.jsonl')}}
  otlp: {endpoint: "http://127.0.0.1:1"}
  prometheus: {endpoint: "127.0.0.1:0"}
  prometheus_remote_write: {endpoint: "http://127.0.0.1:1/api/v1/write"}
  postgres: {endpoint: "postgres://podflow@127.0.0.1:1/flows"}
  servicemap: {endpoint: "127.0.0.1:0", source: {postgres: {endpoint: "postgres://podflow@127.0.0.1:1/flows"}}}
service:
  pipelines:
    flows:
      receivers: [conntrack, packet, cilium, otlp]
      processors: [filter, k8sattributes, dnsnames, netcost, reduce]
      exporters: [debug, loadbalancing, file, otlp, prometheus, prometheus_remote_write, postgres, servicemap]
`);
  const trace = join(dir, 'trace.txt');
  const r = await runToEnd(BIN, ['validate', '--config', join(dir, 'config.yaml')], moduleTraceEnv(trace));
  t.is(r.stdout, 'ok\n', r.stderr);
  const modules = await loadedModules(trace);
  const components = modules.filter((m) => /^src\/(receivers|processors|exporters)\/[^/]+\//.test(m) && !m.includes('/shared/'));
  t.is(components.filter((m) => m.endsWith('/index.ts')).length, 17, 'every factory');
  t.deepEqual(components.filter((m) => !isFactoryOrSchema(m)), [], 'only factories and schemas');
  t.deepEqual(modules.filter((m) => m.startsWith('src/pipeline/') || m.startsWith('src/telemetry/') || m.startsWith('src/native/')), []);
  t.deepEqual(HEAVY.filter((p) => packagesOf(modules).has(p)), []);
});

test('run loads a heavy package only for a component the config uses', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'podflow-trace-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const withExporter = (name: string, body: string) => `
receivers:
  sequence: {interval: 1h}
exporters:
  file: {path: ${join(dir, `${name}.jsonl`)}}
  ${body}
service:
  shutdown_timeout: 500ms
  telemetry: {metrics: {address: "127.0.0.1:0"}}
  pipelines:
    flows: {receivers: [sequence], exporters: [file${body ? `, ${body.split(':')[0]}` : ''}]}
`;
  const packagesFor = async (name: string, body: string) => {
    await writeFile(join(dir, `${name}.yaml`), withExporter(name, body));
    const trace = join(dir, `${name}.txt`);
    const child = spawn(process.execPath, [FIXTURE, 'run', '--config', join(dir, `${name}.yaml`)], { stdio: ['ignore', 'ignore', 'pipe'], env: moduleTraceEnv(trace) });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    t.teardown(() => child.kill('SIGKILL'));
    await eventually(`${name} started`, async () => err.includes('podflow started'));
    child.kill('SIGTERM');
    await exited;
    return packagesOf(await loadedModules(trace));
  };
  const plain = await packagesFor('plain', '');
  t.deepEqual(['pg', '@kubernetes/client-node', '@grpc/grpc-js'].filter((p) => plain.has(p)), []);
  t.true(plain.has('prom-client'), 'the self-metrics');
  const postgres = await packagesFor('postgres', 'postgres: {endpoint: "postgres://podflow@127.0.0.1:1/flows"}');
  t.true(postgres.has('pg'));
  t.false(postgres.has('@grpc/grpc-js'));
  const otlp = await packagesFor('otlp', 'otlp: {endpoint: "http://127.0.0.1:1", protocol: grpc}');
  t.true(otlp.has('@grpc/grpc-js'));
  t.false(otlp.has('pg'));
});

/** A config file in a fresh directory, removed after the test. */
async function configFile(t: { teardown(fn: () => unknown): void }, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'podflow-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.yaml');
  await writeFile(file, text);
  return file;
}

test('validate refuses what run would: a cumulative reduce in front of postgres, with one message at one place', async (t) => {
  const file = await configFile(t, `receivers:
  conntrack: {}
processors:
  reduce: {temporality: cumulative}
exporters:
  postgres:
    endpoint: postgres://podflow@127.0.0.1:1/flows
service:
  pipelines:
    flows:
      receivers: [conntrack]
      processors: [reduce]
      exporters: [postgres]
`);
  const expected = `${file}:13:19: service.pipelines.flows.exporters[0]: postgres: stores deltas, but reduce (processors[0]) sends cumulative sums`;
  const validate = await runToEnd(BIN, ['validate', '--config', file]);
  t.is(validate.code, 1);
  t.true(validate.stderr.includes(expected), validate.stderr);
  const run = await runToEnd(BIN, ['run', '--config', file]);
  t.is(run.code, 1);
  t.true(run.stderr.includes(expected), run.stderr);
  t.false(run.stderr.includes('podflow started'));
});

test('a "%" in a URL password: validate and run refuse it alike, saying how to write it, never printing it', async (t) => {
  const file = await configFile(t, `receivers:
  conntrack: {}
exporters:
  postgres:
    endpoint: postgres://podflow:\${env:PW}@127.0.0.1:1/flows
service:
  pipelines:
    flows: {receivers: [conntrack], exporters: [postgres]}
`);
  const env = { ...process.env, PW: 'top%secret' };
  for (const command of ['validate', 'run']) {
    const r = await runToEnd(BIN, [command, '--config', file], env);
    t.is(r.code, 1, command);
    t.true(r.stderr.includes(`${file}:5:5: exporters.postgres.endpoint: the password holds a "%" that starts no percent-escape: write a literal % as %25`), r.stderr);
    t.false(`${r.stdout}${r.stderr}`.includes('top%secret'), command);
    t.false(r.stderr.includes('URIError'), command);
  }
});

test('an unused component: validate prints a warning with its line:column and exits 0; run logs it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'podflow-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'c.yaml');
  await writeFile(file, `receivers:
  sequence: {interval: 1h}
exporters:
  file: {path: ${join(dir, 'out.jsonl')}}
  debug: {}
service:
  telemetry: {metrics: {address: "127.0.0.1:0"}}
  pipelines:
    flows: {receivers: [sequence], exporters: [file]}
`);
  const validate = await runToEnd(FIXTURE, ['validate', '--config', file]);
  t.deepEqual(validate, { code: 0, stdout: 'ok\n', stderr: `warning: ${file}:5:3: exporters.debug: debug is declared but no pipeline uses it: it is not started\n` });
  const p = start(file);
  t.teardown(() => p.child.kill('SIGKILL'));
  await eventually('start', async () => p.stderr().includes('podflow started'));
  const warning = p.stderr().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.path === 'exporters.debug');
  t.like(warning, { level: 40, config: file, line: 5, column: 3, msg: 'debug is declared but no pipeline uses it: it is not started' });
  p.child.kill('SIGTERM');
  t.is(await p.exited, 0);
});

test('credentials in URLs and headers never reach the logs: they are [REDACTED]', async (t) => {
  const secrets = { OTLP_PW: 'otlp-pass%C3%A9-1234', OTLP_TOKEN: 'otlp-token-5678', RW_PW: 'rw-pass-9012' };
  const file = await configFile(t, `receivers:
  sequence: {interval: 20ms}
exporters:
  otlp:
    endpoint: http://podflow:\${env:OTLP_PW}@127.0.0.1:1
    headers: {Authorization: "Bearer \${env:OTLP_TOKEN}"}
    timeout: 200ms
    retry_on_failure: {initial_interval: 10ms, max_interval: 10ms}
  prometheus_remote_write:
    endpoint: http://writer:\${env:RW_PW}@127.0.0.1:1/api/v1/write
    timeout: 200ms
    retry_on_failure: {initial_interval: 10ms, max_interval: 10ms}
service:
  shutdown_timeout: 500ms
  telemetry: {logs: {level: debug}, metrics: {address: "127.0.0.1:0"}}
  pipelines:
    flows: {receivers: [sequence], exporters: [otlp, prometheus_remote_write]}
`);
  const child = spawn(process.execPath, [FIXTURE, 'run', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...secrets } });
  t.teardown(() => child.kill('SIGKILL'));
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  await eventually('both exporters fail and say where', async () => /POST http:\/\/\[REDACTED\]@127\.0\.0\.1:1\/v1\/metrics: /.test(err) && /POST http:\/\/\[REDACTED\]@127\.0\.0\.1:1\/api\/v1\/write: /.test(err));
  child.kill('SIGTERM');
  await exited;
  for (const [name, value] of Object.entries(secrets)) {
    t.false(err.includes(value), name);
    t.false(err.includes(decodeURIComponent(value)), name);
  }
});
