// Builders for the Kubernetes objects tests feed the fake API server: the shape the real API
// server returns (v1 Pod, Node, Service; apps/v1 ReplicaSet; batch/v1 Job), only what matters.
import { randomUUID } from 'node:crypto';
import type { KubeObject } from './fake-apiserver.ts';

export interface OwnerRef {
  kind: string;
  name: string;
  apiVersion?: string;
}

function ownerReferences(owner: OwnerRef | undefined) {
  if (!owner) return undefined;
  const apiVersion = owner.apiVersion ?? ({ ReplicaSet: 'apps/v1', Deployment: 'apps/v1', StatefulSet: 'apps/v1', DaemonSet: 'apps/v1', Job: 'batch/v1', CronJob: 'batch/v1' } as Record<string, string>)[owner.kind] ?? 'v1';
  return [{ apiVersion, kind: owner.kind, name: owner.name, uid: randomUUID(), controller: true, blockOwnerDeletion: true }];
}

export interface PodSpec {
  namespace: string;
  name: string;
  ip?: string;
  /** Extra IPs (dual stack): status.podIPs gets [ip, ...ips]. */
  ips?: string[];
  node?: string;
  owner?: OwnerRef;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  hostNetwork?: boolean;
  containerPorts?: Array<{ containerPort: number; protocol?: string }>;
  phase?: string;
  uid?: string;
  created?: Date;
  deletionTimestamp?: Date;
  finishedAt?: Date;
}

export function pod(s: PodSpec): KubeObject {
  const ips = s.ip ? [s.ip, ...(s.ips ?? [])] : [];
  return {
    metadata: {
      name: s.name,
      namespace: s.namespace,
      uid: s.uid ?? randomUUID(),
      creationTimestamp: (s.created ?? new Date(Date.now() - 60_000)).toISOString(),
      ...(s.deletionTimestamp ? { deletionTimestamp: s.deletionTimestamp.toISOString() } : {}),
      labels: s.labels ?? {},
      annotations: s.annotations ?? {},
      ...(s.owner ? { ownerReferences: ownerReferences(s.owner) } : {}),
    },
    spec: {
      nodeName: s.node,
      hostNetwork: s.hostNetwork ?? false,
      containers: [{ name: 'main', image: 'registry.example/app:1', ports: s.containerPorts ?? [], env: [{ name: 'BIG', value: 'x'.repeat(64) }] }],
    },
    status: {
      phase: s.phase ?? 'Running',
      ...(s.ip ? { podIP: s.ip, podIPs: ips.map((ip) => ({ ip })) } : {}),
      ...(s.finishedAt
        ? { containerStatuses: [{ name: 'main', ready: false, restartCount: 0, image: 'x', imageID: 'x', state: { terminated: { exitCode: 0, finishedAt: s.finishedAt.toISOString() } } }] }
        : {}),
    },
  };
}

export interface NodeSpec {
  name: string;
  internalIPs: string[];
  externalIPs?: string[];
  zone?: string;
  region?: string;
}

export function node(s: NodeSpec): KubeObject {
  const labels: Record<string, string> = { 'kubernetes.io/hostname': s.name };
  if (s.zone) labels['topology.kubernetes.io/zone'] = s.zone;
  if (s.region) labels['topology.kubernetes.io/region'] = s.region;
  return {
    metadata: { name: s.name, uid: randomUUID(), creationTimestamp: new Date(Date.now() - 3_600_000).toISOString(), labels },
    status: {
      addresses: [
        ...s.internalIPs.map((address) => ({ type: 'InternalIP', address })),
        ...(s.externalIPs ?? []).map((address) => ({ type: 'ExternalIP', address })),
        { type: 'Hostname', address: s.name },
      ],
    },
  };
}

export function service(s: { namespace: string; name: string; clusterIPs: string[]; type?: string }): KubeObject {
  return {
    metadata: { name: s.name, namespace: s.namespace, uid: randomUUID(), creationTimestamp: new Date().toISOString() },
    spec: { type: s.type ?? 'ClusterIP', clusterIP: s.clusterIPs[0] ?? 'None', clusterIPs: s.clusterIPs, ports: [{ port: 80, protocol: 'TCP' }] },
  };
}

export function replicaSet(s: { namespace: string; name: string; owner?: OwnerRef }): KubeObject {
  return {
    metadata: { name: s.name, namespace: s.namespace, uid: randomUUID(), creationTimestamp: new Date().toISOString(), ...(s.owner ? { ownerReferences: ownerReferences(s.owner) } : {}) },
    spec: { replicas: 1, selector: { matchLabels: { app: s.name } } },
  };
}

export function job(s: { namespace: string; name: string; owner?: OwnerRef }): KubeObject {
  return {
    metadata: { name: s.name, namespace: s.namespace, uid: randomUUID(), creationTimestamp: new Date().toISOString(), ...(s.owner ? { ownerReferences: ownerReferences(s.owner) } : {}) },
    spec: { template: {} },
  };
}

/** A discovery.k8s.io/v1 EndpointSlice of a Service (what kube-proxy and most meshes watch). */
export function endpointSlice(s: { namespace: string; service: string; endpoints: Array<{ ip: string; node: string; pod: string }> }): KubeObject {
  return {
    metadata: {
      name: `${s.service}-${randomUUID().slice(0, 5)}`, namespace: s.namespace, uid: randomUUID(), creationTimestamp: new Date().toISOString(),
      labels: { 'kubernetes.io/service-name': s.service, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
    },
    addressType: 'IPv4',
    endpoints: s.endpoints.map((e) => ({
      addresses: [e.ip], conditions: { ready: true, serving: true, terminating: false }, nodeName: e.node,
      targetRef: { kind: 'Pod', namespace: s.namespace, name: e.pod },
    })),
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  };
}
