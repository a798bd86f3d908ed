import test from 'ava';
import { COUNTERS_PER_GROUP, GroupTable, TX_BYTES } from './group-table.ts';
import type { SlotValue } from './group-key.ts';

const key = (i: number): SlotValue[] => [`ns-${i % 7}`, i, i % 2 === 0, i % 5 === 0 ? undefined : `app-${i}`];

test('grows past its initial size up to capacity; every group stays findable with its counters', (t) => {
  const table = new GroupTable(4, 3000);
  for (let i = 0; i < 3000; i++) {
    t.is(table.find(key(i)), -1);
    const g = table.insert(key(i), 1000 + i);
    table.counters[g * COUNTERS_PER_GROUP + TX_BYTES] = i * 10;
  }
  t.true(table.full);
  t.is(table.counters.length, 3000 * COUNTERS_PER_GROUP, 'grown to capacity, not past it');
  for (let i = 0; i < 3000; i++) {
    const g = table.find(key(i));
    t.is(table.counters[g * COUNTERS_PER_GROUP + TX_BYTES], i * 10);
    t.is(table.startMs[g], 1000 + i);
    t.deepEqual(table.values[g], key(i));
  }
  t.is(table.find(key(3000)), -1);
});

test('retain keeps the chosen groups, renumbered, and forgets the others', (t) => {
  const table = new GroupTable(4, 100);
  for (let i = 0; i < 100; i++) table.counters[table.insert(key(i), 0) * COUNTERS_PER_GROUP] = i;
  table.retain((g) => table.counters[g * COUNTERS_PER_GROUP]! % 3 === 0);
  t.is(table.size, 34);
  for (let i = 0; i < 100; i++) {
    const g = table.find(key(i));
    if (i % 3 === 0) t.is(table.counters[g * COUNTERS_PER_GROUP], i);
    else t.is(g, -1);
  }
  table.clear();
  t.is(table.size, 0);
  t.is(table.find(key(0)), -1);
});

test('no slots: every flow is one group', (t) => {
  const table = new GroupTable(0, 10);
  t.is(table.find([]), -1);
  t.is(table.insert([], 0), 0);
  t.is(table.find([]), 0);
});

test('insertMissed after a miss at any slot, and clear: groups are found by their values only', (t) => {
  const table = new GroupTable(4, 100);
  const scratch: SlotValue[] = [];
  const add = (values: SlotValue[]) => {
    scratch.splice(0, 4, ...values);
    t.is(table.find(scratch), -1);
    return table.insertMissed(scratch, 0);
  };
  for (let round = 0; round < 2; round++) {
    const a = add(['ns', 1, true, 'x']);
    const b = add(['ns', 1, true, 'y']); // misses at the last slot
    const c = add(['ns', 2, true, 'x']); // misses at the second
    const d = add(['ns', 1, false, 'y']); // every value known, a new tuple
    t.deepEqual([a, b, c, d], [0, 1, 2, 3]);
    t.deepEqual(table.values.slice(0, 4), [['ns', 1, true, 'x'], ['ns', 1, true, 'y'], ['ns', 2, true, 'x'], ['ns', 1, false, 'y']]);
    t.is(table.find(['ns', 2, true, 'x']), c);
    t.is(table.find(['ns', 2, false, 'x']), -1);
    table.clear();
    t.is(table.find(['ns', 1, true, 'x']), -1, 'cleared, though its values are still known');
  }
});

test('growing after retain and after clear: every group stays findable (growth re-buckets by the hashes kept per group)', (t) => {
  const table = new GroupTable(4, 10_000);
  // `insert` first: a growth replaces `table.counters`.
  const add = (values: SlotValue[], counter: number) => {
    const g = table.insert(values, 0);
    table.counters[g * COUNTERS_PER_GROUP] = counter;
  };
  for (let i = 0; i < 1000; i++) add(key(i), i);
  // Renumbered survivors, their ids re-interned: their hashes must be the new ones.
  table.retain((g) => table.counters[g * COUNTERS_PER_GROUP]! % 2 === 0);
  for (let i = 1000; i < 5000; i++) add(key(i), i);
  for (let i = 0; i < 5000; i++) {
    const g = table.find(key(i));
    if (i < 1000 && i % 2 === 1) t.is(g, -1, `evicted ${i}`);
    else t.is(table.counters[g * COUNTERS_PER_GROUP], i, `group ${i}`);
  }
  table.clear();
  for (let i = 0; i < 9000; i++) add(key(i + 7), i);
  let found = 0;
  for (let i = 0; i < 9000; i++) if (table.counters[table.find(key(i + 7)) * COUNTERS_PER_GROUP] === i) found++;
  t.is(found, 9000);
  t.is(table.find(key(5)), -1);
});
