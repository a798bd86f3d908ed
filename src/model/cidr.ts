// CIDR ranges (`10.0.0.0/8`, `fd00::/8`): the one parser, error message and zod schema for every
// config key that takes them (exclude_cidrs, cluster_cidrs, the filter's cidr), and the one way
// to turn a list of them into a set to check addresses against; and an address cut to a prefix.
import { createRequire } from 'node:module';
import { BlockList, isIP } from 'node:net';
import type * as IpAddress from 'ip-address';
import { z } from 'zod';

export interface Cidr {
  network: string;
  prefixLength: number;
  family: 'ipv4' | 'ipv6';
}

/** `text` as a CIDR, or why it is not one: `"<text>" is not a CIDR: <reason>`. */
function parse(text: string): Cidr | string {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  const version = m ? isIP(m[1]!) : 0;
  if (!m || version === 0) return `"${text}" is not a CIDR: expected address/prefix, e.g. 10.0.0.0/8 or fd00::/8`;
  const prefixLength = Number(m[2]);
  const bits = version === 4 ? 32 : 128;
  if (prefixLength > bits) return `"${text}" is not a CIDR: prefix longer than the address (/${bits} at most for IPv${version})`;
  return { network: m[1]!, prefixLength, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** The error message for `text`, or undefined when it is a CIDR. */
export function cidrError(text: string): string | undefined {
  const parsed = parse(text);
  return typeof parsed === 'string' ? parsed : undefined;
}

/** Parses a CIDR; throws with cidrError's message when `text` is not one. */
export function parseCidr(text: string): Cidr {
  const parsed = parse(text);
  if (typeof parsed === 'string') throw new Error(parsed);
  return parsed;
}

/** One CIDR in a config; the issue carries cidrError's message. */
export const cidrSchema = z.string().superRefine((text, ctx) => {
  const error = cidrError(text);
  if (error) ctx.addIssue({ code: 'custom', message: error });
});

/** A bare address as the CIDR of that one address (`10.0.0.1` → `10.0.0.1/32`); a CIDR unchanged. */
export function hostCidr(text: string): string {
  const version = isIP(text);
  return version === 0 ? text : `${text}/${version === 4 ? 32 : 128}`;
}

/** One CIDR or one address in a config (`10.0.0.0/8`, `10.0.0.7`); the issue carries cidrError's message. */
export const cidrOrAddressSchema = z.string().superRefine((text, ctx) => {
  const error = cidrError(hostCidr(text));
  if (error) ctx.addIssue({ code: 'custom', message: `${error} (or a single address)` });
});

/** Loopback, IPv4 and IPv6: what the receivers leave out by default. */
export const LOOPBACK_CIDRS: readonly string[] = ['127.0.0.0/8', '::1/128'];

/** A set of ranges to check addresses against (node's BlockList, built from parsed CIDRs). */
export function cidrBlockList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const text of cidrs) {
    const { network, prefixLength, family } = parseCidr(text);
    list.addSubnet(network, prefixLength, family);
  }
  return list;
}

/**
 * The network of a public address at a prefix length, as a CIDR (`104.16.3.9` at 24 →
 * `104.16.3.0/24`), or the address itself when the length covers all of it (32 bits for IPv4,
 * 128 for IPv6). An IPv4-mapped IPv6 address (`::ffff:104.16.3.9`) is cut as the IPv4 address
 * it carries. undefined when `address` is not an IP address.
 */
export function addressPrefix(address: string, ipv4Bits: number, ipv6Bits: number): string | undefined {
  const version = isIP(address);
  if (version === 0) return undefined;
  const mapped = version === 6 ? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1] : undefined;
  if (mapped !== undefined) return addressPrefix(mapped, ipv4Bits, ipv6Bits);
  const bits = version === 4 ? ipv4Bits : ipv6Bits;
  if (bits >= (version === 4 ? 32 : 128)) return address;
  const { Address4, Address6 } = ipAddress();
  const network = version === 4 ? new Address4(`${address}/${bits}`) : new Address6(`${address}/${bits}`);
  return `${network.startAddress().correctForm()}/${bits}`;
}

let ipAddressModule: typeof IpAddress | undefined;

/** ip-address, loaded the first time a prefix is cut: `validate` and most configs never pay for it. */
function ipAddress(): typeof IpAddress {
  return (ipAddressModule ??= createRequire(import.meta.url)('ip-address') as typeof IpAddress);
}

/** Dotted-quad IPv4 text as an unsigned 32-bit number, or -1 when it is not one. */
function ipv4Number(address: string): number {
  let value = 0;
  let octet = -1;
  let dots = 0;
  for (let i = 0; i < address.length; i++) {
    const c = address.charCodeAt(i);
    if (c === 46) {
      if (octet < 0 || ++dots > 3) return -1;
      value = value * 256 + octet;
      octet = -1;
    } else if (c >= 48 && c <= 57) {
      octet = octet < 0 ? c - 48 : octet * 10 + (c - 48);
      if (octet > 255) return -1;
    } else {
      return -1;
    }
  }
  return dots === 3 && octet >= 0 ? value * 256 + octet : -1;
}

/**
 * A set of ranges (CIDRs or single addresses) to test addresses against on a hot path: IPv4 by
 * integer masks (BlockList.check costs about a microsecond per call), IPv6 through a BlockList.
 */
export class CidrSet {
  readonly #networks: number[] = [];
  readonly #masks: number[] = [];
  readonly #ipv6: BlockList;
  readonly #hasIpv6: boolean;

  constructor(cidrsOrAddresses: readonly string[]) {
    const ipv6: string[] = [];
    for (const text of cidrsOrAddresses) {
      const { network, prefixLength, family } = parseCidr(hostCidr(text));
      if (family === 'ipv6') {
        ipv6.push(`${network}/${prefixLength}`);
        continue;
      }
      const mask = prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
      this.#networks.push((ipv4Number(network) & mask) >>> 0);
      this.#masks.push(mask);
    }
    this.#ipv6 = cidrBlockList(ipv6);
    this.#hasIpv6 = ipv6.length > 0;
  }

  has(address: string): boolean {
    const v4 = ipv4Number(address);
    if (v4 >= 0) {
      for (let i = 0; i < this.#networks.length; i++) if (((v4 & this.#masks[i]!) >>> 0) === this.#networks[i]) return true;
      return false;
    }
    return this.#hasIpv6 && isIP(address) === 6 && this.#ipv6.check(address, 'ipv6');
  }
}
