// Wiring checks made on the config alone, for `validate` and `run` alike: temporality into each
// processor and exporter, listen-port clashes, unused components.
import test from 'ava';
import { TEST_FACTORIES } from '../../test/harness/test-components.ts';
import { ConfigError, type ConfigIssue } from './issues.ts';
import { parseConfig } from './load.ts';

function issuesOf(yaml: string): readonly ConfigIssue[] {
  try {
    parseConfig(yaml, TEST_FACTORIES);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return [];
}

test('a cumulative stage in front of an exporter that takes deltas only is an error at the exporter, naming the stage', (t) => {
  const yaml = `receivers:
  sequence: {}
processors:
  tag/sum: {temporality: cumulative}
exporters:
  recording/deltas: {accepts: delta}
  recording/any: {}
service:
  pipelines:
    flows:
      receivers: [sequence]
      processors: [tag/sum]
      exporters: [recording/any, recording/deltas]
`;
  const issues = issuesOf(yaml);
  t.is(issues.length, 1);
  t.like(issues[0], { path: 'service.pipelines.flows.exporters[1]', line: 13, column: 34 });
  t.is(issues[0]!.message, 'recording/deltas: takes delta only, tag/sum (processors[0]) sends cumulative');
});

test('temporality follows each pipeline on its own; a later stage may turn it back', (t) => {
  const ok = parseConfig(`receivers:
  sequence: {}
processors:
  tag/sum: {temporality: cumulative}
  tag/back: {temporality: delta}
exporters:
  recording/deltas: {accepts: delta}
  recording/sums: {accepts: cumulative}
service:
  pipelines:
    flows/a: {receivers: [sequence], processors: [tag/sum, tag/back], exporters: [recording/deltas]}
    flows/b: {receivers: [sequence], processors: [tag/sum], exporters: [recording/sums]}
`, TEST_FACTORIES);
  t.deepEqual(ok.warnings, []);
  const issues = issuesOf(`receivers:
  sequence: {}
exporters:
  recording/sums: {accepts: cumulative}
service:
  pipelines:
    flows: {receivers: [sequence], exporters: [recording/sums]}
`);
  t.is(issues.length, 1);
  t.is(issues[0]!.message, 'recording/sums: takes cumulative only, the receivers sends delta');
});

test('two components on one port are refused at the second; port 0 and different hosts are fine', (t) => {
  const issues = issuesOf(`receivers:
  sequence: {}
exporters:
  recording/a: {listen: "0.0.0.0:9464"}
  recording/b: {listen: "127.0.0.1:9464"}
  recording/c: {listen: "127.0.0.1:0"}
  recording/d: {listen: "127.0.0.1:8888"}
service:
  telemetry: {metrics: {address: "127.0.0.1:8888"}}
  pipelines:
    flows: {receivers: [sequence], exporters: [recording/a, recording/b, recording/c, recording/d]}
`);
  t.deepEqual(issues.map((i) => [i.path, i.line, i.message]), [
    ['exporters.recording/b.listen', 5, '127.0.0.1:9464 is also where exporters.recording/a.listen listens: give each its own port'],
    ['exporters.recording/d.listen', 7, '127.0.0.1:8888 is also where service.telemetry.metrics.address listens: give each its own port'],
  ]);
  t.notThrows(() => parseConfig(`receivers:
  sequence: {}
exporters:
  recording/a: {listen: "10.0.0.1:9464"}
  recording/b: {listen: "10.0.0.2:9464"}
  recording/c: {listen: "127.0.0.1:0"}
  recording/d: {listen: "127.0.0.1:0"}
service:
  pipelines:
    flows: {receivers: [sequence], exporters: [recording/a, recording/b, recording/c, recording/d]}
`, TEST_FACTORIES));
});

test('a component no pipeline uses is a warning naming it and its line:column, not an error', (t) => {
  const config = parseConfig(`receivers:
  sequence: {}
  sequence/spare: {}
processors:
  tag: {}
exporters:
  recording: {}
  recording/old: {listen: "127.0.0.1:8888"}
service:
  pipelines:
    flows: {receivers: [sequence], exporters: [recording]}
`, TEST_FACTORIES);
  t.deepEqual(config.warnings.map((w) => [w.path, w.line, w.column, w.message]), [
    ['receivers.sequence/spare', 3, 3, 'sequence/spare is declared but no pipeline uses it: it is not started'],
    ['processors.tag', 5, 3, 'tag is declared but no pipeline uses it: it is not started'],
    ['exporters.recording/old', 8, 3, 'recording/old is declared but no pipeline uses it: it is not started'],
  ]);
  // recording/old is not started, so its port does not clash with the telemetry server's.
});
