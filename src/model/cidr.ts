// CIDR ranges (`10.0.0.0/8`, `fd00::/8`): the one parser, error message and zod schema for every
// config key that takes them (exclude_cidrs, cluster_cidrs, the filter's cidr), and the one way
// to turn a list of them into a set to check addresses against.
import { BlockList, isIP } from 'node:net';
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
