// Builds the simulated cluster of topology.ts on the real kernel: one network namespace per node,
// per pod and for the external host; veth pairs; CNI-style host routes; kube-proxy-style DNAT for
// the ClusterIP; masquerade for traffic leaving the cluster; conntrack accounting on every node.
// Then runs the Bookinfo-like workload (bookinfo-app.ts) in the pods. Needs root.
//
//   const cluster = await SimulatedCluster.create('e2e');
//   try { await cluster.startApps(); loadApiServer(api); await cluster.runLoad(10); ... }
//   finally { await cluster.destroy(); }
//
// IPv6 is switched off in every namespace so the conntrack tables hold only the workload's
// connections (no neighbour discovery or MLD noise), which makes the tables an exact oracle.
import { fileURLToPath } from 'node:url';
import type { FakeApiServer } from '../fake-apiserver.ts';
import { node as nodeObject, pod as podObject, replicaSet, service as serviceObject } from '../k8s-objects.ts';
import { Netns } from '../netns.ts';
import {
  APP_PORT,
  EXTERNAL,
  NAMESPACE,
  NODE_CIDR,
  NODES,
  POD_CIDR,
  POD_GATEWAY,
  PODS,
  RATINGS_SERVICE,
  SERVICES,
  SIZES,
  podsOf,
  replicaSetName,
  type NodeDef,
  type NodeName,
  type PodDef,
} from './topology.ts';

const APP = fileURLToPath(new URL('./bookinfo-app.ts', import.meta.url));
/**
 * Closed connections' entries must outlive the test's reading of the tables: TIME_WAIT (kernel
 * default 120 s) and CLOSE, a connection ended by a reset (kernel default 10 s: shorter than an
 * e2e's PostgreSQL outage, so an entry of the rounds before it could be gone when read).
 */
const CLOSED_ENTRY_TIMEOUT_SEC = 600;

let counter = 0;

export interface LoadResult {
  ok: number;
  failed: number;
}

export class SimulatedCluster {
  readonly nodes: ReadonlyMap<NodeName, Netns>;
  readonly pods: ReadonlyMap<string, Netns>;
  readonly external: Netns;
  readonly #all: Netns[];

  private constructor(nodes: Map<NodeName, Netns>, pods: Map<string, Netns>, external: Netns, all: Netns[]) {
    this.nodes = nodes;
    this.pods = pods;
    this.external = external;
    this.#all = all;
  }

  /** Creates every namespace and link. `prefix` names the run (namespaces add pid and a counter). */
  static async create(prefix: string): Promise<SimulatedCluster> {
    const id = `${prefix}-${process.pid}-${counter++}`;
    const all: Netns[] = [];
    const make = async (suffix: string) => {
      const ns = await Netns.create(`${id}-${suffix}`);
      all.push(ns);
      await ns.sysctl('net.ipv6.conf.all.disable_ipv6', 1);
      await ns.sysctl('net.ipv6.conf.default.disable_ipv6', 1);
      return ns;
    };
    try {
      const nodes = new Map<NodeName, Netns>();
      for (const n of NODES) nodes.set(n.name, await make(n.name));
      const pods = new Map<string, Netns>();
      for (const p of PODS) pods.set(p.name, await make(p.name.replace(/-[0-9a-f]{8,10}-/, '-')));
      const external = await make('external');
      const cluster = new SimulatedCluster(nodes, pods, external, all);
      await cluster.#wire();
      return cluster;
    } catch (e) {
      await Promise.all(all.map((ns) => ns.destroy()));
      throw e;
    }
  }

  node(name: NodeName): Netns {
    return this.nodes.get(name)!;
  }

  pod(def: PodDef): Netns {
    return this.pods.get(def.name)!;
  }

  async #wire(): Promise<void> {
    const [a, b] = NODES as [NodeDef, NodeDef];
    const nsA = this.node(a.name);
    const nsB = this.node(b.name);
    for (const n of NODES) {
      const ns = this.node(n.name);
      await ns.sysctl('net.ipv4.ip_forward', 1);
      await ns.sysctl('net.ipv4.conf.all.rp_filter', 0);
      await ns.sysctl('net.ipv4.conf.default.rp_filter', 0);
    }
    // The node network: one veth between the two nodes, like the underlay of a routed CNI.
    await nsA.exec('ip', ['link', 'add', 'uplink', 'type', 'veth', 'peer', 'name', 'uplink', 'netns', nsB.name]);
    for (const n of NODES) {
      const ns = this.node(n.name);
      await ns.exec('ip', ['addr', 'add', `${n.ip}/24`, 'dev', 'uplink']);
      await ns.exec('ip', ['link', 'set', 'uplink', 'up']);
    }
    // Host routes to the other node's pod range (what flannel host-gw or Calico BGP install).
    await nsA.exec('ip', ['route', 'add', b.podCidr, 'via', b.ip]);
    await nsB.exec('ip', ['route', 'add', a.podCidr, 'via', a.ip]);
    // The external host hangs off node-b; node-a reaches the outside through node-b.
    const gateway = this.node(EXTERNAL.via);
    await gateway.exec('ip', ['link', 'add', 'ext', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.external.name]);
    await gateway.exec('ip', ['addr', 'add', `${EXTERNAL.gateway}/${EXTERNAL.prefix}`, 'dev', 'ext']);
    await gateway.exec('ip', ['link', 'set', 'ext', 'up']);
    await this.external.exec('ip', ['addr', 'add', `${EXTERNAL.ip}/${EXTERNAL.prefix}`, 'dev', 'eth0']);
    await this.external.exec('ip', ['link', 'set', 'eth0', 'up']);
    await this.external.exec('ip', ['route', 'add', 'default', 'via', EXTERNAL.gateway]);
    for (const n of NODES) if (n.name !== EXTERNAL.via) await this.node(n.name).exec('ip', ['route', 'add', 'default', 'via', nodeOfName(EXTERNAL.via).ip]);

    // Pods: a /32 on eth0, default route via a link-local gateway the node side answers for
    // (Calico's layout), and a host route per pod on the node.
    let index = 0;
    for (const p of PODS) {
      const node = this.node(p.node);
      const pod = this.pod(p);
      const veth = `veth${index++}`;
      await node.exec('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod.name]);
      await node.exec('ip', ['addr', 'add', `${POD_GATEWAY}/32`, 'dev', veth]);
      await node.exec('ip', ['link', 'set', veth, 'up']);
      await node.exec('ip', ['route', 'add', `${p.ip}/32`, 'dev', veth, 'scope', 'link']);
      await pod.exec('ip', ['addr', 'add', `${p.ip}/32`, 'dev', 'eth0']);
      await pod.exec('ip', ['link', 'set', 'eth0', 'up']);
      await pod.exec('ip', ['route', 'add', POD_GATEWAY, 'dev', 'eth0', 'scope', 'link']);
      await pod.exec('ip', ['route', 'add', 'default', 'via', POD_GATEWAY, 'dev', 'eth0']);
    }

    // Conntrack runs in each node namespace (the nat and ct rules register its hooks), with
    // byte accounting on, before any traffic.
    for (const n of NODES) {
      const ns = this.node(n.name);
      const dnat = SERVICES.map((s) => `    ip daddr ${s.clusterIP} tcp dport ${s.port} dnat to ${s.backend}:${s.port}`).join('\n');
      await ns.nft(`
table ip podflow_cluster {
  chain forward {
    type filter hook forward priority 0; policy accept;
    ct state established,related,new accept
  }
  chain prerouting {
    type nat hook prerouting priority -100;
${dnat}
  }
  chain postrouting {
    type nat hook postrouting priority 100;
    ip saddr ${POD_CIDR} ip daddr != ${POD_CIDR} ip daddr != ${NODE_CIDR} masquerade
  }
}
`);
      await ns.sysctl('net.netfilter.nf_conntrack_acct', 1);
      await ns.sysctl('net.netfilter.nf_conntrack_tcp_timeout_time_wait', CLOSED_ENTRY_TIMEOUT_SEC);
      await ns.sysctl('net.netfilter.nf_conntrack_tcp_timeout_close', CLOSED_ENTRY_TIMEOUT_SEC);
    }
  }

  /** Starts the HTTP servers in every pod and on the external host; resolves once all listen. */
  async startApps(): Promise<void> {
    const target = (ip: string, port = APP_PORT) => `${ip}:${port}`;
    const servers: Array<Promise<unknown>> = [];
    const serve = (ns: Netns, port: number, downstream: unknown[]) =>
      servers.push(ns.spawn(process.execPath, [APP, 'serve', JSON.stringify({ port, downstream })]));
    const [details] = podsOf('details');
    for (const p of PODS) {
      const ns = this.pod(p);
      switch (p.role) {
        case 'productpage':
          serve(ns, APP_PORT, [
            { targets: [target(details!.ip)], ...SIZES.productpageToDetails },
            { targets: podsOf('reviews').map((r) => target(r.ip)), ...SIZES.productpageToReviews },
          ]);
          break;
        case 'details':
          serve(ns, APP_PORT, [{ targets: [target(EXTERNAL.ip, EXTERNAL.port)], ...SIZES.detailsToExternal }]);
          break;
        case 'reviews': {
          const local = PODS.find((r) => r.role === 'ratings' && r.node === p.node)!;
          serve(ns, APP_PORT, [
            { targets: [target(local.ip)], ...SIZES.reviewsToRatings },
            { targets: [target(RATINGS_SERVICE.clusterIP, RATINGS_SERVICE.port)], ...SIZES.reviewsToRatingsVip },
          ]);
          break;
        }
        case 'ratings':
          serve(ns, APP_PORT, []);
          break;
        case 'loadgen':
          break;
      }
    }
    serve(this.external, EXTERNAL.port, []);
    await Promise.all(servers);
  }

  #loadArgs(rounds: number, pauseMs: number): string[] {
    const [productpage] = podsOf('productpage');
    return [APP, 'load', JSON.stringify({ target: `${productpage!.ip}:${APP_PORT}`, rounds, pauseMs, ...SIZES.loadgenToProductpage })];
  }

  /** Runs `rounds` loadgen requests one after another (roundCalls() lists each round's connections). */
  async runLoad(rounds: number): Promise<LoadResult> {
    const [loadgen] = podsOf('loadgen');
    const out = await this.pod(loadgen!).exec(process.execPath, this.#loadArgs(rounds, 0), 120_000);
    return JSON.parse(out.trim().split('\n').pop()!) as LoadResult;
  }

  /** Starts an endless load (one round every `pauseMs`), stopped by destroy(). */
  async startLoad(pauseMs: number): Promise<void> {
    const [loadgen] = podsOf('loadgen');
    await this.pod(loadgen!).spawn(process.execPath, this.#loadArgs(0, pauseMs));
  }

  /** Kills every process started in the cluster and deletes all its namespaces. */
  async destroy(): Promise<void> {
    await Promise.all(this.#all.map((ns) => ns.destroy()));
  }
}

function nodeOfName(name: NodeName): NodeDef {
  return NODES.find((n) => n.name === name)!;
}

/** Fills a test API server with the cluster's nodes (zone labels), pods, ReplicaSets and service. */
export function loadApiServer(api: FakeApiServer): void {
  for (const n of NODES) api.add('nodes', nodeObject({ name: n.name, internalIPs: [n.ip], zone: n.zone, region: n.region }));
  const deployments = new Set(PODS.filter((p) => p.owner.kind === 'Deployment').map((p) => p.owner.name));
  for (const d of deployments) {
    api.add('replicasets', replicaSet({ namespace: NAMESPACE, name: replicaSetName(d), owner: { kind: 'Deployment', name: d } }));
  }
  for (const p of PODS) {
    const owner = p.owner.kind === 'Deployment' ? { kind: 'ReplicaSet', name: replicaSetName(p.owner.name) } : { kind: 'StatefulSet', name: p.owner.name };
    const labels: Record<string, string> = { app: p.role };
    if (p.owner.kind === 'Deployment') labels['pod-template-hash'] = replicaSetName(p.owner.name).split('-').pop()!;
    api.add('pods', podObject({ namespace: NAMESPACE, name: p.name, ip: p.ip, node: p.node, owner, labels, containerPorts: [{ containerPort: APP_PORT }] }));
  }
  for (const s of SERVICES) api.add('services', serviceObject({ namespace: NAMESPACE, name: s.name, clusterIPs: [s.clusterIP] }));
}
