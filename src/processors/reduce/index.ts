import type { ProcessorFactory } from '../../contracts/component.ts';
import { type ReduceConfig, reduceConfigSchema } from './config.ts';

export const reduceFactory: ProcessorFactory<ReduceConfig> = {
  kind: 'processor',
  type: 'reduce',
  description: 'Sums flows into a bounded set of groups per aligned interval (delta or cumulative)',
  configSchema: reduceConfigSchema,
  // It sums deltas; cumulative input is passed on unchanged (and warned about at run time too).
  outputTemporality: (config, input) => (input === 'delta' ? config.temporality : input),
  checkInput: (_config, input) =>
    input.temporality === 'cumulative'
      ? { severity: 'warning', message: `gets cumulative sums from ${input.from} and passes them on unsummed: put it before any cumulative reduce` }
      : undefined,
  create: async (ctx, config, next) => new (await import('./reduce.ts')).ReduceProcessor(ctx, config, next),
};
