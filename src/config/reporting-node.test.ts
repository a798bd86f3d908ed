import test from 'ava';
import { batchReportingNode, reportingNodeName } from './reporting-node.ts';

const host = () => 'host-1';

test('the reporting node: service.resource, then k8sattributes.node_name, then NODE_NAME, then the host name', (t) => {
  const all = { resource: { 'k8s.node.name': 'from-resource' }, k8sattributesNodeName: 'from-k8sattributes', env: { NODE_NAME: 'from-env' }, hostname: host };
  t.is(reportingNodeName(all), 'from-resource');
  t.is(reportingNodeName({ ...all, resource: {} }), 'from-k8sattributes');
  t.is(reportingNodeName({ ...all, resource: { 'k8s.node.name': '' }, k8sattributesNodeName: '' }), 'from-env');
  t.is(reportingNodeName({ ...all, resource: undefined, k8sattributesNodeName: undefined, env: {} }), 'host-1');
  t.is(reportingNodeName({ env: { NODE_NAME: '' }, hostname: host }), 'host-1');
});

test("a batch's own resource names its node (an agent's batch); else this process's", (t) => {
  t.is(batchReportingNode({ 'k8s.node.name': 'agent-7' }, 'gateway'), 'agent-7');
  t.is(batchReportingNode({ 'k8s.cluster.name': 'c' }, 'gateway'), 'gateway');
  t.is(batchReportingNode(undefined, 'gateway'), 'gateway');
  t.is(batchReportingNode(undefined, undefined), undefined);
});
