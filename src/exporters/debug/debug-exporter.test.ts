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

test('detailed: tabs, newlines and other control characters in names are escaped, so every flow stays one aligned row', async (t) => {
  const hostile = [
    flow({ 'source.k8s.namespace.name': 'shop\tfake', 'source.k8s.owner.name': 'web\nINJECTED 1 2 3', 'destination.address': '10.0.0.9', 'destination.port': 80, 'network.transport': 'tcp\r' }, 5),
    flow({ 'source.address': 'a\\tb', 'destination.k8s.namespace.name': 'ns', 'destination.k8s.owner.name': 'x\u0000\u001b[31m\u2028y', 'network.transport': 'udp' }, 6),
    flow({ 'source.address': '10.0.0.1', 'destination.address': '10.0.0.2', 'network.transport': 'tcp' }, 7),
  ];
  const lines = (await print('detailed', hostile)).trimEnd().split('\n');
  t.is(lines.length, 2 + hostile.length, 'one line per flow');
  t.false(lines.some((l) => /[\t\r\u0000-\u001f\u2028]/.test(l)), 'no raw control character reaches the terminal');
  t.true(lines[2]!.startsWith('shop\\tfake/web\\nINJECTED 1 2 3  '));
  t.regex(lines[2]!, /\s10\.0\.0\.9:80\s+tcp\\r\s+5\s+10\s/);
  t.true(lines[3]!.startsWith('a\\\\tb  '), 'a backslash is doubled, so it never reads as an escape');
  t.regex(lines[3]!, /\sns\/x\\u0000\\u001b\[31m\\u2028y\s+udp\s/);
  // Columns line up: the destination starts at the same offset on every row.
  const at = lines[1]!.indexOf('DESTINATION');
  t.deepEqual(lines.slice(2).map((l) => l.slice(at).split(/\s{2,}/)[0]), ['10.0.0.9:80', 'ns/x\\u0000\\u001b[31m\\u2028y', '10.0.0.2']);
});

test('basic: the exact cost sum when flows are priced (netcost)', async (t) => {
  const priced = flows.map((f, i) => ({ ...f, costZeptoUsd: [10n ** 20n, 2n * 10n ** 20n + 1n][i]! }));
  t.is(await print('basic', priced), 'flows=2 tx_bytes=107 rx_bytes=214 connections=2 cost_usd=0.300000000000000000001 temporality=delta\n');
});
