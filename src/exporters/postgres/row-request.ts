// The postgres exporter's requests: encoded COPY rows, up to batch.max_rows per request.
//
// Flows of consecutive batches fill the newest request still waiting in the exporter queue
// (`open`) until it holds max_rows rows, so an outage fills the queue with full requests rather
// than one small request per pipeline batch. A request is one transaction (one id in
// `ingest_batches`) until the server rejects it for its data: then the part that failed is
// halved, each half with an id of its own, until the bad row is alone.
import { randomUUID } from 'node:crypto';
import type { ExportRequest } from '../../contracts/component.ts';
import type { EncodedChunk } from './copy-encoder.ts';

/** Rows written in one transaction: COPY text and what the transaction records with them. */
export interface RowPart {
  /** Identifies the part in `ingest_batches`, so a retried COPY is never stored twice. */
  id: string;
  /**
   * The rows' COPY text (UTF-8), one buffer per encoded chunk (not one per row: half a million
   * small objects in a backed-up queue would keep the garbage collector busy). Rows end with a newline.
   */
  chunks: Uint8Array[];
  rows: number;
  /** UTC days (`YYYY-MM-DD`) of the rows: the partitions that must exist. */
  days: Set<string>;
}

export class RowRequest implements ExportRequest {
  /** Parts not yet committed, in order: one until the server rejects one for its data. */
  readonly parts: RowPart[] = [];
  /** When the first row came in (ms): batch.flush_interval counts from here. */
  readonly firstRowAtMs: number;
  /** Rows queued, less rows the server refused: what counts as sent once the request is. */
  flowCount = 0;

  constructor(firstRowAtMs: number, parts: RowPart[] = []) {
    this.firstRowAtMs = firstRowAtMs;
    for (const part of parts) {
      this.parts.push(part);
      this.flowCount += part.rows;
    }
  }

  /** Appends encoded rows (to the one part of a request that has not been sent yet). */
  append(chunk: EncodedChunk): void {
    if (chunk.rows === 0) return;
    let part = this.parts[0];
    if (!part) this.parts.push((part = { id: randomUUID(), chunks: [], rows: 0, days: new Set() }));
    part.chunks.push(chunk.bytes);
    part.rows += chunk.rows;
    for (const day of chunk.days) part.days.add(day);
    this.flowCount += chunk.rows;
  }
}

/** The part's rows one by one (COPY text escapes newlines inside values, so a newline ends a row). */
export function partLines(part: RowPart): string[] {
  const text = Buffer.concat(part.chunks).toString('utf8');
  return text === '' ? [] : text.slice(0, -1).split('\n').map((line) => `${line}\n`);
}

/** A new part (new id) with the given rows, e.g. half of a part the server rejected. */
export function partOf(lines: readonly string[], days: Set<string>): RowPart {
  return { id: randomUUID(), chunks: [Buffer.from(lines.join(''))], rows: lines.length, days };
}
