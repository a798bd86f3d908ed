import type { ReceiverFactory } from '../../contracts/component.ts';
import { type ConntrackConfig, conntrackConfigSchema } from './config.ts';
import { ConntrackReceiver } from './conntrack.ts';

export const conntrackReceiverFactory: ReceiverFactory<ConntrackConfig> = {
  kind: 'receiver',
  type: 'conntrack',
  description: "Exact per-flow byte/packet deltas from the kernel's conntrack table (ctnetlink or procfs)",
  configSchema: conntrackConfigSchema,
  create: (ctx, config, next) => new ConntrackReceiver(ctx, config, next),
};
