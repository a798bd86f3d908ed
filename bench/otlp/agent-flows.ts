import type { Flow } from '../../src/model/index.ts';

/** An agent's raw flows of one tick: addresses and ports, no Kubernetes names. */
export function agentFlows(n: number): Flow[] {
  const start = 1_760_000_000_000_000_000n;
  return Array.from({ length: n }, (_, i) => ({
    startTimeUnixNano: start, timeUnixNano: start + 5_000_000_000n,
    attributes: { 'source.address': `10.1.${(i >> 8) & 255}.${i & 255}`, 'source.port': 30_000 + (i % 30_000), 'destination.address': `10.200.0.${i % 200}`, 'destination.port': 443, 'network.transport': 'tcp', 'network.type': 'ipv4' },
    txBytes: 100 + i, rxBytes: 200 + i, txPackets: 1 + (i % 9), rxPackets: 2, connections: i % 3 === 0 ? 1 : 0,
  }));
}
