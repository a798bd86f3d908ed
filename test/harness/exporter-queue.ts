// An exporter behind the runtime's exporter queue, wired as the service wires it (one registry
// for the queue's podflow_exporter_* families and the exporter's own metrics; countDropped
// counted as send failures), for exporter tests and benchmarks.
import type { Logger } from 'pino';
import { ExporterQueue } from '../../src/pipeline/exporter-queue.ts';
import { SelfMetrics } from '../../src/telemetry/self-metrics.ts';
import type { Exporter, ExporterQueueSettings, ExportRequest } from '../../src/contracts/component.ts';
import type { FlowBatch } from '../../src/model/index.ts';
import { testContext, type TestContext } from './context.ts';

export interface QueuedExporter<E> {
  ctx: TestContext;
  exporter: E;
  queue: ExporterQueue;
  metrics: SelfMetrics;
  consume(batch: FlowBatch): Promise<void>;
  /** Drains the queue within `timeoutMs` and shuts the exporter down, as the service does; false if the drain ran out of time. */
  shutdown(timeoutMs?: number): Promise<boolean>;
  /** A metric of the shared registry summed over the series of this exporter (0 when absent). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

export function queued<E extends Exporter<ExportRequest>>(
  id: string,
  settings: ExporterQueueSettings,
  create: (ctx: TestContext) => E,
  logger?: Logger,
): QueuedExporter<E> {
  const metrics = new SelfMetrics();
  const ctx = testContext(id);
  if (logger) ctx.logger = logger;
  ctx.metrics = metrics.registry;
  ctx.countDropped = (flows) => {
    ctx.dropped += flows;
    metrics.exporterSendFailed.inc({ exporter: id }, flows);
  };
  const exporter = create(ctx);
  const queue = new ExporterQueue(id, exporter, settings, metrics, ctx.logger);
  return {
    ctx,
    exporter,
    queue,
    metrics,
    consume: (batch) => queue.consume(batch),
    async shutdown(timeoutMs = 10_000) {
      const drained = await queue.drain(Date.now() + timeoutMs);
      await exporter.shutdown();
      return drained;
    },
    async metric(name, labels = {}) {
      const metric = metrics.registry.getSingleMetric(name);
      if (!metric) return 0;
      const want = { exporter: id, ...labels };
      return (await metric.get()).values
        .filter((v) => Object.entries(want).every(([k, value]) => v.labels[k] === value))
        .reduce((n, v) => n + v.value, 0);
    },
  };
}

/** One attempt at every request of the batch, without a queue: what an exporter sends for it. */
export async function sendNow<R extends ExportRequest>(exporter: Exporter<R>, batch: FlowBatch, signal = new AbortController().signal): Promise<void> {
  for (const request of await exporter.toRequests(batch, undefined)) await exporter.send(request, signal);
}
