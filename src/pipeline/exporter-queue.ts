// Each exporter gets its own bounded queue and sends one batch at a time, so a slow, hanging or
// failing exporter never blocks the pipeline or another exporter.
import type { Logger } from 'pino';
import type { FlowBatch } from '../model/index.ts';
import type { SelfMetrics } from '../telemetry/self-metrics.ts';
import type { Exporter, ExporterQueueSettings, FlowConsumer } from '../contracts/component.ts';
import { RateLimitedLog } from '../telemetry/rate-limited-log.ts';

export class ExporterQueue implements FlowConsumer {
  readonly #id: string;
  readonly #exporter: Exporter;
  readonly #settings: ExporterQueueSettings;
  readonly #metrics: SelfMetrics;
  readonly #failures: RateLimitedLog;
  readonly #batches: FlowBatch[] = [];
  #sending: Promise<void> | undefined;
  #current: AbortController | undefined;

  constructor(id: string, exporter: Exporter, settings: ExporterQueueSettings, metrics: SelfMetrics, logger: Logger) {
    this.#id = id;
    this.#exporter = exporter;
    this.#settings = settings;
    this.#metrics = metrics;
    this.#failures = new RateLimitedLog((f, m) => logger.error(f, m));
    metrics.exporterQueueCapacity.set({ exporter: id }, settings.capacityBatches);
    metrics.exporterQueueSize.set({ exporter: id }, 0);
  }

  /** Never waits for the exporter: queues the batch (dropping the oldest when full) and returns. */
  async consume(batch: FlowBatch): Promise<void> {
    if (batch.flows.length === 0) return;
    if (this.#batches.length >= this.#settings.capacityBatches) {
      const dropped = this.#batches.shift()!;
      this.#metrics.exporterEnqueueFailed.inc({ exporter: this.#id }, dropped.flows.length);
      this.#metrics.exporterSendFailed.inc({ exporter: this.#id }, dropped.flows.length);
      this.#failures.emit({ exporter: this.#id, capacityBatches: this.#settings.capacityBatches }, 'exporter queue full: dropped the oldest batch');
    }
    this.#batches.push(batch);
    this.#metrics.exporterQueueSize.set({ exporter: this.#id }, this.#batches.length);
    this.#sending ??= this.#sendAll().finally(() => (this.#sending = undefined));
  }

  /** Resolves when the queue is empty, or at the deadline (then aborts the batch in flight). */
  async drain(deadlineMs: number): Promise<boolean> {
    const deadline = new Promise<false>((resolve) => setTimeout(resolve, Math.max(0, deadlineMs - Date.now()), false).unref());
    while (this.#sending) {
      const done = await Promise.race([this.#sending.then(() => true), deadline]);
      if (!done) {
        this.#current?.abort(new Error('shutdown deadline reached'));
        const lost = this.#batches.splice(0).reduce((n, b) => n + b.flows.length, 0);
        this.#metrics.exporterSendFailed.inc({ exporter: this.#id }, lost);
        return false;
      }
    }
    return true;
  }

  async #sendAll(): Promise<void> {
    for (let batch = this.#batches.shift(); batch; batch = this.#batches.shift()) {
      this.#metrics.exporterQueueSize.set({ exporter: this.#id }, this.#batches.length);
      const flows = batch.flows.length;
      const controller = new AbortController();
      this.#current = controller;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const err = new Error(`export did not finish within ${this.#settings.timeoutMs}ms`);
          controller.abort(err);
          reject(err);
        }, this.#settings.timeoutMs);
      });
      try {
        await Promise.race([this.#exporter.export(batch, controller.signal), timeout]);
        this.#metrics.exporterSent.inc({ exporter: this.#id }, flows);
      } catch (err) {
        this.#metrics.exporterSendFailed.inc({ exporter: this.#id }, flows);
        this.#failures.emit({ exporter: this.#id, flows, err: (err as Error).message }, 'export failed');
      } finally {
        clearTimeout(timer);
        this.#current = undefined;
      }
    }
  }
}
