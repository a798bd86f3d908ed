import type { ExporterFactory } from '../../contracts/component.ts';
import { servicemapConfigSchema, type ServicemapConfig } from './config.ts';
import { ServicemapExporter } from './servicemap-exporter.ts';

export const servicemapExporterFactory: ExporterFactory<ServicemapConfig> = {
  kind: 'exporter',
  type: 'servicemap',
  description: 'Serves a live service map page (and its JSON and SSE API) from a bounded in-memory window of flows',
  configSchema: servicemapConfigSchema,
  create: (ctx, config) => new ServicemapExporter(ctx, config),
  // Exporting only updates memory; a short deadline flags a stuck process, not a slow backend.
  queueSettings: () => ({ capacityBatches: 100, timeoutMs: 5_000 }),
};
