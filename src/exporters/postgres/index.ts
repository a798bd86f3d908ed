import type { ExporterFactory } from '../../contracts/component.ts';
import { queueSettingsOf } from '../shared/exporter-helper.ts';
import { postgresConfigSchema, type PostgresConfig } from './config.ts';
import { PostgresExporter } from './postgres-exporter.ts';

export const postgresExporterFactory: ExporterFactory<PostgresConfig> = {
  kind: 'exporter',
  type: 'postgres',
  description: 'Writes flows into daily-partitioned PostgreSQL tables with COPY; SQL functions for Grafana\'s node graph.',
  configSchema: postgresConfigSchema,
  create: (ctx, config) => new PostgresExporter(ctx, config),
  queueSettings: queueSettingsOf,
};
