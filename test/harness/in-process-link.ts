// An in-process stand-in for agent → gateway transport, for tests of the gateway side until the
// otlp receiver is on main: the `forward` exporter (on an agent) hands each batch, with the
// agent's `service.resource` as the batch's resource, to the `inbox` receiver (on a gateway) of
// the same name in the same process. That is what an otlp exporter → otlp receiver pair
// delivers. While no inbox of that name runs (the gateway is down), `send` fails and the
// exporter queue retries, as an otlp exporter would against a gateway that is away.
import { z } from 'zod';
import type { FlowBatch } from '../../src/model/index.ts';
import { DEFAULT_EXPORTER_QUEUE, type Exporter, type ExporterFactory, type ExportRequest, type FlowConsumer, type ReceiverFactory } from '../../src/contracts/component.ts';

const inboxes = new Map<string, FlowConsumer>();

const inboxSchema = z.strictObject({ name: z.string().min(1) });

export const inboxReceiverFactory: ReceiverFactory<z.output<typeof inboxSchema>> = {
  kind: 'receiver',
  type: 'inbox',
  description: 'test: receives the batches `forward` exporters of this process send to its name',
  configSchema: inboxSchema,
  create(_ctx, config, next) {
    return {
      async start() {
        if (inboxes.has(config.name)) throw new Error(`inbox ${config.name} is already running`);
        inboxes.set(config.name, next);
      },
      async shutdown() {
        if (inboxes.get(config.name) === next) inboxes.delete(config.name);
      },
    };
  },
};

const forwardSchema = z.strictObject({ to: z.string().min(1) });

interface ForwardRequest extends ExportRequest {
  readonly batch: FlowBatch;
}

export const forwardExporterFactory: ExporterFactory<z.output<typeof forwardSchema>> = {
  kind: 'exporter',
  type: 'forward',
  description: 'test: sends each batch with this podflow\'s resource to the inbox of that name in this process',
  configSchema: forwardSchema,
  queueSettings: () => ({
    sending_queue: { enabled: true, num_consumers: 1, queue_size: 10_000 },
    retry_on_failure: { ...DEFAULT_EXPORTER_QUEUE.retry_on_failure, enabled: true, initial_interval: 200, max_interval: 1_000, max_elapsed_time: 120_000 },
    timeout: 10_000,
  }),
  create(ctx, config): Exporter<ForwardRequest> {
    return {
      async start() {},
      async shutdown() {},
      toRequests: (batch: FlowBatch): ForwardRequest[] => [{ batch: { flows: batch.flows, temporality: batch.temporality, resource: { ...ctx.resource } }, flowCount: batch.flows.length }],
      async send({ batch }) {
        const inbox = inboxes.get(config.to);
        if (!inbox) throw new Error(`no inbox ${config.to} is running (the gateway is down)`);
        await inbox.consume(batch);
      },
    };
  },
};

export const LINK_FACTORIES = [inboxReceiverFactory, forwardExporterFactory];
