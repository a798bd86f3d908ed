// Which kind of address a flow end has, from its range alone. The Kubernetes kinds (pod, node,
// service) are decided by k8sattributes, which knows the cluster; this covers the rest.
import { type BlockList, isIP } from 'node:net';
import type { AddressType } from './attributes.ts';
import { cidrBlockList, LOOPBACK_CIDRS } from './cidr.ts';

const LOOPBACK = cidrBlockList(LOOPBACK_CIDRS);

/**
 * Not reachable from the internet: RFC 1918, RFC 6598 CGNAT (100.64/10, used by some CNIs for
 * pods — egressd called it public), link-local, ULA, unspecified, multicast, documentation and
 * benchmarking ranges, and IPv4-mapped private space.
 */
export const NON_PUBLIC_CIDRS = [
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '169.254.0.0/16', '172.16.0.0/12', '192.0.0.0/24',
  '192.0.2.0/24', '192.168.0.0/16', '198.18.0.0/15', '198.51.100.0/24', '203.0.113.0/24',
  '224.0.0.0/4', '240.0.0.0/4',
  '::/128', 'fc00::/7', 'fe80::/10', 'ff00::/8', '2001:db8::/32', '64:ff9b:1::/48',
] as const;

export class AddressClassifier {
  readonly #private: BlockList;

  /** `clusterCidrs`: pod and service ranges, which are never public even when routable. */
  constructor(clusterCidrs: readonly string[] = []) {
    this.#private = cidrBlockList([...NON_PUBLIC_CIDRS, ...clusterCidrs]);
  }

  classify(address: string): Extract<AddressType, 'loopback' | 'private' | 'public'> {
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    const mapped = family === 'ipv6' ? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1] : undefined;
    if (mapped) return this.classify(mapped);
    if (LOOPBACK.check(address, family)) return 'loopback';
    return this.#private.check(address, family) ? 'private' : 'public';
  }

  isPublic(address: string): boolean {
    return this.classify(address) === 'public';
  }
}
