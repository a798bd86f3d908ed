// One JSON object per flow per line, with exactly the fields of the flow record
// (docs/data-model.md); times as decimal strings because they exceed 2^53. The cost (netcost)
// is written as a JSON number with every digit of the exact decimal (`"cost_usd":0.0000000931`),
// which JSON.stringify cannot do for a bigint, so it is appended as text.
//
// The file holds whole lines only. A batch is appended as one buffer; if the write comes up short
// (a full disk: ENOSPC, EDQUOT) the file is truncated back to where the batch began and the send
// fails as retryable, so the queue keeps the batch and writes it again, whole, once there is room.
// A file found ending in half a line (a crash mid-write) is cut back to its last newline at open.
//
// `path` is opened with O_NOFOLLOW and must be a regular file: a symlink planted there (to
// /etc/passwd, say) or a device, FIFO or directory is refused with an error naming the path.
import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import { usdText, type Flow, type FlowBatch } from '../../model/index.ts';
import { RetryableError, type ComponentContext, type ComponentEndpoints, type Exporter } from '../../contracts/component.ts';
import { RateLimitedLog } from '../../telemetry/rate-limited-log.ts';
import { sharedCounter } from '../../telemetry/shared-metrics.ts';
import { wholeBatch, type BatchRequest } from '../shared/batch-request.ts';
import type { FileConfig } from './config.ts';

/** rw-r-----: flows name every workload of the node; not for every local user. */
export const FILE_MODE = 0o640;
const DIRECTORY_MODE = 0o750;
/** Bytes read per step when looking back for the last newline. */
const TAIL_STEP_BYTES = 64 * 1024;

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

function kindOf(stats: Stats): string {
  if (stats.isSymbolicLink()) return 'a symbolic link';
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

function refused(path: string, what: string): Error {
  return new Error(`file exporter: path ${path} is ${what}; it must be a regular file (symlinks are not followed)`);
}

export class FileExporter implements Exporter<BatchRequest> {
  readonly #config: FileConfig;
  readonly #id: string;
  readonly #logger: Logger;
  readonly #rotationFailures: Counter<string>;
  readonly #writeFailures: Counter<string>;
  readonly #rotationLog: RateLimitedLog;
  readonly #writeLog: RateLimitedLog;
  #file: FileHandle | undefined;
  /** Bytes of whole lines in the file: where the next batch begins. */
  #sizeBytes = 0;

  constructor(ctx: ComponentContext, config: FileConfig) {
    this.#config = config;
    this.#id = ctx.id;
    this.#logger = ctx.logger;
    this.#rotationFailures = sharedCounter(ctx.metrics, 'podflow_exporter_file_rotation_failures_total', 'Rotations of the file exporter that failed (it kept writing to the current file).', ['exporter']);
    this.#writeFailures = sharedCounter(ctx.metrics, 'podflow_exporter_file_write_failures_total', 'Batch writes of the file exporter that failed and were undone to the last whole line (retried).', ['exporter', 'code']);
    this.#rotationLog = new RateLimitedLog((f, m) => this.#logger.error(f, m));
    this.#writeLog = new RateLimitedLog((f, m) => this.#logger.warn(f, m));
  }

  async start(): Promise<void> {
    await mkdir(dirname(this.#config.path), { recursive: true, mode: DIRECTORY_MODE });
    this.#file = await this.#open();
  }

  endpoints(): ComponentEndpoints {
    return { writesTo: [this.#config.path] };
  }

  toRequests(batch: FlowBatch): BatchRequest[] {
    return wholeBatch(batch);
  }

  async send({ batch }: BatchRequest): Promise<void> {
    const bytes = Buffer.from(batch.flows.map(flowToJsonLine).join(''));
    const maxBytes = this.#config.rotation.max_megabytes * 1024 * 1024;
    if (maxBytes > 0 && this.#sizeBytes > 0 && this.#sizeBytes + bytes.length > maxBytes) await this.#rotate();
    this.#file ??= await this.#open();
    await this.#append(this.#file, bytes);
  }

  async shutdown(): Promise<void> {
    await this.#file?.sync().catch(() => undefined);
    await this.#file?.close();
    this.#file = undefined;
  }

  /** Appends `bytes` whole, or leaves the file as it was and throws a RetryableError. */
  async #append(file: FileHandle, bytes: Buffer): Promise<void> {
    const startBytes = this.#sizeBytes;
    let written = 0;
    try {
      while (written < bytes.length) {
        const { bytesWritten } = await file.write(bytes, written, bytes.length - written);
        if (bytesWritten === 0) throw Object.assign(new Error('write made no progress'), { code: 'ENOSPC' });
        written += bytesWritten;
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      // Cut the half batch off (shrinking a file needs no free space); the queue retries it whole.
      if (written > 0) await file.truncate(startBytes).catch(() => undefined);
      this.#writeFailures.inc({ exporter: this.#id, code });
      this.#writeLog.emit({ exporter: this.#id, path: this.#config.path, code, bytes: bytes.length, written }, 'file exporter: write failed; the file is back at its last whole line and the batch will be written again');
      throw new RetryableError(`file exporter: cannot write ${this.#config.path}: ${code}`, undefined, { cause: err });
    }
    this.#sizeBytes = startBytes + written;
  }

  /**
   * Opens `path` for appending without following a symlink, creating it 0640; refuses anything
   * but a regular file. Half a line at the end (a crash mid-write) is cut off.
   */
  async #open(): Promise<FileHandle> {
    const { path } = this.#config;
    const existing = await lstat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw new Error(`file exporter: cannot inspect ${path}: ${err.code ?? err.message}`, { cause: err });
    });
    // Checked before open: opening a FIFO for writing would wait for a reader.
    if (existing && !existing.isFile()) throw refused(path, kindOf(existing));
    let file: FileHandle;
    try {
      // O_NONBLOCK: a FIFO swapped in after the check fails with ENXIO instead of blocking.
      file = await open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, FILE_MODE);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') throw refused(path, 'a symbolic link');
      if (code === 'ENXIO') throw refused(path, 'a FIFO or socket');
      throw new Error(`file exporter: cannot open ${path}: ${code ?? (err as Error).message}`, { cause: err });
    }
    try {
      const stats = await file.stat();
      if (!stats.isFile()) throw refused(path, kindOf(stats));
      this.#sizeBytes = await this.#wholeLinesEnd(stats.size);
      if (this.#sizeBytes < stats.size) {
        await file.truncate(this.#sizeBytes);
        this.#logger.warn({ exporter: this.#id, path, removed_bytes: stats.size - this.#sizeBytes }, 'file exporter: the file ended in half a line (a crash mid-write?); cut it off');
      }
    } catch (err) {
      await file.close();
      throw err;
    }
    return file;
  }

  /** Where the last whole line of `path` ends (0 when it holds no newline). */
  async #wholeLinesEnd(sizeBytes: number): Promise<number> {
    if (sizeBytes === 0) return 0;
    const reader = await open(this.#config.path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const buffer = Buffer.alloc(TAIL_STEP_BYTES);
      for (let end = sizeBytes; end > 0; ) {
        const start = Math.max(0, end - TAIL_STEP_BYTES);
        const { bytesRead } = await reader.read(buffer, 0, end - start, start);
        const at = buffer.subarray(0, bytesRead).lastIndexOf(0x0a);
        if (at >= 0) return start + at + 1;
        end = start;
      }
      return 0;
    } finally {
      await reader.close();
    }
  }

  /**
   * path → path.1 → path.2 …; the oldest beyond max_backups is removed. If the current file
   * cannot be moved aside or a new one cannot be opened, writing goes on in the current file
   * (nothing is dropped), the failure is counted and logged, and the next batch tries again.
   */
  async #rotate(): Promise<void> {
    const { path } = this.#config;
    const keep = this.#config.rotation.max_backups;
    const current = this.#file;
    if (keep === 0 && current) {
      // No backups: the file starts over in place.
      try {
        await current.truncate(0);
        this.#sizeBytes = 0;
      } catch (err) {
        this.#rotationFailed(err, 'cannot truncate the current file');
      }
      return;
    }
    try {
      await rm(`${path}.${keep}`, { force: true }).catch(() => undefined);
      for (let i = keep - 1; i >= 1; i--) await rename(`${path}.${i}`, `${path}.${i + 1}`).catch(() => undefined);
      await rename(path, `${path}.1`);
    } catch (err) {
      this.#rotationFailed(err, 'cannot move the current file aside');
      return;
    }
    try {
      this.#file = await this.#open();
    } catch (err) {
      // Put the file back where it was, so a later rotation can try again.
      await rename(`${path}.1`, path).catch(() => undefined);
      this.#file = current;
      this.#rotationFailed(err, 'cannot open a new file');
      return;
    }
    await current?.close().catch(() => undefined);
  }

  #rotationFailed(err: unknown, what: string): void {
    this.#rotationFailures.inc({ exporter: this.#id });
    this.#rotationLog.emit(
      { exporter: this.#id, path: this.#config.path, err: (err as Error).message },
      `file exporter: rotation failed (${what}); still writing to the current file`,
    );
  }
}
