import type { ProcessorFactory } from '../../contracts/component.ts';
import { type DnsnamesConfig, dnsnamesConfigSchema } from './config.ts';
import { DnsnamesProcessor } from './dnsnames.ts';

export const dnsnamesFactory: ProcessorFactory<DnsnamesConfig> = {
  kind: 'processor',
  type: 'dnsnames',
  description: 'Sets destination.domain on flows to external addresses from DNS answers captured on the node (A, AAAA, CNAME chains)',
  configSchema: dnsnamesConfigSchema,
  create: (ctx, config, next) => new DnsnamesProcessor(ctx, config, next),
};
