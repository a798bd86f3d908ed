import test from 'ava';
import fc from 'fast-check';
import { usdNumber, usdText, ZEPTO_USD_PER_USD } from './cost.ts';

test('usdText writes the exact decimal', (t) => {
  t.is(usdText(0n), '0');
  t.is(usdText(1n), '0.000000000000000000001');
  t.is(usdText(123_000_000_000n), '0.000000000123');
  t.is(usdText(12n * ZEPTO_USD_PER_USD + ZEPTO_USD_PER_USD / 2n), '12.5');
  t.is(usdText(-(5n * ZEPTO_USD_PER_USD) / 4n), '-1.25');
  t.is(usdText(10n ** 30n + 7n), '1000000000.000000000000000000007');
});

test('usdText round-trips through a decimal parse', (t) => {
  fc.assert(fc.property(fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }), (z) => {
    const [whole, fraction = ''] = usdText(z).replace('-', '').split('.');
    const back = BigInt(whole!) * ZEPTO_USD_PER_USD + BigInt(fraction.padEnd(21, '0'));
    return (z < 0n ? -back : back) === z;
  }));
  t.pass();
});

test('usdNumber is within one rounding of the decimal', (t) => {
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: 10n ** 30n }), (z) => {
    const exact = Number.parseFloat(usdText(z));
    return Math.abs(usdNumber(z) - exact) <= Number.EPSILON * exact;
  }));
  t.is(usdNumber(45_000_000_000_000_000_000n), 0.045);
  t.is(usdNumber(45n * ZEPTO_USD_PER_USD), 45);
  t.is(usdNumber(10_000_000_000_000_000n), 0.00001);
});
