// The exporter's own bounded queue of encoded rows, grouped into batches of up to `maxRows`
// (one COPY each). It replaces the runtime's per-call queue because a row is accepted the
// moment it is queued and must then survive any outage while there is room, which a queue
// of `export` calls with a timeout cannot promise.
//
// Rows are appended to the newest waiting batch until it is full, so an outage fills the queue
// with full batches rather than one small batch per flush interval. At most `capacityBatches`
// batches wait (plus the one being written); a new batch beyond that drops the oldest waiting one.
import { randomUUID } from 'node:crypto';
import type { EncodedChunk } from './copy-encoder.ts';
import type { EncodedRow } from './rows.ts';

export interface RowBatch {
  /** Identifies the batch in `ingest_batches`, so a retried COPY is never stored twice. */
  id: string;
  /**
   * The rows' COPY text (UTF-8), one buffer per push (not one per row: half a million small
   * objects in a backed-up queue would keep the garbage collector busy). Rows end with a newline.
   */
  chunks: Uint8Array[];
  rows: number;
  /** UTC days (`YYYY-MM-DD`) of the rows: the partitions that must exist. */
  days: Set<string>;
  /** When the first row came in (ms): flush_interval counts from here. */
  firstRowAtMs: number;
}

/** The batch's rows one by one (COPY text escapes newlines inside values, so a newline ends a row). */
export function batchLines(batch: RowBatch): string[] {
  const text = Buffer.concat(batch.chunks).toString('utf8');
  return text === '' ? [] : text.slice(0, -1).split('\n').map((line) => `${line}\n`);
}

/** A new batch (new id) with the given rows, e.g. half of a batch the server rejected. */
export function batchOf(lines: readonly string[], days: Set<string>, firstRowAtMs: number): RowBatch {
  return { id: randomUUID(), chunks: [Buffer.from(lines.join(''))], rows: lines.length, days, firstRowAtMs };
}

export class RowQueue {
  readonly #maxRows: number;
  readonly #capacityBatches: number;
  readonly #batches: RowBatch[] = [];
  #rows = 0;

  constructor(maxRows: number, capacityBatches: number) {
    this.#maxRows = maxRows;
    this.#capacityBatches = capacityBatches;
  }

  get rows(): number {
    return this.#rows;
  }

  get batches(): number {
    return this.#batches.length;
  }

  /** Rows the next `pushChunk` may hold: what the newest batch has room for, or a whole batch. */
  room(): number {
    const tail = this.#batches.at(-1);
    return tail && tail.rows < this.#maxRows ? this.#maxRows - tail.rows : this.#maxRows;
  }

  /**
   * Queues encoded rows (at most `room()` of them) into the newest batch, or a new one when it
   * is full; returns the batches dropped to make room (oldest first).
   */
  pushChunk(chunk: EncodedChunk, nowMs: number): RowBatch[] {
    if (chunk.rows === 0) return [];
    if (chunk.rows > this.room()) throw new Error(`${chunk.rows} rows do not fit the ${this.room()} left in the batch`);
    const dropped: RowBatch[] = [];
    let tail = this.#batches.at(-1);
    if (!tail || tail.rows >= this.#maxRows) {
      while (this.#batches.length >= this.#capacityBatches) {
        const oldest = this.#batches.shift()!;
        this.#rows -= oldest.rows;
        dropped.push(oldest);
      }
      tail = { id: randomUUID(), chunks: [], rows: 0, days: new Set(), firstRowAtMs: nowMs };
      this.#batches.push(tail);
    }
    tail.chunks.push(chunk.bytes);
    for (const day of chunk.days) tail.days.add(day);
    tail.rows += chunk.rows;
    this.#rows += chunk.rows;
    return dropped;
  }

  /** Queues rows one by one encoded (tests, and the reference encoder); see `pushChunk`. */
  push(rows: readonly EncodedRow[], nowMs: number): RowBatch[] {
    const dropped: RowBatch[] = [];
    for (let i = 0; i < rows.length; ) {
      const end = Math.min(rows.length, i + this.room());
      const part = rows.slice(i, end);
      const chunk = { bytes: Buffer.from(part.map((r) => r.line).join('')), rows: part.length, days: [...new Set(part.map((r) => r.day))] };
      dropped.push(...this.pushChunk(chunk, nowMs));
      i = end;
    }
    return dropped;
  }

  /**
   * The batch to write now, taken out of the queue: the oldest one, when it is full, has a
   * newer batch behind it, has waited `flushIntervalMs`, or when `force` (shutdown).
   */
  take(nowMs: number, flushIntervalMs: number, force = false): RowBatch | undefined {
    const head = this.#batches[0];
    if (!head) return undefined;
    const ready = force || this.#batches.length > 1 || head.rows >= this.#maxRows || nowMs - head.firstRowAtMs >= flushIntervalMs;
    if (!ready) return undefined;
    this.#batches.shift();
    this.#rows -= head.rows;
    return head;
  }

  /** Milliseconds until `take` would return the head batch, or undefined when empty. */
  msUntilReady(nowMs: number, flushIntervalMs: number): number | undefined {
    const head = this.#batches[0];
    if (!head) return undefined;
    if (this.#batches.length > 1 || head.rows >= this.#maxRows) return 0;
    return Math.max(0, head.firstRowAtMs + flushIntervalMs - nowMs);
  }

  /** Puts batches back at the front (oldest first) after a failed write: they keep their place. */
  putBack(...batches: RowBatch[]): void {
    this.#batches.unshift(...batches);
    for (const b of batches) this.#rows += b.rows;
  }

  /** Empties the queue (shutdown gave up) and returns what it held. */
  clear(): RowBatch[] {
    const all = this.#batches.splice(0);
    this.#rows = 0;
    return all;
  }
}
