import type { ExporterFactory } from '../../contracts/component.ts';
import { queueSettingsOf } from '../shared/exporter-helper.ts';
import { loadbalancingConfigSchema, type LoadbalancingConfig } from './config.ts';

export const loadbalancingExporterFactory: ExporterFactory<LoadbalancingConfig> = {
  kind: 'exporter',
  type: 'loadbalancing',
  description: 'Spreads flows over gateways (otlp receivers) by a consistent hash of a routing key; gateways from a static list or DNS',
  configSchema: loadbalancingConfigSchema,
  // Loads the exporter (its queues, the encoder, gRPC) only when a config uses it.
  create: async (ctx, config) => {
    const [{ LoadbalancingExporter }, { systemResolver }] = await Promise.all([import('./loadbalancing-exporter.ts'), import('./resolver.ts')]);
    return new LoadbalancingExporter(ctx, config, systemResolver(config.resolver.dns?.timeout ?? 1_000));
  },
  queueSettings: queueSettingsOf,
};
