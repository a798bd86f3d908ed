// k8s-scale: what the API server and a gateway pay at 1,000 nodes and 30,000 pods.
//
// A test API server (test/harness/fake-apiserver.ts) in this process serves NODES nodes, PODS
// pods in Deployments of 6 (5,000 ReplicaSets and ClusterIP Services) and one EndpointSlice per
// Service. One client at a time runs in its own process (client.ts) with a kubeconfig of its own
// token, so the server's request log tells its requests and response bytes apart:
//
// - node mode: one DaemonSet pod's k8sattributes. Every node of a node-mode cluster runs the same
//   processor with the same lists and watches (only node_name differs, which changes no request),
//   so the cluster's figures are NODES × this one node's measured requests and bytes.
// - agent-gateway mode: an agent has no k8sattributes and no credentials, so it makes no request
//   (test/e2e/agent-gateway.test.ts asserts it from the request log of real agent processes);
//   the cluster's figures are GATEWAYS × one gateway's measured requests and bytes.
//
// Watch traffic is measured by changing CHURN pods (a label) once every client has synced: each
// watching client receives every change, so per-client bytes per 1,000 pod changes are printed.
// The gateway then enriches (k8sattributes, report-once per agent batch) and reduces (delta,
// default group_by, max_groups 200,000) FLOWS flows, sent as one batch per agent and decoded
// request by request as the otlp receiver hands them over: CPU per interval, median of TICKS,
// less the receiver's decoding (client.ts). PEERS (Deployments each Deployment calls, default 2) sets how many
// groups that gives (with 3 zones at each end: up to 5,000 × PEERS × 9 plus the internet).
// INPUT (client.ts) says how the batches arrive: decoder (default: as the otlp receiver decodes
// them) or strings (every value a new string). BENCH_VERBOSE=1 prints every tick's CPU per
// stage set; GC_TRACE=1 runs the clients with V8's --trace-gc (on stderr, each stage set marked).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { FakeApiServer, type RequestRecord } from '../../test/harness/fake-apiserver.ts';
import { deployments, fillScaleCluster, type ScaleCluster } from '../../test/harness/k8s-scale-cluster.ts';

const cluster: ScaleCluster = { nodes: Number(process.env.NODES ?? 1_000), pods: Number(process.env.PODS ?? 30_000), podsPerDeployment: 6 };
const GATEWAYS = Number(process.env.GATEWAYS ?? 3);
const CHURN = Number(process.env.CHURN ?? 1_000);
const mb = (b: number) => Math.round((b / 1e6) * 10) / 10;
/** Bytes as MB, or GB from 1 GB on. */
const size = (b: number) => (b >= 1e9 ? `${Math.round((b / 1e9) * 100) / 100} GB` : `${mb(b)} MB`);

const fillStart = performance.now();
const server = await FakeApiServer.start();
fillScaleCluster(server, cluster, { endpointSlices: true });
const fillMs = performance.now() - fillStart;

interface Traffic {
  lists: number;
  watches: number;
  listBytes: number;
  watchBytes: number;
}

function trafficOf(token: string): Traffic {
  const mine = server.requests.filter((r: RequestRecord) => r.token === token);
  return {
    lists: mine.filter((r) => !r.watch).length,
    watches: mine.filter((r) => r.watch).length,
    listBytes: mine.filter((r) => !r.watch).reduce((n, r) => n + r.bytes, 0),
    watchBytes: mine.filter((r) => r.watch).reduce((n, r) => n + r.bytes, 0),
  };
}

/** Changes CHURN pods' labels; resolves once `token`'s watches have stopped growing. */
async function churn(token: string, round: number): Promise<number> {
  const before = trafficOf(token).watchBytes;
  for (let i = 0; i < CHURN; i++) {
    const d = Math.floor(i / cluster.podsPerDeployment);
    const hash = (0x10000 + d).toString(16);
    const name = `app-${d}-${hash}-${i}`;
    const current = server.get('pods', name, `ns-${d % 50}`)!;
    const labels = current.metadata.labels as Record<string, string>;
    server.modify('pods', { ...current, metadata: { ...current.metadata, labels: { ...labels, rollout: String(round) } } });
  }
  let last = -1;
  for (;;) {
    await new Promise((r) => setTimeout(r, 300));
    const now = trafficOf(token).watchBytes;
    if (now === last) return now - before;
    last = now;
  }
}

type Line = Record<string, number | string>;

async function runClient(mode: 'node' | 'gateway') {
  const token = `${mode}-token`;
  const kubeconfig = server.writeKubeconfig(token, `kubeconfig-${mode}`);
  const child = spawn(process.execPath, [...(process.env.GC_TRACE ? ['--trace-gc'] : []), '--expose-gc', new URL('./client.ts', import.meta.url).pathname], {
    stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, MODE: mode, SCALE_KUBECONFIG: kubeconfig, CLUSTER: JSON.stringify(cluster) },
  });
  const lines = createInterface(child.stdout!)[Symbol.asyncIterator]();
  const read = async (): Promise<Line> => {
    for (;;) {
      const { value, done } = await lines.next();
      if (done) throw new Error(`the ${mode} client ended early`);
      // Not a line of ours: V8's --trace-gc (GC_TRACE=1), shown on stderr.
      if (!(value as string).startsWith('{')) {
        console.error(`${mode}: ${value}`);
        continue;
      }
      return JSON.parse(value as string) as Line;
    }
  };
  try {
    const synced = await read();
    if (synced.pods !== cluster.pods) throw new Error(`${mode}: synced ${synced.pods} pods, expected ${cluster.pods}`);
    const churnBytes = await churn(token, mode === 'node' ? 1 : 2);
    // Sync traffic: the lists and what the watches had sent before the pod changes.
    const all = trafficOf(token);
    const afterSync = { ...all, watchBytes: all.watchBytes - churnBytes };
    let measured: Line | undefined;
    if (mode === 'gateway') {
      child.stdin!.write('measure\n');
      measured = await read();
    }
    child.stdin!.write('exit\n');
    await once(child, 'exit');
    return { synced, afterSync, churnBytes, measured };
  } finally {
    child.kill('SIGKILL');
  }
}

try {
  const node = await runClient('node');
  const gateway = await runClient('gateway');
  const m = gateway.measured!;
  const perNode = node.afterSync;
  const perGateway = gateway.afterSync;
  const churnPer1k = (bytes: number) => Math.round((bytes / CHURN) * 1_000);
  const result = {
    bench: 'k8s-scale',
    nodes: cluster.nodes,
    pods: cluster.pods,
    services: deployments(cluster),
    endpointslices: deployments(cluster),
    replicasets: deployments(cluster),
    gateways: GATEWAYS,
    fill_ms: Math.round(fillMs),
    node_requests_per_node: perNode.lists + perNode.watches,
    node_list_pages_per_node: perNode.lists,
    node_watches_per_node: perNode.watches,
    node_sync_bytes_per_node: perNode.listBytes + perNode.watchBytes,
    node_watch_bytes_per_1k_pod_changes_per_node: churnPer1k(node.churnBytes),
    node_mode_requests_cluster: cluster.nodes * (perNode.lists + perNode.watches),
    node_mode_open_watches_cluster: cluster.nodes * perNode.watches,
    node_mode_sync_bytes_cluster: cluster.nodes * (perNode.listBytes + perNode.watchBytes),
    node_mode_watch_bytes_per_1k_pod_changes_cluster: cluster.nodes * churnPer1k(node.churnBytes),
    agent_requests_per_node: 0,
    gateway_requests_per_gateway: perGateway.lists + perGateway.watches,
    gateway_sync_bytes_per_gateway: perGateway.listBytes + perGateway.watchBytes,
    gateway_watch_bytes_per_1k_pod_changes_per_gateway: churnPer1k(gateway.churnBytes),
    agent_gateway_requests_cluster: GATEWAYS * (perGateway.lists + perGateway.watches),
    agent_gateway_open_watches_cluster: GATEWAYS * perGateway.watches,
    agent_gateway_sync_bytes_cluster: GATEWAYS * (perGateway.listBytes + perGateway.watchBytes),
    agent_gateway_watch_bytes_per_1k_pod_changes_cluster: GATEWAYS * churnPer1k(gateway.churnBytes),
    node_sync_ms: node.synced.sync_ms,
    node_rss_mib: node.synced.rss_mib,
    gateway_sync_ms: gateway.synced.sync_ms,
    gateway_rss_mib_after_sync: gateway.synced.rss_mib,
    gateway_heap_mib_after_sync: gateway.synced.heap_mib,
    gateway_rss_mib_after_flows: m.rss_mib,
    gateway_heap_mib_after_flows: m.heap_mib,
    flows_per_interval: m.flows,
    agents_sending: m.agents,
    otlp_requests_per_interval: m.requests,
    gateway_decode_cpu_ms: m.decode_cpu_ms,
    gateway_enrich_cpu_ms: m.enrich_cpu_ms,
    gateway_enrich_reduce_cpu_ms: m.enrich_reduce_cpu_ms,
    gateway_enrich_reduce_new_groups_cpu_ms: m.enrich_reduce_new_groups_cpu_ms,
    gateway_flows_kept: m.kept,
    gateway_groups_out: m.groups,
    peers_per_deployment: Number(process.env.PEERS ?? 2),
  };
  console.log(`k8s-scale: ${cluster.nodes} nodes, ${cluster.pods} pods, ${result.services} Services, ${result.endpointslices} EndpointSlices, ${result.replicasets} ReplicaSets (filled in ${result.fill_ms} ms)`);
  console.log(`  one node-mode node:  ${result.node_requests_per_node} requests (${perNode.lists} list pages, ${perNode.watches} watches), ${mb(result.node_sync_bytes_per_node)} MB to sync, ${mb(result.node_watch_bytes_per_1k_pod_changes_per_node)} MB per 1,000 pod changes; synced in ${result.node_sync_ms} ms, RSS ${result.node_rss_mib} MiB`);
  console.log(`  one agent:           0 requests, 0 bytes (no k8sattributes, no credentials)`);
  console.log(`  one gateway:         ${result.gateway_requests_per_gateway} requests, ${mb(result.gateway_sync_bytes_per_gateway)} MB to sync, ${mb(result.gateway_watch_bytes_per_1k_pod_changes_per_gateway)} MB per 1,000 pod changes`);
  console.log(`  cluster, mode node (${cluster.nodes} × one node):          ${result.node_mode_requests_cluster} requests, ${result.node_mode_open_watches_cluster} open watches, ${size(result.node_mode_sync_bytes_cluster)} to sync, ${size(result.node_mode_watch_bytes_per_1k_pod_changes_cluster)} per 1,000 pod changes`);
  console.log(`  cluster, mode agent-gateway (${GATEWAYS} × one gateway):    ${result.agent_gateway_requests_cluster} requests, ${result.agent_gateway_open_watches_cluster} open watches, ${size(result.agent_gateway_sync_bytes_cluster)} to sync, ${size(result.agent_gateway_watch_bytes_per_1k_pod_changes_cluster)} per 1,000 pod changes`);
  console.log(`  gateway memory:      RSS ${result.gateway_rss_mib_after_sync} MiB after sync (heap ${result.gateway_heap_mib_after_sync} MiB), RSS ${result.gateway_rss_mib_after_flows} MiB after the flow ticks (heap ${result.gateway_heap_mib_after_flows} MiB once their batches are garbage; the RSS keeps the pages those 262,144-flow batches needed); target ≤ 400 MB; synced in ${result.gateway_sync_ms} ms`);
  console.log(`  gateway CPU per interval, ${result.flows_per_interval} flows from ${result.agents_sending} agents: enrich ${result.gateway_enrich_cpu_ms} ms, enrich + reduce ${result.gateway_enrich_reduce_cpu_ms} ms (target ≤ 500 ms; ${result.gateway_enrich_reduce_new_groups_cpu_ms} ms when every group is new to reduce); ${result.gateway_flows_kept} kept by report-once, ${result.gateway_groups_out} groups out (request by request as the receiver hands them over: ${result.otlp_requests_per_interval} requests, the receiver's decoding, ${result.gateway_decode_cpu_ms} ms, subtracted)`);
  console.log(JSON.stringify(result));
} finally {
  await server.close();
}
