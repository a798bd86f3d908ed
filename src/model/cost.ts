// Money on a flow record: an integer number of zepto-dollars (10^-21 USD) in a bigint.
//
// Why that unit: a flow's cost is billed bytes × (USD per GB) / GB. Rates have at most 9
// decimals (nano-USD per GB), so with a GB of 10^9 bytes every cost is a whole number of
// 10^-18 USD and with a GB of 2^30 bytes it is rounded to 10^-21 USD: off by at most 5·10^-22 USD,
// a relative 5·10^-10 for one byte at $0.001/GB. Integers add exactly, so any sum of records
// (reduce, PostgreSQL's numeric) equals the sum of its bytes × rate to that bound, however many
// records there are; float sums drift with their number. A bigint holds any total (2^53 zUSD
// would be only 9,007 USD).

/** Zepto-dollars in one US dollar. */
export const ZEPTO_USD_PER_USD = 10n ** 21n;
const FRACTION_DIGITS = 21;
/** 2^53: integers below it are exact doubles. */
const MAX_EXACT = 2n ** 53n;

/** The exact decimal text of a cost in USD: `0.000000000123`, `12.5`, `0`, `-1.25`. */
export function usdText(zeptoUsd: bigint): string {
  const negative = zeptoUsd < 0n;
  const magnitude = negative ? -zeptoUsd : zeptoUsd;
  const whole = magnitude / ZEPTO_USD_PER_USD;
  const fraction = (magnitude % ZEPTO_USD_PER_USD).toString().padStart(FRACTION_DIGITS, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction === '' ? '' : `.${fraction}`}`;
}

/** A cost in USD as the nearest double (for backends whose values are doubles: OTLP, Prometheus). */
export function usdNumber(zeptoUsd: bigint): number {
  // Below 2^53 both operands are exact doubles (10^21 is one), so the one division rounds once;
  // beyond, Number() of the decimal text is the correctly rounded conversion (two float steps
  // would round twice and could miss the nearest double, which zeptoUsdOfNumber reads back).
  if (zeptoUsd < MAX_EXACT && zeptoUsd > -MAX_EXACT) return Number(zeptoUsd) / 1e21;
  return Number(`${zeptoUsd}e-21`);
}

/**
 * A cost in USD given as a double (an OTLP `as_double`) → zepto-dollars, from the number's exact
 * decimal: the shortest decimal that reads back as that double (ECMAScript's Number-to-String),
 * taken digit by digit as an integer and rounded to the zepto-dollar (halves away from zero). No
 * float arithmetic: the inverse of usdNumber for every cost of at most 15 significant digits; a
 * double carries more only to ~15-17 significant digits.
 */
export function zeptoUsdOfNumber(usd: number): bigint {
  if (!Number.isFinite(usd)) throw new RangeError(`${usd} USD is not a finite amount`);
  const text = String(Math.abs(usd));
  const parts = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(text);
  if (parts === null) throw new RangeError(`${text} is not a decimal number`);
  const fraction = parts[2] ?? '';
  const digits = BigInt(parts[1]! + fraction);
  // value = digits · 10^exponent USD = digits · 10^(exponent + 21) zUSD
  const shift = Number(parts[3] ?? 0) - fraction.length + FRACTION_DIGITS;
  let magnitude: bigint;
  if (shift >= 0) magnitude = digits * 10n ** BigInt(shift);
  else {
    const divisor = 10n ** BigInt(-shift);
    magnitude = (digits * 2n + divisor) / (divisor * 2n);
  }
  return usd < 0 ? -magnitude : magnitude;
}
