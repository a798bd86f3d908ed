import { DEFAULT_EXPORTER_QUEUE, type ExporterFactory } from '../../contracts/component.ts';
import { servicemapConfigSchema, type ServicemapConfig } from './config.ts';

export const servicemapExporterFactory: ExporterFactory<ServicemapConfig> = {
  kind: 'exporter',
  type: 'servicemap',
  description: 'Serves a live service map page (and its JSON and SSE API) from a bounded in-memory window of flows',
  configSchema: servicemapConfigSchema,
  listenEndpoints: (config) => [{ key: 'endpoint', ...config.endpoint }],
  // Loads the HTTP server, the page and (for a postgres source) pg only when a config uses this exporter.
  create: async (ctx, config) => new (await import('./servicemap-exporter.ts')).ServicemapExporter(ctx, config),
  // Sending only updates memory: no retry (DEFAULT_EXPORTER_QUEUE), and a short deadline that
  // flags a stuck process, not a slow backend.
  queueSettings: () => ({ ...DEFAULT_EXPORTER_QUEUE, timeout: 5_000 }),
};
