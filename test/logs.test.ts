// The program's logs on stderr, as a person or a log pipeline gets them:
// `service.telemetry.logs.encoding` console | json; without it, console on a terminal and JSON
// lines otherwise (docs/operations.md says why). A JSON record never carries a key twice (a
// component's `kind` once collided with the field a watcher logged).
import test, { type ExecutionContext } from 'ava';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeApiServer } from './harness/fake-apiserver.ts';
import { agentPipelineConfig } from './harness/k8sattributes.ts';
import { skipOrFail } from './harness/privileges.ts';
import { missingTool, systemTool } from './harness/system-tools.ts';
import { until } from './harness/wait.ts';

const FIXTURE = new URL('harness/podflow-with-test-components.ts', import.meta.url).pathname;
const ANSI = /\u001b\[[0-9;]*m/;
/** pino-pretty's line: `[2026-12-04 07:41:20.721 +0000] INFO: message`. */
const CONSOLE_LINE = /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d{4}\] (\u001b\[\d+m)?(TRACE|DEBUG|INFO|WARN|ERROR|FATAL)(\u001b\[\d+m)?: /;

/**
 * The keys of a JSON object's top level, in order, duplicates kept (JSON.parse keeps only the
 * last of two equal keys, so it cannot see them).
 */
function topLevelKeys(json: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i]!;
    if (c === '"') {
      let end = i + 1;
      while (json[end] !== '"') end += json[end] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) keys.push(JSON.parse(json.slice(i, end + 1)) as string);
      expectKey = false;
      i = end;
    } else if (c === '{' || c === '[') {
      depth++;
      expectKey = c === '{' && depth === 1;
    } else if (c === '}' || c === ']') {
      depth--;
    } else if (c === ',' && depth === 1) {
      expectKey = true;
    }
  }
  return keys;
}

test('topLevelKeys sees a key written twice, and only top-level keys', (t) => {
  t.deepEqual(topLevelKeys('{"kind":"processor","a":{"kind":1,"b":[{"kind":2}]},"s":"x\\",\\"kind\\":","kind":"pods"}'), ['kind', 'a', 's', 'kind']);
});

async function configFile(t: ExecutionContext, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'podflow-logs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'config.yaml'), text);
  return join(dir, 'config.yaml');
}

const pipeline = (logs: string, exporter = '{}') => `
receivers:
  sequence: {interval: 1h}
exporters:
  recording: ${exporter}
service:
  telemetry: {metrics: {address: "127.0.0.1:0"}${logs}}
  pipelines:
    flows: {receivers: [sequence], exporters: [recording]}
`;

/** Runs the program until `ready` holds for its stderr, then SIGTERM; resolves with all of stderr. */
async function stderrOf(config: string, ready: (stderr: string) => boolean): Promise<string> {
  const child = spawn(process.execPath, [FIXTURE, 'run', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  try {
    // Generous: a loaded machine takes many seconds to start a Node program.
    await until(async () => ready(err), 60_000, 'the expected log lines');
  } catch (e) {
    throw new Error(`${(e as Error).message}; stderr so far:\n${err}`);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  return err;
}

test('not a terminal, no encoding set: JSON lines; no record has a key twice, also with component fields', async (t) => {
  // k8sattributes refused by RBAC: its watcher logs the resource beside the component's own `kind`.
  const server = await FakeApiServer.start({});
  t.teardown(() => server.close());
  server.forbid('pods', 'list');
  const config = await configFile(t, agentPipelineConfig(server.writeKubeconfig(), '127.0.0.1:0', '100ms'));
  const stderr = await stderrOf(config, (s) => s.includes('podflow started') && s.includes('list/watch failed'));
  const lines = stderr.split('\n').filter(Boolean);
  t.true(lines.length >= 4);
  for (const line of lines) {
    const keys = topLevelKeys(line);
    t.deepEqual(keys.filter((k, i) => keys.indexOf(k) !== i), [], `no key twice: ${line}`);
  }
  const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const watcher = records.find((r) => String(r.msg).includes('pods list/watch failed'));
  t.like(watcher, { level: 40, kind: 'processor', component: 'k8sattributes/agent', resource: 'pods' });
  const refused = records.find((r) => r.level === 50 && String(r.msg).includes('403 Forbidden'));
  t.like(refused, { kind: 'processor', component: 'k8sattributes/agent', cause: 'forbidden' });
  t.true(records.some((r) => String(r.msg).startsWith('podflow started: pipeline flows: sequence → k8sattributes/agent → recording')));
});

test('encoding: console: one readable line per event, no colours off a terminal', async (t) => {
  const config = await configFile(t, pipeline(', logs: {encoding: console}'));
  const stderr = await stderrOf(config, (s) => s.includes('podflow started'));
  const started = stderr.split('\n').find((l) => l.includes('podflow started'))!;
  t.regex(started, CONSOLE_LINE);
  // The message says it all; the fields behind it are for JSON readers.
  t.regex(started, /INFO: podflow started: pipeline flows: sequence → recording; telemetry listens on 127\.0\.0\.1:\d+ \(\/metrics \/healthz \/readyz\)$/);
  t.notRegex(stderr, ANSI);
  t.false(stderr.split('\n').some((l) => l.startsWith('{')), 'no JSON line');
});

/** Runs the program under a pseudo-terminal (util-linux `script`); its config fails to start, so it exits by itself. */
function underTerminal(config: string): Promise<string> {
  const command = [process.execPath, FIXTURE, 'run', '--config', config].map((a) => `'${a}'`).join(' ');
  return new Promise((resolve) => {
    execFile(systemTool('script'), ['-qefc', command, '/dev/null'], { timeout: 60_000 }, (_err, stdout) => resolve(stdout));
  });
}

test('on a terminal: console (coloured) by default, JSON when the config says json', async (t) => {
  const missing = missingTool('script');
  if (missing) return skipOrFail(t, missing);
  const byDefault = await underTerminal(await configFile(t, pipeline('', '{behaviour: fail_start}')));
  const fatal = byDefault.split(/\r?\n/).find((l) => l.includes('podflow could not start'));
  t.truthy(fatal, byDefault);
  t.regex(fatal!, CONSOLE_LINE);
  t.regex(fatal!, ANSI, 'coloured on a terminal');

  const json = await underTerminal(await configFile(t, pipeline(', logs: {encoding: json}', '{behaviour: fail_start}')));
  const record = json.split(/\r?\n/).filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r.msg === 'podflow could not start');
  t.like(record, { level: 60, err: 'recording: failed to start: test exporter fails to start on purpose' });
});
