import type { ExporterFactory } from '../../contracts/component.ts';
import { postgresConfigSchema, type PostgresConfig } from './config.ts';
import { PostgresExporter } from './postgres-exporter.ts';

export const postgresExporterFactory: ExporterFactory<PostgresConfig> = {
  kind: 'exporter',
  type: 'postgres',
  description: 'Writes flows into daily-partitioned PostgreSQL tables with COPY; SQL functions for Grafana\'s node graph.',
  configSchema: postgresConfigSchema,
  create: (ctx, config) => new PostgresExporter(ctx, config),
  // The exporter keeps its own bounded queue of row batches (queue_size) and resolves `export`
  // as soon as the rows are queued, so the runtime's queue in front of it stays short.
  queueSettings: (config) => ({ capacityBatches: config.queue_size, timeoutMs: 30_000 }),
};
