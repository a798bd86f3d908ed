// CopyEncoder (the exporter's byte encoder) against encodeFlow (the reference, rows.ts): the same
// bytes for ordinary flows, odd strings, values a column cannot hold, changing key orders, and
// seeded random attribute sets; the same reasons for flows that cannot be stored.
import test from 'ava';
import type { AttributeValue, Attributes, Flow } from '../../model/index.ts';
import { CopyEncoder } from './copy-encoder.ts';
import { encodeFlow } from './rows.ts';
import { flowAt, fullFlow } from './testdata/flows.ts';

/** What the reference makes of the flows: the bytes of the storable rows, the reasons of the rest. */
function reference(flows: readonly Flow[], node?: string) {
  let text = '';
  const invalid: string[] = [];
  const days = new Set<string>();
  for (const f of flows) {
    const r = encodeFlow(f, node);
    if ('invalid' in r) invalid.push(r.invalid);
    else {
      text += r.line;
      days.add(r.day);
    }
  }
  return { bytes: Buffer.from(text, 'utf8'), invalid, days: [...days].sort() };
}

function encoded(flows: readonly Flow[], node?: string) {
  const enc = new CopyEncoder();
  const invalid: string[] = [];
  for (const f of flows) {
    const reason = enc.encode(f, node);
    if (reason !== undefined) invalid.push(reason);
  }
  const chunk = enc.take();
  return { bytes: chunk.bytes, invalid, days: chunk.days.sort(), rows: chunk.rows };
}

function assertSame(t: import('ava').ExecutionContext, flows: readonly Flow[], node?: string) {
  const want = reference(flows, node);
  const got = encoded(flows, node);
  t.is(got.bytes.toString('utf8'), want.bytes.toString('utf8'));
  t.true(got.bytes.equals(want.bytes));
  t.deepEqual(got.invalid, want.invalid);
  t.deepEqual(got.days, want.days);
  t.is(got.rows, flows.length - want.invalid.length);
}

test('copy encoder: full flows across a midnight, byte for byte the reference', (t) => {
  const flows = Array.from({ length: 3000 }, (_, i) => {
    const f = fullFlow(i, Date.UTC(2030, 0, 1) - 15_000 + 10_000 * Math.floor(i / 1000));
    return i % 5 === 0 ? { ...f, startTimeUnixNano: f.startTimeUnixNano + BigInt(i * 1237) } : f; // sub-millisecond times too
  });
  assertSame(t, flows);
  t.is(encoded(flows).days.length, 2);
});

const ODD_STRINGS = [
  '', 'plain', 'a\tb', 'a\nb', 'a\rb', 'c:\\dir', 'q"uote', '\u0001x\u001f', 'del\u007f', 'nul\0in', '\0', 'é', 'Ω≈ç', '日本',
  '😀', 'x\ud800', '\udc00y', 'x\ud800\0\udc00y', '\ud83d\ude00\ud83d', 'mix \t\\ 😀 é \n "', 'a'.repeat(5000), 'é\t'.repeat(3000),
];
const ODD_VALUES: AttributeValue[] = [...ODD_STRINGS, 0, -0, 7, -12, 80, 65535, 65536, 1.5, -2.25e-7, 1e21, 2 ** 53, 2 ** 60, Number.NaN, Infinity, true, false];

test('copy encoder: odd strings and values in every kind of column and in attributes', (t) => {
  const keys = ['source.k8s.pod.name', 'source.address', 'destination.port', 'network.flow.inter_zone', 'k8s.node.name', 'custom', 'k"ey\t\\', 'k\0nul', 'ключ'];
  const flows: Flow[] = [];
  for (const key of keys) for (const v of ODD_VALUES) flows.push(flowAt(1_000, { [key]: v, after: v }));
  assertSame(t, flows);
  assertSame(t, flows, 'reporting\tnode');
});

test('copy encoder: addresses, ports and booleans that fit their column or stay in attributes', (t) => {
  const addresses = ['1.2.3.4', '0.0.0.0', '255.255.255.255', '01.2.3.4', '1.2.3.04', '256.1.1.1', '1.2.3', '1.2.3.4.', '1..2.3', '.1.2.3', ' 1.2.3.4',
    '1.2.3.4 ', '1.2.3.4.5', '1234.1.1.1', '10.0.0.255', '::1', '::', 'fe80::1%eth0', '::ffff:1.2.3.4', '2001:db8::1', 'gggg::1', 'host:80', '1:2', 'x',
    '104.16.3.0/24', '0.0.0.0/0', '2606:4700:10::/48', '1.2.3.4/33', '1.2.3.4/', '/24', 'x/24', '1.2.3.4/24/1', '::/129'];
  const ports = ['80', '080', '65535', '65536', '123456', '-1', ' 80', '8.0', 80.5, -1, 443];
  const bools = ['true', 'false', 'TRUE', 't', 1, 0, true, false];
  const flows: Flow[] = [];
  for (const a of addresses) flows.push(flowAt(0, { 'source.address': a, 'destination.address': a }));
  for (const p of ports) flows.push(flowAt(0, { 'source.port': p, 'destination.port': p }));
  for (const b of bools) flows.push(flowAt(0, { 'network.flow.inter_zone': b }));
  assertSame(t, flows);
  // Random strings of digits and dots against node's own IPv4 rule (through the column choice).
  let seed = 7;
  const rand = (n: number) => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31), seed % n);
  const fuzz: Flow[] = [];
  for (let i = 0; i < 5000; i++) {
    let s = '';
    for (let j = 0, n = 1 + rand(16); j < n; j++) s += '0123456789.....25'[rand(17)];
    fuzz.push(flowAt(0, { 'source.address': s }));
  }
  assertSame(t, fuzz);
});

test('copy encoder: key orders that change from flow to flow, and flows it refuses', (t) => {
  let seed = 42;
  const rand = (n: number) => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31), seed % n);
  const pool = ['source.address', 'source.port', 'destination.address', 'destination.port', 'network.transport', 'source.k8s.namespace.name',
    'destination.k8s.owner.name', 'k8s.node.name', 'network.type', 'k8s.cluster.name', 'seq', 'destination.domain', 'x.y', 'q"'];
  const values: AttributeValue[] = ['10.0.0.1', 'fd00::2', 443, 'tcp', 'ns\tx', 'é', '😀', 'a\\b', true, 3.5, 'not-ip', '0\0'];
  const flows: Flow[] = [];
  let shape: string[] = [];
  for (let i = 0; i < 4000; i++) {
    if (i % 50 === 0 || rand(10) === 0) shape = pool.filter(() => rand(2) === 0).sort(() => rand(3) - 1);
    const attrs: Attributes = {};
    for (const k of shape) attrs[k] = values[rand(values.length)]!;
    flows.push(flowAt(Date.UTC(2031, 5, 1) + rand(3) * 86_400_000 + rand(1000), attrs, { txBytes: rand(1e9), rxBytes: -rand(100), txPackets: 0, rxPackets: 2 ** 52, connections: 1 }));
  }
  flows.push(flowAt(0, {}, { txBytes: Number.NaN }), { ...flowAt(0, {}), startTimeUnixNano: -1n }, { ...flowAt(0, {}), timeUnixNano: 10n ** 30n }, flowAt(0, {}, { connections: 1.5 }));
  assertSame(t, flows, 'node-r');
  t.is(encoded(flows).invalid.length, 4);
});

test('copy encoder: take() starts over; the buffer grows past its first size', (t) => {
  const enc = new CopyEncoder();
  const big = flowAt(0, { huge: 'x'.repeat(3_000_000), 'source.k8s.pod.name': 'é'.repeat(400_000), json: '\u0001'.repeat(500_000) });
  t.is(enc.encode(big), undefined);
  const first = enc.take();
  t.true(first.bytes.equals(reference([big]).bytes));
  t.is(enc.encode(flowAt(0, {})), undefined);
  const second = enc.take();
  t.deepEqual([second.rows, second.days], [1, ['1970-01-01']]);
  t.true(second.bytes.equals(reference([flowAt(0, {})]).bytes));
});

test('copy encoder: NUL becomes U+FFFD in columns, node, JSON keys and values, and every one is counted', (t) => {
  const enc = new CopyEncoder();
  const rows = [
    flowAt(0, { 'source.k8s.pod.name': 'a\0b\0', 'destination.domain': 'x\ud800\0' }), // fast path, then a lone surrogate first
    flowAt(0, { 'k\0ey': 'v\0', 'k8s.node.name': '\0node' }),
    flowAt(0, { 'k\0ey': 'plain' }), // the same key again: its plan is reused, its NUL counted again
    flowAt(0, { 'destination.domain': 'no nul here', custom: 'quote " only' }),
  ];
  for (const f of rows) t.is(enc.encode(f), undefined);
  const chunk = enc.take();
  t.is(chunk.nulsReplaced, 3 + 3 + 1);
  t.false(chunk.bytes.includes(0));
  t.true(chunk.bytes.equals(reference(rows).bytes));
  const text = chunk.bytes.toString('utf8');
  t.true(text.includes('a\ufffdb\ufffd\t'));
  t.true(text.includes('"k\ufffdey":"v\ufffd"'));
  t.true(text.includes('\ufffdnode\t'));
  t.is(enc.take().nulsReplaced, 0, 'take() starts the count over');
});

test('copy encoder: costs (netcost) of every size, and none, byte for byte the reference', (t) => {
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  // Written in place up to 2^53 - 1 zepto-USD, as text above: both sides of the edge, trailing zeros.
  const costs = [undefined, 0n, 1n, 999n, 10n ** 21n, 123_456_789_012_345_678_901_234_567n, 10n ** 60n + 7n,
    10n, 1000n, 10n ** 15n, 372_529_029_846_191n, max - 1n, max, max + 1n, 9_007_199_254_740_990n, 2n ** 53n, -5n];
  const flows = costs.map((cost, i) => {
    const f = flowAt(1_000 + i, { 'network.flow.cost.class': i % 2 ? 'inter_zone' : 'unknown' }, { txBytes: i });
    return cost === undefined ? f : { ...f, costZeptoUsd: cost };
  });
  assertSame(t, flows);
  const line = reference(flows).bytes.toString('utf8').split('\n')[6]!;
  t.true(line.includes('\tunknown\t') && line.includes('\t1000000000000000000000000000000000000000.000000000000000000007\t'), line);
});
