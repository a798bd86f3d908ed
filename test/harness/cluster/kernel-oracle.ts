// The kernel's own account of the cluster's traffic, read independently of podflow with
// `conntrack -L -o extended` in each node namespace, and named with topology.ts (not with
// podflow's k8sattributes). This is the oracle the e2e compares every output against.
//
// Exactness: each call is one TCP connection that both sides close, so once every entry is in
// TIME_WAIT (or CLOSE) its counters are final; the cluster keeps TIME_WAIT and CLOSE entries for 10 minutes
// (cluster.ts), so they are all still in the tables when read. A connection between two nodes
// is in both tables with the same counters; report-once keeps it from one: the node of the
// initiating pod, else of the responding pod, else of the initiating node address, else of the
// responding one (docs/data-model.md), which `reporter()` implements from the topology alone.
import { readConntrackTable, type ConntrackEntry, type FlowTotals } from '../conntrack-table.ts';
import type { Netns } from '../netns.ts';
import { NODES, podByIp, SERVICES, workloadId, type NodeName } from './topology.ts';

/** A conntrack entry and the node table it was read from. */
export interface CtEntry extends ConntrackEntry {
  node: NodeName;
}

export type Totals = FlowTotals;

/** Per flow group `src -> dst inter_zone=… service=…`. */
export type TotalsByKey = Record<string, Totals>;

export function emptyTotals(): Totals {
  return { txBytes: 0, rxBytes: 0, txPackets: 0, rxPackets: 0, connections: 0 };
}

export function addTotals(map: TotalsByKey, key: string, t: Partial<Totals>): void {
  const cur = (map[key] ??= emptyTotals());
  for (const k of Object.keys(cur) as Array<keyof Totals>) cur[k] += t[k] ?? 0;
}

/** Sorted by key, with only the given counters: a stable shape for deepEqual. */
export function project(map: TotalsByKey, fields: ReadonlyArray<keyof Totals>): Record<string, Partial<Totals>> {
  return Object.fromEntries(
    Object.keys(map)
      .sort()
      .map((k) => [k, Object.fromEntries(fields.map((f) => [f, map[k]![f]]))]),
  );
}

/**
 * The group key the e2e compares by: `<src> -> <dst> inter_zone=<true|false|> service=<name|>`,
 * an end being `<namespace>/<kind>/<workload>` or, outside the cluster, its address.
 */
export function groupKey(src: string, dst: string, interZone: boolean | undefined, service: string | undefined): string {
  return `${src} -> ${dst} inter_zone=${interZone ?? ''} service=${service ?? ''}`;
}

export async function readTable(node: NodeName, ns: Netns): Promise<CtEntry[]> {
  return (await readConntrackTable(ns, ['ipv4'])).map((e) => ({ ...e, node }));
}

/** A connection's identity across reads of its node's table: node, original tuple. */
export function connectionId(e: CtEntry): string {
  return `${e.node} ${e.origSrc}:${e.origSport} ${e.origDst}:${e.origDport}`;
}

/** readFinalTables() without the connections of an earlier read (a test's earlier phase). */
export async function readNewFinalTables(nodes: ReadonlyMap<NodeName, Netns>, earlier: readonly CtEntry[]): Promise<CtEntry[]> {
  const before = new Set(earlier.map(connectionId));
  return (await readFinalTables(nodes)).filter((e) => !before.has(connectionId(e)));
}

/** Entries whose counters can still change (a TCP connection not yet closed on both sides). */
export function openEntries(entries: readonly CtEntry[]): CtEntry[] {
  return entries.filter((e) => e.transport === 'tcp' && e.state !== 'TIME_WAIT' && e.state !== 'CLOSE');
}

/**
 * Reads every node's table once all TCP connections in them are closed (polling, up to
 * `timeoutMs`): the final counters of every connection the traffic made.
 */
export async function readFinalTables(nodes: ReadonlyMap<NodeName, Netns>, timeoutMs = 15_000): Promise<CtEntry[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = (await Promise.all([...nodes].map(([name, ns]) => readTable(name, ns)))).flat();
    const open = openEntries(all);
    if (open.length === 0) return all;
    if (Date.now() > deadline) {
      throw new Error(`conntrack entries still open after ${timeoutMs}ms: ${open.map((e) => `${e.node} ${e.origSrc}->${e.origDst}:${e.origDport} ${e.state}`).join(', ')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface EndInfo {
  id: string;
  node?: NodeName;
  zone?: string;
  isPod: boolean;
}

function end(address: string): EndInfo {
  const pod = podByIp(address);
  if (pod) return { id: workloadId(pod.owner), node: pod.node, zone: NODES.find((n) => n.name === pod.node)!.zone, isPod: true };
  const node = NODES.find((n) => n.ip === address);
  if (node) return { id: `node/${node.name}`, node: node.name, zone: node.zone, isPod: false };
  return { id: address, isPod: false };
}

/** The node that reports this connection under report-once, or undefined (nobody's: kept by all). */
export function reporter(e: CtEntry): NodeName | undefined {
  const src = end(e.origSrc);
  const dst = end(e.replySrc);
  if (src.isPod) return src.node;
  if (dst.isPod) return dst.node;
  return src.node ?? dst.node;
}

export function entryKey(e: CtEntry): string {
  const src = end(e.origSrc);
  const dst = end(e.replySrc);
  const service = SERVICES.find((s) => s.clusterIP === e.origDst && s.port === e.origDport)?.name;
  const interZone = src.zone !== undefined && dst.zone !== undefined ? src.zone !== dst.zone : undefined;
  return groupKey(src.id, dst.id, interZone, service);
}

function entryTotals(e: CtEntry): Totals {
  return { txBytes: e.txBytes, rxBytes: e.rxBytes, txPackets: e.txPackets, rxPackets: e.rxPackets, connections: 1 };
}

export interface KernelAccount {
  /** Each connection once (from the table of its reporting node), per group. */
  reportOnce: TotalsByKey;
  /** Every entry of both tables, per group: what a naive sum over the nodes would say. */
  naive: TotalsByKey;
}

export function kernelAccount(entries: readonly CtEntry[]): KernelAccount {
  const reportOnce: TotalsByKey = {};
  const naive: TotalsByKey = {};
  for (const e of entries) {
    addTotals(naive, entryKey(e), entryTotals(e));
    const who = reporter(e);
    if (who === undefined || who === e.node) addTotals(reportOnce, entryKey(e), entryTotals(e));
  }
  return { reportOnce, naive };
}

/** Sums every group's counters. */
export function grandTotal(map: TotalsByKey): Totals {
  const out = emptyTotals();
  for (const t of Object.values(map)) for (const k of Object.keys(out) as Array<keyof Totals>) out[k] += t[k];
  return out;
}
