import type { ExporterFactory } from '../../contracts/component.ts';
import { configSchema, type PrometheusConfig } from './config.ts';

export const prometheusExporterFactory: ExporterFactory<PrometheusConfig> = {
  kind: 'exporter',
  type: 'prometheus',
  description: 'Serves flows as Prometheus counters on a /metrics pull endpoint',
  configSchema,
  listenEndpoints: (config) => [{ key: 'endpoint', ...config.endpoint }],
  create: async (ctx, config) => new (await import('./prometheus-exporter.ts')).PrometheusExporter(ctx, config),
  // Exporting only updates memory; a short deadline flags a stuck process, not a slow backend.
  queueSettings: () => ({ capacityBatches: 100, timeoutMs: 5_000 }),
};
