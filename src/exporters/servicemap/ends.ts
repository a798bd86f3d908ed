// Who a flow end is, for the map: a workload, a node (host processes, hostNetwork pods) or a peer
// outside the cluster; and which map node it becomes under each grouping.
//
// Map node ids are `<type>:<part>/<part>...` with every part percent-encoded, so names holding
// `/` or `:` (hostile or not) never make two ends collide. Titles are the readable names
// (`namespace/name` for a workload); they are data, never markup (the page sets textContent).
import { isIP } from 'node:net';
import { AddressClassifier } from '../../model/address.ts';
import { DESTINATION_DOMAIN, endKeys, type Attributes, type AttributeValue, type FlowEnd } from '../../model/index.ts';

export const GROUPINGS = ['workload', 'namespace', 'node', 'zone'] as const;
export type Grouping = (typeof GROUPINGS)[number];

export type EndType = 'workload' | 'node' | 'external';

/** What the attributes say about one end (only the keys the map reads). */
export interface FlowEndInfo {
  type: EndType;
  namespace?: string;
  /** The workload's name (owner), or the pod's when it has no owner. */
  workload?: string;
  /** Deployment, StatefulSet, ..., Pod for a bare pod, Node for host ends. */
  workloadKind?: string;
  node?: string;
  zone?: string;
  /** External ends: the DNS name (dnsnames) or the address, and whether it is on the internet. */
  domain?: string;
  address?: string;
  internet: boolean;
}

/** One node of the drawn graph. */
export interface MapNode {
  id: string;
  title: string;
  /** Deployment, StatefulSet, ... for workloads; Namespace, Node, Zone, External, Internet otherwise. */
  kind: string;
  namespace: string | null;
  zone: string | null;
}

/**
 * The title of `0.0.0.0` / `::` ends: rows written before reduce's `public_addresses`, when it
 * folded every public address into one of those. reduce now shows a domain, an address or a prefix.
 */
export const INTERNET_TITLE = 'internet (public addresses)';

const classifier = new AddressClassifier();

function text(value: AttributeValue | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  return String(value);
}

function id(type: string, ...parts: string[]): string {
  return `${type}:${parts.map(encodeURIComponent).join('/')}`;
}

/** Reads one end of a flow (`source` or `destination`). */
export function endInfo(attributes: Attributes, end: FlowEnd): FlowEndInfo {
  const keys = endKeys(end);
  const namespace = text(attributes[keys.namespace]);
  const owner = text(attributes[keys.ownerName]);
  const ownerType = text(attributes[keys.ownerType]);
  const pod = text(attributes[keys.podName]);
  const node = text(attributes[keys.nodeName]);
  const zone = text(attributes[keys.zone]);
  const addressType = text(attributes[keys.addressType]);
  const address = text(attributes[keys.address]);
  const domain = end === 'destination' ? text(attributes[DESTINATION_DOMAIN]) : undefined;
  // The same precedence as the postgres exporter's graph_endpoint(): a Node owner, then a
  // namespaced workload or pod, then a node address, else a peer outside the cluster.
  if (ownerType === 'Node' && owner) return { type: 'node', node: owner, zone, workloadKind: 'Node', internet: false };
  if (namespace && (owner || pod)) {
    return { type: 'workload', namespace, workload: owner ?? pod, workloadKind: owner ? (ownerType ?? 'Pod') : 'Pod', node, zone, internet: false };
  }
  if (addressType === 'node' && node) return { type: 'node', node, zone, workloadKind: 'Node', internet: false };
  return { type: 'external', zone, domain, address, internet: isInternet(address, addressType, domain) };
}

/**
 * An outside peer is on the internet when its address is public, when its address type says so
 * (reduce types a public end it shows by domain or by prefix `public`), when it is 0.0.0.0 / ::
 * (older rows: reduce folded public addresses into those), or when it is known by a DNS name and
 * its address says nothing else.
 */
function isInternet(address: string | undefined, addressType: string | undefined, domain: string | undefined): boolean {
  if (addressType !== undefined && addressType !== 'public') return false;
  if (address === undefined || isIP(address) === 0) return addressType === 'public' || domain !== undefined;
  if (isFolded(address)) return true;
  return classifier.isPublic(address);
}

function isFolded(address: string | undefined): boolean {
  return address === '0.0.0.0' || address === '::';
}

/** The map node an end becomes under `grouping`. */
export function mapNode(end: FlowEndInfo, grouping: Grouping): MapNode {
  const zone = end.zone ?? null;
  if (end.type === 'external') return externalNode(end);
  if (grouping === 'zone') {
    if (zone === null) return { id: 'unknown:zone', title: '(zone not in the flows)', kind: 'Zone', namespace: null, zone };
    return { id: id('zone', zone), title: zone, kind: 'Zone', namespace: null, zone };
  }
  if (end.type === 'node' || grouping === 'node') {
    const node = end.node;
    if (node === undefined) return { id: 'unknown:node', title: '(node not in the flows)', kind: 'Node', namespace: null, zone };
    return { id: id('node', node), title: node, kind: 'Node', namespace: null, zone };
  }
  const namespace = end.namespace!;
  switch (grouping) {
    case 'workload':
      return { id: id('workload', namespace, end.workloadKind!, end.workload!), title: `${namespace}/${end.workload!}`, kind: end.workloadKind!, namespace, zone };
    default:
      return { id: id('namespace', namespace), title: namespace, kind: 'Namespace', namespace, zone };
  }
}

function externalNode(end: FlowEndInfo): MapNode {
  const kind = end.internet ? 'Internet' : 'External';
  if (end.domain !== undefined) return { id: id('external', end.domain), title: end.domain, kind, namespace: null, zone: null };
  if (isFolded(end.address)) return { id: 'internet:public', title: INTERNET_TITLE, kind: 'Internet', namespace: null, zone: null };
  if (end.address !== undefined) return { id: id('external', end.address), title: end.address, kind, namespace: null, zone: null };
  return { id: 'unknown:peer', title: '(peer without address)', kind: 'External', namespace: null, zone: null };
}
