// Finds what an address is, in this order: a pod that had it during the flow's interval, a
// node address (a hostNetwork pod by its declared port, else the node itself), a service
// ClusterIP, else its range from AddressClassifier.
import { AddressClassifier } from '../../model/address.ts';
import { AddressMap } from './address-map.ts';
import type { ClusterCache } from './cluster-cache.ts';
import { networkEndInfo, nodeEndInfo, podEndInfo, serviceEndInfo, type EndInfo } from './end-info.ts';

/** Classifications of addresses the cluster does not know, kept up to this many before starting over. */
const CLASSIFY_CACHE_MAX = 65_536;

export class EndResolver {
  readonly #cache: ClusterCache;
  readonly #classifier: AddressClassifier;
  /** Keyed like the cluster's indexes (address-map.ts): a gateway's flows bring new address strings every interval. */
  readonly #classified = new AddressMap<EndInfo>();

  constructor(cache: ClusterCache, classifier: AddressClassifier) {
    this.#cache = cache;
    this.#classifier = classifier;
  }

  /**
   * `port` and `transport` (the flow's attributes) identify hostNetwork pods on a node address
   * (`8080/tcp`); `startMs`/`endMs` is the flow's interval. Returns undefined for a missing or
   * unparsable address.
   */
  resolve(ip: string, port: unknown, transport: unknown, startMs: number, endMs: number): EndInfo | undefined {
    const cache = this.#cache;
    const pod = cache.podAt(ip, startMs, endMs);
    if (pod) return podEndInfo(pod, cache);
    const node = cache.nodeByIp(ip);
    if (node) {
      // The `port/proto` key is built here, for node addresses only: not once per end of every flow.
      const hostPod = typeof port === 'number' && typeof transport === 'string' ? cache.hostNetworkPodAt(ip, `${port}/${transport}`, startMs, endMs) : undefined;
      return hostPod ? podEndInfo(hostPod, cache, true) : nodeEndInfo(node);
    }
    const svc = cache.serviceByIp(ip);
    if (svc) return serviceEndInfo(svc);
    // An IPv4-mapped IPv6 address (dual-stack sockets): the cluster knows the IPv4 form.
    if (ip.startsWith('::ffff:') && ip.includes('.')) return this.resolve(ip.slice(7), port, transport, startMs, endMs);
    return this.#classify(ip);
  }

  /** The service whose ClusterIP this is, if any. */
  serviceName(ip: string): string | undefined {
    return this.#cache.serviceByIp(ip)?.name;
  }

  #classify(ip: string): EndInfo | undefined {
    let info = this.#classified.get(ip);
    if (info) return info;
    try {
      info = networkEndInfo(this.#classifier.classify(ip));
    } catch {
      return undefined; // not an IP address: nothing to say about it
    }
    if (this.#classified.size >= CLASSIFY_CACHE_MAX) this.#classified.clear();
    this.#classified.set(ip, info);
    return info;
  }
}
