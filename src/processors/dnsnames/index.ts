import type { ProcessorFactory } from '../../contracts/component.ts';
import { type DnsnamesConfig, dnsnamesConfigSchema } from './config.ts';

export const dnsnamesFactory: ProcessorFactory<DnsnamesConfig> = {
  kind: 'processor',
  type: 'dnsnames',
  description: 'Sets destination.domain on flows to external addresses from DNS answers captured on the node (A, AAAA, CNAME chains)',
  configSchema: dnsnamesConfigSchema,
  create: async (ctx, config, next) => new (await import('./dnsnames.ts')).DnsnamesProcessor(ctx, config, next),
};
