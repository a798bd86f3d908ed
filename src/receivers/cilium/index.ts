import type { ReceiverFactory } from '../../contracts/component.ts';
import { type CiliumConfig, ciliumConfigSchema } from './config.ts';

export const ciliumReceiverFactory: ReceiverFactory<CiliumConfig> = {
  kind: 'receiver',
  type: 'cilium',
  description: "Per-flow byte/packet deltas from Cilium's eBPF conntrack maps (pinned under <bpffs>/tc/globals)",
  configSchema: ciliumConfigSchema,
  create: async (ctx, config, next) => new (await import('./cilium.ts')).CiliumReceiver(ctx, config, next),
};
