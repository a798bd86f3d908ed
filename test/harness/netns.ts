// Network namespaces for kernel tests: a "node" namespace that routes between two "pod"
// namespaces over veth pairs, with an nftables hook so conntrack runs in the node namespace.
// Reusable by any test that needs real kernel networking (conntrack, Cilium-style maps, e2e).
//
//   pod1 (eth0 10.0.1.2/24, fd00:1::2/64) ── vpod1 ┐
//                                                 node (10.0.1.1, 10.0.2.1, fd00:1::1, fd00:2::1; forwarding)
//   pod2 (eth0 10.0.2.2/24, fd00:2::2/64) ── vpod2 ┘
//
// Addresses are fixed: each topology lives in its own namespaces, so topologies of tests running
// in parallel never see each other. Namespace names are unique per call (prefix + pid + counter).
//
// Usage:
//   const topo = await createNodeTopology('ct');            // needs root (requirePrivileges first)
//   t.teardown(() => topo.destroy());                      // or test.after.always
//   await topo.pod1.exec('ping', ['-c', '1', '10.0.2.2']);
//   await topo.node.nft('add rule ...');                    // or topo.addDnat(...)
//   topo.node.path                                          // /run/netns/<name>, for `netns:` options
//
// When `createNodeTopology` returns, every veth is up with usable IPv6 addresses (no DAD) and
// the links are quiet: no router solicitations, and the MLD reports of link-up go out within
// milliseconds of it, so only the test's own traffic crosses the veths afterwards.
//
// `destroy()` deletes every namespace (and so every veth and process-less socket in it) and kills
// the processes started with `spawn`. A process-exit hook removes leftovers if a test crashes.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { systemTool } from './system-tools.ts';

const run = promisify(execFile);
const TRAFFIC_SCRIPT = fileURLToPath(new URL('./traffic.ts', import.meta.url));

export const POD1_V4 = '10.0.1.2';
export const POD2_V4 = '10.0.2.2';
export const POD1_V6 = 'fd00:1::2';
export const POD2_V6 = 'fd00:2::2';
export const NODE_POD1_V4 = '10.0.1.1';
export const NODE_POD2_V4 = '10.0.2.1';

const NETNS_LOCK = '/tmp/podflow-netns.lock';
let counter = 0;
const live = new Set<Netns>();
process.once('exit', () => {
  for (const ns of live) ns.destroySync();
});

export class Netns {
  readonly name: string;
  readonly #children = new Set<ChildProcess>();

  constructor(name: string) {
    this.name = name;
  }

  /** The namespace file, for `setns` users (e.g. the conntrack receiver's `netns:`). */
  get path(): string {
    return `/run/netns/${this.name}`;
  }

  static async create(name: string): Promise<Netns> {
    // Concurrent `ip netns add` calls race on setting up the /run/netns mount and can leave a
    // name bound to the wrong namespace: serialize them across processes.
    await run(systemTool('flock'), [NETNS_LOCK, systemTool('ip'), 'netns', 'add', name]);
    const ns = new Netns(name);
    live.add(ns);
    await ns.exec('ip', ['link', 'set', 'lo', 'up']);
    return ns;
  }

  /**
   * Runs a command inside the namespace; rejects with its stderr on a non-zero exit. A bare
   * command name is found by file, never through PATH (see `systemTool`).
   */
  async exec(cmd: string, args: readonly string[] = [], timeoutMs = 20_000): Promise<string> {
    try {
      const { stdout } = await run(systemTool('ip'), ['netns', 'exec', this.name, systemTool(cmd), ...args], { timeout: timeoutMs, maxBuffer: 256 << 20 });
      return stdout;
    } catch (e) {
      const err = e as Error & { stderr?: string };
      throw new Error(`[${this.name}] ${cmd} ${args.join(' ')}: ${err.stderr?.trim() || err.message}`);
    }
  }

  async sysctl(key: string, value: string | number): Promise<void> {
    await this.exec('sysctl', ['-q', '-w', `${key}=${value}`]);
  }

  /** Applies an nftables script (`nft -f -` semantics) inside the namespace. */
  async nft(script: string): Promise<void> {
    const child = spawn(systemTool('ip'), ['netns', 'exec', this.name, systemTool('nft'), '-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdin.end(script);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    if (code !== 0) throw new Error(`[${this.name}] nft: ${stderr.trim()}`);
  }

  /**
   * Starts a long-running process in the namespace; resolves once it printed its first line
   * (servers print when ready). Killed by `destroy()`.
   */
  async spawn(cmd: string, args: readonly string[]): Promise<{ child: ChildProcess; firstLine: string }> {
    const child = spawn(systemTool('ip'), ['netns', 'exec', this.name, systemTool(cmd), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#children.add(child);
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const firstLine = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`[${this.name}] ${cmd} exited (${code}): ${stderr.trim()}`)));
    });
    return { child, firstLine };
  }

  /** Runs test/harness/traffic.ts in the namespace (see that file for the modes). */
  async traffic(mode: string, args: ReadonlyArray<string | number>): Promise<Record<string, number>> {
    const out = await this.exec(process.execPath, [TRAFFIC_SCRIPT, mode, ...args.map(String)]);
    return JSON.parse(out.trim().split('\n').pop()!) as Record<string, number>;
  }

  /** Starts a traffic.ts server in the namespace (`tcp-server` / `udp-server`). */
  async trafficServer(mode: 'tcp-server' | 'udp-server', port: number): Promise<ChildProcess> {
    return (await this.spawn(process.execPath, [TRAFFIC_SCRIPT, mode, String(port)])).child;
  }

  async destroy(): Promise<void> {
    for (const c of this.#children) c.kill('SIGKILL');
    this.#children.clear();
    live.delete(this);
    await run(systemTool('flock'), [NETNS_LOCK, systemTool('ip'), 'netns', 'del', this.name]).catch(() => {});
  }

  destroySync(): void {
    for (const c of this.#children) c.kill('SIGKILL');
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      process.getBuiltinModule('node:child_process').execFileSync(systemTool('ip'), ['netns', 'del', this.name], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
}

export interface NodeTopology {
  node: Netns;
  pod1: Netns;
  pod2: Netns;
  /** DNAT `vip:port` (TCP or UDP) to `backend:backendPort` in the node namespace (a ClusterIP service). */
  addDnat(protocol: 'tcp' | 'udp', vip: string, port: number, backend: string, backendPort: number): Promise<void>;
  destroy(): Promise<void>;
}

export interface TopologyOptions {
  /** Set net.netfilter.nf_conntrack_acct=1 in the node namespace (default true). */
  accounting?: boolean;
}

/**
 * Waits until `dev` is operationally up and every IPv6 address on it (the link-local one
 * included, which the kernel adds only once the carrier is seen) is usable: not tentative.
 * The first packets of a test then leave at once instead of waiting for the link to settle.
 */
export async function waitLinkReady(ns: Netns, dev: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    last = await ns.exec('ip', ['-6', '-j', 'addr', 'show', 'dev', dev]);
    const [link] = JSON.parse(last) as Array<{ operstate?: string; addr_info?: Array<{ scope?: string; tentative?: boolean; dadfailed?: boolean }> }>;
    const addrs = link?.addr_info ?? [];
    const ready = link?.operstate === 'UP' && addrs.some((a) => a.scope === 'link') && addrs.every((a) => !a.tentative && !a.dadfailed);
    if (ready) return;
    if (Date.now() > deadline) throw new Error(`[${ns.name}] ${dev}: link not ready after ${timeoutMs} ms: ${last.trim()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Builds pod1 ↔ node ↔ pod2 with IPv4 and IPv6 routing through the node namespace, an
 * nftables forward hook there (so conntrack tracks forwarded flows) and a nat table for DNAT.
 * `prefix` names the test (≤ 6 characters is plenty); the namespace names add pid and a counter.
 */
export async function createNodeTopology(prefix: string, options: TopologyOptions = {}): Promise<NodeTopology> {
  const id = `${prefix}-${process.pid}-${counter++}`;
  const created: Netns[] = [];
  const destroy = async () => {
    await Promise.all(created.map((ns) => ns.destroy()));
  };
  try {
    const node = await Netns.create(`${id}-node`);
    created.push(node);
    const pod1 = await Netns.create(`${id}-pod1`);
    created.push(pod1);
    const pod2 = await Netns.create(`${id}-pod2`);
    created.push(pod2);
    // No IPv6 duplicate address detection on links we own: while a router's link-local address
    // is tentative (DAD takes 1-2 s after link-up) the kernel sends no neighbour solicitation
    // for forwarded packets (their source is not local, and a tentative address may not be
    // used), so the first forwarded IPv6 packet waits in the neighbour queue until DAD ends.
    // The client then retransmits its SYN, and conntrack counts neither the retransmitted SYN
    // (no refresh on SYN retransmit) nor the duplicate SYN-ACK (ignored in SYN_RECV), while a
    // capture sees both.
    // And a quiet link: no router solicitations (repeated every few seconds otherwise), and the
    // unsolicited MLD reports of link-up sent within milliseconds (spread over ~2 s otherwise),
    // so once the topology is returned only the test's own traffic crosses the veths and
    // frame counts taken over a window (capture vs interface counters) agree exactly.
    // Set as defaults before the veths exist, so every new interface inherits them.
    for (const ns of [node, pod1, pod2]) {
      await ns.sysctl('net.ipv6.conf.default.accept_dad', 0);
      await ns.sysctl('net.ipv6.conf.default.router_solicitations', 0);
      await ns.sysctl('net.ipv6.conf.default.mldv1_unsolicited_report_interval', 1);
      await ns.sysctl('net.ipv6.conf.default.mldv2_unsolicited_report_interval', 1);
    }
    for (const [i, pod] of [[1, pod1], [2, pod2]] as const) {
      await node.exec('ip', ['link', 'add', `vpod${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod.name]);
      await node.exec('ip', ['addr', 'add', `10.0.${i}.1/24`, 'dev', `vpod${i}`]);
      await node.exec('ip', ['addr', 'add', `fd00:${i}::1/64`, 'dev', `vpod${i}`, 'nodad']);
      await node.exec('ip', ['link', 'set', `vpod${i}`, 'up']);
      await pod.exec('ip', ['addr', 'add', `10.0.${i}.2/24`, 'dev', 'eth0']);
      await pod.exec('ip', ['addr', 'add', `fd00:${i}::2/64`, 'dev', 'eth0', 'nodad']);
      await pod.exec('ip', ['link', 'set', 'eth0', 'up']);
      await pod.exec('ip', ['route', 'add', 'default', 'via', `10.0.${i}.1`]);
      await pod.exec('ip', ['-6', 'route', 'add', 'default', 'via', `fd00:${i}::1`]);
    }
    await node.sysctl('net.ipv4.ip_forward', 1);
    await node.sysctl('net.ipv6.conf.all.forwarding', 1);
    // Any ct expression makes the kernel run conntrack in this namespace.
    await node.nft(`
      table inet podflow_test {
        chain forward {
          type filter hook forward priority 0; policy accept;
          ct state established,related,new accept
        }
      }
      table ip podflow_nat {
        chain prerouting {
          type nat hook prerouting priority -100;
        }
      }
      table ip6 podflow_nat {
        chain prerouting {
          type nat hook prerouting priority -100;
        }
      }
    `);
    if (options.accounting ?? true) await node.sysctl('net.netfilter.nf_conntrack_acct', 1);
    await Promise.all([
      waitLinkReady(node, 'vpod1'),
      waitLinkReady(node, 'vpod2'),
      waitLinkReady(pod1, 'eth0'),
      waitLinkReady(pod2, 'eth0'),
    ]);
    return {
      node,
      pod1,
      pod2,
      async addDnat(protocol, vip, port, backend, backendPort) {
        const family = vip.includes(':') ? 'ip6' : 'ip';
        const to = family === 'ip6' ? `[${backend}]:${backendPort}` : `${backend}:${backendPort}`;
        await node.nft(`add rule ${family} podflow_nat prerouting ${family} daddr ${vip} ${protocol} dport ${port} dnat to ${to}\n`);
      },
      destroy,
    };
  } catch (e) {
    await destroy();
    throw e;
  }
}
