import type { ExporterFactory } from '../../contracts/component.ts';
import { queueSettingsOf } from '../shared/exporter-helper.ts';
import { configSchema, type RemoteWriteConfig } from './config.ts';

export const prometheusRemoteWriteExporterFactory: ExporterFactory<RemoteWriteConfig> = {
  kind: 'exporter',
  type: 'prometheus_remote_write',
  description: 'Pushes flows as counters to a Prometheus remote-write endpoint (Prometheus, Mimir, Cortex, VictoriaMetrics, Thanos)',
  configSchema,
  create: async (ctx, config) => new (await import('./remote-write-exporter.ts')).RemoteWriteExporter(ctx, config),
  queueSettings: queueSettingsOf,
};
