// A consistent-hash ring: each endpoint owns VIRTUAL_NODES points on a 32-bit circle, a key
// belongs to the endpoint of the first point at or after the key's hash. When an endpoint comes
// or goes only the keys of its arcs move (about 1/N of them), so one routing key keeps reaching
// one gateway across changes of the others.

/** Points per endpoint: enough for an even spread over a few to a few hundred gateways. */
const VIRTUAL_NODES = 128;

/** FNV-1a, 32 bits, over the UTF-16 code units of a string: fast, and evenly spread for short keys. */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // A final avalanche (murmur3's fmix32): FNV's low bits alone cluster for keys that differ at the end.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class HashRing {
  readonly endpoints: readonly string[];
  readonly #points: Uint32Array;
  readonly #owners: string[];

  constructor(endpoints: Iterable<string>) {
    this.endpoints = [...new Set(endpoints)].sort();
    const points: Array<[number, string]> = [];
    for (const endpoint of this.endpoints) {
      for (let i = 0; i < VIRTUAL_NODES; i++) points.push([fnv1a32(`${endpoint}#${i}`), endpoint]);
    }
    // Ties (two endpoints on one point) go to the smaller name, so every process builds the same ring.
    points.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    this.#points = Uint32Array.from(points, (p) => p[0]);
    this.#owners = points.map((p) => p[1]);
  }

  get size(): number {
    return this.endpoints.length;
  }

  /** The endpoint that owns `key`; undefined on an empty ring. */
  owner(key: string): string | undefined {
    const n = this.#points.length;
    if (n === 0) return undefined;
    const h = fnv1a32(key);
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#points[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return this.#owners[lo === n ? 0 : lo];
  }
}
