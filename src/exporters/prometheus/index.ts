import { DEFAULT_EXPORTER_QUEUE, type ExporterFactory } from '../../contracts/component.ts';
import { configSchema, type PrometheusConfig } from './config.ts';

export const prometheusExporterFactory: ExporterFactory<PrometheusConfig> = {
  kind: 'exporter',
  type: 'prometheus',
  description: 'Serves flows as Prometheus counters on a /metrics pull endpoint',
  configSchema,
  listenEndpoints: (config) => [{ key: 'endpoint', ...config.endpoint }],
  create: async (ctx, config) => new (await import('./prometheus-exporter.ts')).PrometheusExporter(ctx, config),
  // Sending only updates memory: no retry (DEFAULT_EXPORTER_QUEUE), and a short deadline that
  // flags a stuck process, not a slow backend.
  queueSettings: () => ({ ...DEFAULT_EXPORTER_QUEUE, timeout: 5_000 }),
};
