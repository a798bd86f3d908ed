// The reporting node chain through the real runtime: what every component is told.
import { hostname } from 'node:os';
import test from 'ava';
import pino from 'pino';
import { parseConfig } from '../src/config/load.ts';
import { FACTORIES } from '../src/components.ts';
import { Service } from '../src/pipeline/service.ts';
import { reportingNodes, TEST_FACTORIES } from './harness/test-components.ts';

const silent = pino({ level: 'silent' });

test('every component is told the reporting node: service.resource, else k8sattributes.node_name, else NODE_NAME, else the host name', async (t) => {
  const yaml = (processors: string, resource: string) => `
receivers:
  sequence: {interval: 1h}
processors:
${processors}
exporters:
  recording/node: {}
service:
  resource: {${resource}}
  pipelines:
    flows: {receivers: [sequence], processors: [tag], exporters: [recording/node]}
`;
  const build = async (processors: string, resource: string) => {
    await new Service(parseConfig(yaml(processors, resource), [...FACTORIES, ...TEST_FACTORIES]), silent).build();
    return reportingNodes.get('recording/node');
  };
  t.is(await build('  tag: {}\n  k8sattributes: {node_name: worker-3}', 'k8s.node.name: explicit'), 'explicit');
  t.is(await build('  tag: {}\n  k8sattributes: {node_name: worker-3}', ''), 'worker-3');
  const fallback = await build('  tag: {}', '');
  t.is(fallback, process.env.NODE_NAME || hostname());
});
