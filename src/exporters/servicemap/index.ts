import { DEFAULT_EXPORTER_QUEUE, type ExporterFactory } from '../../contracts/component.ts';
import { servicemapConfigSchema, type ServicemapConfig } from './config.ts';
import { ServicemapExporter } from './servicemap-exporter.ts';

export const servicemapExporterFactory: ExporterFactory<ServicemapConfig> = {
  kind: 'exporter',
  type: 'servicemap',
  description: 'Serves a live service map page (and its JSON and SSE API) from a bounded in-memory window of flows',
  configSchema: servicemapConfigSchema,
  create: (ctx, config) => new ServicemapExporter(ctx, config),
  // Sending only updates memory: no retry (DEFAULT_EXPORTER_QUEUE), and a short deadline that
  // flags a stuck process, not a slow backend.
  queueSettings: () => ({ ...DEFAULT_EXPORTER_QUEUE, timeout: 5_000 }),
};
