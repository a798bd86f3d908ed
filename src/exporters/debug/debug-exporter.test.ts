import test from 'ava';
import { PassThrough } from 'node:stream';
import { sendNow } from '../../../test/harness/exporter-queue.ts';
import type { Flow } from '../../model/index.ts';
import { debugConfigSchema } from './config.ts';
import { DebugExporter } from './debug-exporter.ts';

const flow = (attributes: Flow['attributes'], txBytes: number): Flow => ({
  startTimeUnixNano: 0n, timeUnixNano: 1n, attributes, txBytes, rxBytes: 2 * txBytes, txPackets: 1, rxPackets: 2, connections: 1,
});

async function print(verbosity: 'basic' | 'detailed', flows: Flow[], maxRows = 50): Promise<string> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString()));
  await sendNow(new DebugExporter(debugConfigSchema.parse({ verbosity, max_rows: maxRows }), out), { temporality: 'delta', flows });
  return text;
}

const flows = [
  flow({ 'source.k8s.namespace.name': 'shop', 'source.k8s.owner.name': 'frontend', 'destination.address': '10.0.0.9', 'destination.port': 6379, 'network.transport': 'tcp' }, 100),
  flow({ 'source.address': '10.0.0.1', 'destination.address': '8.8.8.8', 'destination.port': 53, 'network.transport': 'udp' }, 7),
];

test('basic: one summary line with sums', async (t) => {
  t.is(await print('basic', flows), 'flows=2 tx_bytes=107 rx_bytes=214 connections=2 temporality=delta\n');
});

test('detailed: a row per flow, names when known, addresses otherwise, capped by max_rows', async (t) => {
  const lines = (await print('detailed', flows)).trim().split('\n');
  t.is(lines.length, 4);
  t.regex(lines[2]!, /^shop\/frontend\s+10\.0\.0\.9:6379\s+tcp\s+100\s+200\s+1\s+2\s+1$/);
  t.regex(lines[3]!, /^10\.0\.0\.1\s+8\.8\.8\.8:53\s+udp\s+7\s+14/);
  const capped = (await print('detailed', flows, 1)).trim().split('\n');
  t.is(capped.at(-1), '… 1 more');
});

test('basic: the exact cost sum when flows are priced (netcost)', async (t) => {
  const priced = flows.map((f, i) => ({ ...f, costZeptoUsd: [10n ** 20n, 2n * 10n ** 20n + 1n][i]! }));
  t.is(await print('basic', priced), 'flows=2 tx_bytes=107 rx_bytes=214 connections=2 cost_usd=0.300000000000000000001 temporality=delta\n');
});
