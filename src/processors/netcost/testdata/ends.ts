// Flow ends as k8sattributes writes them, for the netcost tests and benchmark.
import { endKeys, type Attributes, type Flow, type FlowEnd } from '../../../model/index.ts';

export interface EndSpec {
  address: string;
  type: 'pod' | 'node' | 'service' | 'private' | 'public' | 'loopback';
  node?: string;
  zone?: string;
  region?: string;
  namespace?: string;
  owner?: string;
}

export const pod = (address: string, node: string, zone: string | undefined, region = 'us-east-1', owner = 'web'): EndSpec => ({
  address, type: 'pod', node, ...(zone === undefined ? {} : { zone, region }), namespace: 'shop', owner,
});
export const outside = (address: string, type: 'private' | 'public'): EndSpec => ({ address, type });

function writeEnd(a: Attributes, end: FlowEnd, e: EndSpec): void {
  const k = endKeys(end);
  a[k.address] = e.address;
  a[k.addressType] = e.type;
  if (e.node !== undefined) a[k.nodeName] = e.node;
  if (e.zone !== undefined) a[k.zone] = e.zone;
  if (e.region !== undefined) a[k.region] = e.region;
  if (e.namespace !== undefined) a[k.namespace] = e.namespace;
  if (e.owner !== undefined) a[k.ownerName] = e.owner;
}

/** A flow from `src` to `dst` with these byte counts. */
export function flowFrom(src: EndSpec, dst: EndSpec, txBytes = 1_000, rxBytes = 3_000): Flow {
  const attributes: Attributes = { 'network.transport': 'tcp', 'destination.port': 443 };
  writeEnd(attributes, 'source', src);
  writeEnd(attributes, 'destination', dst);
  return { startTimeUnixNano: 0n, timeUnixNano: 10_000_000_000n, attributes, txBytes, rxBytes, txPackets: 1, rxPackets: 1, connections: 1 };
}
