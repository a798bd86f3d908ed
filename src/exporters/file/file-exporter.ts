// One JSON object per flow per line, with exactly the fields of the flow record
// (docs/data-model.md); times as decimal strings because they exceed 2^53. The cost (netcost)
// is written as a JSON number with every digit of the exact decimal (`"cost_usd":0.0000000931`),
// which JSON.stringify cannot do for a bigint, so it is appended as text.
import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { usdText, type Flow, type FlowBatch } from '../../model/index.ts';
import type { Exporter } from '../../contracts/component.ts';
import { wholeBatch, type BatchRequest } from '../shared/batch-request.ts';
import type { FileConfig } from './config.ts';

export function flowToJsonLine(f: Flow): string {
  const json = JSON.stringify({
    start_time_unix_nano: f.startTimeUnixNano.toString(),
    time_unix_nano: f.timeUnixNano.toString(),
    attributes: f.attributes,
    tx_bytes: f.txBytes,
    rx_bytes: f.rxBytes,
    tx_packets: f.txPackets,
    rx_packets: f.rxPackets,
    connections: f.connections,
  });
  return f.costZeptoUsd === undefined ? `${json}\n` : `${json.slice(0, -1)},"cost_usd":${usdText(f.costZeptoUsd)}}\n`;
}

export class FileExporter implements Exporter<BatchRequest> {
  readonly #config: FileConfig;
  #file: FileHandle | undefined;
  #sizeBytes = 0;

  constructor(config: FileConfig) {
    this.#config = config;
  }

  async start(): Promise<void> {
    await mkdir(dirname(this.#config.path), { recursive: true });
    await this.#open();
  }

  toRequests(batch: FlowBatch): BatchRequest[] {
    return wholeBatch(batch);
  }

  async send({ batch }: BatchRequest): Promise<void> {
    const text = batch.flows.map(flowToJsonLine).join('');
    const maxBytes = this.#config.rotation.max_megabytes * 1024 * 1024;
    if (maxBytes > 0 && this.#sizeBytes > 0 && this.#sizeBytes + Buffer.byteLength(text) > maxBytes) await this.#rotate();
    const file = this.#file ?? (await this.#open());
    const { bytesWritten } = await file.write(text);
    this.#sizeBytes += bytesWritten;
  }

  async shutdown(): Promise<void> {
    await this.#file?.sync().catch(() => undefined);
    await this.#file?.close();
    this.#file = undefined;
  }

  async #open(): Promise<FileHandle> {
    this.#file = await open(this.#config.path, 'a');
    this.#sizeBytes = (await stat(this.#config.path)).size;
    return this.#file;
  }

  /** path → path.1 → path.2 …; the oldest beyond max_backups is removed. */
  async #rotate(): Promise<void> {
    await this.#file?.close();
    this.#file = undefined;
    const { path } = this.#config;
    const keep = this.#config.rotation.max_backups;
    await rm(`${path}.${keep}`, { force: true });
    for (let i = keep - 1; i >= 1; i--) await rename(`${path}.${i}`, `${path}.${i + 1}`).catch(() => undefined);
    if (keep > 0) await rename(path, `${path}.1`);
    else await rm(path, { force: true });
    await this.#open();
  }
}
