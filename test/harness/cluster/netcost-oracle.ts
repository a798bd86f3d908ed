// The kernel's account of what the simulated cluster's traffic costs under `netcost` (AWS
// us-east-1, the external host configured as a NAT gateway): each connection once (from its
// reporting node's table), classed from the topology and the zones the API server gives the nodes
// (not from podflow's attributes), priced with AWS's billing rule as an exact rational. Shared by
// the node-mode netcost e2e and the agent-gateway e2e, whichever process runs netcost.
import type { ExecutionContext } from 'ava';
import { entryKey, reporter, type CtEntry } from './kernel-oracle.ts';
import type { CostsByGroup } from './outputs.ts';
import { EXTERNAL, NODES, POD_CIDR, podByIp, SERVICE_CIDR, type NodeName } from './topology.ts';

const GIB = 2n ** 30n;
/** AWS us-east-1 list prices in nano-USD per GB (src/processors/netcost/README.md). */
const NANO_USD_PER_GB = { inter_zone: 10_000_000n, nat_gateway: 45_000_000n } as const;

/** The netcost processor's config the oracle prices by. */
export const NETCOST = { provider: 'aws', region: 'us-east-1', cluster_cidrs: [POD_CIDR, SERVICE_CIDR], nat_gateway: [EXTERNAL.ip] };

/** Each node's `topology.kubernetes.io/zone` on the API server. */
export type Zones = Record<NodeName, string>;

/** The zones loadApiServer() labels the nodes with. */
export const TOPOLOGY_ZONES: Zones = Object.fromEntries(NODES.map((n) => [n.name, n.zone])) as Zones;

/** The class of a connection from the topology and the nodes' zones alone. */
function classOf(e: CtEntry, zones: Zones): string {
  const src = podByIp(e.origSrc);
  const dst = podByIp(e.replySrc);
  if (src && e.replySrc === EXTERNAL.ip) return 'nat_gateway';
  if (!src || !dst) throw new Error(`unexpected connection ${e.origSrc} -> ${e.replySrc}`);
  if (src.node === dst.node) return 'same_node';
  return zones[src.node] === zones[dst.node] ? 'intra_zone' : 'inter_zone';
}

/** AWS: cross-AZ bytes are billed on both sides, NAT gateway bytes once each way; the rest is free. */
function billedBytes(cls: string, e: CtEntry): bigint {
  const bytes = BigInt(e.txBytes + e.rxBytes);
  return cls === 'inter_zone' ? 2n * bytes : cls === 'nat_gateway' ? bytes : 0n;
}

const withoutInterZone = (key: string) => key.replace(/ inter_zone=\S*/, '');

/** Per group and class: the exact cost × 2^30 (zepto-USD), from the kernel's counters. */
function kernelCosts(entries: readonly CtEntry[], zones: Zones): Record<string, { costTimesGib: bigint; bytes: number; connections: number }> {
  const out: Record<string, { costTimesGib: bigint; bytes: number; connections: number }> = {};
  for (const e of entries) {
    const who = reporter(e);
    if (who !== undefined && who !== e.node) continue;
    const cls = classOf(e, zones);
    const rate = cls === 'inter_zone' || cls === 'nat_gateway' ? NANO_USD_PER_GB[cls] : 0n;
    const cur = (out[`${withoutInterZone(entryKey(e))} class=${cls}`] ??= { costTimesGib: 0n, bytes: 0, connections: 0 });
    cur.connections++;
    cur.costTimesGib += billedBytes(cls, e) * rate * 10n ** 12n;
    cur.bytes += e.txBytes + e.rxBytes;
  }
  return out;
}

/** fileCosts()/postgresCosts() by group without `inter_zone` (the class says it; zones may change between phases). */
export function costsByClass(costs: CostsByGroup): CostsByGroup {
  const out: CostsByGroup = {};
  for (const [key, v] of Object.entries(costs)) {
    const cur = (out[withoutInterZone(key)] ??= { costZeptoUsd: 0n, txBytes: 0, rxBytes: 0, rows: 0 });
    cur.costZeptoUsd += v.costZeptoUsd;
    cur.txBytes += v.txBytes;
    cur.rxBytes += v.rxBytes;
    cur.rows += v.rows;
  }
  return out;
}

/** The cost classes present in costsByClass() output. */
export function classesOf(costs: CostsByGroup): string[] {
  return [...new Set(Object.keys(costs).map((k) => k.split(' class=')[1]!))].sort();
}

/**
 * Asserts that `actual` (costsByClass() of an output) has exactly the kernel's groups and classes,
 * each group's bytes equal to the kernel's, and its cost equal to the kernel's billed bytes × rate
 * to within half a zepto-dollar per priced record (and to 1e-12 relative); free classes cost 0.
 * `entries` are the final conntrack entries of the traffic the output saw.
 */
export function assertKernelCosts(t: ExecutionContext, label: string, entries: readonly CtEntry[], zones: Zones, actual: CostsByGroup): void {
  const expected = kernelCosts(entries, zones);
  t.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), `${label}: the groups and their classes`);
  for (const [key, want] of Object.entries(expected)) {
    const got = actual[key];
    if (!got) continue;
    t.is(got.txBytes + got.rxBytes, want.bytes, `${label}: ${key} bytes`);
    // Each priced record is rounded to the zepto-dollar (within half of one); a connection of
    // these tests lives well under a second, so it is in at most four 500 ms conntrack reads.
    const errorTimesGib = got.costZeptoUsd * GIB - want.costTimesGib;
    const bound = BigInt(want.connections) * 4n * (GIB / 2n);
    t.true(errorTimesGib <= bound && -errorTimesGib <= bound, `${label}: ${key}: ${got.costZeptoUsd} zUSD vs ${want.costTimesGib / GIB} from the kernel`);
    if (want.costTimesGib > 0n) t.true(Math.abs(Number(errorTimesGib) / Number(want.costTimesGib)) <= 1e-12, `${label}: ${key} to 1e-12`);
    else t.is(got.costZeptoUsd, 0n, `${label}: ${key} is free`);
  }
}
