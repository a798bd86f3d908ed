// Reduced flows as reduce emits them (workload to workload, zones, inter_zone, external peers by
// domain or address), and hostile names, for the servicemap tests and benchmark.
import type { Attributes, Flow } from '../../../model/index.ts';

export interface WorkloadRef {
  namespace: string;
  name: string;
  kind?: string;
  zone?: string;
  node?: string;
}

function end(prefix: 'source' | 'destination', w: WorkloadRef): Attributes {
  const a: Attributes = {
    [`${prefix}.k8s.namespace.name`]: w.namespace,
    [`${prefix}.k8s.owner.name`]: w.name,
    [`${prefix}.k8s.owner.type`]: w.kind ?? 'Deployment',
  };
  if (w.zone !== undefined) a[`${prefix}.cloud.availability_zone`] = w.zone;
  if (w.node !== undefined) a[`${prefix}.k8s.node.name`] = w.node;
  return a;
}

/** Attributes of a flow from one workload to another (zones decide inter_zone when both are known). */
export function workloadFlow(src: WorkloadRef, dst: WorkloadRef, extra: Attributes = {}): Attributes {
  const a: Attributes = { ...end('source', src), ...end('destination', dst), 'destination.port': 9080, 'network.transport': 'tcp', ...extra };
  if (src.zone !== undefined && dst.zone !== undefined) a['network.flow.inter_zone'] = src.zone !== dst.zone;
  return a;
}

/** Attributes of a flow from a workload to a peer outside the cluster. */
export function externalFlow(src: WorkloadRef, peer: { address?: string; domain?: string }, extra: Attributes = {}): Attributes {
  const a: Attributes = { ...end('source', src), 'destination.port': 443, 'network.transport': 'tcp', ...extra };
  if (peer.address !== undefined) a['destination.address'] = peer.address;
  if (peer.domain !== undefined) a['destination.domain'] = peer.domain;
  return a;
}

export function counters(attributes: Attributes, tx: [bytes: number, packets: number], rx: [bytes: number, packets: number], connections = 1, startTimeUnixNano = 1_760_000_000_000_000_000n): Flow {
  return { startTimeUnixNano, timeUnixNano: startTimeUnixNano + 15_000_000_000n, attributes, txBytes: tx[0], txPackets: tx[1], rxBytes: rx[0], rxPackets: rx[1], connections };
}

/** Names no real cluster allows, which a map must still show as text: markup, quotes, control bytes. */
export const HOSTILE = {
  namespace: 'ns"><img src=x onerror="document.title=\'pwned\'">',
  workload: '<script>document.title="pwned"</script>\u0007\u001b[31m\u2028"quoted\'',
  domain: 'evil.example.com"><svg onload=alert(1)>\u0000',
};

/** A small Bookinfo-like map: three zones' worth of calls, the internet, a named external API. */
export function bookinfoFlows(): Flow[] {
  const productpage = { namespace: 'bookinfo', name: 'productpage-v1', zone: 'zone-a' };
  const details = { namespace: 'bookinfo', name: 'details-v1', zone: 'zone-a' };
  const reviewsA = { namespace: 'bookinfo', name: 'reviews-v1', zone: 'zone-a' };
  const reviewsB = { namespace: 'bookinfo', name: 'reviews-v1', zone: 'zone-b' };
  const ratings = { namespace: 'bookinfo', name: 'ratings', kind: 'StatefulSet', zone: 'zone-b' };
  const loadgen = { namespace: 'load', name: 'loadgen', zone: 'zone-b' };
  return [
    counters(workloadFlow(loadgen, productpage), [27_000, 180], [91_000, 160], 45),
    counters(workloadFlow(productpage, details), [12_000, 120], [88_000, 110], 42),
    counters(workloadFlow(productpage, reviewsA), [9_000, 90], [60_000, 80], 21),
    counters(workloadFlow(productpage, reviewsB), [9_100, 91], [61_000, 81], 21),
    counters(workloadFlow(reviewsB, ratings), [4_000, 40], [30_000, 38], 42),
    counters(workloadFlow(reviewsA, ratings), [4_100, 41], [30_500, 39], 21),
    counters(externalFlow(details, { address: '0.0.0.0', domain: 'api.books.example.com' }), [3_000, 30], [420_000, 300], 42),
    counters(externalFlow(details, { address: '0.0.0.0' }), [1_000, 10], [5_000, 9], 3),
    counters(externalFlow(reviewsA, { address: '10.20.0.5' }), [700, 7], [900, 8], 2),
  ];
}
