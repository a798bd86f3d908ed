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
  // Whole dollars and the fraction apart: each conversion is exact or correctly rounded.
  const whole = zeptoUsd / ZEPTO_USD_PER_USD;
  return Number(whole) + Number(zeptoUsd - whole * ZEPTO_USD_PER_USD) / 1e21;
}
