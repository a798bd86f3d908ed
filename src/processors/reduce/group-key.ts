// Which attribute values make up a flow's group: the `group_by` keys, plus each end's address
// when that end has no Kubernetes identity, with public addresses folded into 0.0.0.0.
import { isIP } from 'node:net';
import { AddressClassifier } from '../../model/address.ts';
import { DESTINATION, DESTINATION_DOMAIN, SOURCE, endKeys } from '../../model/attributes.ts';
import type { AttributeValue, Attributes } from '../../model/index.ts';

/** What a public address becomes under `group_public_ips` (both families: one "internet" peer). */
export const INTERNET_PEER_ADDRESS = '0.0.0.0';

/** A slot's value; `undefined` when the flow has no such attribute (the output omits it). */
export type SlotValue = AttributeValue | undefined;

export interface GroupKeyOptions {
  groupBy: readonly string[];
  /** Add an end's address to the key when the end has no namespace and no owner. */
  unidentifiedAddresses: boolean;
  groupPublicIps: boolean;
  clusterCidrs: readonly string[];
}

type AddressMode = 'none' | 'always' | 'unidentified';
type Keys = ReturnType<typeof endKeys>;

/** Past this many distinct addresses the public/private cache starts over (bounded memory). */
const CLASSIFICATION_CACHE_LIMIT = 65_536;

export class GroupKeyReader {
  /** Output attribute key of each slot, in slot order. */
  readonly slotKeys: readonly string[];
  readonly slotCount: number;

  readonly #plainKeys: readonly string[];
  readonly #sourceMode: AddressMode;
  readonly #destinationMode: AddressMode;
  /** The domain slot exists when a public destination can be folded and group_by lacks the domain. */
  readonly #domainSlot: boolean;
  readonly #groupPublicIps: boolean;
  readonly #classifier: AddressClassifier;
  #publicCache = new Map<string, boolean>();

  constructor(options: GroupKeyOptions) {
    const fold = options.groupPublicIps;
    const addressMode = (keys: Keys): AddressMode =>
      options.groupBy.includes(keys.address) ? 'always' : options.unidentifiedAddresses ? 'unidentified' : 'none';
    this.#sourceMode = addressMode(SOURCE);
    this.#destinationMode = addressMode(DESTINATION);
    this.#groupPublicIps = fold;
    this.#domainSlot = fold && this.#destinationMode !== 'none' && !options.groupBy.includes(DESTINATION_DOMAIN);
    // Address keys listed in group_by go through the special slots (they may be folded).
    this.#plainKeys = options.groupBy.filter((k) => k !== SOURCE.address && k !== DESTINATION.address);
    const slotKeys = [...this.#plainKeys];
    if (this.#sourceMode !== 'none') slotKeys.push(SOURCE.address);
    if (this.#destinationMode !== 'none') slotKeys.push(DESTINATION.address);
    if (this.#domainSlot) slotKeys.push(DESTINATION_DOMAIN);
    this.slotKeys = slotKeys;
    this.slotCount = slotKeys.length;
    this.#classifier = new AddressClassifier(options.clusterCidrs);
  }

  /** Writes the slot values of `attributes` into `out[0..slotCount)`. Hot path: no allocation. */
  read(attributes: Attributes, out: SlotValue[]): void {
    const plain = this.#plainKeys;
    const n = plain.length;
    for (let j = 0; j < n; j++) out[j] = attributes[plain[j]!];
    let j = n;
    if (this.#sourceMode !== 'none') {
      out[j++] = this.#sourceMode === 'unidentified' && this.#identified(attributes, SOURCE)
        ? undefined
        : this.#address(attributes, SOURCE);
    }
    if (this.#destinationMode !== 'none') {
      const value = this.#destinationMode === 'unidentified' && this.#identified(attributes, DESTINATION)
        ? undefined
        : this.#address(attributes, DESTINATION);
      out[j++] = value;
      // A folded public destination keeps its name, so external traffic is grouped by domain.
      if (this.#domainSlot) out[j++] = value === INTERNET_PEER_ADDRESS ? attributes[DESTINATION_DOMAIN] : undefined;
    }
  }

  /** Whether an address is public: the flow's own `*.address.type` wins, else its range. */
  isPublic(attributes: Attributes, keys: Keys): boolean {
    const type = attributes[keys.addressType];
    if (type !== undefined) return type === 'public';
    const address = attributes[keys.address];
    if (typeof address !== 'string') return false;
    let known = this.#publicCache.get(address);
    if (known === undefined) {
      known = isIP(address) !== 0 && this.#classifier.isPublic(address);
      if (this.#publicCache.size >= CLASSIFICATION_CACHE_LIMIT) this.#publicCache = new Map();
      this.#publicCache.set(address, known);
    }
    return known;
  }

  #identified(attributes: Attributes, keys: Keys): boolean {
    return attributes[keys.namespace] !== undefined || attributes[keys.ownerName] !== undefined;
  }

  #address(attributes: Attributes, keys: Keys): SlotValue {
    const address = attributes[keys.address];
    if (address === undefined || !this.#groupPublicIps) return address;
    return this.isPublic(attributes, keys) ? INTERNET_PEER_ADDRESS : address;
  }
}
