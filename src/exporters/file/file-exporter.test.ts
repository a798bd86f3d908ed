import test from 'ava';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testContext } from '../../../test/harness/context.ts';
import { sendNow } from '../../../test/harness/exporter-queue.ts';
import { numberedFlow } from '../../../test/harness/test-components.ts';
import { fileConfigSchema } from './config.ts';
import { FileExporter } from './file-exporter.ts';

test('writes one JSON line per flow with the record fields, and rotates by size', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'podflow-file-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'sub', 'flows.jsonl');
  // ~200 bytes per line: rotate every ~5 lines, keep 2 backups.
  const exporter = new FileExporter(testContext('file'), fileConfigSchema.parse({ path, rotation: { max_megabytes: 1000 / (1024 * 1024), max_backups: 2 } }));
  await exporter.start();
  for (let i = 0; i < 40; i++) await sendNow(exporter, { temporality: 'delta', flows: [numberedFlow(i)] });
  await exporter.shutdown();

  t.deepEqual((await readdir(join(dir, 'sub'))).sort(), ['flows.jsonl', 'flows.jsonl.1', 'flows.jsonl.2']);
  const read = async (p: string) => (await readFile(p, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { attributes: { 'test.seq': number }; tx_bytes: number });
  const newest = await read(path);
  const previous = await read(`${path}.1`);
  t.true(newest.length >= 1 && newest.length <= 5);
  // The newest file holds the last flows written, in order, right after those of `.1`.
  t.is(newest.at(-1)!.attributes['test.seq'], 39);
  t.is(previous.at(-1)!.attributes['test.seq'] + 1, newest[0]!.attributes['test.seq']);
  t.is(newest.at(-1)!.tx_bytes, 139);
  for (const f of [...newest, ...previous]) t.true(Buffer.byteLength(JSON.stringify(f)) < 1000);
});

test('appends to an existing file across restarts', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'podflow-file-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'flows.jsonl');
  for (const seq of [1, 2]) {
    const exporter = new FileExporter(testContext('file'), fileConfigSchema.parse({ path }));
    await exporter.start();
    await sendNow(exporter, { temporality: 'delta', flows: [numberedFlow(seq)] });
    await exporter.shutdown();
  }
  const lines = (await readFile(path, 'utf8')).trim().split('\n');
  t.deepEqual(lines.map((l) => (JSON.parse(l) as { attributes: { 'test.seq': number } }).attributes['test.seq']), [1, 2]);
});

test('defaults: rotation at 100 MiB, three backups (nested defaults are filled in)', (t) => {
  t.deepEqual(fileConfigSchema.parse({ path: '/tmp/a' }), { path: '/tmp/a', rotation: { max_megabytes: 100, max_backups: 3 } });
});

test('a priced flow has cost_usd beside its counters, every digit of the exact decimal', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'podflow-file-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'flows.jsonl');
  const exporter = new FileExporter(testContext('file'), fileConfigSchema.parse({ path }));
  await exporter.start();
  // About 99 cents, to 20 decimals: more digits than a double holds.
  const priced = { ...numberedFlow(1), costZeptoUsd: 993_853_062_391_281_127_930n };
  const big = { ...numberedFlow(2), costZeptoUsd: 12_345n * 10n ** 21n + 1n };
  await sendNow(exporter, { temporality: 'delta', flows: [priced, numberedFlow(3), big] });
  await exporter.shutdown();
  const lines = (await readFile(path, 'utf8')).trim().split('\n');
  t.true(lines[0]!.endsWith(`"connections":${priced.connections},"cost_usd":0.99385306239128112793}`), lines[0]);
  t.is((JSON.parse(lines[0]!) as { cost_usd: number }).cost_usd, 0.99385306239128112793);
  t.false('cost_usd' in (JSON.parse(lines[1]!) as object), 'an unpriced flow has no cost (not 0)');
  t.true(lines[2]!.endsWith('"cost_usd":12345.000000000000000000001}'));
});
