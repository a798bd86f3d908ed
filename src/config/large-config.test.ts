// Validation stays linear in the size of the file: a 2 MiB config is read whole and right, and
// an error in each of its 60,000 keys is placed on its own line. (Its time is measured in
// bench/cli, not here.) Larger files are refused before they are read.
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_FACTORIES } from '../../test/harness/test-components.ts';
import { ConfigError } from './issues.ts';
import { loadConfigFile, MAX_CONFIG_BYTES, parseConfig } from './load.ts';
import { largeConfig } from './testdata/large-config.ts';

const TYPES = { receiver: 'sequence', processor: 'tag', exporter: 'recording' };

test('a 2 MiB config is read whole: every key and every processor', (t) => {
  const large = largeConfig({ bytes: 2 * 1024 * 1024, ...TYPES });
  t.true(large.text.length >= 2 * 1024 * 1024);
  const config = parseConfig(large.text, TEST_FACTORIES);
  const resource = config.service.resource;
  t.is(Object.keys(resource).length, large.resourceKeys);
  t.is(resource[`key.${large.resourceKeys - 1}`], `value-${large.resourceKeys - 1}`);
  t.is(config.processors.size, large.processors);
  t.deepEqual(config.service.pipelines.flows!.processors.at(-1), `tag/p${large.processors - 1}`);
  t.deepEqual(config.warnings, []);
});

test('every error of a large config is placed on its own line', (t) => {
  const large = largeConfig({ bytes: 2 * 1024 * 1024, ...TYPES, invalidValues: true });
  let error: ConfigError | undefined;
  try {
    parseConfig(large.text, TEST_FACTORIES);
  } catch (err) {
    error = err as ConfigError;
  }
  t.true(error instanceof ConfigError);
  t.is(error!.issues.length, large.resourceKeys);
  for (const i of [0, 1, Math.floor(large.resourceKeys / 2), large.resourceKeys - 1]) {
    t.like(error!.issues[i], { path: `service.resource.key.${i}`, line: large.resourceLine(i), column: 5 });
  }
});

test('a duplicate key among many is found, at its line', (t) => {
  const large = largeConfig({ bytes: 512 * 1024, ...TYPES });
  const text = `${large.text}    key.7: again\n`;
  const error = t.throws(() => parseConfig(text, TEST_FACTORIES), { instanceOf: ConfigError });
  t.deepEqual(error!.issues.map((i) => [i.path, i.line, i.message]), [
    ['service.resource.key.7', large.resourceLine(large.resourceKeys), 'duplicate key "key.7" (component IDs and keys must be unique)'],
  ]);
});

test(`a config over ${MAX_CONFIG_BYTES / 1024 / 1024} MiB is refused before it is parsed`, async (t) => {
  const large = largeConfig({ bytes: MAX_CONFIG_BYTES + 1, ...TYPES });
  const message = 'the file is 4.0 MiB; a config may be at most 4.0 MiB';
  t.is(t.throws(() => parseConfig(large.text, TEST_FACTORIES), { instanceOf: ConfigError })!.issues[0]!.message, message);
  const dir = await mkdtemp(join(tmpdir(), 'podflow-large-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'huge.yaml');
  await writeFile(file, `${large.text}${'#'.repeat(1024 * 1024)}\n`);
  const error = await t.throwsAsync(loadConfigFile(file, TEST_FACTORIES), { instanceOf: ConfigError });
  t.is(error!.message, `invalid configuration (1 error):\n  ${file}: the file is 5.0 MiB; a config may be at most 4.0 MiB`);
});

test('a YAML alias bomb is refused at the alias that goes too far', (t) => {
  const bomb = `receivers:
  sequence: {}
exporters:
  recording: {}
service:
  pipelines:
    flows: {receivers: [sequence], exporters: [recording]}
  resource:
    a: &a [x, x, x, x, x, x, x, x, x, x]
    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
    d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
`;
  const error = t.throws(() => parseConfig(bomb, TEST_FACTORIES), { instanceOf: ConfigError });
  t.is(error!.issues.length, 1);
  t.like(error!.issues[0], { path: 'service.resource.d[1]', line: 12, column: 16 });
  t.regex(error!.issues[0]!.message, /^alias \*c expands its anchor too many times/);
});

test('more than 1000 aliases are refused at the first one over', (t) => {
  const lines = Array.from({ length: 1001 }, (_, i) => `    k${i}: *v`).join('\n');
  const text = `receivers:\n  sequence: {}\nexporters:\n  recording: {}\nservice:\n  pipelines:\n    flows: {receivers: [sequence], exporters: [recording]}\n  resource:\n    v: &v x\n${lines}\n`;
  const error = t.throws(() => parseConfig(text, TEST_FACTORIES), { instanceOf: ConfigError });
  t.deepEqual(error!.issues.map((i) => [i.path, i.line]), [['service.resource.k1000', 1010]]);
});
