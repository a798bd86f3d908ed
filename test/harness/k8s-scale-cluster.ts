// A big synthetic cluster for the API server benchmarks (bench/k8sattributes, bench/k8s-scale):
// `nodes` nodes in 3 zones, `pods` pods in Deployments of `podsPerDeployment` (a ReplicaSet
// each), one ClusterIP Service per Deployment and, with `endpointSlices`, one EndpointSlice per
// Service listing its pods. Pod i runs on node i % nodes; the addresses follow from the indexes
// (podIp, nodeIp, serviceIp), so a benchmark can make flows between known ends.
import type { FakeApiServer } from './fake-apiserver.ts';
import { endpointSlice, node, pod, replicaSet, service } from './k8s-objects.ts';

export interface ScaleCluster {
  nodes: number;
  pods: number;
  podsPerDeployment: number;
}

export const podIp = (i: number) => `10.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
export const nodeIp = (n: number) => `192.168.${n >> 8}.${n & 255}`;
export const nodeName = (n: number) => `node-${n}`;
/** The Service (and Deployment) index of pod i. */
export const deploymentOf = (c: ScaleCluster, i: number) => Math.floor(i / c.podsPerDeployment);
export const serviceIp = (d: number) => `10.96.${d >> 8}.${d & 255}`;
export const deployments = (c: ScaleCluster) => Math.ceil(c.pods / c.podsPerDeployment);

/** Adds the cluster's objects to the server and compacts its history (a watch then starts from the lists). */
export function fillScaleCluster(server: FakeApiServer, c: ScaleCluster, { endpointSlices = false }: { endpointSlices?: boolean } = {}): void {
  for (let n = 0; n < c.nodes; n++) {
    server.add('nodes', node({ name: nodeName(n), internalIPs: [nodeIp(n)], zone: `zone-${n % 3}`, region: 'region-1' }));
  }
  const hashOf = (d: number) => (0x10000 + d).toString(16);
  for (let d = 0; d < deployments(c); d++) {
    const ns = `ns-${d % 50}`;
    server.add('replicasets', replicaSet({ namespace: ns, name: `app-${d}-${hashOf(d)}`, owner: { kind: 'Deployment', name: `app-${d}` } }));
    server.add('services', service({ namespace: ns, name: `app-${d}`, clusterIPs: [serviceIp(d)] }));
  }
  for (let i = 0; i < c.pods; i++) {
    const d = deploymentOf(c, i);
    server.add('pods', pod({
      namespace: `ns-${d % 50}`, name: `app-${d}-${hashOf(d)}-${i}`, ip: podIp(i), node: nodeName(i % c.nodes),
      owner: { kind: 'ReplicaSet', name: `app-${d}-${hashOf(d)}` }, labels: { app: `app-${d}`, 'pod-template-hash': hashOf(d) },
    }));
  }
  if (endpointSlices) {
    for (let d = 0; d < deployments(c); d++) {
      const first = d * c.podsPerDeployment;
      const members = Array.from({ length: Math.min(c.podsPerDeployment, c.pods - first) }, (_, k) => first + k);
      server.add('endpointslices', endpointSlice({
        namespace: `ns-${d % 50}`, service: `app-${d}`,
        endpoints: members.map((i) => ({ ip: podIp(i), node: nodeName(i % c.nodes), pod: `app-${d}-${hashOf(d)}-${i}` })),
      }));
    }
  }
  server.compact();
}
