// Which billing class a flow is in, from the attributes k8sattributes wrote (README "Class rules").
import { isIP } from 'node:net';
import { AddressClassifier } from '../../model/address.ts';
import { CidrSet } from '../../model/cidr.ts';
import { DESTINATION, SOURCE, type AttributeValue, type Attributes } from '../../model/index.ts';
import { COST_CLASSES, type CostClass } from './prices.ts';

/** A class as its index in COST_CLASSES (the hot path counts and prices by index). */
export type ClassIndex = number;
const index = (c: CostClass): ClassIndex => COST_CLASSES.indexOf(c);
export const SAME_NODE = index('same_node');
export const INTRA_ZONE = index('intra_zone');
export const INTER_ZONE = index('inter_zone');
export const INTER_REGION = index('inter_region');
export const INTERNET_EGRESS = index('internet_egress');
export const INTERNET_INGRESS = index('internet_ingress');
export const NAT_GATEWAY = index('nat_gateway');
export const PRIVATE_LINK = index('private_link');
export const VPC_PEERING = index('vpc_peering');
export const UNKNOWN = index('unknown');

export interface ClassifierRanges {
  clusterCidrs: readonly string[];
  natGateway: readonly string[];
  privateLink: readonly string[];
  vpcPeering: readonly string[];
}

/** The ranges, or undefined for none (nothing to check). */
function rangesOf(list: readonly string[]): CidrSet | undefined {
  return list.length === 0 ? undefined : new CidrSet(list);
}

export class FlowClassifier {
  readonly #cluster: CidrSet | undefined;
  readonly #addresses: AddressClassifier;
  /** Checked in this order on the end outside the cluster. */
  readonly #configured: Array<[CidrSet, ClassIndex]>;

  constructor(ranges: ClassifierRanges) {
    this.#cluster = rangesOf(ranges.clusterCidrs);
    this.#addresses = new AddressClassifier(ranges.clusterCidrs);
    const configured: Array<[CidrSet | undefined, ClassIndex]> = [
      [rangesOf(ranges.natGateway), NAT_GATEWAY],
      [rangesOf(ranges.privateLink), PRIVATE_LINK],
      [rangesOf(ranges.vpcPeering), VPC_PEERING],
    ];
    this.#configured = configured.filter((c): c is [CidrSet, ClassIndex] => c[0] !== undefined);
  }

  /** An end the cluster knows: a pod, node or Service (k8sattributes), or an address in cluster_cidrs. */
  #inCluster(type: AttributeValue | undefined, address: AttributeValue | undefined): boolean {
    if (type === 'pod' || type === 'node' || type === 'service') return true;
    return this.#cluster !== undefined && typeof address === 'string' && this.#cluster.has(address);
  }

  #isPublic(type: AttributeValue | undefined, address: AttributeValue | undefined): boolean {
    if (type !== undefined) return type === 'public';
    return typeof address === 'string' && isIP(address) !== 0 && this.#addresses.isPublic(address);
  }

  classify(a: Attributes): ClassIndex {
    const srcType = a[SOURCE.addressType];
    const dstType = a[DESTINATION.addressType];
    if (srcType === 'loopback' || dstType === 'loopback') return SAME_NODE;
    const srcAddress = a[SOURCE.address];
    const dstAddress = a[DESTINATION.address];
    const srcIn = this.#inCluster(srcType, srcAddress);
    const dstIn = this.#inCluster(dstType, dstAddress);

    if (srcIn && dstIn) {
      const srcNode = a[SOURCE.nodeName];
      if (srcNode !== undefined && srcNode === a[DESTINATION.nodeName]) return SAME_NODE;
      const srcZone = a[SOURCE.zone];
      const dstZone = a[DESTINATION.zone];
      if (srcZone === undefined || dstZone === undefined) return UNKNOWN;
      const srcRegion = a[SOURCE.region];
      const dstRegion = a[DESTINATION.region];
      if (srcRegion !== undefined && dstRegion !== undefined && srcRegion !== dstRegion) return INTER_REGION;
      return srcZone === dstZone ? INTRA_ZONE : INTER_ZONE;
    }

    // The end outside the cluster: the destination unless only the source is outside.
    const remoteIsSource = !srcIn && dstIn;
    const remote = remoteIsSource ? srcAddress : dstAddress;
    if (typeof remote === 'string') {
      for (const [ranges, cls] of this.#configured) if (ranges.has(remote)) return cls;
    }
    if (remoteIsSource) return this.#isPublic(srcType, srcAddress) ? INTERNET_INGRESS : UNKNOWN;
    if (this.#isPublic(dstType, dstAddress)) return INTERNET_EGRESS;
    // Neither end in the cluster (a node process talking to an outside peer, seen without k8sattributes).
    if (!srcIn && this.#isPublic(srcType, srcAddress)) return INTERNET_INGRESS;
    return UNKNOWN;
  }
}
