// A DNS server for netns tests: Debian's dnsmasq (dnsmasq-base) in a namespace, answering only
// from its command line (--host-record, --cname), with no upstream and no /etc files read.
// `resolve` runs test/harness/dns-client.ts in a namespace to query it over UDP or TCP.
//
//   const dns = await startDnsmasq(topo.pod2, ['10.0.2.2'], ['--host-record=a.test,93.184.216.34,60']);
//   t.teardown(() => dns.stop());                  // topology destroy() does not stop it
//   await resolve(topo.pod1, '10.0.2.2', 'a.test', 'A', 'udp')   // → ['93.184.216.34']
import { type ChildProcess, spawn } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Netns } from './netns.ts';
import { systemTool } from './system-tools.ts';

const CLIENT_SCRIPT = fileURLToPath(new URL('./dns-client.ts', import.meta.url));
export const DNSMASQ = systemTool('dnsmasq');

export interface DnsServer {
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/** Runs dnsmasq (`command args`), killed at exit; `stop` ends it and removes `dir`. */
function spawnDnsmasq(command: string, args: string[], dir: string) {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const stop = async () => {
    running.delete(child);
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  };
  return { stop, exited: () => child.exitCode !== null, stderr: () => stderr, signal: (name: NodeJS.Signals) => child.kill(name) };
}

/** Starts dnsmasq in `ns` listening on `addresses` port 53; resolves once it answers. */
export async function startDnsmasq(ns: Netns, addresses: readonly string[], records: readonly string[]): Promise<DnsServer> {
  const dir = await mkdtemp(join(tmpdir(), 'podflow-dnsmasq-'));
  const args = [
    '--keep-in-foreground', '--no-resolv', '--no-hosts', '--conf-file=/dev/null', '--no-poll',
    `--pid-file=${join(dir, 'dnsmasq.pid')}`, '--bind-interfaces', '--port=53', '--user=root', '--group=root',
    ...addresses.map((a) => `--listen-address=${a}`),
    ...records,
  ];
  const { stop, exited, stderr } = spawnDnsmasq(systemTool('ip'), ['netns', 'exec', ns.name, DNSMASQ, ...args], dir);
  // Ready when it answers on the first address (any name; dnsmasq answers REFUSED/NXDOMAIN fast).
  for (let i = 0; i < 50; i++) {
    if (exited()) break;
    try {
      await ns.exec(process.execPath, [CLIENT_SCRIPT, addresses[0]!, 'ready.invalid', 'A', 'udp', '200']);
      return { stop };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await stop();
  throw new Error(`dnsmasq did not start in ${ns.name}: ${stderr().trim() || 'no answer on port 53'}`);
}

/** Resolves `name` from inside `ns` against `server`; returns the addresses answered. */
export async function resolve(ns: Netns, server: string, name: string, type: 'A' | 'AAAA', transport: 'udp' | 'tcp'): Promise<string[]> {
  const out = await ns.exec(process.execPath, [CLIENT_SCRIPT, server, name, type, transport]);
  return (JSON.parse(out.trim()) as { addresses: string[] }).addresses;
}

export interface LocalDnsServer extends DnsServer {
  /** `127.0.0.1:<port>`, for a node:dns Resolver's setServers. */
  server: string;
  /** Replaces the A records of `name` (none: the name has no record) and waits until dnsmasq serves them. */
  setRecords(name: string, addresses: readonly string[]): Promise<void>;
}

/**
 * dnsmasq in this namespace on 127.0.0.1:<port> (no privileges needed for a high port), serving A
 * records from a hosts file that setRecords rewrites (dnsmasq re-reads it on SIGHUP).
 */
export async function startLocalDnsmasq(port: number): Promise<LocalDnsServer> {
  const dir = await mkdtemp(join(tmpdir(), 'podflow-dnsmasq-'));
  const hosts = join(dir, 'hosts');
  await writeFile(hosts, '');
  const args = [
    '--keep-in-foreground', '--no-resolv', '--no-hosts', '--conf-file=/dev/null', '--no-poll', '--local-ttl=0',
    `--pid-file=${join(dir, 'dnsmasq.pid')}`, '--bind-interfaces', '--listen-address=127.0.0.1', `--port=${port}`,
    `--addn-hosts=${hosts}`, '--local=/test/', '--user=root', '--group=root',
  ];
  const { stop, exited, stderr, signal } = spawnDnsmasq(DNSMASQ, args, dir);
  const server = `127.0.0.1:${port}`;
  const resolver = new Resolver({ timeout: 200, tries: 1 });
  resolver.setServers([server]);
  const lookup = (name: string) => resolver.resolve4(name).catch((err: { code?: string }) => (err.code === 'ENOTFOUND' || err.code === 'ENODATA' ? [] : Promise.reject(err)));
  const records = new Map<string, readonly string[]>();
  const setRecords = async (name: string, addresses: readonly string[]) => {
    records.set(name, addresses);
    await writeFile(hosts, [...records].flatMap(([n, list]) => list.map((a) => `${a} ${n}\n`)).join(''));
    signal('SIGHUP');
    const want = [...addresses].sort().join(',');
    for (let i = 0; i < 500; i++) {
      if ((await lookup(name).catch(() => [] as string[])).sort().join(',') === want) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`dnsmasq on ${server} did not serve ${name} → [${want}]`);
  };
  for (let i = 0; i < 50; i++) {
    if (exited()) break;
    try {
      await lookup('ready.test');
      return { server, setRecords, stop };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await stop();
  throw new Error(`dnsmasq did not start on ${server}: ${stderr().trim() || 'no answer'}`);
}
