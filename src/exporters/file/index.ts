import type { ExporterFactory } from '../../contracts/component.ts';
import { fileConfigSchema, type FileConfig } from './config.ts';

export const fileExporterFactory: ExporterFactory<FileConfig> = {
  kind: 'exporter',
  type: 'file',
  description: 'Appends one JSON object per flow per line to a file, with size-based rotation.',
  configSchema: fileConfigSchema,
  create: async (_ctx, config) => new (await import('./file-exporter.ts')).FileExporter(config),
};
