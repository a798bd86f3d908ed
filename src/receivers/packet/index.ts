import type { ReceiverFactory } from '../../contracts/component.ts';
import { type PacketConfig, packetConfigSchema } from './config.ts';

export const packetReceiverFactory: ReceiverFactory<PacketConfig> = {
  kind: 'receiver',
  type: 'packet',
  description: 'Per-flow byte/packet deltas from packets captured on an interface (AF_PACKET ring, kernel BPF filter), without conntrack',
  configSchema: packetConfigSchema,
  create: async (ctx, config, next) => new (await import('./packet.ts')).PacketReceiver(ctx, config, next),
};
