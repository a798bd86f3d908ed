// fast-check arbitraries of flows with any attributes, counters and times, for the property
// tests of the OTLP encoders and of the otlp receiver's decoders.
import fc from 'fast-check';
import type { AttributeValue, Flow } from '../../../../model/index.ts';

export interface FlowArbitraryOptions {
  /**
   * Counters may be 0 (a point left out) and costs have any digits; otherwise every counter but
   * connections is ≥ 1 and a cost, when there is one, is above zero with at most 15 significant
   * digits (what a double carries exactly).
   */
  zeroCounters: boolean;
  /** Attribute keys to leave out (e.g. network.io.direction, which a decoder reads as the direction). */
  excludeKeys?: readonly string[];
  /** Doubles may be -0 (written as the integer 0: it reads back as 0). */
  negativeZero?: boolean;
}

export function arbitraryFlow(options: FlowArbitraryOptions): fc.Arbitrary<Flow> {
  const double = fc.double({ noNaN: true, noDefaultInfinity: !options.zeroCounters });
  const value: fc.Arbitrary<AttributeValue> = fc.oneof(
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.boolean(),
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
    fc.maxSafeInteger(),
    options.negativeZero === false ? double.filter((d) => !Object.is(d, -0)) : double,
  );
  const nonZero = fc.oneof(fc.integer({ min: 1, max: 1_000 }), fc.maxSafeNat().filter((n) => n > 0));
  const counter = options.zeroCounters ? fc.oneof(fc.constant(0), nonZero) : nonZero;
  const time = fc.bigInt({ min: options.zeroCounters ? 0n : 1n, max: 2n ** 64n - 1n });
  const excluded = new Set(options.excludeKeys ?? []);
  const exactCost = fc.tuple(fc.bigInt({ min: options.zeroCounters ? 0n : 1n, max: 10n ** 15n - 1n }), fc.integer({ min: 0, max: 24 })).map(([digits, shift]) => digits * 10n ** BigInt(shift));
  const cost = options.zeroCounters ? fc.oneof(exactCost, fc.bigInt({ min: 0n, max: 10n ** 30n })) : exactCost;
  const flow = fc.record({
    attributes: fc.dictionary(fc.string({ minLength: 1, maxLength: 30 }).filter((k) => !excluded.has(k)), value, { maxKeys: 8 }),
    startTimeUnixNano: time,
    timeUnixNano: time,
    txBytes: counter, rxBytes: counter, txPackets: counter, rxPackets: counter,
    connections: fc.oneof(fc.constant(0), nonZero),
  });
  return fc.tuple(flow, fc.option(cost, { nil: undefined })).map(([f, costZeptoUsd]): Flow => (costZeptoUsd === undefined ? f : { ...f, costZeptoUsd }));
}
