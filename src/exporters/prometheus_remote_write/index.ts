import type { ExporterFactory } from '../../contracts/component.ts';
import { configSchema, type RemoteWriteConfig } from './config.ts';
import { RemoteWriteExporter } from './remote-write-exporter.ts';

export const prometheusRemoteWriteExporterFactory: ExporterFactory<RemoteWriteConfig> = {
  kind: 'exporter',
  type: 'prometheus_remote_write',
  description: 'Pushes flows as counters to a Prometheus remote-write endpoint (Prometheus, Mimir, Cortex, VictoriaMetrics, Thanos)',
  configSchema,
  create: (ctx, config) => new RemoteWriteExporter(ctx, config),
  queueSettings: (config) => ({
    capacityBatches: config.sending_queue.queue_size,
    timeoutMs: exportDeadlineMs(config.retry_on_failure.max_elapsed_time, config.timeout),
  }),
};

/** A batch may take every retry plus its last request (and a margin) before the queue aborts it. */
export function exportDeadlineMs(maxElapsedMs: number, requestTimeoutMs: number): number {
  return maxElapsedMs === 0 ? 24 * 3_600_000 : maxElapsedMs + requestTimeoutMs + 1_000;
}
