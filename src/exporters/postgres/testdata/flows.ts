// Flows for the postgres exporter's tests and benchmark.
import type { Attributes, Flow, FlowBatch } from '../../../model/index.ts';

export const NS_PER_MS = 1_000_000n;

export function flowAt(startMs: number, attributes: Attributes, counters: Partial<Pick<Flow, 'txBytes' | 'rxBytes' | 'txPackets' | 'rxPackets' | 'connections'>> = {}): Flow {
  return {
    startTimeUnixNano: BigInt(startMs) * NS_PER_MS,
    timeUnixNano: BigInt(startMs + 10_000) * NS_PER_MS,
    attributes,
    txBytes: counters.txBytes ?? 0,
    rxBytes: counters.rxBytes ?? 0,
    txPackets: counters.txPackets ?? 0,
    rxPackets: counters.rxPackets ?? 0,
    connections: counters.connections ?? 0,
  };
}

/**
 * A flow with every column filled, as k8sattributes would leave it; `seq` makes counters and
 * addresses differ from flow to flow (and is kept in the attributes jsonb).
 */
export function fullFlow(seq: number, startMs: number): Flow {
  const flow = flowAt(
    startMs,
    {
      'source.address': `10.1.${(seq >> 8) & 255}.${seq & 255}`,
      'source.port': 30_000 + (seq % 30_000),
      'destination.address': `10.2.0.${seq % 200}`,
      'destination.port': 9080,
      'network.transport': 'tcp',
      'network.type': 'ipv4',
      'source.k8s.namespace.name': 'bookinfo',
      'source.k8s.pod.name': `productpage-v1-6b746f74dc-${seq % 7}`,
      'source.k8s.owner.name': 'productpage-v1',
      'source.k8s.owner.type': 'Deployment',
      'source.k8s.node.name': 'node-a',
      'source.cloud.availability_zone': 'eu-west-1a',
      'source.address.type': 'pod',
      'destination.k8s.namespace.name': 'bookinfo',
      'destination.k8s.pod.name': `reviews-v${1 + (seq % 3)}-5b4b9bd8c-x`,
      'destination.k8s.owner.name': `reviews-v${1 + (seq % 3)}`,
      'destination.k8s.owner.type': 'Deployment',
      'destination.k8s.node.name': 'node-b',
      'destination.cloud.availability_zone': seq % 2 ? 'eu-west-1b' : 'eu-west-1a',
      'destination.address.type': 'pod',
      'destination.k8s.service.name': 'reviews',
      'network.flow.inter_zone': seq % 2 === 1,
      'k8s.node.name': 'node-a',
      'k8s.cluster.name': 'test',
      seq,
    },
    { txBytes: 1000 + seq, rxBytes: 20_000 + 3 * seq, txPackets: 10 + (seq % 5), rxPackets: 20 + (seq % 7), connections: seq % 3 },
  );
  // Three flows in four priced as netcost would (AWS cross-AZ: 2 × bytes × $0.01 / 2^30, in
  // zepto-USD, rounded half up); the fourth unpriced, as without netcost.
  if (seq % 4 !== 0) {
    const interZone = seq % 2 === 1;
    flow.attributes['network.flow.cost.class'] = interZone ? 'inter_zone' : 'intra_zone';
    const billed = interZone ? 2n * BigInt(flow.txBytes + flow.rxBytes) : 0n;
    flow.costZeptoUsd = (billed * 10_000_000n * 10n ** 12n + 2n ** 29n) / 2n ** 30n;
  }
  return flow;
}

export function deltaBatch(flows: Flow[]): FlowBatch {
  return { flows, temporality: 'delta' };
}

export interface Sums {
  rows: number;
  txBytes: bigint;
  rxBytes: bigint;
  txPackets: bigint;
  rxPackets: bigint;
  connections: bigint;
}

/** The oracle the database's sums are compared with. */
export function sums(flows: readonly Flow[]): Sums {
  const s: Sums = { rows: 0, txBytes: 0n, rxBytes: 0n, txPackets: 0n, rxPackets: 0n, connections: 0n };
  for (const f of flows) {
    s.rows++;
    s.txBytes += BigInt(f.txBytes);
    s.rxBytes += BigInt(f.rxBytes);
    s.txPackets += BigInt(f.txPackets);
    s.rxPackets += BigInt(f.rxPackets);
    s.connections += BigInt(f.connections);
  }
  return s;
}

export const SUMS_SQL = `SELECT count(*)::int AS rows, sum(tx_bytes)::text AS tx_bytes, sum(rx_bytes)::text AS rx_bytes,
  sum(tx_packets)::text AS tx_packets, sum(rx_packets)::text AS rx_packets, sum(connections)::text AS connections`;

export function dbSums(row: { rows: number; tx_bytes: string | null; rx_bytes: string | null; tx_packets: string | null; rx_packets: string | null; connections: string | null }): Sums {
  return {
    rows: row.rows,
    txBytes: BigInt(row.tx_bytes ?? 0),
    rxBytes: BigInt(row.rx_bytes ?? 0),
    txPackets: BigInt(row.tx_packets ?? 0),
    rxPackets: BigInt(row.rx_packets ?? 0),
    connections: BigInt(row.connections ?? 0),
  };
}
