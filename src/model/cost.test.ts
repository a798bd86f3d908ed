import test from 'ava';
import fc from 'fast-check';
import { usdNumber, usdText, ZEPTO_USD_PER_USD, zeptoUsdOfNumber } from './cost.ts';

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
  // the nearest double, where converting the whole and the fraction apart would round twice
  t.is(usdNumber(249_450_608_490_514_000n), 0.000249450608490514);
  t.is(usdNumber(-(2n ** 80n)), -(2 ** 80) / 1e21);
  t.is(usdNumber(45_000_000_000_000_000_000n), 0.045);
  t.is(usdNumber(45n * ZEPTO_USD_PER_USD), 45);
  t.is(usdNumber(10_000_000_000_000_000n), 0.00001);
});

test('zeptoUsdOfNumber rounds the double\'s exact decimal to the zepto-dollar', (t) => {
  t.is(zeptoUsdOfNumber(0), 0n);
  t.is(zeptoUsdOfNumber(-0), 0n);
  t.is(zeptoUsdOfNumber(1.5), 1_500_000_000_000_000_000_000n);
  t.is(zeptoUsdOfNumber(-1.25), -1_250_000_000_000_000_000_000n);
  // the decimal the double stands for, not its binary expansion (0.1000000000000000055511…)
  t.is(zeptoUsdOfNumber(0.1), 100_000_000_000_000_000_000n);
  t.is(zeptoUsdOfNumber(0.000019), 19_000_000_000_000_000n);
  t.is(zeptoUsdOfNumber(1.2345678901234567e-13), 123_456_789n);
  // below a zepto-dollar: halves away from zero
  t.is(zeptoUsdOfNumber(Number.MIN_VALUE), 0n);
  t.is(zeptoUsdOfNumber(1e-21), 1n);
  t.is(zeptoUsdOfNumber(5e-22), 1n);
  t.is(zeptoUsdOfNumber(4.9e-22), 0n);
  t.is(zeptoUsdOfNumber(-2.5e-21), -3n);
  t.is(zeptoUsdOfNumber(2 ** 60), 1_152_921_504_606_847_000n * ZEPTO_USD_PER_USD); // printed 1152921504606847000
  t.throws(() => zeptoUsdOfNumber(Number.NaN), { instanceOf: RangeError });
  t.throws(() => zeptoUsdOfNumber(Number.POSITIVE_INFINITY), { instanceOf: RangeError });
});

test('zeptoUsdOfNumber inverts usdNumber for costs of up to 15 significant digits', (t) => {
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: 10n ** 15n - 1n }), fc.integer({ min: 0, max: 30 }), (digits, shift) => {
    const z = digits * 10n ** BigInt(shift);
    return zeptoUsdOfNumber(usdNumber(z)) === z;
  }));
  t.pass();
});
