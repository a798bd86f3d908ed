// Which attribute values make up a flow's group: the `group_by` keys, plus each end's address
// when that end has no Kubernetes identity. A public address is shown as something a person can
// read, never a made-up address: a destination by its domain when dnsnames knows it, else the
// address or its prefix (`public_addresses`), with `<end>.address.type: public`.
import { AddressClassifier } from '../../model/address.ts';
import { DESTINATION, DESTINATION_DOMAIN, SOURCE, endKeys } from '../../model/attributes.ts';
import { addressPrefix } from '../../model/cidr.ts';
import type { AttributeValue, Attributes } from '../../model/index.ts';

/** A slot's value; `undefined` when the flow has no such attribute (the output omits it). */
export type SlotValue = AttributeValue | undefined;

export interface PublicAddressOptions {
  /** A public destination with a known domain is grouped by the domain, without its address. */
  byDomain: boolean;
  /** Other public addresses are cut to these many bits (32 / 128: the address itself). */
  ipv4Prefix: number;
  ipv6Prefix: number;
}

export interface GroupKeyOptions {
  groupBy: readonly string[];
  /** Add an end's address to the key when the end has no namespace and no owner. */
  unidentifiedAddresses: boolean;
  publicAddresses: PublicAddressOptions;
  clusterCidrs: readonly string[];
}

/** How one end's address enters the group: the slots it writes. */
interface EndSlots {
  keys: Keys;
  mode: AddressMode;
  addressSlot: number;
  /** `<end>.address.type`: a slot of its own when group_by lacks the key, else group_by's slot. */
  typeSlot: number;
}

/** What the cache knows of an address: what a public group shows, and whether its range is public. */
interface PublicVerdict {
  /** The address, or its prefix. */
  shown: string;
  /** Undefined until a flow without `<end>.address.type` needs it (a typed flow never does). */
  public: boolean | undefined;
}

const PUBLIC = 'public';

type AddressMode = 'none' | 'always' | 'unidentified';
type Keys = ReturnType<typeof endKeys>;

/** Past this many distinct addresses the public/private cache starts over (bounded memory). */
const CLASSIFICATION_CACHE_LIMIT = 65_536;

/**
 * `out[0] = a["<key 0>"]; …` for the plain keys, then `out[j] = undefined` for the other slots.
 * Compiled: a loop of `attributes[keys[j]]` goes through a megamorphic keyed load per slot (17
 * per flow with the default group_by); a load of a constant key has an inline cache of its own,
 * and the attribute maps a processor makes have few shapes. Keys are written as JSON string
 * literals, so no configured key can break out of its string; `a["__proto__"]` reads what
 * `a[key]` read.
 */
function readerOf(plainKeys: readonly string[], slotCount: number): (attributes: Attributes, out: SlotValue[]) => void {
  const lines = plainKeys.map((k, j) => `out[${j}] = a[${JSON.stringify(k)}];`);
  for (let j = plainKeys.length; j < slotCount; j++) lines.push(`out[${j}] = undefined;`);
  return new Function('a', 'out', lines.join('\n')) as (attributes: Attributes, out: SlotValue[]) => void;
}

export class GroupKeyReader {
  /** Output attribute key of each slot, in slot order. */
  readonly slotKeys: readonly string[];
  readonly slotCount: number;

  readonly #plainKeys: readonly string[];
  /** Reads the plain keys into their slots and empties the others (compiled: see readerOf). */
  readonly #readPlain: (attributes: Attributes, out: SlotValue[]) => void;
  readonly #ends: readonly EndSlots[];
  readonly #byDomain: boolean;
  /** Slot of destination.domain: group_by's, or one of its own when public destinations are grouped by domain; -1 none. */
  readonly #domainSlot: number;
  readonly #ipv4Prefix: number;
  readonly #ipv6Prefix: number;
  /** Public addresses are shown whole (prefixes 32 and 128, the defaults): nothing to cut. */
  readonly #wholeAddresses: boolean;
  readonly #classifier: AddressClassifier;
  #publicCache = new Map<string, PublicVerdict>();

  constructor(options: GroupKeyOptions) {
    const { groupBy, publicAddresses } = options;
    // Address keys listed in group_by go through the end slots (a public one may be cut to a prefix).
    this.#plainKeys = groupBy.filter((k) => k !== SOURCE.address && k !== DESTINATION.address);
    const slotKeys = [...this.#plainKeys];
    const slotOf = (key: string) => {
      const listed = slotKeys.indexOf(key);
      return listed >= 0 ? listed : slotKeys.push(key) - 1;
    };
    const ends: EndSlots[] = [];
    for (const keys of [SOURCE, DESTINATION]) {
      const mode: AddressMode = groupBy.includes(keys.address) ? 'always' : options.unidentifiedAddresses ? 'unidentified' : 'none';
      if (mode !== 'none') ends.push({ keys, mode, addressSlot: slotOf(keys.address), typeSlot: slotOf(keys.addressType) });
    }
    this.#ends = ends;
    this.#byDomain = publicAddresses.byDomain;
    const destinationAddressed = ends.some((e) => e.keys === DESTINATION);
    this.#domainSlot = this.#byDomain && destinationAddressed ? slotOf(DESTINATION_DOMAIN) : -1;
    this.#ipv4Prefix = publicAddresses.ipv4Prefix;
    this.#ipv6Prefix = publicAddresses.ipv6Prefix;
    this.#wholeAddresses = publicAddresses.ipv4Prefix >= 32 && publicAddresses.ipv6Prefix >= 128;
    this.slotKeys = slotKeys;
    this.slotCount = slotKeys.length;
    this.#readPlain = readerOf(this.#plainKeys, this.slotCount);
    this.#classifier = new AddressClassifier(options.clusterCidrs);
  }

  /** Writes the slot values of `attributes` into `out[0..slotCount)`. Hot path: no allocation. */
  read(attributes: Attributes, out: SlotValue[]): void {
    this.#readPlain(attributes, out);
    const ends = this.#ends;
    for (let e = 0; e < ends.length; e++) {
      const end = ends[e]!;
      if (end.mode === 'always' || !this.#identified(attributes, end.keys)) this.#readEnd(attributes, end, out);
    }
  }

  /**
   * One end's address and, when it is public, its type (`public`) and, for a destination whose
   * domain is known, the domain instead of the address.
   */
  #readEnd(attributes: Attributes, end: EndSlots, out: SlotValue[]): void {
    const address = attributes[end.keys.address];
    const shown = this.#publicShown(attributes, end.keys);
    if (shown === undefined) {
      out[end.addressSlot] = address;
      return;
    }
    out[end.typeSlot] = PUBLIC;
    const domain = end.keys === DESTINATION && this.#byDomain ? attributes[DESTINATION_DOMAIN] : undefined;
    if (domain !== undefined && domain !== '') {
      out[this.#domainSlot] = domain;
    } else {
      out[end.addressSlot] = shown;
    }
  }

  /**
   * What a public end shows for its address (the address, or its prefix); undefined when the end
   * is not public. The flow's own `<end>.address.type` wins (k8sattributes sets it), else the range.
   */
  #publicShown(attributes: Attributes, keys: Keys): string | undefined {
    const address = attributes[keys.address];
    if (typeof address !== 'string') return undefined;
    const type = attributes[keys.addressType];
    if (type !== undefined && type !== PUBLIC) return undefined;
    // Typed public (k8sattributes says so): no range check, and a whole address needs no cache
    // (a gateway's flows carry new address strings every interval: a cache lookup hashes each).
    if (type === PUBLIC && this.#wholeAddresses) return addressPrefix(address, this.#ipv4Prefix, this.#ipv6Prefix) ?? address;
    let verdict = this.#publicCache.get(address);
    if (verdict === undefined) {
      const shown = addressPrefix(address, this.#ipv4Prefix, this.#ipv6Prefix);
      verdict = shown === undefined ? { shown: address, public: false } : { shown, public: undefined };
      if (this.#publicCache.size >= CLASSIFICATION_CACHE_LIMIT) this.#publicCache = new Map();
      this.#publicCache.set(address, verdict);
    }
    if (type === PUBLIC) return verdict.shown;
    if (verdict.public === undefined) verdict.public = this.#classifier.isPublic(address);
    return verdict.public ? verdict.shown : undefined;
  }

  #identified(attributes: Attributes, keys: Keys): boolean {
    return attributes[keys.namespace] !== undefined || attributes[keys.ownerName] !== undefined;
  }
}
