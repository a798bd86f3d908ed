// A compact, human-readable view of batches on stdout, for trying podflow out.
import type { Writable } from 'node:stream';
import { DESTINATION, SOURCE, NETWORK_TRANSPORT, usdText, type Flow, type FlowBatch } from '../../model/index.ts';
import type { ComponentEndpoints, Exporter } from '../../contracts/component.ts';
import { wholeBatch, type BatchRequest } from '../shared/batch-request.ts';
import type { DebugConfig } from './config.ts';

const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/**
 * A name as one table cell: tabs, newlines and other control characters (C0, DEL, C1, the
 * Unicode line and paragraph separators) would break the row, so they are written as escapes,
 * and a backslash as `\\` so that an escape is never ambiguous.
 */
export function escapeCell(text: string): string {
  return text.replace(/[\\\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function end(f: Flow, keys: typeof SOURCE): string {
  const a = f.attributes;
  const who = a[keys.namespace] !== undefined ? `${a[keys.namespace]}/${a[keys.ownerName] ?? a[keys.podName] ?? '?'}` : (a[keys.address] ?? '*');
  return escapeCell(a[keys.port] !== undefined && keys === DESTINATION ? `${who}:${a[keys.port]}` : String(who));
}

export function formatBatch(batch: FlowBatch, config: DebugConfig): string {
  const sum = (k: 'txBytes' | 'rxBytes' | 'connections') => batch.flows.reduce((n, f) => n + f[k], 0);
  // The cost (netcost) only when some flow carries one: an unpriced batch has none, not 0.
  const priced = batch.flows.filter((f) => f.costZeptoUsd !== undefined);
  const cost = priced.length === 0 ? '' : ` cost_usd=${usdText(priced.reduce((n, f) => n + f.costZeptoUsd!, 0n))}`;
  const head = `flows=${batch.flows.length} tx_bytes=${sum('txBytes')} rx_bytes=${sum('rxBytes')} connections=${sum('connections')}${cost} temporality=${batch.temporality}\n`;
  if (config.verbosity === 'basic') return head;
  const rows = batch.flows.slice(0, config.max_rows).map((f) =>
    [end(f, SOURCE), end(f, DESTINATION), escapeCell(String(f.attributes[NETWORK_TRANSPORT] ?? '')), String(f.txBytes), String(f.rxBytes), String(f.txPackets), String(f.rxPackets), String(f.connections)],
  );
  const table = [['SOURCE', 'DESTINATION', 'PROTO', 'TX_BYTES', 'RX_BYTES', 'TX_PKTS', 'RX_PKTS', 'CONNS'], ...rows];
  const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
  const lines = table.map((r) => r.map((cell, c) => (c >= 3 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd());
  const more = batch.flows.length > config.max_rows ? [`… ${batch.flows.length - config.max_rows} more`] : [];
  return `${head}${[...lines, ...more].join('\n')}\n`;
}

export class DebugExporter implements Exporter<BatchRequest> {
  readonly #config: DebugConfig;
  readonly #out: Writable;

  constructor(config: DebugConfig, out: Writable = process.stdout) {
    this.#config = config;
    this.#out = out;
  }

  async start(): Promise<void> {}

  endpoints(): ComponentEndpoints {
    return { writesTo: [this.#out === process.stdout ? 'stdout' : 'a stream'] };
  }

  toRequests(batch: FlowBatch): BatchRequest[] {
    return wholeBatch(batch);
  }

  async send({ batch }: BatchRequest): Promise<void> {
    this.#out.write(formatBatch(batch, this.#config));
  }

  async shutdown(): Promise<void> {}
}
