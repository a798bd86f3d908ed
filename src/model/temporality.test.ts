import test from 'ava';
import type { Flow } from './flow.ts';
import { seriesKeyOf, TemporalityConverter } from './temporality.ts';

const a = { 'source.address': '10.0.0.1', 'destination.port': 80 };
const b = { 'source.address': '10.0.0.2', 'destination.port': 80 };
const f = (attributes: Flow['attributes'], start: bigint, time: bigint, tx: number, rx = 0): Flow => ({ startTimeUnixNano: start, timeUnixNano: time, attributes, txBytes: tx, rxBytes: rx, txPackets: 1, rxPackets: 0, connections: 0 });
const summary = (flows: Flow[]) => flows.map((x) => [String(x.attributes['source.address']), x.startTimeUnixNano, x.timeUnixNano, x.txBytes, x.rxBytes, x.txPackets]);

test('the same temporality passes the flows through untouched', (t) => {
  const flows = [f(a, 0n, 5n, 10)];
  t.is(new TemporalityConverter('delta', 1_000).convert({ temporality: 'delta', flows }, 0), flows);
  t.is(new TemporalityConverter('cumulative', 1_000).convert({ temporality: 'cumulative', flows }, 0), flows);
});

test('delta → cumulative: running sums per series from its first start; two flows of a series in one batch add up', (t) => {
  const c = new TemporalityConverter('cumulative', 1_000);
  t.deepEqual(summary(c.convert({ temporality: 'delta', flows: [f(a, 0n, 5n, 10), f(b, 2n, 5n, 1)] }, 0)), [['10.0.0.1', 0n, 5n, 10, 0, 1], ['10.0.0.2', 2n, 5n, 1, 0, 1]]);
  t.deepEqual(summary(c.convert({ temporality: 'delta', flows: [f(a, 5n, 10n, 7, 3), f({ ...a }, 6n, 9n, 1)] }, 10)), [['10.0.0.1', 0n, 10n, 18, 3, 3]]);
  t.is(c.size, 2);
  c.convert({ temporality: 'delta', flows: [f(a, 10n, 15n, 1)] }, 2_000);
  t.is(c.size, 1, 'b unseen past the TTL is forgotten');
  t.deepEqual(summary(c.convert({ temporality: 'delta', flows: [f(b, 20n, 25n, 4)] }, 2_001)), [['10.0.0.2', 20n, 25n, 4, 0, 1]], 'and comes back with a new start');
});

test('cumulative → delta: increases over [previous time, time]; a new start or a value that went down counts whole; nothing new gives nothing', (t) => {
  const c = new TemporalityConverter('delta', 1_000);
  t.deepEqual(summary(c.convert({ temporality: 'cumulative', flows: [f(a, 0n, 5n, 100)] }, 0)), [['10.0.0.1', 0n, 5n, 100, 0, 1]]);
  t.deepEqual(summary(c.convert({ temporality: 'cumulative', flows: [f(a, 0n, 10n, 150, 20)] }, 1)), [['10.0.0.1', 5n, 10n, 50, 20, 0]]);
  t.deepEqual(c.convert({ temporality: 'cumulative', flows: [f(a, 0n, 15n, 150, 20)] }, 2), []);
  t.deepEqual(summary(c.convert({ temporality: 'cumulative', flows: [f(a, 12n, 20n, 30)] }, 3)), [['10.0.0.1', 12n, 20n, 30, 0, 1]], 're-created group');
  t.deepEqual(summary(c.convert({ temporality: 'cumulative', flows: [f(a, 12n, 25n, 10)] }, 4)), [['10.0.0.1', 20n, 25n, 10, 0, 1]], 'went down without a new start');
});

test('series identity: attribute order does not matter, value types do', (t) => {
  t.is(seriesKeyOf({ x: 1, y: 'a' }), seriesKeyOf({ y: 'a', x: 1 }));
  t.not(seriesKeyOf({ x: 1 }), seriesKeyOf({ x: '1' }));
  t.not(seriesKeyOf({ x: true }), seriesKeyOf({ x: 'true' }));
});

const priced = (flow: Flow, costZeptoUsd: bigint | undefined): Flow => (costZeptoUsd === undefined ? flow : { ...flow, costZeptoUsd });
const costs = (flows: Flow[]) => flows.map((x) => [String(x.attributes['source.address']), x.startTimeUnixNano, x.timeUnixNano, x.costZeptoUsd]);
// Beyond 2^53: a float sum would lose the last digits.
const BIG = 12_345_678_901_234_567_890_123n;

test('delta → cumulative: the cost is a running sum, exact; a series is priced from its first priced flow, an unpriced one stays unpriced', (t) => {
  const c = new TemporalityConverter('cumulative', 1_000);
  t.deepEqual(costs(c.convert({ temporality: 'delta', flows: [priced(f(a, 0n, 5n, 10), BIG), f(b, 0n, 5n, 1)] }, 0)), [['10.0.0.1', 0n, 5n, BIG], ['10.0.0.2', 0n, 5n, undefined]]);
  t.deepEqual(costs(c.convert({ temporality: 'delta', flows: [priced(f(a, 5n, 10n, 7), 1n), priced(f(a, 6n, 9n, 1), 0n), priced(f(b, 5n, 10n, 2), 3n)] }, 1)), [['10.0.0.1', 0n, 10n, BIG + 1n], ['10.0.0.2', 0n, 10n, 3n]]);
  t.deepEqual(costs(c.convert({ temporality: 'delta', flows: [f(a, 10n, 15n, 1)] }, 2)), [['10.0.0.1', 0n, 15n, BIG + 1n]], 'an unpriced flow of a priced series adds nothing');
});

test('cumulative → delta: the cost increases exactly; a cost that went down or a new start counts whole; a cost-only increase is sent', (t) => {
  const c = new TemporalityConverter('delta', 1_000);
  t.deepEqual(costs(c.convert({ temporality: 'cumulative', flows: [priced(f(a, 0n, 5n, 100), BIG), f(b, 0n, 5n, 1)] }, 0)), [['10.0.0.1', 0n, 5n, BIG], ['10.0.0.2', 0n, 5n, undefined]]);
  t.deepEqual(costs(c.convert({ temporality: 'cumulative', flows: [priced(f(a, 0n, 10n, 150), BIG + 7n), priced(f(b, 0n, 10n, 2), 5n)] }, 1)), [['10.0.0.1', 5n, 10n, 7n], ['10.0.0.2', 5n, 10n, 5n]]);
  t.deepEqual(costs(c.convert({ temporality: 'cumulative', flows: [priced(f(a, 0n, 15n, 150), BIG + 9n)] }, 2)), [['10.0.0.1', 10n, 15n, 2n]], 'only the cost grew');
  const reset = c.convert({ temporality: 'cumulative', flows: [priced(f(a, 0n, 20n, 160), 4n)] }, 3);
  t.deepEqual(costs(reset), [['10.0.0.1', 15n, 20n, 4n]], 'the cost went down: a reset, counted whole');
  t.deepEqual(summary(reset), [['10.0.0.1', 15n, 20n, 160, 0, 1]], 'with its bytes whole');
  t.deepEqual(costs(c.convert({ temporality: 'cumulative', flows: [priced(f(a, 18n, 25n, 10), 2n)] }, 4)), [['10.0.0.1', 18n, 25n, 2n]], 're-created group');
});
