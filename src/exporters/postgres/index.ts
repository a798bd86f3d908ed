import type { ExporterFactory } from '../../contracts/component.ts';
import { queueSettingsOf } from '../shared/exporter-helper.ts';
import { postgresConfigSchema, type PostgresConfig } from './config.ts';

export const postgresExporterFactory: ExporterFactory<PostgresConfig> = {
  kind: 'exporter',
  type: 'postgres',
  description: 'Writes flows into daily-partitioned PostgreSQL tables with COPY; SQL functions for Grafana\'s node graph.',
  configSchema: postgresConfigSchema,
  // Each row is what happened during one interval: summing rows must give totals.
  checkInput: (_config, input) =>
    input.temporality === 'cumulative'
      ? { severity: 'error', message: `stores deltas, but ${input.from} sends cumulative sums: set temporality: delta on it, or give postgres its own pipeline with a delta reduce` }
      : undefined,
  // Loads pg only when a config uses this exporter.
  create: async (ctx, config) => new (await import('./postgres-exporter.ts')).PostgresExporter(ctx, config),
  queueSettings: queueSettingsOf,
};
