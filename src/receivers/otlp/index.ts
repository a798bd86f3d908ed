import type { ReceiverFactory } from '../../contracts/component.ts';
import { otlpReceiverConfigSchema, type OtlpReceiverConfig } from './config.ts';
import { OtlpReceiver } from './otlp-receiver.ts';

export const otlpReceiverFactory: ReceiverFactory<OtlpReceiverConfig> = {
  kind: 'receiver',
  type: 'otlp',
  description: "Flows sent by other podflows (agents' otlp exporters) over OTLP/HTTP and OTLP/gRPC, with their sender's resource",
  configSchema: otlpReceiverConfigSchema,
  create: (ctx, config, next) => new OtlpReceiver(ctx, config, next),
};
