// A map keyed by IP address strings, for the per-flow lookups of the cluster cache. A canonical
// dotted-quad IPv4 address (no leading zeros) is keyed by its 32-bit value instead of the string:
// the flows a gateway receives carry new string objects every interval, and a string Map hashes
// each new string and compares it with the stored key's characters (two more cache misses in a
// 30,000-pod index); parsing the address is a few character reads. Anything else (IPv6, the
// `ip|port/proto` keys of hostNetwork pods, a non-canonical form) is keyed by its string, so a
// key matches exactly the strings it matched as a string.

/** `address`'s IPv4 value as an int32 (a small integer to V8), or NOT_IPV4. */
export function ipv4Key(address: string): number {
  const n = address.length;
  if (n < 7 || n > 15) return NOT_IPV4;
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < n; i++) {
    const c = address.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return NOT_IPV4;
      value = (value << 8) | part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits === 3 || (digits === 1 && part === 0)) return NOT_IPV4; // 4 digits, or a leading zero
      part = part * 10 + (c - 48);
      if (part > 255) return NOT_IPV4;
      digits++;
    } else return NOT_IPV4;
  }
  if (dots !== 3 || digits === 0) return NOT_IPV4;
  return (value << 8) | part;
}

/** Not an int32: no IPv4 address has it. */
export const NOT_IPV4 = 2 ** 32;

export class AddressMap<V> {
  readonly #byIpv4 = new Map<number, V>();
  readonly #byString = new Map<string, V>();

  get(address: string): V | undefined {
    const key = ipv4Key(address);
    return key === NOT_IPV4 ? this.#byString.get(address) : this.#byIpv4.get(key);
  }

  set(address: string, value: V): this {
    const key = ipv4Key(address);
    if (key === NOT_IPV4) this.#byString.set(address, value);
    else this.#byIpv4.set(key, value);
    return this;
  }

  delete(address: string): boolean {
    const key = ipv4Key(address);
    return key === NOT_IPV4 ? this.#byString.delete(address) : this.#byIpv4.delete(key);
  }

  clear(): void {
    this.#byIpv4.clear();
    this.#byString.clear();
  }

  get size(): number {
    return this.#byIpv4.size + this.#byString.size;
  }
}
