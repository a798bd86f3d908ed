// "One README per component with every key and default": every registered component's README
// key table(s) against its zod schema, the `service` section's against docs/operations.md, and
// the exporter queue's shared doc (docs/exporter-helper.md) against exporterHelperKeys and each
// exporter's defaults. test/harness/config-keys.ts reads both sides; its own behaviour on
// mismatches is tested at the end of this file.
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { FACTORIES } from '../src/components.ts';
import { serviceSchema } from '../src/config/service-schema.ts';
import { durationMs } from '../src/config/units.ts';
import { exporterHelperKeys } from '../src/exporters/shared/exporter-helper.ts';
import { defaultOf, keyProblems, keyRows, readDocValue, schemaKeys, type SchemaKey, type SharedBlock } from './harness/config-keys.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

const EXPORTER_HELPER_DOC = 'docs/exporter-helper.md';
/** The exporter queue's keys, documented once in docs/exporter-helper.md; an exporter's README may link there instead. */
const SHARED: SharedBlock[] = ['sending_queue', 'retry_on_failure', 'timeout'].map((key) => ({ key, doc: 'exporter-helper.md' }));

for (const factory of FACTORIES) {
  const readme = `src/${factory.kind}s/${factory.type}/README.md`;
  test(`${factory.kind} ${factory.type}: ${readme} documents every key of its schema, with its default`, (t) => {
    t.true(existsSync(join(ROOT, readme)), `${readme} is missing`);
    const rows = keyRows(read(readme), readme);
    t.true(rows.length > 0, `${readme} has no key table (a table whose first column is "key")`);
    t.deepEqual(keyProblems(`${factory.kind} ${factory.type}`, schemaKeys(factory.configSchema), rows, SHARED), []);
  });
}

test('service: docs/operations.md documents every key of the service section, with its default', (t) => {
  const rows = keyRows(read('docs/operations.md'), 'docs/operations.md');
  t.deepEqual(keyProblems('service', schemaKeys(serviceSchema, 'service'), rows), []);
});

// ---- the shared doc of the exporter queue ----------------------------------------------------

test(`${EXPORTER_HELPER_DOC} documents every key of exporterHelperKeys`, (t) => {
  const keys = schemaKeys(z.strictObject(exporterHelperKeys({ queue_size: 1, num_consumers: 1, max_num_consumers: 1, timeout: 1, max_elapsed_time: 0, file_storage: true })));
  t.deepEqual(keyProblems('exporter-helper', keys, keyRows(read(EXPORTER_HELPER_DOC), EXPORTER_HELPER_DOC)), []);
});

/** The rows of the "Settings per exporter" table, by exporter, each cell by its column's heading. */
function settingsPerExporter(): Map<string, Record<string, string>> {
  const text = read(EXPORTER_HELPER_DOC);
  const section = /## Settings per exporter\n([\s\S]*?)\n## /.exec(text)?.[1] ?? '';
  const lines = section.split('\n').filter((l) => l.startsWith('|'));
  const split = (l: string) => l.replace(/^\||\|$/g, '').split('|').map((c) => c.trim());
  const header = split(lines[0] ?? '').map((h) => h.replaceAll('`', ''));
  const rows = new Map<string, Record<string, string>>();
  let previous: Record<string, string> = {};
  for (const line of lines.slice(2)) {
    const row = Object.fromEntries(split(line).map((cell, i) => [header[i]!, cell]));
    // "the same": the row above's other retry defaults.
    if (row['other retry defaults']?.startsWith('the same')) row['other retry defaults'] = previous['other retry defaults'] ?? '';
    rows.set(/`([^`]+)`/.exec(row.exporter ?? '')?.[1] ?? '', row);
    previous = row;
  }
  return rows;
}

test(`${EXPORTER_HELPER_DOC}: "Settings per exporter" gives each exporter's own defaults`, (t) => {
  const table = settingsPerExporter();
  const exporters = FACTORIES.filter((f) => f.kind === 'exporter' && schemaKeys(f.configSchema).some((k) => k.path === 'sending_queue'));
  t.true(exporters.length >= 4, 'the exporters that take the queue keys');
  const problems: string[] = [];
  for (const factory of exporters) {
    const keys = new Map(schemaKeys(factory.configSchema).map((k) => [k.path, k]));
    const row = table.get(factory.type);
    if (!row) {
      problems.push(`${factory.type}: no row in "Settings per exporter"`);
      continue;
    }
    const expect = (path: string, column: string, text: string | undefined) => {
      const key = keys.get(path)!;
      const schemaDefault = defaultOf(key);
      const documented = text === undefined ? new Error(`no ${column}`) : readDocValue(key, text);
      if (schemaDefault.kind !== 'value' || documented instanceof Error || documented !== schemaDefault.value) {
        problems.push(`${factory.type}: ${column} is "${text}" in ${EXPORTER_HELPER_DOC}, the schema's \`${path}\` default ${JSON.stringify(schemaDefault)}`);
      }
    };
    const leading = (column: string) => /^\S+/.exec(row[column] ?? '')?.[0];
    expect('sending_queue.queue_size', 'queue_size', leading('queue_size'));
    expect('sending_queue.num_consumers', 'num_consumers (max)', leading('num_consumers (max)'));
    expect('timeout', 'timeout', leading('timeout'));
    expect('retry_on_failure.max_elapsed_time', 'max_elapsed_time', leading('max_elapsed_time'));
    for (const [, name, value] of (row['other retry defaults'] ?? '').matchAll(/`(\w+)` ([^,\s]+)/g)) {
      expect(`retry_on_failure.${name}`, `other retry defaults: ${name}`, value);
    }
    // The most consumers: "1 (16)" takes 16 and refuses 17.
    const max = Number(/\((\d+)\)/.exec(row['num_consumers (max)'] ?? '')?.[1]);
    const consumers = keys.get('sending_queue.num_consumers')!.schema as z.ZodType;
    if (!(consumers.safeParse(max).success && !consumers.safeParse(max + 1).success)) {
      problems.push(`${factory.type}: the most consumers is (${max}) in ${EXPORTER_HELPER_DOC}, not what the schema takes`);
    }
  }
  t.deepEqual(problems, []);
});

// ---- the checker itself: what it reports on a mismatch ----------------------------------------

const sample = z.strictObject({
  interval: durationMs({ min: 100 }).default(5_000),
  mode: z.enum(['a', 'b']).default('a'),
  netns: z.string().optional(),
  endpoint: z.string(),
  tls: z.strictObject({ ca_file: z.string().optional(), insecure: z.boolean().default(false) }).optional(),
  retry_on_failure: z.strictObject({ enabled: z.boolean().default(true) }).prefault({}),
  old_key: z.never().optional(),
});
const sampleKeys: SchemaKey[] = schemaKeys(sample);

test('checker: the keys of a schema, nested ones dotted, a refused key left out', (t) => {
  t.deepEqual(sampleKeys.map((k) => `${k.path}${k.container ? '/' : ''}`), ['interval', 'mode', 'netns', 'endpoint', 'tls/', 'tls.ca_file', 'tls.insecure', 'retry_on_failure/', 'retry_on_failure.enabled']);
  t.deepEqual(schemaKeys(serviceSchema, 'service').map((k) => k.path).filter((p) => p.startsWith('service.pipelines')), [
    'service.pipelines', 'service.pipelines.<name>.receivers', 'service.pipelines.<name>.processors', 'service.pipelines.<name>.exporters',
  ]);
});

/** What the checker says of a README whose key table has these rows (its first row is line 3). */
const problemsOf = (...rows: string[]) => keyProblems('c', sampleKeys, keyRows(['| key | default | meaning |', '|---|---|---|', ...rows].join('\n'), 'R.md'), SHARED);

test('checker: a README that agrees has no problem (durations read by the schema, continued keys, a linked shared block)', (t) => {
  t.deepEqual(keyRows('| key | default |\n|---|---|\n| `tls.ca_file`, `.insecure` | `false` |', 'R.md')[0]!.keys, ['tls.ca_file', 'tls.insecure']);
  t.deepEqual(problemsOf(
    '| `interval` | `5s` | x |',
    '| `mode` | `a` | x |',
    '| `netns` | unset | x |',
    '| `endpoint` | (required) | x |',
    '| `tls.ca_file`, `.insecure` | `false` | x |',
    '| `retry_on_failure` | | [shared](../docs/exporter-helper.md) |',
  ), []);
});

test('checker: a missing key, an unknown key, a different default, a prose default, a default for a required key', (t) => {
  t.deepEqual(problemsOf(
    '| `interval` | `10s` | x |',
    '| `mode` | unset | x |',
    '| `endpoint` | `x` | x |',
    '| `tls.ca_file` | – | x |',
    '| `tls.insecure_skip` | `false` | x |',
    '| `retry_on_failure` | | as every exporter (no link) |',
  ), [
    'c: `interval` default differs: R.md:3 says `10s` (10000), the schema 5000',
    'c: `mode` defaults to "a" in the schema, R.md:4 gives no literal default ("unset")',
    'c: `endpoint` is required in the schema, R.md:5 gives it the default `x`',
    'c: R.md:7 documents `tls.insecure_skip`, which is not a key of its schema',
    'c: schema key `netns` is not documented',
    'c: schema key `tls.insecure` is not documented',
    'c: schema key `retry_on_failure.enabled` is not documented',
  ]);
});

test('checker: a default too long for its cell, "see below", is read from the YAML block after "Default `<key>`:"', (t) => {
  const keys = schemaKeys(z.strictObject({ group_by: z.array(z.string()).default(['a', 'b']) }));
  const readme = (list: string) => `| key | default | meaning |\n|---|---|---|\n| \`group_by\` | see below | x |\n\nDefault \`group_by\`:\n\n\`\`\`yaml\n${list}\`\`\`\n`;
  t.deepEqual(keyProblems('c', keys, keyRows(readme('- a\n- b\n'), 'R.md')), []);
  t.deepEqual(keyProblems('c', keys, keyRows(readme('- a\n- c\n'), 'R.md')), ['c: `group_by` default differs: R.md:3 says `- a - c` (["a","c"]), the schema ["a","b"]']);
});
