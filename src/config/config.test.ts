// bin/podflow validate on invalid files: every error names its key path and line, exit code 1.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TEST_FACTORIES } from '../../test/harness/test-components.ts';
import { parseConfig } from './load.ts';
import { parseDurationMs, parseSizeBytes } from './units.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/podflow', import.meta.url).pathname;
let dir: string;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'podflow-config-'));
});
test.after.always(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function validate(name: string, text: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const file = join(dir, `${name.replace(/\W+/g, '_')}.yaml`);
  await writeFile(file, text);
  try {
    const { stdout, stderr } = await run(BIN, ['validate', '--config', file], { env: { ...process.env, PODFLOW_SET: 'yes' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

// A valid base: exporters only need a path; each case breaks one thing.
const PIPELINE = `service:
  pipelines:
    flows:
      receivers: [sequence]
      exporters: [debug]
`;

interface Case {
  name: string;
  yaml: string;
  /** The key path and line that must appear together in one error line. */
  path: string;
  line: number;
  message: RegExp;
}

const cases: Case[] = [
  { name: 'yaml syntax error', yaml: 'exporters:\n  debug: {verbosity: [basic\n', path: 'exporters.debug.verbosity[0]', line: 3, message: /end with a \]/ },
  { name: 'duplicate component id', yaml: 'exporters:\n  debug: {}\n  debug: {}\n', path: '', line: 3, message: /duplicate key "debug"/ },
  { name: 'unknown top-level key', yaml: `exporterz: {}\n${PIPELINE}`, path: 'exporterz', line: 1, message: /unknown key "exporterz"/ },
  { name: 'unknown exporter type', yaml: `exporters:\n  kafka: {}\n${PIPELINE}`, path: 'exporters.kafka', line: 2, message: /unknown exporter type "kafka"/ },
  { name: 'bad component id', yaml: `exporters:\n  Debug!: {}\n${PIPELINE}`, path: 'exporters.Debug!', line: 2, message: /not a component ID/ },
  { name: 'unknown key in component', yaml: `exporters:\n  debug:\n    verbosty: basic\n${PIPELINE}`, path: 'exporters.debug.verbosty', line: 3, message: /unknown key "verbosty"/ },
  { name: 'bad enum', yaml: `exporters:\n  debug:\n    verbosity: loud\n${PIPELINE}`, path: 'exporters.debug.verbosity', line: 3, message: /basic.*detailed/ },
  { name: 'wrong type', yaml: `exporters:\n  debug:\n    max_rows: many\n${PIPELINE}`, path: 'exporters.debug.max_rows', line: 3, message: /number/ },
  { name: 'out of range', yaml: `exporters:\n  debug:\n    max_rows: 0\n${PIPELINE}`, path: 'exporters.debug.max_rows', line: 3, message: />=1/ },
  { name: 'missing required key', yaml: `exporters:\n  file: {}\n${PIPELINE}`, path: 'exporters.file.path', line: 2, message: /missing/ },
  { name: 'nested unknown key', yaml: `exporters:\n  file:\n    path: /tmp/x\n    rotation:\n      max_files: 3\n${PIPELINE}`, path: 'exporters.file.rotation.max_files', line: 5, message: /unknown key/ },
  { name: 'negative size', yaml: `exporters:\n  file:\n    path: /tmp/x\n    rotation: {max_megabytes: -5}\n${PIPELINE}`, path: 'exporters.file.rotation.max_megabytes', line: 4, message: />=0/ },
  { name: 'unset env var', yaml: `exporters:\n  file:\n    path: \${env:PODFLOW_UNSET_VAR}\n${PIPELINE}`, path: 'exporters.file.path', line: 3, message: /PODFLOW_UNSET_VAR is not set/ },
  { name: 'malformed env reference', yaml: `exporters:\n  file:\n    path: /x/\${env:}\n${PIPELINE}`, path: 'exporters.file.path', line: 3, message: /malformed reference/ },
  { name: 'missing service', yaml: 'exporters:\n  debug: {}\n', path: '', line: 0, message: /service: is missing/ },
  { name: 'no pipelines', yaml: 'exporters:\n  debug: {}\nservice:\n  pipelines: {}\n', path: 'service.pipelines', line: 4, message: /at least one pipeline/ },
  { name: 'pipeline without exporters', yaml: 'exporters:\n  debug: {}\nservice:\n  pipelines:\n    flows:\n      receivers: [sequence]\n', path: 'service.pipelines.flows.exporters', line: 5, message: /at least one exporter/ },
  { name: 'pipeline without receivers', yaml: 'exporters:\n  debug: {}\nservice:\n  pipelines:\n    flows:\n      exporters: [debug]\n', path: 'service.pipelines.flows.receivers', line: 5, message: /at least one receiver/ },
  { name: 'undefined exporter in pipeline', yaml: 'exporters:\n  debug: {}\nservice:\n  pipelines:\n    flows:\n      receivers: [sequence]\n      exporters: [debug, otlp/x]\n', path: 'service.pipelines.flows.exporters[1]', line: 7, message: /"otlp\/x" is not defined under exporters/ },
  { name: 'undefined processor in pipeline', yaml: 'exporters:\n  debug: {}\nservice:\n  pipelines:\n    flows:\n      receivers: [sequence]\n      processors: [reduce/missing]\n      exporters: [debug]\n', path: 'service.pipelines.flows.processors[0]', line: 7, message: /not defined under processors/ },
  { name: 'component listed twice', yaml: 'exporters:\n  debug: {}\nservice:\n  pipelines:\n    flows:\n      receivers: [sequence]\n      exporters: [debug, debug]\n', path: 'service.pipelines.flows.exporters[1]', line: 7, message: /listed twice/ },
  { name: 'bad log level', yaml: `exporters:\n  debug: {}\n${PIPELINE}  telemetry:\n    logs:\n      level: loud\n`, path: 'service.telemetry.logs.level', line: 10, message: /info/ },
  { name: 'bad metrics address', yaml: `exporters:\n  debug: {}\n${PIPELINE}  telemetry:\n    metrics: {address: "localhost"}\n`, path: 'service.telemetry.metrics.address', line: 9, message: /host:port/ },
  { name: 'bad duration', yaml: `exporters:\n  debug: {}\n${PIPELINE}  shutdown_timeout: 10 seconds\n`, path: 'service.shutdown_timeout', line: 8, message: /not a duration/ },
  { name: 'unknown key in pipeline', yaml: 'exporters:\n  debug: {}\nservice:\n  pipelines:\n    flows:\n      receivers: [sequence]\n      exporters: [debug]\n      exportrs: [debug]\n', path: 'service.pipelines.flows.exportrs', line: 8, message: /unknown key/ },
  { name: 'section is a list', yaml: `exporters: [debug]\n${PIPELINE}`, path: 'exporters', line: 1, message: /expected record|object/ },
];

for (const c of cases) {
  test(`validate rejects: ${c.name}`, async (t) => {
    const { code, stderr } = await validate(c.name, c.yaml);
    t.is(code, 1, stderr);
    const where = c.line > 0 ? `:${c.line}:` : '.yaml:';
    const line = stderr.split('\n').find((l) => l.includes(where) && (c.path === '' || l.includes(` ${c.path}: `)) && c.message.test(l));
    t.truthy(line, `expected an error at line ${c.line} for "${c.path}" matching ${c.message} in:\n${stderr}`);
  });
}

test('validate reports every error at once', async (t) => {
  const { code, stderr } = await validate(
    'many',
    'exporters:\n  debug: {verbosity: loud}\n  file: {}\nservice:\n  pipelines:\n    flows:\n      receivers: [sequence]\n      exporters: [debug, nope]\n',
  );
  t.is(code, 1);
  t.regex(stderr, /exporters\.debug\.verbosity/);
  t.regex(stderr, /exporters\.file\.path/);
  t.regex(stderr, /exporters\[1\]: "nope" is not defined/);
});

test('env substitution: whole values keep their YAML type, defaults apply, $${ escapes', (t) => {
  const config = parseConfig(
    `receivers:
  sequence:
    flows_per_batch: \${env:ROWS}
processors:
  tag:
    value: /var/\${env:DIR:-podflow}/$\${literal}.jsonl
exporters:
  recording: {}
service:
  pipelines:
    flows: {receivers: [sequence], processors: [tag], exporters: [recording]}
`,
    TEST_FACTORIES,
    { env: { ROWS: '7' } },
  );
  t.is((config.receivers.get('sequence')!.config as { flows_per_batch: number }).flows_per_batch, 7);
  t.is((config.processors.get('tag')!.config as { value: string }).value, '/var/podflow/${literal}.jsonl');
});

test('defaults are filled in', (t) => {
  const config = parseConfig('receivers:\n  sequence: {interval: 1s}\nexporters:\n  recording/a: {}\nservice:\n  pipelines:\n    flows/x: {receivers: [sequence], exporters: [recording/a]}\n', TEST_FACTORIES);
  t.deepEqual(config.receivers.get('sequence')!.config, { interval: 1000, flows_per_batch: 2 });
  t.deepEqual(config.exporters.get('recording/a')!.config, { behaviour: 'record', timeout: 200 });
  t.is(config.service.shutdown_timeout, 10_000);
  t.is(config.service.telemetry.metrics.address, '127.0.0.1:8888');
  t.is(config.service.telemetry.logs.level, 'info');
});

test('durations and sizes are parsed in one place', (t) => {
  t.is(parseDurationMs('5s'), 5000);
  t.is(parseDurationMs('2m'), 120_000);
  t.is(parseDurationMs('1h30m'), 5_400_000);
  t.is(parseDurationMs('250ms'), 250);
  t.is(parseDurationMs('7d'), 604_800_000);
  t.true(parseDurationMs('5 sec') instanceof Error);
  t.true(parseDurationMs('') instanceof Error);
  t.is(parseSizeBytes('64MiB'), 64 * 1024 * 1024);
  t.is(parseSizeBytes('1GB'), 1e9);
  t.is(parseSizeBytes('4096'), 4096);
  t.true(parseSizeBytes('12 parsecs') instanceof Error);
});
