// The configs a user meets first must work: the shipped config.yaml and the README's example.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

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
