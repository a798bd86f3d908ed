import type { ProcessorFactory } from '../../contracts/component.ts';
import { type FilterConfig, filterConfigSchema } from './config.ts';

export const filterFactory: ProcessorFactory<FilterConfig> = {
  kind: 'processor',
  type: 'filter',
  description: 'Keeps or drops flows by attribute rules (exact values, regex, CIDR for addresses)',
  configSchema: filterConfigSchema,
  create: async (ctx, config, next) => new (await import('./filter.ts')).FilterProcessor(ctx, config, next),
};
