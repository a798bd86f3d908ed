import test from 'ava';
import { cloneBatch, withFlows, type Flow, type FlowBatch } from './flow.ts';

const flow = (port: number): Flow => ({
  startTimeUnixNano: 1n, timeUnixNano: 2n, attributes: { 'destination.port': port },
  txBytes: 10, rxBytes: 20, txPackets: 1, rxPackets: 2, connections: 1,
});

test('cloneBatch keeps the reporter and copies attributes', (t) => {
  const batch: FlowBatch = { flows: [flow(80)], temporality: 'cumulative', resource: { 'k8s.node.name': 'node-a' } };
  const copy = cloneBatch(batch);
  copy.flows[0]!.attributes['destination.port'] = 443;
  t.is(batch.flows[0]!.attributes['destination.port'], 80);
  t.deepEqual(copy.resource, { 'k8s.node.name': 'node-a' });
  t.is(copy.temporality, 'cumulative');
});

test('withFlows keeps temporality and reporter; a batch without a reporter gets none', (t) => {
  const kept = withFlows({ flows: [flow(1), flow(2)], temporality: 'delta', resource: { 'k8s.node.name': 'node-b' } }, [flow(3)]);
  t.deepEqual(kept.flows.map((f) => f.attributes['destination.port']), [3]);
  t.deepEqual(kept.resource, { 'k8s.node.name': 'node-b' });
  t.false('resource' in withFlows({ flows: [], temporality: 'delta' }, []));
});
