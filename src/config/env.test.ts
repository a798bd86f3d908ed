// `${env:X}`: a variable's text arrives byte-exact where the schema wants a string, its YAML
// reading only where the schema refuses the string; secrets never appear in an error.
import test from 'ava';
import { TEST_FACTORIES } from '../../test/harness/test-components.ts';
import { ConfigError } from './issues.ts';
import { parseConfig } from './load.ts';

const PIPELINE = `service:
  pipelines:
    flows: {receivers: [sequence], processors: [tag], exporters: [recording]}
`;

/** Hostile values: YAML would read each as something else, or fail on it. */
const HOSTILE_VALUES = ['0123', 'null', 'a: b', '[x', '%', '@', '"quoted" and \'single\'', 'ünïcødé ✓ 密码', '  spaces  around ', 'true', '1e3', '~', '{a: 1}', '- item', '#comment', '*alias', '&anchor', '!!binary x', '${env:NESTED}', 'line1\nline2'];

function errorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('no ConfigError');
}

for (const value of HOSTILE_VALUES) {
  test(`a string key gets ${JSON.stringify(value)} byte-exact, whole or inside a string`, (t) => {
    const config = parseConfig(`receivers:
  sequence: {}
processors:
  tag:
    value: \${env:V}
    key: "prefix-\${env:V}"
exporters:
  recording:
    password: \${env:V}
${PIPELINE}`, TEST_FACTORIES, { env: { V: value } });
    t.is((config.processors.get('tag')!.config as { value: string }).value, value);
    t.is((config.processors.get('tag')!.config as { key: string }).key, `prefix-${value}`);
    t.is((config.exporters.get('recording')!.config as { password: string }).password, value);
  });
}

test('where the schema refuses the string, a whole reference is read as YAML: numbers, durations, maps', (t) => {
  const config = parseConfig(`receivers:
  sequence:
    flows_per_batch: \${env:N}
    interval: \${env:MS}
processors:
  tag: {}
exporters:
  recording:
    timeout: \${env:DURATION}
    headers: \${env:HEADERS}
service:
  shutdown_timeout: \${env:MS}
  resource: \${env:RESOURCE}
  pipelines:
    flows: {receivers: [sequence], processors: [tag], exporters: [recording]}
`, TEST_FACTORIES, { env: { N: '0012', MS: '250', DURATION: '2s', HEADERS: '{X-Scope-OrgID: team, n: "1"}', RESOURCE: '{k8s.node.name: "0123", zone: 7}' } });
  t.like(config.receivers.get('sequence')!.config, { flows_per_batch: 12, interval: 250 });
  t.like(config.exporters.get('recording')!.config, { timeout: 2000, headers: { 'X-Scope-OrgID': 'team', n: '1' } });
  t.is(config.service.shutdown_timeout, 250);
  // The resource's values may be strings or numbers: the string wins.
  t.deepEqual(config.service.resource, { 'k8s.node.name': '0123', zone: 7 });
  const strings = parseConfig(`receivers:\n  sequence: {}\nprocessors:\n  tag: {}\nexporters:\n  recording: {}\nservice:\n  resource: {node: "\${env:NODE}"}\n  pipelines:\n    flows: {receivers: [sequence], processors: [tag], exporters: [recording]}\n`, TEST_FACTORIES, { env: { NODE: '0123' } });
  t.deepEqual(strings.service.resource, { node: '0123' });
});

test('a value neither reading fits is one error at its place, without the value', (t) => {
  const error = errorOf(() => parseConfig(`receivers:
  sequence:
    flows_per_batch: \${env:N}
processors:
  tag: {}
exporters:
  recording: {}
${PIPELINE}`, TEST_FACTORIES, { env: { N: '[unparsable-value' } }));
  t.is(error.issues.length, 1);
  t.like(error.issues[0], { path: 'receivers.sequence.flows_per_batch', line: 3 });
  t.false(error.message.includes('unparsable-value'));
});

test('a secret never appears in an error, even where a message would quote the value', (t) => {
  const secret = 'hunter2: [not yaml';
  const error = errorOf(() => parseConfig(`receivers:
  sequence: {}
processors:
  tag: {}
exporters:
  recording:
    password: \${env:PW}
    timeout: \${env:PW}
    headers:
      Authorization: "Bearer \${env:TOKEN}"
      X-Scope-OrgID: team
    endpoint: "http://podflow:\${env:URLPW}@collector:4318"
  recording/b:
    timeout: "\${env:TOKEN}"
${PIPELINE}`, TEST_FACTORIES, { env: { PW: secret, TOKEN: 'tok-123456', URLPW: 'bad%password' } }));
  t.deepEqual(error.issues.map((i) => [i.path, i.message]), [
    ['exporters.recording.timeout', '"[REDACTED]" is not a duration (use e.g. 500ms, 5s, 2m, 1h30m, 7d)'],
    ['exporters.recording.endpoint', 'the password holds a "%" that starts no percent-escape: write a literal % as %25, or set the password with the password key'],
    ['exporters.recording/b.timeout', '"[REDACTED]" is not a duration (use e.g. 500ms, 5s, 2m, 1h30m, 7d)'],
  ]);
  for (const leaked of [secret, 'tok-123456', 'bad%password']) t.false(error.message.includes(leaked), leaked);
});
