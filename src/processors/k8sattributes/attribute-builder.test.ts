// The attribute builder gives exactly what assigning the keys one by one gives: the same keys,
// values and order, whatever the flow already holds, within and beyond its compiled functions.
import test from 'ava';
import type { Attributes, AttributeValue } from '../../model/index.ts';
import { AttributeBuilder, MAX_BUILDERS_PER_SHAPE, MAX_INPUT_SHAPES } from './attribute-builder.ts';
import type { EndInfo } from './end-info.ts';

/** An end with these keys (given without the `source.`/`destination.` prefix) and values. */
function endInfo(keyListId: number, pairs: Array<[string, AttributeValue]>): EndInfo {
  return {
    addressType: 'pod', zone: undefined, podNode: undefined, addressNode: undefined, keyListId,
    sourceKeys: pairs.map(([k]) => `source.${k}`), destinationKeys: pairs.map(([k]) => `destination.${k}`), values: pairs.map(([, v]) => v),
  };
}

/** What the processor did before the builder: assignments in order. */
function reference(a: Attributes, src: EndInfo | undefined, dst: EndInfo | undefined, service: string | undefined, interZone: boolean | undefined, reporter?: string): Attributes {
  const out: Attributes = JSON.parse(JSON.stringify(a)) as Attributes;
  src?.sourceKeys.forEach((k, i) => (out[k] = src.values[i]!));
  dst?.destinationKeys.forEach((k, i) => (out[k] = dst.values[i]!));
  if (service !== undefined) out['destination.k8s.service.name'] = service;
  if (interZone !== undefined) out['network.flow.inter_zone'] = interZone;
  if (reporter !== undefined) out['k8s.node.name'] = reporter;
  return out;
}

const pod = endInfo(900, [['address.type', 'pod'], ['k8s.namespace.name', 'shop'], ['k8s.pod.name', 'cart-0'], ['cloud.availability_zone', 'eu-1a']]);
const node = endInfo(901, [['address.type', 'node'], ['k8s.node.name', 'node-a'], ['k8s.owner.type', 'Node']]);
const publicEnd = endInfo(902, [['address.type', 'public']]);

function check(t: import('ava').ExecutionContext, builder: AttributeBuilder, a: Attributes, src: EndInfo | undefined, dst: EndInfo | undefined, service?: string, interZone?: boolean, reporter?: string): void {
  const expected = reference(a, src, dst, service, interZone, reporter);
  const got = builder.build(a, src, dst, service, interZone, reporter);
  t.deepEqual(Object.entries(got), Object.entries(expected));
  t.is(Object.getPrototypeOf(got), Object.prototype);
}

test('keys, values and order are those of assignment, for every combination of ends and flow-level keys', (t) => {
  const builder = new AttributeBuilder();
  const flows: Attributes[] = [
    { 'source.address': '10.1.0.5', 'source.port': 40000, 'destination.address': '10.2.0.7', 'destination.port': 80, 'network.transport': 'tcp' },
    { 'destination.address': '10.2.0.7', 'source.address': '10.1.0.5', 'destination.original.address': '10.96.0.10' },
    // An agent that sent k8s.node.name as a flow attribute too: the batch's reporter wins, in place.
    { 'k8s.node.name': 'stale', 'source.address': '10.1.0.5', 'destination.address': '10.2.0.7' },
  ];
  for (const a of flows) {
    for (const src of [pod, node, publicEnd, undefined]) {
      for (const dst of [pod, node, publicEnd, undefined]) {
        for (const service of [undefined, 'cart']) {
          for (const interZone of [undefined, true, false]) {
            for (const reporter of [undefined, 'node-b']) check(t, builder, a, src, dst, service, interZone, reporter);
          }
        }
      }
    }
  }
  // The input is left as it was.
  t.deepEqual(Object.keys(flows[1]!), ['destination.address', 'source.address', 'destination.original.address']);
});

test('a key the flow already has keeps its place and takes the new value; __proto__ stays an ordinary key', (t) => {
  const builder = new AttributeBuilder();
  const a: Attributes = { 'destination.k8s.service.name': 'old', 'source.address': '10.1.0.5', 'source.k8s.namespace.name': 'stale', 'network.flow.inter_zone': 'x' };
  check(t, builder, a, pod, node, 'cart', true);
  const got = builder.build(a, pod, node, 'cart', true);
  t.deepEqual(Object.keys(got).slice(0, 3), ['destination.k8s.service.name', 'source.address', 'source.k8s.namespace.name']);
  t.is(got['source.k8s.namespace.name'], 'shop');

  const hostile = JSON.parse('{"__proto__": "p", "source.address": "10.1.0.5"}') as Attributes; // an own key, as a decoder may make
  check(t, builder, hostile, pod, undefined);
  const built = builder.build(hostile, pod, undefined, undefined, undefined);
  t.true(Object.hasOwn(built, '__proto__'));
  t.is(built['__proto__' as keyof Attributes], 'p');
});

test(`beyond ${MAX_INPUT_SHAPES} flow key lists and ${MAX_BUILDERS_PER_SHAPE} combinations per list the result is the same`, (t) => {
  const builder = new AttributeBuilder();
  for (let i = 0; i < MAX_INPUT_SHAPES + 20; i++) check(t, builder, { 'source.address': '10.1.0.5', [`extra.${i}`]: i }, pod, publicEnd, undefined, false);
  // One key list, more end combinations than are compiled (labels make ends of many key lists).
  const side = Math.ceil(Math.sqrt(MAX_BUILDERS_PER_SHAPE / 4)) + 2;
  const ends = Array.from({ length: side }, (_, i) => endInfo(i, [['address.type', 'pod'], [`k8s.pod.label.l${i}`, `v${i}`]]));
  const a: Attributes = { 'source.address': '10.1.0.5', 'destination.address': '10.1.0.6' };
  let checked = 0;
  for (const src of ends) {
    for (const dst of ends) {
      for (const [service, interZone] of [[undefined, undefined], ['svc', undefined], [undefined, true], ['svc', false]] as const) {
        const expected = reference(a, src, dst, service, interZone);
        if (JSON.stringify(Object.entries(builder.build(a, src, dst, service, interZone))) === JSON.stringify(Object.entries(expected))) checked++;
      }
    }
  }
  t.true(side * side * 4 > MAX_BUILDERS_PER_SHAPE);
  t.is(checked, side * side * 4);
});

test('alternating key lists, one a prefix of another, and an inherited key: each flow gets its own keys', (t) => {
  const builder = new AttributeBuilder();
  const plain: Attributes = { 'source.address': '10.1.0.5', 'destination.address': '10.2.0.7' };
  const dnat: Attributes = { ...plain, 'destination.original.address': '10.96.0.10' };
  const other: Attributes = { 'destination.address': '10.2.0.7', 'source.address': '10.1.0.5' };
  const inherited = Object.assign(Object.create({ 'inherited.key': 'x' }) as Attributes, plain);
  for (const a of [plain, dnat, plain, dnat, dnat, other, plain, dnat, inherited, plain, { 'source.address': '10.1.0.5' }, dnat]) {
    check(t, builder, a, pod, node, 'cart');
  }
});
