// Flows for tests and benchmarks: by attributes and counters (exporters), between two
// addresses (processors that look at the ends), or as reduced groups.
import { type Attributes, type Flow, type FlowBatch, type Temporality, unixNanoFromMs } from '../../src/model/index.ts';

export const T0_NS = 1_760_000_000_000_000_000n;

/** A flow with these attributes and counters, ending at `timeMs` (default now) after 15 s. */
export function flow(attributes: Attributes, tx: [bytes: number, packets: number], rx: [bytes: number, packets: number], timeMs?: number): Flow {
  const timeUnixNano = unixNanoFromMs(timeMs ?? Date.now());
  return {
    startTimeUnixNano: timeUnixNano - 15_000_000_000n,
    timeUnixNano,
    attributes,
    txBytes: tx[0],
    txPackets: tx[1],
    rxBytes: rx[0],
    rxPackets: rx[1],
    connections: 1,
  };
}

export interface FlowSpec {
  src: string;
  dst: string;
  srcPort?: number;
  dstPort?: number;
  transport?: string;
  /** The pre-DNAT destination (destination.original.address). */
  original?: string;
  /** Interval in ms since the epoch; default [now - 10s, now]. */
  startMs?: number;
  endMs?: number;
}

/** A flow between two addresses, with the network attributes a receiver sets and small counters. */
export function flowBetween(s: FlowSpec): Flow {
  const end = s.endMs ?? Date.now();
  const start = s.startMs ?? end - 10_000;
  const attributes: Attributes = {
    'source.address': s.src,
    'source.port': s.srcPort ?? 40_000,
    'destination.address': s.dst,
    'destination.port': s.dstPort ?? 80,
    'network.transport': s.transport ?? 'tcp',
    'network.type': s.src.includes(':') ? 'ipv6' : 'ipv4',
  };
  if (s.original) attributes['destination.original.address'] = s.original;
  return {
    startTimeUnixNano: unixNanoFromMs(start),
    timeUnixNano: unixNanoFromMs(end),
    attributes,
    txBytes: 100, rxBytes: 200, txPackets: 1, rxPackets: 2, connections: 1,
  };
}

export function batch(temporality: Temporality, flows: Flow[]): FlowBatch {
  return { temporality, flows };
}

/** Workload-to-workload groups as a reducer would emit them. */
export function groups(count: number, seed = 0): Flow[] {
  const flows: Flow[] = [];
  for (let i = 0; i < count; i++) {
    flows.push(
      flow(
        {
          'source.k8s.namespace.name': `ns-${i % 50}`,
          'source.k8s.owner.name': `app-${i}`,
          'source.k8s.owner.type': 'Deployment',
          'destination.k8s.namespace.name': `ns-${(i * 7) % 50}`,
          'destination.k8s.owner.name': `svc-${(i * 13) % 1000}`,
          'destination.k8s.owner.type': 'StatefulSet',
          'destination.port': 5432 + (i % 3),
          'network.transport': 'tcp',
          'network.flow.inter_zone': i % 2 === 0,
        },
        [1_000 + i + seed, 10 + (i % 7)],
        [5_000 + 2 * i + seed, 8 + (i % 5)],
      ),
    );
  }
  return flows;
}
