import type { ExporterFactory } from '../../contracts/component.ts';
import { queueSettingsOf } from '../shared/exporter-helper.ts';
import { configSchema, type OtlpConfig } from './config.ts';
import { OtlpExporter } from './otlp-exporter.ts';

export const otlpExporterFactory: ExporterFactory<OtlpConfig> = {
  kind: 'exporter',
  type: 'otlp',
  description: 'Sends flows as OpenTelemetry metrics (network.flow.io, network.flow.packets, network.flow.cost) over OTLP/HTTP',
  configSchema,
  create: (ctx, config) => new OtlpExporter(ctx, config),
  queueSettings: queueSettingsOf,
};
