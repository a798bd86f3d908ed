// A bounded hash table of groups for the reducer's hot path.
//
// Why not `Map<string, Group>` with a concatenated key: building a ~150-character key per record
// and hashing it cost 2.6 times as much CPU as this scheme (measured in bench/reduce). Instead each
// slot value is interned to a small integer per slot (`Map.get` on a string whose hash V8 caches),
// the integer tuple is hashed with FNV-1a, and groups live in an open-addressing table whose
// tuples and counters are typed arrays. Values only enter the dictionaries when a group is
// created, so the dictionaries are bounded by the groups created between two rebuilds; `clear`
// keeps them unless they hold many more values than the groups just cleared (the next interval
// mostly sees the same values again, and re-interning them cost a Map.set each). The arrays
// start small and double up to `capacity` (max_groups), so a large max_groups costs memory only
// when that many groups exist.
import type { Attributes } from '../../model/index.ts';
import type { SlotValue } from './group-key.ts';

export const COUNTERS_PER_GROUP = 6;
/**
 * Counter offsets within a group's block of `COUNTERS_PER_GROUP` doubles. COST_PART holds the part
 * of the group's cost (zepto-USD) not yet moved into its bigint: an exact integer below 2^53.
 */
export const TX_BYTES = 0, RX_BYTES = 1, TX_PACKETS = 2, RX_PACKETS = 3, CONNECTIONS = 4, COST_PART = 5;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

const EMPTY = -1;

/** No slot value is this. */
const NOT_LOOKED_UP = Symbol('not looked up');

const INITIAL_GROUPS = 1024;

export class GroupTable {
  /** The most groups the table will hold. */
  readonly capacity: number;
  readonly slotCount: number;
  /** Live groups are 0..size-1. */
  size = 0;
  // The per-group arrays are replaced when the table grows (only `insert` grows it).
  /** Per group, `COUNTERS_PER_GROUP` doubles: tx bytes, rx bytes, tx packets, rx packets, connections, cost part. */
  counters: Float64Array;
  /** Per group: the start of the first interval it was seen in (ms since the epoch). */
  startMs: Float64Array;
  /** Per group: the end of the last interval it had traffic in. */
  lastSeenMs: Float64Array;
  /** Per group: 1 when it had traffic in the current interval. */
  touched: Uint8Array;
  /** Per group: its slot values, for the output attributes. */
  readonly values: SlotValue[][] = [];
  /**
   * Per group: its output attribute map once it was emitted (frozen), emitted again every
   * interval the group has traffic: made once per group, not once per group per interval.
   */
  readonly attributes: Array<Attributes | undefined> = [];
  /**
   * Per group: the sum of its flows' `costZeptoUsd` (exact integers) minus the COST_PART counter,
   * undefined while none of them carried a cost. Most additions go to COST_PART as doubles
   * (exact below 2^53); only when it would pass 2^53 is it moved here, so a bigint is made once
   * per hundreds of flows instead of once per flow.
   */
  readonly #costs: Array<bigint | undefined> = [];

  #dictionaries: Map<SlotValue, number>[];
  #tuples: Int32Array;
  #buckets: Int32Array;
  #mask: number;
  readonly #ids: Int32Array;
  /** How many of `#ids` the last `find` looked up before it returned (all of them once it probed). */
  #idsKnown = 0;
  /**
   * Per slot, the value looked up last and its id: consecutive flows share most slot values (the
   * same pod's, node's, zone's strings), and `===` on the same string object costs far less than a
   * dictionary lookup. Forgotten whenever the dictionaries change (NOT_LOOKED_UP matches nothing).
   */
  readonly #lastValues: unknown[];
  readonly #lastIds: Int32Array;

  #allocated: number;

  constructor(slotCount: number, capacity: number) {
    this.slotCount = slotCount;
    this.capacity = capacity;
    this.#allocated = Math.min(capacity, INITIAL_GROUPS);
    this.counters = new Float64Array(this.#allocated * COUNTERS_PER_GROUP);
    this.startMs = new Float64Array(this.#allocated);
    this.lastSeenMs = new Float64Array(this.#allocated);
    this.touched = new Uint8Array(this.#allocated);
    this.#tuples = new Int32Array(Math.max(1, this.#allocated * slotCount));
    this.#buckets = GroupTable.#bucketsFor(this.#allocated);
    this.#mask = this.#buckets.length - 1;
    this.#dictionaries = Array.from({ length: slotCount }, () => new Map());
    this.#ids = new Int32Array(slotCount);
    this.#lastValues = new Array<unknown>(slotCount).fill(NOT_LOOKED_UP);
    this.#lastIds = new Int32Array(slotCount);
  }

  /** At most half full: short probe sequences. */
  static #bucketsFor(groups: number): Int32Array {
    let buckets = 16;
    while (buckets < groups * 2) buckets *= 2;
    return new Int32Array(buckets).fill(EMPTY);
  }

  /** Doubles the per-group arrays (up to `capacity`) and rehashes every group. */
  #grow(): void {
    const groups = Math.min(this.capacity, this.#allocated * 2);
    const k = this.slotCount;
    const resized = <T extends Float64Array | Uint8Array | Int32Array>(old: T, make: (n: number) => T, per: number): T => {
      const next = make(Math.max(1, groups * per));
      next.set(old.subarray(0, this.size * per));
      return next;
    };
    this.counters = resized(this.counters, (n) => new Float64Array(n), COUNTERS_PER_GROUP);
    this.startMs = resized(this.startMs, (n) => new Float64Array(n), 1);
    this.lastSeenMs = resized(this.lastSeenMs, (n) => new Float64Array(n), 1);
    this.touched = resized(this.touched, (n) => new Uint8Array(n), 1);
    this.#tuples = resized(this.#tuples, (n) => new Int32Array(n), k);
    this.#allocated = groups;
    this.#buckets = GroupTable.#bucketsFor(groups);
    this.#mask = this.#buckets.length - 1;
    const ids = this.#ids;
    for (let g = 0; g < this.size; g++) {
      ids.set(this.#tuples.subarray(g * k, (g + 1) * k));
      this.#buckets[this.#probe(ids, true)] = g;
    }
  }

  get full(): boolean {
    return this.size >= this.capacity;
  }

  /** The group holding exactly these slot values, or -1. */
  find(values: readonly SlotValue[]): number {
    const ids = this.#ids;
    const dictionaries = this.#dictionaries;
    const k = this.slotCount;
    const lastValues = this.#lastValues;
    const lastIds = this.#lastIds;
    for (let j = 0; j < k; j++) {
      const value = values[j];
      if (value === lastValues[j]) {
        ids[j] = lastIds[j]!;
        continue;
      }
      const id = dictionaries[j]!.get(value);
      if (id === undefined) {
        this.#idsKnown = j;
        return EMPTY; // a value never seen in any group: a new group
      }
      ids[j] = id;
      lastValues[j] = value;
      lastIds[j] = id;
    }
    this.#idsKnown = k;
    return this.#probe(ids, false);
  }

  /** Adds a group (the caller checked `find` and `full`); returns its index. */
  insert(values: readonly SlotValue[], startMs: number): number {
    return this.#insert(values, startMs, 0);
  }

  /**
   * Adds the group that `find(values)` has just missed (the caller checked `full`), reusing the
   * value ids that `find` looked up; returns its index.
   */
  insertMissed(values: readonly SlotValue[], startMs: number): number {
    return this.#insert(values, startMs, this.#idsKnown);
  }

  /** `known`: `#ids[0..known)` are already these values' ids. */
  #insert(values: readonly SlotValue[], startMs: number, known: number): number {
    if (this.size === this.#allocated) this.#grow();
    const ids = this.#ids;
    const k = this.slotCount;
    for (let j = known; j < k; j++) ids[j] = this.#intern(j, values[j]);
    const g = this.size++;
    // Element by element: TypedArray set/fill are builtin calls that cost more than the few
    // elements of one group.
    const tuples = this.#tuples;
    for (let j = 0, base = g * k; j < k; j++) tuples[base + j] = ids[j]!;
    this.values[g] = values.slice(0, k);
    this.attributes[g] = undefined;
    this.#costs[g] = undefined;
    this.startMs[g] = startMs;
    this.lastSeenMs[g] = startMs;
    this.touched[g] = 0;
    const counters = this.counters;
    for (let c = g * COUNTERS_PER_GROUP, end = c + COUNTERS_PER_GROUP; c < end; c++) counters[c] = 0;
    this.#buckets[this.#probe(ids, true)] = g;
    return g;
  }

  /**
   * Keeps the groups for which `keep(g)` is true, renumbered in order, and rebuilds the
   * dictionaries and buckets so that evicted values are forgotten.
   */
  retain(keep: (group: number) => boolean): void {
    let kept = 0;
    for (let g = 0; g < this.size; g++) {
      if (!keep(g)) continue;
      if (kept !== g) {
        this.counters.copyWithin(kept * COUNTERS_PER_GROUP, g * COUNTERS_PER_GROUP, (g + 1) * COUNTERS_PER_GROUP);
        this.startMs[kept] = this.startMs[g]!;
        this.lastSeenMs[kept] = this.lastSeenMs[g]!;
        this.touched[kept] = this.touched[g]!;
        this.values[kept] = this.values[g]!;
        this.attributes[kept] = this.attributes[g];
        this.#costs[kept] = this.#costs[g];
      }
      kept++;
    }
    const survivors = this.values.slice(0, kept);
    this.values.length = 0;
    this.size = 0;
    this.#dictionaries = Array.from({ length: this.slotCount }, () => new Map());
    this.#lastValues.fill(NOT_LOOKED_UP);
    this.#buckets.fill(EMPTY);
    const k = this.slotCount;
    const ids = this.#ids;
    for (let g = 0; g < kept; g++) {
      const values = survivors[g]!;
      for (let j = 0; j < k; j++) ids[j] = this.#intern(j, values[j]);
      this.#tuples.set(ids, g * k);
      this.values[g] = values;
      this.#buckets[this.#probe(ids, true)] = g;
    }
    this.size = kept;
    this.attributes.length = kept;
    this.#costs.length = kept;
  }

  /** Zeroes every group's counters and cost (delta temporality, at the end of each interval). */
  resetCounters(): void {
    this.counters.fill(0, 0, this.size * COUNTERS_PER_GROUP);
    this.#costs.fill(undefined, 0, this.size);
  }

  /** Adds a flow's cost to group `g` (exactly). */
  addCost(g: number, cost: bigint): void {
    const big = this.#costs[g];
    const o = g * COUNTERS_PER_GROUP + COST_PART;
    if (cost <= MAX_SAFE && cost >= 0n) {
      const part = this.counters[o]!;
      const n = Number(cost);
      const sum = part + n;
      if (sum <= Number.MAX_SAFE_INTEGER) {
        this.counters[o] = sum;
        if (big === undefined) this.#costs[g] = 0n;
        return;
      }
      this.#costs[g] = (big ?? 0n) + BigInt(part);
      this.counters[o] = n;
      return;
    }
    this.#costs[g] = (big ?? 0n) + cost;
  }

  /** Group `g`'s cost, or undefined when none of its flows carried one. */
  cost(g: number): bigint | undefined {
    const big = this.#costs[g];
    return big === undefined ? undefined : big + BigInt(this.counters[g * COUNTERS_PER_GROUP + COST_PART]!);
  }

  /**
   * Forgets every group (delta temporality, after an interval without traffic). A dictionary is kept
   * for the next interval's groups unless it is stale (see `dictionariesStale`).
   */
  clear(): void {
    const limit = this.#staleLimit();
    for (const dictionary of this.#dictionaries) if (dictionary.size > limit) dictionary.clear();
    this.#lastValues.fill(NOT_LOOKED_UP);
    this.size = 0;
    this.values.length = 0;
    this.attributes.length = 0;
    this.#costs.length = 0;
    this.#buckets.fill(EMPTY);
  }

  /** Whether the dictionaries hold many values no live group uses (worth a `retain`). */
  get dictionariesStale(): boolean {
    const limit = this.#staleLimit();
    return this.#dictionaries.some((d) => d.size > limit);
  }

  #staleLimit(): number {
    return this.size * 2 + 1024;
  }

  #intern(slot: number, value: SlotValue): number {
    const dictionary = this.#dictionaries[slot]!;
    let id = dictionary.get(value);
    if (id === undefined) {
      id = dictionary.size;
      dictionary.set(value, id);
    }
    return id;
  }

  /** The bucket holding `ids` (forInsert: the first empty bucket on its probe path) or -1. */
  #probe(ids: Int32Array, forInsert: boolean): number {
    const k = this.slotCount;
    let h = 0x811c9dc5 | 0;
    for (let j = 0; j < k; j++) h = Math.imul(h ^ ids[j]!, 0x01000193);
    h ^= h >>> 15;
    const buckets = this.#buckets;
    const tuples = this.#tuples;
    const mask = this.#mask;
    for (let b = h & mask; ; b = (b + 1) & mask) {
      const g = buckets[b]!;
      if (g === EMPTY) return forInsert ? b : EMPTY;
      if (forInsert) continue;
      const base = g * k;
      let j = 0;
      while (j < k && tuples[base + j] === ids[j]) j++;
      if (j === k) return g;
    }
  }
}
