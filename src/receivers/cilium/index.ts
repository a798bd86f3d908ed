import type { ReceiverFactory } from '../../contracts/component.ts';
import { CiliumReceiver } from './cilium.ts';
import { type CiliumConfig, ciliumConfigSchema } from './config.ts';

export const ciliumReceiverFactory: ReceiverFactory<CiliumConfig> = {
  kind: 'receiver',
  type: 'cilium',
  description: "Per-flow byte/packet deltas from Cilium's eBPF conntrack maps (pinned under <bpffs>/tc/globals)",
  configSchema: ciliumConfigSchema,
  create: (ctx, config, next) => new CiliumReceiver(ctx, config, next),
};
