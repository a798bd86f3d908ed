// The postgres exporter's requests: encoded COPY rows, up to batch.max_rows per request.
//
// Flows of consecutive batches fill the newest request still waiting in the exporter queue
// (`open`) until it holds max_rows rows, so an outage fills the queue with full requests rather
// than one small request per pipeline batch. A request is one transaction (one id in
// `ingest_batches`) until the server rejects it for its data: then the part that failed is
// halved, each half with an id of its own, until the bad row is alone. A half's id is derived
// from its parent's, so a request sent again after a restart (sending_queue.storage: file) is
// halved into the same ids and no half is stored twice.
import { createHash, randomUUID } from 'node:crypto';
import type { ExportRequest, RequestCodec } from '../../contracts/component.ts';
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

/** The id of half `half` of part `parentId`: the same every time (a UUID made from a SHA-256). */
export function halfId(parentId: string, half: 0 | 1): string {
  const h = createHash('sha256').update(`${parentId}/${half}`).digest('hex');
  // Version 8 (custom) and the RFC 9562 variant bits, so PostgreSQL's uuid type takes it as any other.
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Half `half` of a part the server rejected: the given rows, under an id derived from the part's. */
export function partOf(parent: RowPart, half: 0 | 1, lines: readonly string[]): RowPart {
  return { id: halfId(parent.id, half), chunks: [Buffer.from(lines.join(''))], rows: lines.length, days: parent.days };
}

/**
 * A request as bytes for sending_queue.storage: file: a JSON header (u32 LE length first) with
 * firstRowAtMs and each part's id, rows, days and byte length, then the parts' COPY text.
 */
export const rowRequestCodec: RequestCodec<RowRequest> = {
  encode(request) {
    const parts = request.parts.map((p) => ({ id: p.id, rows: p.rows, days: [...p.days], bytes: p.chunks.reduce((n, c) => n + c.length, 0) }));
    const header = Buffer.from(JSON.stringify({ firstRowAtMs: request.firstRowAtMs, parts }));
    const length = Buffer.alloc(4);
    length.writeUInt32LE(header.length);
    return Buffer.concat([length, header, ...request.parts.flatMap((p) => p.chunks)]);
  },
  decode(bytes) {
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const headerEnd = 4 + buffer.readUInt32LE(0);
    const header = JSON.parse(buffer.subarray(4, headerEnd).toString('utf8')) as { firstRowAtMs: number; parts: Array<{ id: string; rows: number; days: string[]; bytes: number }> };
    let at = headerEnd;
    const parts = header.parts.map((p): RowPart => {
      const chunk = buffer.subarray(at, at + p.bytes);
      if (chunk.length !== p.bytes) throw new Error(`a stored postgres request is cut short: part ${p.id} needs ${p.bytes} bytes, ${chunk.length} are left`);
      at += p.bytes;
      return { id: p.id, chunks: [chunk], rows: p.rows, days: new Set(p.days) };
    });
    return new RowRequest(header.firstRowAtMs, parts);
  },
};
