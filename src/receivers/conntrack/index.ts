import type { ReceiverFactory } from '../../contracts/component.ts';
import { type ConntrackConfig, conntrackConfigSchema } from './config.ts';

export const conntrackReceiverFactory: ReceiverFactory<ConntrackConfig> = {
  kind: 'receiver',
  type: 'conntrack',
  description: "Exact per-flow byte/packet deltas from the kernel's conntrack table (ctnetlink or procfs)",
  configSchema: conntrackConfigSchema,
  create: async (ctx, config, next) => new (await import('./conntrack.ts')).ConntrackReceiver(ctx, config, next),
};
