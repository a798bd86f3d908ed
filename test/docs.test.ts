// The configs a user meets first must work as shipped: every podflow config in the repository's
// docs (test/harness/docs-configs.ts says which YAML that is and what is added to partial
// blocks) passes `bin/podflow validate` without a warning, and `bin/podflow run` starts it and
// shuts it down cleanly.
//
// To run, each config is pointed at this machine (nothing else in it changes):
//   - every exporter and receiver `endpoint`, by what it holds: a postgres URL → a database of a test
//     PostgreSQL (with TLS: its CA file → the test CA that signed the server's certificate); an
//     http(s) URL (otlp, prometheus_remote_write) → a local HTTP server that accepts every
//     request (the path stays); host:port (a listener: prometheus, the otlp receiver's protocols)
//     → 127.0.0.1:0 (with TLS: its certificate and key → the test server's), also when an
//     exporter's block leaves a listener's endpoint to its default;
//   - service.telemetry.metrics.address → 127.0.0.1:0; file: path → a temp file;
//   - conntrack, packet, dnsnames: `netns` → a fresh network namespace (so the host's tables
//     and interfaces are not touched); an interface they name is created there (a veth);
//   - cilium: `bpffs` → a bpffs mounted for the test, holding its CT maps (Cilium's layouts);
//   - k8sattributes: KUBECONFIG → a test API server; `auth_type: serviceAccount` becomes
//     `kubeConfig`, the one substitution (a test process has no service account mounted).
import test, { type ExecutionContext } from 'ava';
import { execFile, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { FACTORIES } from '../src/components.ts';
import { DEFAULT_MAPS } from '../src/receivers/cilium/config.ts';
import { CtFixture } from '../src/receivers/cilium/testdata/ctmap-fixture.ts';
import { classify, docBlocks, placeholderEnv, toYaml, type DocYaml, type Mapping } from './harness/docs-configs.ts';
import { FakeApiServer } from './harness/fake-apiserver.ts';
import { helmTemplate, parseObjects, requireK8sTools } from './harness/k8s-tools.ts';
import { Netns } from './harness/netns.ts';
import { missingPostgres, startPostgres, type PostgresServer } from './harness/postgres.ts';
import { missingPrivileges, skipOrFail } from './harness/privileges.ts';
import { makeTestCertificates, missingOpenssl, type TestCertificates } from './harness/tls.ts';
import { until } from './harness/wait.ts';

const run = promisify(execFile);
const ROOT = new URL('..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/podflow');

test('the shipped config.yaml validates', async (t) => {
  const { stdout } = await run(BIN, ['validate', '--config', join(ROOT, 'config.yaml')]);
  t.is(stdout, 'ok\n');
});

test("the README's configuration example validates", async (t) => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const block = /## Configuration\s+```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
  t.truthy(block, 'README has a yaml block under "## Configuration"');
  const dir = await mkdtemp(join(tmpdir(), 'podflow-readme-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'config.yaml'), block!);
  const { stdout } = await run(BIN, ['validate', '--config', join(dir, 'config.yaml')], {
    env: { ...process.env, NODE_NAME: 'node-a', PGPASSWORD: 'secret' },
  });
  t.is(stdout, 'ok\n');
});

const found: DocYaml[] = docBlocks().flatMap((block) => classify(block, FACTORIES));
const configs = found.filter((d): d is Extract<DocYaml, { kind: 'config' }> => d.kind === 'config');
const helmValues = found.filter((d): d is Extract<DocYaml, { kind: 'helm-values' }> => d.kind === 'helm-values');

test('the docs are searched: README, docs/, every component README, deploy/ and examples/', (t) => {
  const sources = configs.map((c) => c.source.split(':')[0]!);
  for (const file of ['README.md', 'config.yaml', 'deploy/image-config.yaml', 'examples/bookinfo/podflow/config.yaml', 'src/processors/filter/README.md', 'src/exporters/postgres/README.md', 'src/exporters/servicemap/README.md', 'src/receivers/cilium/example.yaml']) {
    t.true(sources.includes(file), file);
  }
  t.true(helmValues.some((h) => h.source.startsWith('deploy/README.md')));
  const skipped = found.filter((d) => d.kind === 'skipped');
  t.log(`${configs.length} configs, ${helmValues.length} Helm values, ${skipped.length} other YAML:\n${skipped.map((s) => `  ${s.source}: ${s.reason}`).join('\n')}`);
  // What is skipped names no podflow section beside other keys: a config with a typo would.
  for (const s of skipped) t.notRegex(s.reason, /\b(receivers|exporters|service)\b/, s.source);
});

// ---- the machine the configs run on -------------------------------------------------------

interface Machine {
  dir: string;
  postgres: PostgresServer;
  certificates: TestCertificates;
  sink: Server;
  apiserver: FakeApiServer;
  kubeconfig: string;
  netns: Netns;
  cilium: CtFixture | undefined;
}

const unavailable = missingPrivileges(['ip', 'bpftool', 'mount']) ?? missingPostgres() ?? missingOpenssl();
let machine: Machine | undefined;
let databases = 0;

test.before(async () => {
  if (unavailable) return;
  const dir = await mkdtemp(join(tmpdir(), 'podflow-docs-'));
  const certificates = makeTestCertificates();
  const postgres = await startPostgres({ settings: certificates.postgresSettings });
  const sink = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  const apiserver = await FakeApiServer.start();
  const netns = await Netns.create(`docs${process.pid}`);
  machine = { dir, postgres, certificates, sink, apiserver, kubeconfig: apiserver.writeKubeconfig(), netns, cilium: undefined };
});

test.after.always(async () => {
  if (!machine) return;
  await machine.postgres.stop();
  machine.certificates.remove();
  machine.sink.close();
  await machine.apiserver.close();
  await machine.netns.destroy();
  await machine.cilium?.destroy();
  await rm(machine.dir, { recursive: true, force: true });
});

const typeOf = (id: string) => id.split('/')[0]!;

/** The config pointed at this machine (the rules at the top of this file). */
async function localize(config: Mapping, m: Machine): Promise<Mapping> {
  const local = structuredClone(config) as Record<string, Record<string, Mapping | null>> & { service: Mapping };
  const exporters = (local.exporters ??= {});
  for (const [id, body] of Object.entries(exporters)) {
    const b = (exporters[id] = body ?? {});
    // Listeners whose address the block leaves to the default still get a free port.
    const listens = FACTORIES.find((f) => f.kind === 'exporter' && f.type === typeOf(id))?.listenEndpoints;
    if (listens && b.endpoint === undefined) b.endpoint = '127.0.0.1:0';
    if (typeOf(id) === 'file') b.path = join(m.dir, `${id.replace('/', '-')}.jsonl`);
    await localizeEndpoints(b, m);
  }
  const receivers = (local.receivers ??= {});
  for (const [id, body] of Object.entries(receivers)) {
    const b = (receivers[id] = body ?? {});
    const type = typeOf(id);
    if (type === 'conntrack' || type === 'packet') b.netns = m.netns.path;
    if (type === 'packet' && b.interface) await ensureInterface(m.netns, String(b.interface));
    if (type === 'otlp') {
      // Both protocols when none is named (the receiver's default); each on a free port.
      const protocols = ((b.protocols as Mapping | undefined) ??= { grpc: {}, http: {} });
      for (const [name, p] of Object.entries(protocols)) protocols[name] = { ...((p as Mapping | null) ?? {}), endpoint: '127.0.0.1:0' };
    }
    if (type === 'cilium') {
      m.cilium ??= await CtFixture.create();
      for (const map of (b.maps as string[] | undefined) ?? DEFAULT_MAPS) await m.cilium.createMap(map).catch(() => undefined); // already there
      b.bpffs = m.cilium.root;
    }
    await localizeEndpoints(b, m);
  }
  const processors = (local.processors ??= {});
  for (const [id, body] of Object.entries(processors)) {
    const b = (processors[id] = body ?? {});
    const type = typeOf(id);
    if (type === 'dnsnames') {
      b.netns = m.netns.path;
      if (b.interface && b.interface !== 'any') await ensureInterface(m.netns, String(b.interface));
    }
    if (type === 'k8sattributes' && b.auth_type === 'serviceAccount') b.auth_type = 'kubeConfig';
  }
  const telemetry = ((local.service.telemetry ??= {}) as Mapping);
  telemetry.metrics = { ...((telemetry.metrics as Mapping | undefined) ?? {}), address: '127.0.0.1:0' };
  return local;
}

/**
 * Every `endpoint` in a component's body, by what it holds (so nested ones, such as a source's
 * database, are found too): a postgres URL → a fresh database of the test server (a `tls.ca_file`
 * beside it → the test CA), an http(s) URL → the local sink (path kept), host:port → 127.0.0.1:0
 * (a server certificate and key beside it → the test server's).
 */
async function localizeEndpoints(body: Mapping, m: Machine): Promise<void> {
  for (const [key, value] of Object.entries(body)) {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) await localizeEndpoints(value as Mapping, m);
    if (key !== 'endpoint' || typeof value !== 'string') continue;
    if (/^postgres(ql)?:\/\//.test(value)) {
      const database = `docs${databases++}`;
      await m.postgres.createDatabase(database);
      body.endpoint = m.postgres.url(database);
      const tls = body.tls as Mapping | undefined;
      if (tls?.ca_file) tls.ca_file = m.certificates.caFile;
    } else if (/^https?:\/\//.test(value)) {
      const path = new URL(value).pathname;
      body.endpoint = `http://127.0.0.1:${(m.sink.address() as AddressInfo).port}${path === '/' ? '' : path}`;
    } else if (/:\d+$/.test(value)) {
      body.endpoint = '127.0.0.1:0';
      const tls = body.tls as Mapping | undefined;
      if (tls?.cert_file) tls.cert_file = m.certificates.serverCertFile;
      if (tls?.key_file) tls.key_file = m.certificates.serverKeyFile;
    }
  }
}

async function ensureInterface(ns: Netns, name: string): Promise<void> {
  const exists = await ns.exec('ip', ['link', 'show', name]).then(() => true, () => false);
  if (exists) return;
  // A veth pair (the kernel here may lack the dummy driver); its peer stays down.
  await ns.exec('ip', ['link', 'add', name, 'type', 'veth', 'peer', 'name', `${name.slice(0, 11)}peer`]);
  await ns.exec('ip', ['link', 'set', name, 'up']);
}

interface Outcome {
  code: number | null;
  stderr: string;
}

/** bin/podflow run until it says it started (or exits), then SIGTERM. */
async function runUntilStarted(file: string, env: NodeJS.ProcessEnv): Promise<Outcome> {
  const child = spawn(BIN, ['run', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  let done = false;
  void exited.then(() => (done = true));
  try {
    await until(async () => done || stderr.includes('"msg":"podflow started'), 60_000, `podflow to start with ${file}`, 50);
  } finally {
    child.kill('SIGTERM');
  }
  return { code: await exited, stderr };
}

async function validateAndRun(t: ExecutionContext, name: string, config: Mapping): Promise<void> {
  const text = toYaml(config);
  const dir = await mkdtemp(join(tmpdir(), 'podflow-doc-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, text);
  const env = { ...process.env, ...placeholderEnv(text) };
  const validated = await run(BIN, ['validate', '--config', file], { env }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
  t.deepEqual({ code: validated.code, stdout: validated.stdout, stderr: validated.stderr }, { code: 0, stdout: 'ok\n', stderr: '' }, `validate:\n${text}`);
  if (validated.code !== 0) return;

  if (!machine) return void skipOrFail(t, `validated; running it ${unavailable ?? 'needs the test machine'}`);
  const local = join(dir, `${name}.local.yaml`);
  await writeFile(local, toYaml(await localize(config, machine)));
  const outcome = await runUntilStarted(local, { ...env, KUBECONFIG: machine.kubeconfig });
  const lines = outcome.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string });
  t.true(lines.some((l) => l.msg.startsWith('podflow started')), `did not start:\n${outcome.stderr}`);
  t.is(outcome.code, 0, outcome.stderr);
  t.true(lines.some((l) => l.msg === 'podflow stopped'), outcome.stderr);
  t.deepEqual(lines.filter((l) => l.level >= 50), [], 'no error logged');
}

for (const c of configs) {
  test.serial(`${c.source}: validates and runs${c.completed.length > 0 ? ` (added: ${c.completed.join('; ')})` : ''}`, async (t) => {
    await validateAndRun(t, c.source.replace(/\W+/g, '_'), c.config);
  });
}

for (const h of helmValues) {
  test.serial(`${h.source}: Helm values; the chart's config validates and runs`, async (t) => {
    if (!requireK8sTools(t)) return;
    const dir = await mkdtemp(join(tmpdir(), 'podflow-doc-values-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'values.yaml'), toYaml(h.values));
    const objects = parseObjects(await helmTemplate(['-f', join(dir, 'values.yaml')]));
    const configMap = objects.find((o) => o.kind === 'ConfigMap') as { data?: Record<string, string> } | undefined;
    const text = Object.values(configMap?.data ?? {})[0];
    t.truthy(text, 'the chart renders a config');
    await validateAndRun(t, h.source.replace(/\W+/g, '_'), parseYaml(text!) as Mapping);
  });
}
