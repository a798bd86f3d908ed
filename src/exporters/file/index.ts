import { DEFAULT_EXPORTER_QUEUE, type ExporterFactory, type ExporterQueueSettings } from '../../contracts/component.ts';
import { fileConfigSchema, type FileConfig } from './config.ts';

/**
 * A write that failed (a full disk) left the file at its last whole line: the batch is written
 * again, every 1 s growing to 10 s, for as long as it is queued (the oldest of 100 goes first).
 */
export const FILE_EXPORTER_QUEUE: ExporterQueueSettings = {
  ...DEFAULT_EXPORTER_QUEUE,
  retry_on_failure: { enabled: true, initial_interval: 1_000, max_interval: 10_000, multiplier: 2, max_elapsed_time: 0 },
};

export const fileExporterFactory: ExporterFactory<FileConfig> = {
  kind: 'exporter',
  type: 'file',
  description: 'Appends one JSON object per flow per line to a file, with size-based rotation.',
  configSchema: fileConfigSchema,
  create: async (ctx, config) => new (await import('./file-exporter.ts')).FileExporter(ctx, config),
  queueSettings: () => FILE_EXPORTER_QUEUE,
};
