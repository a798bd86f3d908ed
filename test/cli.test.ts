// The podflow process: SIGTERM flushes the last batch, SIGHUP reloads (or keeps the old
// pipelines when the new file is invalid), `components` lists types.
import test from 'ava';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
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
