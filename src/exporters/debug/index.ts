import type { ExporterFactory } from '../../contracts/component.ts';
import { debugConfigSchema, type DebugConfig } from './config.ts';
import { DebugExporter } from './debug-exporter.ts';

export const debugExporterFactory: ExporterFactory<DebugConfig> = {
  kind: 'exporter',
  type: 'debug',
  description: 'Prints a compact table of each batch to stdout.',
  configSchema: debugConfigSchema,
  create: (_ctx, config) => new DebugExporter(config),
};
