// The kernel's conntrack table as `conntrack -L -o extended` prints it: the independent oracle
// the kernel tests and the e2e compare podflow's numbers with.
//
//   ipv4  2 tcp  6 117 TIME_WAIT src=10.0.1.2 dst=10.96.0.20 sport=40312 dport=9080 packets=6 bytes=412
//         src=10.0.2.2 dst=10.0.1.2 sport=9080 dport=40312 packets=4 bytes=2210 [ASSURED] mark=0 use=1
//
// The first src=… group is the original tuple (the initiator's view), the second the reply tuple
// (its src is the real responder after DNAT).
import type { Flow } from '../../src/model/index.ts';
import type { Netns } from './netns.ts';

export interface ConntrackEntry {
  family: 'ipv4' | 'ipv6';
  transport: string;
  /** TCP state (`ESTABLISHED`, `TIME_WAIT`, …); empty for other transports. */
  state: string;
  origSrc: string;
  origDst: string;
  origSport: number;
  origDport: number;
  replySrc: string;
  replySport: number;
  txBytes: number;
  txPackets: number;
  rxBytes: number;
  rxPackets: number;
}

const PROTO_NAMES: Record<string, string> = { '1': 'icmp', '6': 'tcp', '17': 'udp', '58': 'ipv6-icmp', '132': 'sctp' };

export function parseConntrackExtended(text: string): ConntrackEntry[] {
  const entries: ConntrackEntry[] = [];
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words.length < 6 || (words[0] !== 'ipv4' && words[0] !== 'ipv6')) continue;
    const transport = PROTO_NAMES[words[3]!] ?? words[2]!;
    const tuples: Array<Record<string, string>> = [];
    for (const w of words) {
      const eq = w.indexOf('=');
      if (eq < 0) continue;
      const [k, v] = [w.slice(0, eq), w.slice(eq + 1)];
      if (k === 'src') tuples.push({});
      const t = tuples.at(-1);
      if (t && !(k in t)) t[k] = v;
    }
    const [orig, reply] = tuples;
    if (!orig || !reply) continue;
    entries.push({
      family: words[0],
      transport,
      state: transport === 'tcp' ? words[5]! : '',
      origSrc: orig.src!,
      origDst: orig.dst!,
      origSport: Number(orig.sport ?? 0),
      origDport: Number(orig.dport ?? 0),
      replySrc: reply.src!,
      replySport: Number(reply.sport ?? 0),
      txBytes: Number(orig.bytes ?? 0),
      txPackets: Number(orig.packets ?? 0),
      rxBytes: Number(reply.bytes ?? 0),
      rxPackets: Number(reply.packets ?? 0),
    });
  }
  return entries;
}

/** The table of a network namespace, both families unless told. */
export async function readConntrackTable(ns: Netns, families: ReadonlyArray<'ipv4' | 'ipv6'> = ['ipv4', 'ipv6']): Promise<ConntrackEntry[]> {
  const tables = await Promise.all(families.map((f) => ns.exec('conntrack', ['-L', '-o', 'extended', '-f', f])));
  return tables.flatMap(parseConntrackExtended);
}

/** Per-flow counters, as an oracle and podflow's output are compared. */
export interface FlowTotals {
  txBytes: number;
  txPackets: number;
  rxBytes: number;
  rxPackets: number;
  connections: number;
}
export type FlowTotalsByKey = Map<string, FlowTotals>;

/** Adds `t` (an entry's or a Flow's counters) to the totals under `key`. */
export function addFlowTotals(map: FlowTotalsByKey, key: string, t: FlowTotals): void {
  const cur = map.get(key) ?? { txBytes: 0, txPackets: 0, rxBytes: 0, rxPackets: 0, connections: 0 };
  for (const k of Object.keys(cur) as Array<keyof FlowTotals>) cur[k] += t[k];
  map.set(key, cur);
}

/** The totals of conntrack entries (one connection each) by `key(entry)`; undefined: left out. */
export function entryTotals(entries: readonly ConntrackEntry[], key: (e: ConntrackEntry) => string | undefined): FlowTotalsByKey {
  const map: FlowTotalsByKey = new Map();
  for (const e of entries) {
    const k = key(e);
    if (k !== undefined) addFlowTotals(map, k, { txBytes: e.txBytes, txPackets: e.txPackets, rxBytes: e.rxBytes, rxPackets: e.rxPackets, connections: 1 });
  }
  return map;
}

/** The totals of podflow's flows by `key(flow)`. */
export function flowTotals(flows: readonly Flow[], key: (f: Flow) => string): FlowTotalsByKey {
  const map: FlowTotalsByKey = new Map();
  for (const f of flows) addFlowTotals(map, key(f), f);
  return map;
}

/** A plain object sorted by key, so comparisons do not depend on insertion order. */
export function sortedFlowTotals(map: FlowTotalsByKey): Record<string, FlowTotals> {
  return Object.fromEntries([...map].sort(([a], [b]) => a.localeCompare(b)));
}
