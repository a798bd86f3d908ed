// What the file exporter refuses to write to, and what it does when writing fails: a symlink or
// special file at `path`, a full disk (a real tmpfs that fills up), a rotation that cannot happen.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { capturingContext, testContext } from '../../../test/harness/context.ts';
import { queued, sendNow } from '../../../test/harness/exporter-queue.ts';
import { requirePrivileges } from '../../../test/harness/privileges.ts';
import { systemTool } from '../../../test/harness/system-tools.ts';
import { numberedFlow } from '../../../test/harness/test-components.ts';
import { until } from '../../../test/harness/wait.ts';
import { fileConfigSchema } from './config.ts';
import { FileExporter, FILE_MODE } from './file-exporter.ts';
import { FILE_EXPORTER_QUEUE } from './index.ts';

async function tempDir(t: import('ava').ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'podflow-file-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const exporterAt = (path: string, rotation: Record<string, number> = {}) => new FileExporter(testContext('file'), fileConfigSchema.parse({ path, rotation }));

interface Line {
  attributes: { 'test.seq': number };
  tx_bytes: number;
}
/** Every line of the file parsed (throws on one that is not JSON); the file must end in a newline. */
function lines(path: string): Line[] {
  const text = readFileSync(path, 'utf8');
  if (text === '') return [];
  if (!text.endsWith('\n')) throw new Error(`${path} ends in half a line: ${JSON.stringify(text.slice(-80))}`);
  return text.slice(0, -1).split('\n').map((l) => JSON.parse(l) as Line);
}

test('a symlink at path is refused and its target left alone', async (t) => {
  const dir = await tempDir(t);
  const target = join(dir, 'passwd');
  writeFileSync(target, 'root:x:0:0:root:/root:/bin/bash\n');
  const path = join(dir, 'flows.jsonl');
  symlinkSync(target, path);
  const error = await t.throwsAsync(exporterAt(path).start());
  t.is(error?.message, `file exporter: path ${path} is a symbolic link; it must be a regular file (symlinks are not followed)`);
  t.is(readFileSync(target, 'utf8'), 'root:x:0:0:root:/root:/bin/bash\n');
  // A dangling symlink is refused too (O_CREAT would otherwise create its target).
  rmSync(target);
  await t.throwsAsync(exporterAt(path).start(), { message: /is a symbolic link/ });
  t.throws(() => lstatSync(target), { code: 'ENOENT' });
});

test('a directory, a FIFO or a device at path is refused with the path named', async (t) => {
  const dir = await tempDir(t);
  const sub = join(dir, 'a-directory');
  mkdirSync(sub);
  await t.throwsAsync(exporterAt(sub).start(), { message: `file exporter: path ${sub} is a directory; it must be a regular file (symlinks are not followed)` });
  const fifo = join(dir, 'a-fifo');
  execFileSync(systemTool('mkfifo'), [fifo]);
  await t.throwsAsync(exporterAt(fifo).start(), { message: /path .*a-fifo is a FIFO;/ });
  await t.throwsAsync(exporterAt('/dev/null').start(), { message: 'file exporter: path /dev/null is a device; it must be a regular file (symlinks are not followed)' });
});

test('the file is created with mode 0640', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'flows.jsonl');
  const previous = process.umask(0o022);
  t.teardown(() => process.umask(previous));
  const exporter = exporterAt(path);
  await exporter.start();
  await sendNow(exporter, { temporality: 'delta', flows: [numberedFlow(1)] });
  await exporter.shutdown();
  t.is(statSync(path).mode & 0o777, FILE_MODE);
  t.is(FILE_MODE, 0o640);
});

test('half a line left at the end (a crash mid-write) is cut off at start; the next lines follow whole', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'flows.jsonl');
  writeFileSync(path, '{"whole":1}\n{"whole":2}\n{"half":');
  const ctx = capturingContext('file');
  const exporter = new FileExporter(ctx, fileConfigSchema.parse({ path }));
  await exporter.start();
  await sendNow(exporter, { temporality: 'delta', flows: [numberedFlow(7)] });
  await exporter.shutdown();
  const text = readFileSync(path, 'utf8').split('\n');
  t.deepEqual(text.slice(0, 2), ['{"whole":1}', '{"whole":2}']);
  t.is((JSON.parse(text[2]!) as Line).attributes['test.seq'], 7);
  t.is(text.length, 4);
  t.true(ctx.logs.some((l) => l.msg.includes('half a line') && l.removed_bytes === 8));
});

test('a rotation that fails keeps writing to the current file, counted and logged', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'flows.jsonl');
  // `.1` is a non-empty directory: the current file cannot be renamed onto it.
  mkdirSync(`${path}.1`);
  writeFileSync(join(`${path}.1`, 'keep'), 'x');
  const logged = capturingContext('file');
  const q = queued('file', FILE_EXPORTER_QUEUE, (ctx) => new FileExporter(Object.assign(logged, { metrics: ctx.metrics }), fileConfigSchema.parse({ path, rotation: { max_megabytes: 1000 / (1024 * 1024), max_backups: 1 } })));
  await q.exporter.start();
  for (let i = 0; i < 20; i++) await q.consume({ temporality: 'delta', flows: [numberedFlow(i)] });
  t.true(await q.shutdown());
  t.deepEqual(lines(path).map((l) => l.attributes['test.seq']), Array.from({ length: 20 }, (_, i) => i));
  t.true((await q.metric('podflow_exporter_file_rotation_failures_total')) >= 1);
  t.is(await q.metric('podflow_exporter_sent_flows_total'), 20);
  t.deepEqual(await readdir(`${path}.1`), ['keep']);
  // Logged once (rate-limited), naming what failed.
  t.deepEqual(logged.logs.filter((l) => l.msg.includes('rotation failed')).map((l) => l.msg), ['file exporter: rotation failed (cannot move the current file aside); still writing to the current file']);
});

test('a full disk (a real tmpfs): the file stays whole lines; once space returns every flow is written exactly once, in order', async (t) => {
  if (!requirePrivileges(t, ['mount', 'umount'])) return;
  const dir = await tempDir(t);
  execFileSync(systemTool('mount'), ['-t', 'tmpfs', '-o', 'size=128k,mode=0755', 'podflow-test', dir]);
  t.teardown(() => execFileSync(systemTool('umount'), ['-l', dir]));
  // Most of the space is taken; what is left holds some batches and then a half one.
  const filler = join(dir, 'filler');
  writeFileSync(filler, Buffer.alloc(96 * 1024));
  const path = join(dir, 'flows.jsonl');
  const logged = capturingContext('file');
  const q = queued('file', FILE_EXPORTER_QUEUE, (ctx) => new FileExporter(Object.assign(logged, { metrics: ctx.metrics }), fileConfigSchema.parse({ path, rotation: { max_megabytes: 0 } })));
  await q.exporter.start();
  const flowsPerBatch = 10;
  const batches = 24; // ~3.3 KB a batch: about 80 KB, far more than the 32 KB left, less than the whole 128 KB
  for (let b = 0; b < batches; b++) {
    await q.consume({ temporality: 'delta', flows: Array.from({ length: flowsPerBatch }, (_, i) => numberedFlow(b * flowsPerBatch + i, { pad: 'p'.repeat(100) })) });
  }
  // The disk is full: a write failed and is being retried.
  await until(async () => (await q.metric('podflow_exporter_retries_total')) >= 1, 20_000, 'a failed write retried');
  const whileFull = lines(path);
  t.true(whileFull.length > 0 && whileFull.length < batches * flowsPerBatch, `${whileFull.length} lines while full`);
  t.is(whileFull.length % flowsPerBatch, 0, 'whole batches only');
  t.deepEqual(whileFull.map((l) => l.attributes['test.seq']), Array.from({ length: whileFull.length }, (_, i) => i));
  t.true((await q.metric('podflow_exporter_file_write_failures_total', { code: 'ENOSPC' })) >= 1);
  t.is(await q.metric('podflow_exporter_send_failed_flows_total'), 0);
  // The write that hit the end of the disk had written part of its batch: that part was cut off.
  const failed = logged.logs.find((l) => l.msg.startsWith('file exporter: write failed'));
  t.is(failed?.code, 'ENOSPC');
  t.true((failed?.written as number) > 0 && (failed?.written as number) < (failed?.bytes as number), JSON.stringify(failed));

  rmSync(filler);
  t.true(await q.shutdown(60_000));
  const all = lines(path);
  t.deepEqual(all.map((l) => l.attributes['test.seq']), Array.from({ length: batches * flowsPerBatch }, (_, i) => i));
  t.is(all.at(-1)!.tx_bytes, 100 + batches * flowsPerBatch - 1);
  t.is(await q.metric('podflow_exporter_sent_flows_total'), batches * flowsPerBatch);
  t.is(await q.metric('podflow_exporter_send_failed_flows_total'), 0);
});
