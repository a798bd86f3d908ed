import type { ExporterFactory } from '../../contracts/component.ts';
import { fileConfigSchema, type FileConfig } from './config.ts';
import { FileExporter } from './file-exporter.ts';

export const fileExporterFactory: ExporterFactory<FileConfig> = {
  kind: 'exporter',
  type: 'file',
  description: 'Appends one JSON object per flow per line to a file, with size-based rotation.',
  configSchema: fileConfigSchema,
  create: (_ctx, config) => new FileExporter(config),
};
