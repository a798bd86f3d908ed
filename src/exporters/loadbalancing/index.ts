import type { ExporterFactory } from '../../contracts/component.ts';
import { queueSettingsOf } from '../shared/exporter-helper.ts';
import { loadbalancingConfigSchema, type LoadbalancingConfig } from './config.ts';
import { LoadbalancingExporter } from './loadbalancing-exporter.ts';
import { systemResolver } from './resolver.ts';

export const loadbalancingExporterFactory: ExporterFactory<LoadbalancingConfig> = {
  kind: 'exporter',
  type: 'loadbalancing',
  description: 'Spreads flows over gateways (otlp receivers) by a consistent hash of a routing key; gateways from a static list or DNS',
  configSchema: loadbalancingConfigSchema,
  create: (ctx, config) => new LoadbalancingExporter(ctx, config, systemResolver(config.resolver.dns?.timeout ?? 1_000)),
  queueSettings: queueSettingsOf,
};
