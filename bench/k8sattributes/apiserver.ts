// The benchmark's cluster, in its own process so the processor's RSS is measured alone:
// a fake API server with NODES nodes (3 zones), PODS pods (Deployments of 10 via ReplicaSets),
// and one ClusterIP service per Deployment. Prints one JSON line {kubeconfig, pods, ...}.
import { FakeApiServer } from '../../test/harness/fake-apiserver.ts';
import { node, pod, replicaSet, service } from '../../test/harness/k8s-objects.ts';

const NODES = Number(process.env.NODES ?? 100);
const PODS = Number(process.env.PODS ?? 10_000);
const PER_DEPLOYMENT = 10;

const server = await FakeApiServer.start();
for (let n = 0; n < NODES; n++) {
  server.add('nodes', node({ name: `node-${n}`, internalIPs: [`192.168.${n >> 8}.${n & 255}`], zone: `zone-${n % 3}`, region: 'region-1' }));
}
for (let d = 0; d < PODS / PER_DEPLOYMENT; d++) {
  const ns = `ns-${d % 50}`;
  const hash = (0x10000 + d).toString(16);
  server.add('replicasets', replicaSet({ namespace: ns, name: `app-${d}-${hash}`, owner: { kind: 'Deployment', name: `app-${d}` } }));
  server.add('services', service({ namespace: ns, name: `app-${d}`, clusterIPs: [`10.96.${d >> 8}.${d & 255}`] }));
}
for (let i = 0; i < PODS; i++) {
  const d = Math.floor(i / PER_DEPLOYMENT);
  const hash = (0x10000 + d).toString(16);
  server.add('pods', pod({
    namespace: `ns-${d % 50}`, name: `app-${d}-${hash}-${i}`, ip: `10.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, node: `node-${i % NODES}`,
    owner: { kind: 'ReplicaSet', name: `app-${d}-${hash}` }, labels: { app: `app-${d}`, 'pod-template-hash': hash },
  }));
}
server.compact();
console.log(JSON.stringify({ kubeconfig: server.writeKubeconfig(), nodes: NODES, pods: PODS, services: PODS / PER_DEPLOYMENT }));
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
