// The contracts every receiver, processor and exporter implements.
// A component folder exports one factory (index.ts); src/components.ts lists them all.

import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { z } from 'zod';
import type { Attributes, FlowBatch } from '../model/index.ts';

export type ComponentKind = 'receiver' | 'processor' | 'exporter';

/** Anything that accepts batches: the next processor, or the exporters of a pipeline. */
export interface FlowConsumer {
  consume(batch: FlowBatch): Promise<void>;
}

export interface Component {
  /** Called once; a rejection aborts start-up with the component's id in the message. */
  start(): Promise<void>;
  /** Flush what is buffered and release resources; the runtime bounds it by `service.shutdown_timeout`. */
  shutdown(): Promise<void>;
}

export type Receiver = Component;

export interface Processor extends Component, FlowConsumer {}

export interface Exporter extends Component {
  /**
   * Deliver one batch. Resolves once delivered (exporters that retry do so inside, honouring
   * `signal`); a rejection counts the batch's flows in podflow_exporter_send_failed_flows_total.
   */
  export(batch: FlowBatch, signal: AbortSignal): Promise<void>;
}

/** What the runtime gives every component it creates. */
export interface ComponentContext {
  /** `type` or `type/name`, as in the config. */
  id: string;
  logger: Logger;
  /** Where a component registers its own `podflow_*` metrics. */
  metrics: Registry;
  /** `service.resource`: who is reporting (`k8s.node.name`, `k8s.cluster.name`, ...). */
  resource: Attributes;
  /** Processors: count flows they drop on purpose (podflow_processor_dropped_flows_total). */
  countDropped(flows: number): void;
}

interface FactoryBase<Kind extends ComponentKind, Config> {
  kind: Kind;
  type: string;
  /** One line for `podflow components`. */
  description: string;
  /**
   * Strict schema with every default; `configSchema.parse({})` is the default config
   * (or fails naming the keys that have no default).
   */
  configSchema: z.ZodType<Config>;
}

export interface ReceiverFactory<Config = unknown> extends FactoryBase<'receiver', Config> {
  create(ctx: ComponentContext, config: Config, next: FlowConsumer): Receiver;
}

export interface ProcessorFactory<Config = unknown> extends FactoryBase<'processor', Config> {
  create(ctx: ComponentContext, config: Config, next: FlowConsumer): Processor;
}

export interface ExporterQueueSettings {
  /** Batches waiting for this exporter; past it the oldest is dropped and counted. */
  capacityBatches: number;
  /** A call to `export` that has not settled by then is aborted and counted as failed. */
  timeoutMs: number;
}

export const DEFAULT_EXPORTER_QUEUE: ExporterQueueSettings = { capacityBatches: 100, timeoutMs: 30_000 };

export interface ExporterFactory<Config = unknown> extends FactoryBase<'exporter', Config> {
  create(ctx: ComponentContext, config: Config): Exporter;
  /** How the runtime queues batches for this exporter; DEFAULT_EXPORTER_QUEUE when absent. */
  queueSettings?(config: Config): ExporterQueueSettings;
}

export type AnyFactory =
  | ReceiverFactory<any>
  | ProcessorFactory<any>
  | ExporterFactory<any>;
