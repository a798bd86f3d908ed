import test from 'ava';
import { GroupAttributes, MAX_COMPILED_PRESENCE_SETS } from './group-attributes.ts';
import type { SlotValue } from './group-key.ts';

const KEYS = ['source.k8s.namespace.name', 'destination.port', '__proto__', 'a"b\\c', 'network.flow.inter_zone'];

/** What the reducer built before by assignment: the present slots' keys, in slot order. */
function expected(keys: readonly string[], values: readonly SlotValue[]): [string, unknown][] {
  return keys.flatMap((k, j) => (values[j] === undefined ? [] : [[k, values[j]] as [string, unknown]]));
}

test('the present slots, in slot order, with their values; absent slots are left out', (t) => {
  const make = new GroupAttributes(KEYS);
  for (const values of [
    ['ns-1', 8080, 'x', 'quoted', false],
    ['ns-2', undefined, undefined, 'q', true],
    [undefined, undefined, undefined, undefined, undefined],
    ['ns-3', 53, 'p', undefined, undefined],
    ['ns-4', 8080, 'y', 'again', false],
  ] as SlotValue[][]) {
    const a = make.make(values);
    t.deepEqual(Object.entries(a), expected(KEYS, values));
    t.is(Object.getPrototypeOf(a), Object.prototype, '__proto__ is a key, not the prototype');
  }
});

test('past the compiled presence sets and with more slots than a mask holds: the same maps', (t) => {
  const keys = Array.from({ length: 12 }, (_, j) => `k${j}`);
  const make = new GroupAttributes(keys);
  for (let m = 0; m < MAX_COMPILED_PRESENCE_SETS + 50; m++) {
    const values = keys.map((_, j) => ((m >> j) & 1 ? `v${m}-${j}` : undefined));
    t.deepEqual(Object.entries(make.make(values)), expected(keys, values));
  }
  const wide = Array.from({ length: 40 }, (_, j) => `w${j}`);
  const values = wide.map((_, j) => (j % 3 === 0 ? undefined : j));
  t.deepEqual(Object.entries(new GroupAttributes(wide).make(values)), expected(wide, values));
});
