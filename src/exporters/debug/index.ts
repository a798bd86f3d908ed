import type { ExporterFactory } from '../../contracts/component.ts';
import { debugConfigSchema, type DebugConfig } from './config.ts';

export const debugExporterFactory: ExporterFactory<DebugConfig> = {
  kind: 'exporter',
  type: 'debug',
  description: 'Prints a compact table of each batch to stdout.',
  configSchema: debugConfigSchema,
  create: async (_ctx, config) => new (await import('./debug-exporter.ts')).DebugExporter(config),
};
