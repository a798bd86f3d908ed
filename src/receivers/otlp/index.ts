import type { ReceiverFactory } from '../../contracts/component.ts';
import { otlpReceiverConfigSchema, type OtlpReceiverConfig } from './config.ts';

export const otlpReceiverFactory: ReceiverFactory<OtlpReceiverConfig> = {
  kind: 'receiver',
  type: 'otlp',
  description: "Flows sent by other podflows (agents' otlp exporters) over OTLP/HTTP and OTLP/gRPC, with their sender's resource",
  configSchema: otlpReceiverConfigSchema,
  // Loads the servers (and gRPC) only when a config uses this receiver.
  create: async (ctx, config, next) => new (await import('./otlp-receiver.ts')).OtlpReceiver(ctx, config, next),
};
