// A flow's cost in zepto-USD (src/model/cost.ts), computed exactly in integers.
//
// cost = billed bytes × rate / GB, with billed bytes = tx·billing.tx + rx·billing.rx and the rate
// held as integer nano-USD per GB (R). In zepto-USD that is billed × R × 10^12 / GB:
//   GB = 10^9:  billed × R × 1000, exact;
//   GB = 2^30:  billed × R × 5^12 / 2^18 (10^12 / 2^30 reduced), rounded half up to a whole zepto-USD.
// The fast path does the same in doubles when every intermediate is an integer below 2^53 (so
// exact): with R × 5^12 = q·2^18 + r, the cost is billed·q + round(billed·r / 2^18); one bigint is
// made from the result. Otherwise it computes in bigints.
import type { Flow } from '../../model/index.ts';
import { type ClassRates, nanoUsdPerGb, type NetcostConfig } from './config.ts';
import { type Billing, COST_CLASSES, CUSTOM_BILLING, type Gigabyte, PROVIDER_TABLES, tableRates } from './prices.ts';
import type { ClassIndex } from './classify.ts';

const BINARY_SHIFT = 18n;
const BINARY_HALF = 1n << (BINARY_SHIFT - 1n);
const BINARY_SCALE = 2 ** 18;
const BINARY_FACTOR = 5n ** 12n;
const DECIMAL_FACTOR = 1000n;

/** A class's effective price: USD per GB (for the README and tests) and the billing rule. */
export interface ClassPrice {
  usdPerGb: number;
  billing: Billing;
}

/** Every class's rate and billing rule for a config: the provider's table, then `rates`. */
export function classPrices(config: NetcostConfig): ClassPrice[] {
  const rates: ClassRates = config.provider === 'custom' ? {} : tableRates(config.provider, config.region) ?? {};
  const merged: ClassRates = { ...rates, ...config.rates };
  // unknown follows inter_zone (overridden or not) unless it has its own rate.
  if (config.rates.unknown === undefined && merged.inter_zone !== undefined) merged.unknown = merged.inter_zone;
  const billing = config.provider === 'custom' ? CUSTOM_BILLING : PROVIDER_TABLES[config.provider].billing;
  return COST_CLASSES.map((c) => ({ usdPerGb: merged[c] ?? 0, billing: billing[c] }));
}

export function gigabyteOf(config: NetcostConfig): Gigabyte {
  return config.gigabyte ?? (config.provider === 'custom' ? 'decimal' : PROVIDER_TABLES[config.provider].gigabyte);
}

export class Pricer {
  readonly #tx: Float64Array;
  readonly #rx: Float64Array;
  /** Per class: zepto-USD per billed byte × 2^18 (binary GB) or zepto-USD per billed byte (decimal). */
  readonly #factor: bigint[];
  /** The factor in doubles: decimal, the factor itself; binary, q and r with factor = q·2^18 + r. */
  readonly #q: Float64Array;
  readonly #r: Float64Array;
  readonly #binary: boolean;

  constructor(prices: readonly ClassPrice[], gigabyte: Gigabyte) {
    this.#binary = gigabyte === 'binary';
    this.#tx = Float64Array.from(prices, (p) => p.billing.tx);
    this.#rx = Float64Array.from(prices, (p) => p.billing.rx);
    this.#factor = prices.map((p) => {
      const nano = nanoUsdPerGb(p.usdPerGb);
      if (nano === undefined) throw new Error(`rate ${p.usdPerGb} USD/GB is not a whole number of nano-USD per GB`);
      return BigInt(nano) * (this.#binary ? BINARY_FACTOR : DECIMAL_FACTOR);
    });
    this.#q = Float64Array.from(this.#factor, (f) => Number(this.#binary ? f >> BINARY_SHIFT : f));
    this.#r = Float64Array.from(this.#factor, (f) => (this.#binary ? Number(f & ((1n << BINARY_SHIFT) - 1n)) : 0));
  }

  /** Bytes billed for a flow of this class (exact: below 2^53 for any real interval). */
  billedBytes(cls: ClassIndex, flow: Flow): number {
    return this.#tx[cls]! * flow.txBytes + this.#rx[cls]! * flow.rxBytes;
  }

  /** The flow's cost in zepto-USD. */
  price(cls: ClassIndex, flow: Flow): bigint {
    const factor = this.#factor[cls]!;
    // Bytes are integers; rounding keeps a fractional value from bad input from throwing in BigInt().
    const billed = Math.round(this.billedBytes(cls, flow));
    if (billed === 0 || factor === 0n) return 0n;
    const whole = billed * this.#q[cls]!;
    if (!this.#binary) {
      if (whole <= Number.MAX_SAFE_INTEGER) return BigInt(whole);
    } else {
      const part = billed * this.#r[cls]!;
      if (part <= Number.MAX_SAFE_INTEGER) {
        const total = whole + Math.round(part / BINARY_SCALE);
        if (total <= Number.MAX_SAFE_INTEGER) return BigInt(total);
      }
    }
    const scaled = BigInt(billed) * factor;
    return this.#binary ? (scaled + BINARY_HALF) >> BINARY_SHIFT : scaled;
  }
}
