import type { ProcessorFactory } from '../../contracts/component.ts';
import { type NetcostConfig, netcostConfigSchema } from './config.ts';
import { NetcostProcessor } from './netcost.ts';

export const netcostFactory: ProcessorFactory<NetcostConfig> = {
  kind: 'processor',
  type: 'netcost',
  description: 'Classes every flow by the cloud\'s billing classes (same_node … internet_egress) and prices it in USD',
  configSchema: netcostConfigSchema,
  create: (ctx, config, next) => new NetcostProcessor(ctx, config, next),
};
