import type { ProcessorFactory } from '../../contracts/component.ts';
import { type FilterConfig, filterConfigSchema } from './config.ts';
import { FilterProcessor } from './filter.ts';

export const filterFactory: ProcessorFactory<FilterConfig> = {
  kind: 'processor',
  type: 'filter',
  description: 'Keeps or drops flows by attribute rules (exact values, regex, CIDR for addresses)',
  configSchema: filterConfigSchema,
  create: (ctx, config, next) => new FilterProcessor(ctx, config, next),
};
