import test from 'ava';
import { cloneBatch, setFlowAttribute, withFlows, type Flow, type FlowBatch } from './flow.ts';

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

test('setFlowAttribute sets in place, or in a copy when the map is frozen (shared)', (t) => {
  const own = flow(80);
  const map = own.attributes;
  setFlowAttribute(own, 'destination.domain', 'example.com');
  t.is(own.attributes, map);
  t.deepEqual(map, { 'destination.port': 80, 'destination.domain': 'example.com' });
  const shared = Object.freeze({ 'destination.port': 443 });
  const a = { ...flow(0), attributes: shared };
  setFlowAttribute(a, 'destination.domain', 'example.org');
  t.deepEqual(a.attributes, { 'destination.port': 443, 'destination.domain': 'example.org' });
  t.deepEqual(shared, { 'destination.port': 443 }, 'the shared map is unchanged');
  t.false(Object.isFrozen(a.attributes));
});
