// The simulated cluster as data: nodes, pods, the ClusterIP service, the external host and the
// Bookinfo-like call graph with its transfer sizes. cluster.ts builds it on the kernel,
// bookinfo-app.ts runs it, kernel-oracle.ts uses it to name conntrack entries independently of
// podflow, and the e2e test derives its expectations from it.
//
//   node-a (zone-a, 192.168.50.1)                node-b (zone-b, 192.168.50.2)
//     productpage-v1  10.244.1.10                  reviews-v1 (b)  10.244.2.10
//     details-v1      10.244.1.11                  ratings-1       10.244.2.11
//     reviews-v1 (a)  10.244.1.12                  loadgen         10.244.2.12
//     ratings-0       10.244.1.13                  uplink "ext" ── external 203.0.113.10
//   routed to each other over a veth "uplink" (like a CNI's host routes: 10.244.N.0/24 via node N);
//   ClusterIP ratings 10.96.0.20:9080 is DNATed to ratings-1 on both nodes (kube-proxy style);
//   pod traffic leaving the cluster is masqueraded by the pod's node.
//
// Every call is one TCP connection (Connection: close), so connections per workload pair are known.

export const NAMESPACE = 'bookinfo';
export const CLUSTER_NAME = 'podflow-e2e';
export const POD_CIDR = '10.244.0.0/16';
export const SERVICE_CIDR = '10.96.0.0/16';
export const NODE_CIDR = '192.168.50.0/24';
/** The gateway address every pod routes through (the node side of each pod's veth holds it). */
export const POD_GATEWAY = '169.254.1.1';
export const APP_PORT = 9080;

export type NodeName = 'node-a' | 'node-b';

export interface NodeDef {
  name: NodeName;
  zone: string;
  region: string;
  /** InternalIP, on the uplink between the nodes. */
  ip: string;
  /** This node's pod range: the other node routes it via `ip`. */
  podCidr: string;
}

export const NODES: readonly NodeDef[] = [
  { name: 'node-a', zone: 'zone-a', region: 'region-1', ip: '192.168.50.1', podCidr: '10.244.1.0/24' },
  { name: 'node-b', zone: 'zone-b', region: 'region-1', ip: '192.168.50.2', podCidr: '10.244.2.0/24' },
];

export interface OwnerDef {
  kind: 'Deployment' | 'StatefulSet';
  name: string;
}

export interface PodDef {
  name: string;
  node: NodeName;
  ip: string;
  /** The workload: a Deployment (through a ReplicaSet `<name>-<hash>`) or a StatefulSet. */
  owner: OwnerDef;
  /** Which part of the call graph this pod plays (see CALLS). */
  role: Role;
}

export type Role = 'productpage' | 'details' | 'reviews' | 'ratings' | 'loadgen';

const RS_HASH: Record<string, string> = { 'productpage-v1': '6b746f74dc', 'details-v1': '5f4d584748', 'reviews-v1': '7c4d9f8b6d', loadgen: '84bd6c7f9' };

export function replicaSetName(deployment: string): string {
  return `${deployment}-${RS_HASH[deployment] ?? '5d8c9b7f6'}`;
}

export const PODS: readonly PodDef[] = [
  { name: `${replicaSetName('productpage-v1')}-x7k2p`, node: 'node-a', ip: '10.244.1.10', owner: { kind: 'Deployment', name: 'productpage-v1' }, role: 'productpage' },
  { name: `${replicaSetName('details-v1')}-q9z4m`, node: 'node-a', ip: '10.244.1.11', owner: { kind: 'Deployment', name: 'details-v1' }, role: 'details' },
  { name: `${replicaSetName('reviews-v1')}-a1b2c`, node: 'node-a', ip: '10.244.1.12', owner: { kind: 'Deployment', name: 'reviews-v1' }, role: 'reviews' },
  { name: 'ratings-0', node: 'node-a', ip: '10.244.1.13', owner: { kind: 'StatefulSet', name: 'ratings' }, role: 'ratings' },
  { name: `${replicaSetName('reviews-v1')}-d3e4f`, node: 'node-b', ip: '10.244.2.10', owner: { kind: 'Deployment', name: 'reviews-v1' }, role: 'reviews' },
  { name: 'ratings-1', node: 'node-b', ip: '10.244.2.11', owner: { kind: 'StatefulSet', name: 'ratings' }, role: 'ratings' },
  { name: `${replicaSetName('loadgen')}-l0adg`, node: 'node-b', ip: '10.244.2.12', owner: { kind: 'Deployment', name: 'loadgen' }, role: 'loadgen' },
];

export interface ServiceDef {
  name: string;
  clusterIP: string;
  port: number;
  /** The one backend the VIP is DNATed to (deterministic, so expectations are exact). */
  backend: string;
}

export const RATINGS_SERVICE: ServiceDef = { name: 'ratings', clusterIP: '10.96.0.20', port: APP_PORT, backend: '10.244.2.11' };
export const SERVICES: readonly ServiceDef[] = [RATINGS_SERVICE];

/** A host outside the cluster, behind node-b's second uplink. */
export const EXTERNAL = { ip: '203.0.113.10', gateway: '203.0.113.1', prefix: 24, port: 80, via: 'node-b' as NodeName };

/** Request and response body sizes of each call (bytes of HTTP body; the kernel adds headers). */
export const SIZES = {
  loadgenToProductpage: { request: 300, response: 4_000 },
  productpageToDetails: { request: 120, response: 1_800 },
  detailsToExternal: { request: 60, response: 9_000 },
  productpageToReviews: { request: 200, response: 2_500 },
  reviewsToRatings: { request: 40, response: 700 },
  reviewsToRatingsVip: { request: 48, response: 720 },
} as const;

export function podsOf(role: Role): PodDef[] {
  return PODS.filter((p) => p.role === role);
}

export function nodeOf(name: NodeName): NodeDef {
  return NODES.find((n) => n.name === name)!;
}

export function podByIp(ip: string): PodDef | undefined {
  return PODS.find((p) => p.ip === ip);
}

/** `<namespace>/<kind>/<name>`: how the e2e names a workload (as graph_edges does). */
export function workloadId(owner: OwnerDef): string {
  return `${NAMESPACE}/${owner.kind}/${owner.name}`;
}

/**
 * What one loadgen round does, connection by connection (in order). productpage alternates its
 * reviews pod per request; each reviews pod calls the ratings pod on its own node directly and
 * ratings through the ClusterIP.
 */
export interface Call {
  from: PodDef;
  /** The address dialled (a pod IP, the VIP or the external host). */
  to: string;
  port: number;
  /** The pod or host that answers (the VIP's backend for the VIP). */
  server: string;
  request: number;
  response: number;
}

export function roundCalls(round: number): Call[] {
  const [loadgen] = podsOf('loadgen');
  const [productpage] = podsOf('productpage');
  const [details] = podsOf('details');
  const reviews = podsOf('reviews');
  const review = reviews[round % reviews.length]!;
  const localRatings = PODS.find((p) => p.role === 'ratings' && p.node === review.node)!;
  const call = (from: PodDef, to: string, port: number, server: string, size: { request: number; response: number }): Call => ({ from, to, port, server, ...size });
  return [
    call(loadgen!, productpage!.ip, APP_PORT, productpage!.ip, SIZES.loadgenToProductpage),
    call(productpage!, details!.ip, APP_PORT, details!.ip, SIZES.productpageToDetails),
    call(details!, EXTERNAL.ip, EXTERNAL.port, EXTERNAL.ip, SIZES.detailsToExternal),
    call(productpage!, review.ip, APP_PORT, review.ip, SIZES.productpageToReviews),
    call(review, localRatings.ip, APP_PORT, localRatings.ip, SIZES.reviewsToRatings),
    call(review, RATINGS_SERVICE.clusterIP, RATINGS_SERVICE.port, RATINGS_SERVICE.backend, SIZES.reviewsToRatingsVip),
  ];
}
