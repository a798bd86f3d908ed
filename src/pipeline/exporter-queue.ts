// The one exporter queue (the OpenTelemetry Collector's exporterhelper, docs/exporter-helper.md):
// every exporter gets its own, so a slow, hanging or failing exporter never blocks the pipeline
// or another exporter.
//
// consume(batch) → exporter.toRequests (once per batch, in order) → waiting requests (at most
// sending_queue.queue_size; past it the oldest waiting one is dropped) → num_consumers senders,
// each taking the oldest due request and sending it: one attempt at a time, each bounded by
// `timeout`, failed attempts retried with exponential backoff and jitter until one succeeds,
// a PermanentError, or max_elapsed_time. drain(deadline) sends everything left (due or not,
// still retrying) until the deadline, then aborts and counts what is left.
//
// With sending_queue.storage: file, every waiting request is also in an append-only log
// (queue-journal.ts) before consume resolves; a request leaves the log once it is delivered or
// given up. What the log holds at start (a crash, an OOM kill, a drain cut short) is sent first.
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { FlowBatch } from '../model/index.ts';
import { type Clock, systemClock } from '../contracts/clock.ts';
import type { ExporterQueueMetrics } from '../telemetry/exporter-queue-metrics.ts';
import {
  PermanentError,
  RetryableError,
  type Exporter,
  type ExporterQueueSettings,
  type ExportRequest,
  type FlowConsumer,
} from '../contracts/component.ts';
import { RateLimitedLog } from '../telemetry/rate-limited-log.ts';
import { QueueJournal } from './queue-journal.ts';

/** Each wait is the backoff interval times a random factor in [1 - JITTER, 1 + JITTER]. */
const JITTER = 0.5;

/** Why a request was given up, for its log line. */
type GiveUp = 'permanent' | 'retry disabled' | 'max_elapsed_time' | 'shutdown';

export class ExporterQueue<Request extends ExportRequest = ExportRequest> implements FlowConsumer {
  readonly #id: string;
  readonly #labels: { exporter: string };
  readonly #exporter: Exporter<Request>;
  readonly #settings: ExporterQueueSettings;
  readonly #metrics: ExporterQueueMetrics;
  readonly #logger: Logger;
  readonly #failures: RateLimitedLog;
  readonly #retries: RateLimitedLog;
  readonly #overflows: RateLimitedLog;
  /** Requests waiting to be sent, oldest first. */
  readonly #waiting: Request[] = [];
  /** One toRequests call at a time, in the order batches came. */
  #converting: Promise<unknown> = Promise.resolve();
  /** Attempts in flight, aborted at the drain deadline. */
  readonly #inFlight = new Set<AbortController>();
  /** Aborts retry waits and attempts once the drain deadline has passed. */
  readonly #stop = new AbortController();
  #sending = 0;
  #draining = false;
  #dueTimer: NodeJS.Timeout | undefined;
  /** Resolved whenever a send settles, so drain can look again. */
  #settled: PromiseWithResolvers<void> = Promise.withResolvers();
  /** sending_queue.storage: file: the log, and each logged request's key in it. */
  #journal: QueueJournal | undefined;
  readonly #keys = new Map<Request, number>();
  readonly #journalFailures: RateLimitedLog;
  /** Times the waits between attempts and max_elapsed_time (tests see the waits it asks for). */
  readonly #clock: Clock;

  constructor(id: string, exporter: Exporter<Request>, settings: ExporterQueueSettings, metrics: ExporterQueueMetrics, logger: Logger, clock: Clock = systemClock) {
    this.#id = id;
    this.#clock = clock;
    this.#labels = { exporter: id };
    this.#exporter = exporter;
    this.#settings = settings;
    this.#metrics = metrics;
    this.#logger = logger;
    this.#failures = new RateLimitedLog((f, m) => logger.error(f, m));
    this.#retries = new RateLimitedLog((f, m) => logger.warn(f, m));
    this.#overflows = new RateLimitedLog((f, m) => logger.error(f, m));
    this.#journalFailures = new RateLimitedLog((f, m) => logger.error(f, m));
    metrics.exporterQueueCapacity.set(this.#labels, settings.sending_queue.enabled ? settings.sending_queue.queue_size : 0);
    metrics.exporterQueueSize.set(this.#labels, 0);
  }

  /** Where sending_queue.storage: file keeps this exporter's log. */
  static journalPath(directory: string, id: string): string {
    return join(directory, `${encodeURIComponent(id)}.queue`);
  }

  /**
   * With sending_queue.storage: file, opens the log and queues what it holds (requests a previous
   * process left), to be sent first. Call once, after the exporter started, before consume.
   */
  async open(): Promise<void> {
    const q = this.#settings.sending_queue;
    if (q.storage !== 'file' || !q.enabled) return;
    const codec = this.#exporter.requestCodec;
    if (!codec) throw new Error(`${this.#id}: this exporter cannot keep its queue in a file (sending_queue.storage: file)`);
    if (!q.directory) throw new Error(`${this.#id}: sending_queue.storage: file needs sending_queue.directory`);
    const path = ExporterQueue.journalPath(q.directory, this.#id);
    const { journal, stored, tornBytes } = await QueueJournal.open(path);
    this.#journal = journal;
    if (tornBytes > 0) this.#logger.warn({ exporter: this.#id, path, torn_bytes: tornBytes }, 'file queue ended in a record torn by a crash: cut it off (that request had not been accepted)');
    let unreadable = 0;
    for (const { key, payload } of stored) {
      let request: Request;
      try {
        request = codec.decode(payload);
      } catch (err) {
        unreadable++;
        journal.delete(key);
        this.#failures.emit({ exporter: this.#id, path, err: (err as Error).message }, 'file queue: a stored request cannot be read; dropped');
        continue;
      }
      this.#keys.set(request, key);
      this.#waiting.push(request);
    }
    if (unreadable > 0) await journal.flush();
    if (stored.length > 0) {
      this.#logger.info({ exporter: this.#id, path, requests: this.#waiting.length, flows: flowsOf(this.#waiting) }, 'file queue: requests left by the previous run are sent first');
    }
    // The consumers take theirs first: what was in flight at the crash is not dropped for room.
    this.#pump();
    this.#trim();
    this.#metrics.exporterQueueSize.set(this.#labels, this.#waiting.length);
  }

  /** Closes the log without draining (a start that failed): what it holds stays for the next start. */
  async close(): Promise<void> {
    clearTimeout(this.#dueTimer);
    await this.#journal?.close();
  }

  /**
   * Turns the batch into requests and queues them; never waits for the network (with
   * sending_queue.enabled: false, waits until they are sent or given up).
   */
  async consume(batch: FlowBatch): Promise<void> {
    if (batch.flows.length === 0) return;
    const converted = this.#converting.then(() => this.#toRequests(batch));
    this.#converting = converted;
    const requests = await converted;
    if (this.#stop.signal.aborted) {
      this.#count('failed', requests);
      return;
    }
    if (!this.#settings.sending_queue.enabled) {
      for (const request of requests) await this.#send(request);
      return;
    }
    for (const request of requests) this.#enqueue(request);
    this.#metrics.exporterQueueSize.set(this.#labels, this.#waiting.length);
    this.#pump();
  }

  /**
   * Sends what is queued, due or not, retrying as usual, until the queue is empty (true) or
   * `deadlineMs` (false: attempts in flight are aborted, what still waits is counted failed).
   */
  async drain(deadlineMs: number): Promise<boolean> {
    this.#draining = true;
    await this.#converting.catch(() => undefined);
    this.#pump();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadlineMs - Date.now()), 'deadline')));
    try {
      while (this.#waiting.length > 0 || this.#sending > 0) {
        if ((await Promise.race([this.#settled.promise, deadline])) === 'deadline') {
          this.#stop.abort(new Error('shutdown deadline reached'));
          for (const attempt of this.#inFlight) attempt.abort(this.#stop.signal.reason);
          const left = this.#waiting.splice(0);
          this.#metrics.exporterQueueSize.set(this.#labels, 0);
          if (this.#journal) {
            if (left.length > 0) this.#logger.warn({ exporter: this.#id, requests: left.length, flows: flowsOf(left) }, 'exporter queue not drained before the shutdown deadline: what is left stays in the file queue for the next start');
            while (this.#sending > 0) await this.#settled.promise;
            return false;
          }
          this.#count('failed', left);
          if (left.length > 0) {
            this.#logger.error({ exporter: this.#id, requests: left.length, flows: flowsOf(left) }, 'exporter queue not drained before the shutdown deadline: dropped what was left');
          }
          // Aborted attempts and retry waits settle at once (as failed); then every flow is counted.
          while (this.#sending > 0) await this.#settled.promise;
          return false;
        }
      }
      return true;
    } finally {
      clearTimeout(timer);
      clearTimeout(this.#dueTimer);
      await this.#journal?.close();
    }
  }

  async #toRequests(batch: FlowBatch): Promise<Request[]> {
    const open = this.#settings.sending_queue.enabled ? this.#waiting.at(-1) : undefined;
    let requests: Request[];
    try {
      requests = await this.#exporter.toRequests(batch, open);
    } catch (err) {
      this.#metrics.exporterSendFailed.inc(this.#labels, batch.flows.length);
      this.#failures.emit({ exporter: this.#id, flows: batch.flows.length, err: (err as Error).message }, 'exporter refused a batch');
      return [];
    }
    if (this.#journal) await this.#log(open, requests);
    return requests;
  }

  /**
   * Logs `open` again (it may have grown) if it still waits, and the new requests, durably. A log
   * that cannot be written (a full disk) leaves the requests in memory only, and says so.
   */
  async #log(open: Request | undefined, requests: readonly Request[]): Promise<void> {
    const journal = this.#journal!;
    const codec = this.#exporter.requestCodec!;
    const openKey = open === undefined ? undefined : this.#keys.get(open);
    if (open !== undefined && openKey !== undefined && this.#waiting.includes(open)) journal.put(openKey, codec.encode(open));
    for (const request of requests) {
      const key = journal.newKey();
      this.#keys.set(request, key);
      journal.put(key, codec.encode(request));
    }
    try {
      await journal.flush();
    } catch (err) {
      this.#journalFailures.emit({ exporter: this.#id, err: (err as Error).message }, 'file queue: cannot write the log; requests are kept in memory only until it can');
    }
  }

  /** The request leaves the log (delivered, given up, dropped). */
  #forget(request: Request): void {
    const key = this.#keys.get(request);
    if (key === undefined || !this.#journal) return;
    this.#keys.delete(request);
    this.#journal.delete(key);
    this.#journal.flush().catch((err: Error) => this.#journalFailures.emit({ exporter: this.#id, err: err.message }, 'file queue: cannot write the log'));
  }

  /** Adds a request; when more than queue_size wait, the oldest waiting one is dropped. */
  #enqueue(request: Request): void {
    this.#waiting.push(request);
    this.#trim();
  }

  /** While more than queue_size requests wait, drops the oldest waiting one. */
  #trim(): void {
    const waiting = this.#waiting;
    const capacity = this.#settings.sending_queue.queue_size;
    while (waiting.length > capacity) {
      const dropped = waiting.shift()!;
      this.#forget(dropped);
      this.#metrics.exporterEnqueueFailed.inc(this.#labels, dropped.flowCount);
      this.#metrics.exporterSendFailed.inc(this.#labels, dropped.flowCount);
      this.#overflows.emit({ exporter: this.#id, flows: dropped.flowCount, queue_size: capacity }, 'exporter queue full: dropped the oldest request');
    }
  }

  /** Starts senders for due requests while consumers are free. */
  #pump(): void {
    clearTimeout(this.#dueTimer);
    this.#dueTimer = undefined;
    while (this.#sending < this.#settings.sending_queue.num_consumers && this.#waiting.length > 0 && !this.#stop.signal.aborted) {
      const head = this.#waiting[0]!;
      // Only the newest request can still grow; one with a newer request behind it is due.
      if (!this.#draining && this.#waiting.length === 1 && this.#exporter.dueAtMs) {
        const waitMs = this.#exporter.dueAtMs(head) - Date.now();
        if (waitMs > 0) {
          this.#dueTimer = setTimeout(() => this.#pump(), waitMs);
          return;
        }
      }
      this.#waiting.shift();
      this.#metrics.exporterQueueSize.set(this.#labels, this.#waiting.length);
      void this.#send(head).then(() => this.#pump());
    }
  }

  /** Delivers one request as one of the consumers (drain waits for it). */
  async #send(request: Request): Promise<void> {
    this.#sending++;
    try {
      await this.#deliver(request);
    } finally {
      this.#sending--;
      this.#settled.resolve();
      this.#settled = Promise.withResolvers();
    }
  }

  /** Sends one request until it is delivered or given up; counts it either way. Never rejects. */
  async #deliver(request: Request): Promise<void> {
    const retry = this.#settings.retry_on_failure;
    const startedMs = this.#clock.nowMs();
    let intervalMs = retry.initial_interval;
    for (let attempts = 1; ; attempts++) {
      let error: Error;
      try {
        await this.#attempt(request);
        this.#count('sent', [request]);
        this.#forget(request);
        return;
      } catch (err) {
        error = err instanceof Error ? err : new Error(String(err));
      }
      let waitMs = Math.min(retry.max_interval, intervalMs * (1 - JITTER + Math.random() * 2 * JITTER));
      if (error instanceof RetryableError && error.retryAfterMs !== undefined) waitMs = Math.max(waitMs, error.retryAfterMs);
      const reason = this.#giveUp(error, this.#clock.nowMs() + waitMs - startedMs) ?? (await this.#backOff(waitMs, attempts, error));
      if (reason === 'shutdown' && this.#journal) {
        // Kept in the log: the next start sends it.
        this.#keys.delete(request);
        return;
      }
      if (reason) {
        this.#forget(request);
        this.#count('failed', [request]);
        this.#failures.emit({ exporter: this.#id, flows: request.flowCount, attempts, reason, err: error.message }, 'export failed');
        return;
      }
      intervalMs = Math.min(intervalMs * retry.multiplier, retry.max_interval);
    }
  }

  /** Why a failed request is not tried again, given how long it will have been tried after the next wait. */
  #giveUp(error: Error, elapsedAfterWaitMs: number): GiveUp | undefined {
    const retry = this.#settings.retry_on_failure;
    if (this.#stop.signal.aborted) return 'shutdown';
    if (error instanceof PermanentError) return 'permanent';
    if (!retry.enabled) return 'retry disabled';
    if (retry.max_elapsed_time > 0 && elapsedAfterWaitMs > retry.max_elapsed_time) return 'max_elapsed_time';
    return undefined;
  }

  /** Counts the retry and waits; 'shutdown' when the drain deadline cut the wait short. */
  async #backOff(waitMs: number, attempts: number, error: Error): Promise<GiveUp | undefined> {
    this.#metrics.exporterRetries.inc(this.#labels);
    this.#retries.emit({ exporter: this.#id, attempts, wait_ms: Math.round(waitMs), queued: this.#waiting.length, err: error.message }, 'export attempt failed; retrying');
    return (await this.#sleep(waitMs)) ? undefined : 'shutdown';
  }

  /** One call of `send`, aborted at `timeout` (settling then even if the exporter does not). */
  async #attempt(request: Request): Promise<void> {
    if (this.#stop.signal.aborted) throw this.#stop.signal.reason;
    const controller = new AbortController();
    this.#inFlight.add(controller);
    const timeoutMs = this.#settings.timeout;
    let timer: NodeJS.Timeout | undefined;
    const abandoned = new Promise<never>((_, reject) => {
      const abort = (reason: unknown) => {
        controller.abort(reason);
        reject(reason);
      };
      timer = setTimeout(() => abort(new Error(`export attempt did not finish within ${timeoutMs}ms`)), timeoutMs);
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
    });
    try {
      await Promise.race([this.#exporter.send(request, controller.signal), abandoned]);
    } finally {
      clearTimeout(timer);
      this.#inFlight.delete(controller);
    }
  }

  /** Resolves true after `ms`, or false as soon as the drain deadline passes. */
  #sleep(ms: number): Promise<boolean> {
    const stop = this.#stop.signal;
    if (stop.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onStop = () => {
        this.#clock.clearTimer(timer);
        resolve(false);
      };
      const timer = this.#clock.setTimer(() => {
        stop.removeEventListener('abort', onStop);
        resolve(true);
      }, ms, { keepAlive: true });
      stop.addEventListener('abort', onStop, { once: true });
    });
  }

  #count(outcome: 'sent' | 'failed', requests: readonly Request[]): void {
    const flows = flowsOf(requests);
    if (flows === 0) return;
    (outcome === 'sent' ? this.#metrics.exporterSent : this.#metrics.exporterSendFailed).inc(this.#labels, flows);
  }
}

function flowsOf(requests: readonly ExportRequest[]): number {
  let flows = 0;
  for (const r of requests) flows += r.flowCount;
  return flows;
}
