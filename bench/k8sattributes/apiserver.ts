// The benchmark's cluster, in its own process so the processor's RSS is measured alone:
// a fake API server with NODES nodes (3 zones), PODS pods (Deployments of 10 via ReplicaSets),
// and one ClusterIP service per Deployment. Prints one JSON line {kubeconfig, pods, ...}.
import { FakeApiServer } from '../../test/harness/fake-apiserver.ts';
import { deployments, fillScaleCluster, type ScaleCluster } from '../../test/harness/k8s-scale-cluster.ts';

const cluster: ScaleCluster = { nodes: Number(process.env.NODES ?? 100), pods: Number(process.env.PODS ?? 10_000), podsPerDeployment: 10 };
const server = await FakeApiServer.start();
fillScaleCluster(server, cluster);
console.log(JSON.stringify({ kubeconfig: server.writeKubeconfig(), nodes: cluster.nodes, pods: cluster.pods, services: deployments(cluster) }));
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
