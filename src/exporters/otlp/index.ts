import type { ExporterFactory } from '../../contracts/component.ts';
import { queueSettingsOf } from '../shared/exporter-helper.ts';
import { configSchema, type OtlpConfig } from './config.ts';

export const otlpExporterFactory: ExporterFactory<OtlpConfig> = {
  kind: 'exporter',
  type: 'otlp',
  description: 'Sends flows as OpenTelemetry metrics (network.flow.io, network.flow.packets, network.flow.connections, network.flow.cost) over OTLP/HTTP or OTLP/gRPC',
  configSchema,
  // Loads the encoder (and gRPC) only when a config uses this exporter.
  create: async (ctx, config) => new (await import('./otlp-exporter.ts')).OtlpExporter(ctx, config),
  queueSettings: queueSettingsOf,
};
