// Every attribute key podflow writes, in one place (OpenTelemetry semantic-convention names).
// docs/data-model.md explains each one.

export const SOURCE_ADDRESS = 'source.address';
export const SOURCE_PORT = 'source.port';
export const DESTINATION_ADDRESS = 'destination.address';
export const DESTINATION_PORT = 'destination.port';
export const DESTINATION_ORIGINAL_ADDRESS = 'destination.original.address';
export const DESTINATION_ORIGINAL_PORT = 'destination.original.port';
export const NETWORK_TRANSPORT = 'network.transport';
export const NETWORK_TYPE = 'network.type';
export const NETWORK_FLOW_INTER_ZONE = 'network.flow.inter_zone';
/** The billing class the netcost processor gave the flow (src/processors/netcost/README.md). */
export const NETWORK_FLOW_COST_CLASS = 'network.flow.cost.class';
export const DESTINATION_DOMAIN = 'destination.domain';
export const DESTINATION_K8S_SERVICE_NAME = 'destination.k8s.service.name';
export const K8S_NODE_NAME = 'k8s.node.name';
export const K8S_CLUSTER_NAME = 'k8s.cluster.name';
export const OTEL_METRIC_OVERFLOW = 'otel.metric.overflow';

/** The per-end keys; `endKeys('source')` and `endKeys('destination')` give the full names. */
export type FlowEnd = 'source' | 'destination';

export function endKeys(end: FlowEnd) {
  return {
    address: `${end}.address`,
    port: `${end}.port`,
    addressType: `${end}.address.type`,
    namespace: `${end}.k8s.namespace.name`,
    podName: `${end}.k8s.pod.name`,
    podUid: `${end}.k8s.pod.uid`,
    nodeName: `${end}.k8s.node.name`,
    ownerName: `${end}.k8s.owner.name`,
    ownerType: `${end}.k8s.owner.type`,
    zone: `${end}.cloud.availability_zone`,
    region: `${end}.cloud.region`,
    /** Prefix for configured pod labels: `source.k8s.pod.label.<key>`. */
    podLabelPrefix: `${end}.k8s.pod.label.`,
    podAnnotationPrefix: `${end}.k8s.pod.annotation.`,
  } as const;
}

export const SOURCE = endKeys('source');
export const DESTINATION = endKeys('destination');

/** Values of `*.address.type`. */
export type AddressType = 'pod' | 'node' | 'service' | 'private' | 'public' | 'loopback';

/** Values of `*.k8s.owner.type`. */
export type OwnerType =
  | 'Deployment'
  | 'StatefulSet'
  | 'DaemonSet'
  | 'Job'
  | 'CronJob'
  | 'ReplicaSet'
  | 'Pod'
  | 'Node';

/** Values of `network.transport`. */
export type Transport = 'tcp' | 'udp' | 'icmp' | 'ipv6-icmp' | 'sctp' | 'dccp' | 'gre' | string;
