import type { ProcessorFactory } from '../../contracts/component.ts';
import { type NetcostConfig, netcostConfigSchema } from './config.ts';

export const netcostFactory: ProcessorFactory<NetcostConfig> = {
  kind: 'processor',
  type: 'netcost',
  description: 'Classes every flow by the cloud\'s billing classes (same_node … internet_egress) and prices it in USD',
  configSchema: netcostConfigSchema,
  create: async (ctx, config, next) => new (await import('./netcost.ts')).NetcostProcessor(ctx, config, next),
};
