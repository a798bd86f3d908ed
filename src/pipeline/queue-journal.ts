// The file behind `sending_queue.storage: file`: an append-only log of the requests waiting in
// one exporter queue, so that they outlive the process (a pod restart, an OOM kill) and are sent
// after the next start. Records are appended in batches and made durable with one fdatasync per
// batch (group commit); the queue awaits that before it accepts a batch.
//
// Record layout (little-endian), one after another:
//
//   offset  size  field
//   0       4     payload length in bytes (n)
//   4       4     CRC-32 of bytes 8 .. 15+n (type, key, payload)
//   8       1     type: 1 = put (the request's encoding), 2 = delete (sent or given up),
//                 3 = append (bytes added to the end of the key's encoding: a request that grew)
//   9       6     key: the request's number (unsigned 48-bit), increasing over the file's life
//   15      n     payload (put: the exporter's encoding of the request; append: what is added;
//                 delete: empty)
//
// A later put of a key replaces the earlier one. A put whose encoding begins with the key's
// current one is written as an append of the rest, so a request that grows batch by batch is
// written about once, not once per batch (postgres encodes its rows so that growing appends).
// At open, records are read
// until the first that is incomplete or fails its CRC (a write torn by a crash); the file is cut
// there. The live requests are then written to a new file (fsync, rename, fsync of the
// directory), and again whenever the log holds more than COMPACT_RATIO times the live bytes.
import { constants } from 'node:fs';
import { mkdir, open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';

const HEADER_BYTES = 15;
const PUT = 1;
const DELETE = 2;
const APPEND = 3;
const MAX_KEY = 2 ** 48 - 1;
/** Rewrite the log once it is this many times larger than what is live (and at least COMPACT_MIN_BYTES). */
const COMPACT_RATIO = 4;
const COMPACT_MIN_BYTES = 8 * 1024 * 1024;
const FILE_MODE = 0o600;

export interface StoredRequest {
  key: number;
  payload: Buffer;
}

export interface OpenedJournal {
  journal: QueueJournal;
  /** The requests left by the previous process, oldest first. */
  stored: StoredRequest[];
  /** Bytes cut off the end: a record torn by a crash (0 normally). */
  tornBytes: number;
}

function record(type: number, key: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt8(type, 8);
  out.writeUIntLE(key, 9, 6);
  out.set(payload, HEADER_BYTES);
  out.writeUInt32LE(crc32(out.subarray(8)), 4);
  return out;
}

/** The live requests of a log (key → encoding), and where its last whole record ends. */
function parse(bytes: Buffer): { live: Map<number, Buffer>; validBytes: number } {
  const live = new Map<number, Buffer>();
  let at = 0;
  while (at + HEADER_BYTES <= bytes.length) {
    const length = bytes.readUInt32LE(at);
    const end = at + HEADER_BYTES + length;
    if (end > bytes.length || crc32(bytes.subarray(at + 8, end)) !== bytes.readUInt32LE(at + 4)) break;
    const type = bytes.readUInt8(at + 8);
    const key = bytes.readUIntLE(at + 9, 6);
    const payload = bytes.subarray(at + HEADER_BYTES, end);
    const current = live.get(key);
    if (type === PUT) live.set(key, payload);
    else if (type === DELETE) live.delete(key);
    else if (type === APPEND && current) live.set(key, Buffer.concat([current, payload]));
    else break;
    at = end;
  }
  return { live, validBytes: at };
}

async function syncDirectory(path: string): Promise<void> {
  const dir = await open(dirname(path), constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export class QueueJournal {
  readonly #path: string;
  #file: FileHandle;
  /** The current encoding of every live key. */
  readonly #live: Map<number, Buffer>;
  #liveBytes = 0;
  #fileBytes: number;
  /** Records not yet written. */
  #pending: Buffer[] = [];
  /** Writes, one after another. */
  #chain: Promise<void> = Promise.resolve();
  #nextKey: number;
  #closed = false;

  private constructor(path: string, file: FileHandle, live: Map<number, Buffer>, fileBytes: number) {
    this.#path = path;
    this.#file = file;
    this.#live = live;
    for (const payload of live.values()) this.#liveBytes += HEADER_BYTES + payload.length;
    this.#fileBytes = fileBytes;
    this.#nextKey = Math.max(0, ...live.keys()) + 1;
  }

  /** Opens (or creates) the log at `path`: what it holds, written anew without what was sent. */
  static async open(path: string): Promise<OpenedJournal> {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    let bytes: Buffer;
    try {
      bytes = await readFile(path, { flag: constants.O_RDONLY | constants.O_NOFOLLOW });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`sending_queue: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
      bytes = Buffer.alloc(0);
    }
    const parsed = parse(bytes);
    // Copies: the file's bytes are not kept alive by a few small requests.
    const live = new Map([...parsed.live.entries()].sort(([a], [b]) => a - b).map(([key, payload]) => [key, Buffer.from(payload)]));
    const records = [...live.entries()].map(([key, payload]) => record(PUT, key, payload));
    const file = await QueueJournal.#rewrite(path, records);
    const journal = new QueueJournal(path, file, live, records.reduce((n, r) => n + r.length, 0));
    const stored = [...live.entries()].map(([key, payload]) => ({ key, payload }));
    const validBytes = parsed.validBytes;
    return { journal, stored, tornBytes: bytes.length - validBytes };
  }

  /** Writes `records` to a new file that replaces `path` (durably); returns it open for appending. */
  static async #rewrite(path: string, records: Buffer[]): Promise<FileHandle> {
    const temporary = `${path}.new`;
    const out = await open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, FILE_MODE);
    try {
      await writeAll(out, records);
      await out.datasync();
    } finally {
      await out.close();
    }
    await rename(temporary, path);
    await syncDirectory(path);
    return open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW);
  }

  /** A key for a new request. */
  newKey(): number {
    if (this.#nextKey > MAX_KEY) throw new Error('sending_queue: request keys exhausted');
    return this.#nextKey++;
  }

  /** Records the request's current encoding (written at the next flush): an append when it only grew. */
  put(key: number, payload: Uint8Array): void {
    const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    const current = this.#live.get(key);
    const grew = current !== undefined && bytes.length >= current.length && bytes.subarray(0, current.length).equals(current);
    if (grew && bytes.length === current.length) return;
    this.#pending.push(grew ? record(APPEND, key, bytes.subarray(current.length)) : record(PUT, key, bytes));
    this.#liveBytes += bytes.length - (current?.length ?? -HEADER_BYTES);
    this.#live.set(key, bytes);
  }

  /** Records that the request is gone (sent or given up). */
  delete(key: number): void {
    const payload = this.#live.get(key);
    if (!payload) return;
    this.#live.delete(key);
    this.#liveBytes -= HEADER_BYTES + payload.length;
    this.#pending.push(record(DELETE, key, new Uint8Array(0)));
  }

  /** Writes what is pending and makes it durable; rejects if it could not (it is kept for the next flush). */
  flush(): Promise<void> {
    const next = this.#chain.then(() => this.#write());
    this.#chain = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flush().catch(() => undefined);
    this.#closed = true;
    await this.#file.close();
  }

  async #write(): Promise<void> {
    if (this.#closed) return;
    if (this.#live.size === 0 && this.#fileBytes > 0) {
      // Nothing waits: start the log over (shrinking needs no free space).
      this.#pending = [];
      await this.#file.truncate(0);
      await this.#file.datasync();
      this.#fileBytes = 0;
      return;
    }
    if (this.#fileBytes > COMPACT_MIN_BYTES && this.#fileBytes > COMPACT_RATIO * this.#liveBytes) {
      this.#pending = [];
      const live = [...this.#live.entries()].map(([key, payload]) => record(PUT, key, payload));
      const file = await QueueJournal.#rewrite(this.#path, live);
      await this.#file.close();
      this.#file = file;
      this.#fileBytes = live.reduce((n, r) => n + r.length, 0);
      return;
    }
    const records = this.#pending;
    if (records.length === 0) return;
    this.#pending = [];
    try {
      await writeAll(this.#file, records);
      await this.#file.datasync();
    } catch (err) {
      // No torn record stays behind; the records are written again by the next flush.
      await this.#file.truncate(this.#fileBytes).catch(() => undefined);
      this.#pending = [...records, ...this.#pending];
      throw err;
    }
    for (const r of records) this.#fileBytes += r.length;
  }
}

async function writeAll(file: FileHandle, records: Buffer[]): Promise<void> {
  let buffers = records;
  while (buffers.length > 0) {
    let { bytesWritten } = await file.writev(buffers);
    if (bytesWritten === 0) throw Object.assign(new Error('write made no progress'), { code: 'ENOSPC' });
    // A short write: go on with what is left.
    const rest: Buffer[] = [];
    for (const b of buffers) {
      if (bytesWritten >= b.length) bytesWritten -= b.length;
      else {
        rest.push(bytesWritten > 0 ? b.subarray(bytesWritten) : b);
        bytesWritten = 0;
      }
    }
    buffers = rest;
  }
}
