// What one end of a flow resolved to, as ready-made attribute key/value arrays. An EndInfo is
// built once per pod, node or service and shared by every flow that touches it; the attribute
// builder (attribute-builder.ts) copies its values into each flow's map.
import { endKeys, type AddressType, type AttributeValue } from '../../model/index.ts';
import type { ClusterCache, PodEntry } from './cluster-cache.ts';
import type { NodeRecord, ServiceRecord } from './objects.ts';
import { resolveOwner } from './owners.ts';

const SRC = endKeys('source');
const DST = endKeys('destination');

export interface EndInfo {
  addressType: AddressType;
  zone: string | undefined;
  /** A (non-hostNetwork) pod's node: the reporter under report-once. */
  podNode: string | undefined;
  /** The node whose address this is (node IPs, hostNetwork pods): the fallback reporter. */
  addressNode: string | undefined;
  sourceKeys: string[];
  destinationKeys: string[];
  values: AttributeValue[];
  /** The same number for every EndInfo with the same keys (most pods): what the attribute builder compiles for. */
  keyListId: number;
}

type KeyName = Exclude<keyof ReturnType<typeof endKeys>, 'podLabelPrefix' | 'podAnnotationPrefix'>;

class Builder {
  readonly sourceKeys: string[] = [];
  readonly destinationKeys: string[] = [];
  readonly values: AttributeValue[] = [];

  set(name: KeyName, value: AttributeValue | undefined): this {
    if (value === undefined || value === '') return this;
    this.sourceKeys.push(SRC[name]);
    this.destinationKeys.push(DST[name]);
    this.values.push(value);
    return this;
  }

  prefixed(prefix: 'podLabelPrefix' | 'podAnnotationPrefix', pairs: ReadonlyArray<[string, string]>): this {
    for (const [k, v] of pairs) {
      this.sourceKeys.push(SRC[prefix] + k);
      this.destinationKeys.push(DST[prefix] + k);
      this.values.push(v);
    }
    return this;
  }

  build(addressType: AddressType, zone: string | undefined, podNode: string | undefined, addressNode: string | undefined): EndInfo {
    return {
      addressType, zone, podNode, addressNode, sourceKeys: this.sourceKeys, destinationKeys: this.destinationKeys, values: this.values,
      keyListId: keyListId(this.sourceKeys),
    };
  }
}

/**
 * A pod end. `onNodeAddress`: a hostNetwork pod found by its declared port on a node address,
 * whose address type stays `node`.
 */
export function podEndInfo(entry: PodEntry, cache: ClusterCache, onNodeAddress = false): EndInfo {
  if (entry.memoVersion !== cache.version) {
    entry.memo = undefined;
    entry.memoOnNodeAddress = undefined;
    entry.memoVersion = cache.version;
  }
  const cached = (onNodeAddress ? entry.memoOnNodeAddress : entry.memo) as EndInfo | undefined;
  if (cached !== undefined) return cached;

  const { pod } = entry;
  const node = pod.nodeName ? cache.node(pod.nodeName) : undefined;
  const owner = resolveOwner(pod, cache);
  const info = new Builder()
    .set('addressType', onNodeAddress ? 'node' : 'pod')
    .set('namespace', pod.namespace)
    .set('podName', pod.name)
    .set('podUid', pod.uid)
    .set('nodeName', pod.nodeName)
    .set('ownerName', owner.name)
    .set('ownerType', owner.type)
    .set('zone', node?.zone)
    .set('region', node?.region)
    .prefixed('podLabelPrefix', pod.labels)
    .prefixed('podAnnotationPrefix', pod.annotations)
    .build(onNodeAddress ? 'node' : 'pod', node?.zone, pod.hostNetwork ? undefined : pod.nodeName || undefined, pod.hostNetwork ? pod.nodeName : undefined);
  if (onNodeAddress) entry.memoOnNodeAddress = info;
  else entry.memo = info;
  return info;
}

const nodeMemo = new WeakMap<NodeRecord, EndInfo>();

/** A node address (a node process, or a hostNetwork pod not identified by port): owner type Node. */
export function nodeEndInfo(node: NodeRecord): EndInfo {
  let info = nodeMemo.get(node);
  if (!info) {
    info = new Builder()
      .set('addressType', 'node')
      .set('nodeName', node.name)
      .set('ownerName', node.name)
      .set('ownerType', 'Node')
      .set('zone', node.zone)
      .set('region', node.region)
      .build('node', node.zone, undefined, node.name);
    nodeMemo.set(node, info);
  }
  return info;
}

const serviceMemo = new WeakMap<ServiceRecord, EndInfo>();

/** A destination that is still a ClusterIP (no DNAT seen): the service and its namespace. */
export function serviceEndInfo(svc: ServiceRecord): EndInfo {
  let info = serviceMemo.get(svc);
  if (!info) {
    info = new Builder().set('addressType', 'service').set('namespace', svc.namespace).build('service', undefined, undefined, undefined);
    serviceMemo.set(svc, info);
  }
  return info;
}

const networkInfos = new Map<AddressType, EndInfo>();

/** An address the cluster does not know: only its range (private, public, loopback). */
export function networkEndInfo(type: 'private' | 'public' | 'loopback'): EndInfo {
  let info = networkInfos.get(type);
  if (!info) {
    info = new Builder().set('addressType', type).build(type, undefined, undefined, undefined);
    networkInfos.set(type, info);
  }
  return info;
}

/** Ids of the key lists seen (a few per cluster: pods, pods with each set of extracted labels, nodes, ...). */
const keyListIds = new Map<string, number>();

function keyListId(keys: string[]): number {
  const signature = keys.join('\n');
  let id = keyListIds.get(signature);
  if (id === undefined) {
    id = keyListIds.size;
    keyListIds.set(signature, id);
  }
  return id;
}
