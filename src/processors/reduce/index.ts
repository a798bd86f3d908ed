import type { ProcessorFactory } from '../../contracts/component.ts';
import { type ReduceConfig, reduceConfigSchema } from './config.ts';
import { ReduceProcessor } from './reduce.ts';

export const reduceFactory: ProcessorFactory<ReduceConfig> = {
  kind: 'processor',
  type: 'reduce',
  description: 'Sums flows into a bounded set of groups per aligned interval (delta or cumulative)',
  configSchema: reduceConfigSchema,
  create: (ctx, config, next) => new ReduceProcessor(ctx, config, next),
};
