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
 * A request as bytes for sending_queue.storage: file, laid out so that a request that grows (rows
 * appended to its part) only appends to its encoding, which the queue's log then writes as an
 * append. Frames, each a u32 LE length then that many bytes:
 *
 *   frame 0              JSON {"firstRowAtMs": …}
 *   per part, per chunk  JSON {"id": part id, "days": [UTC days of the part]}, then a frame
 *                        with the chunk's COPY text (rows end with a newline, which counts them)
 */
export const rowRequestCodec: RequestCodec<RowRequest> = {
  encode(request) {
    const frames: Uint8Array[] = [Buffer.from(JSON.stringify({ firstRowAtMs: request.firstRowAtMs }))];
    for (const part of request.parts) {
      const meta = Buffer.from(JSON.stringify({ id: part.id, days: [...part.days] }));
      for (const chunk of part.chunks) frames.push(meta, chunk);
    }
    const out: Uint8Array[] = [];
    for (const frame of frames) {
      const length = Buffer.alloc(4);
      length.writeUInt32LE(frame.length);
      out.push(length, frame);
    }
    return Buffer.concat(out);
  },
  decode(bytes) {
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = 0;
    const frame = (): Buffer => {
      if (at + 4 > buffer.length) throw new Error(`a stored postgres request is cut short at byte ${at}`);
      const end = at + 4 + buffer.readUInt32LE(at);
      if (end > buffer.length) throw new Error(`a stored postgres request is cut short: a frame at byte ${at} ends past its ${buffer.length} bytes`);
      const out = buffer.subarray(at + 4, end);
      at = end;
      return out;
    };
    const { firstRowAtMs } = JSON.parse(frame().toString('utf8')) as { firstRowAtMs: number };
    const parts: RowPart[] = [];
    while (at < buffer.length) {
      const meta = JSON.parse(frame().toString('utf8')) as { id: string; days: string[] };
      const chunk = frame();
      let part = parts.at(-1);
      if (part?.id !== meta.id) parts.push((part = { id: meta.id, chunks: [], rows: 0, days: new Set() }));
      part.chunks.push(chunk);
      for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) part.rows++;
      for (const day of meta.days) part.days.add(day);
    }
    return new RowRequest(firstRowAtMs, parts);
  },
};
