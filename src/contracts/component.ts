// The contracts every receiver, processor and exporter implements.
// A component folder exports one factory (index.ts); src/components.ts lists them all.

import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { z } from 'zod';
import type { Attributes, FlowBatch, Temporality } from '../model/index.ts';

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

/** What reaches a component in a pipeline, as far as the config tells before anything runs. */
export interface PipelineInput {
  temporality: Temporality;
  /** Who made it so: `the receivers`, or the processor that changed it (`reduce (processors[1])`). */
  from: string;
}

/** A wiring mistake found in the config: an error stops `validate` and `run`, a warning is printed and logged. */
export interface WiringProblem {
  severity: 'error' | 'warning';
  message: string;
}

/** An address a component listens on; `key` is its config key (`endpoint`). */
export interface ListenEndpoint {
  key: string;
  host: string;
  port: number;
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
  /**
   * Checks what reaches this component in a pipeline. `validate` and `run` both call it (through
   * src/config/wiring.ts) before anything starts, so a mismatch `run` would hit fails `validate` too.
   */
  checkInput?(config: Config, input: PipelineInput): WiringProblem | undefined;
  /** Where the component will listen: `validate` refuses two components on one port. */
  listenEndpoints?(config: Config): ListenEndpoint[];
}

// `create` may return a promise: a factory imports its implementation (and the heavy modules it
// uses: pg, the OpenTelemetry SDK, the Kubernetes client) only when a config uses it.

export interface ReceiverFactory<Config = unknown> extends FactoryBase<'receiver', Config> {
  create(ctx: ComponentContext, config: Config, next: FlowConsumer): Receiver | Promise<Receiver>;
}

export interface ProcessorFactory<Config = unknown> extends FactoryBase<'processor', Config> {
  create(ctx: ComponentContext, config: Config, next: FlowConsumer): Processor | Promise<Processor>;
  /** What the processor passes on for a given input; the input's own temporality when absent. */
  outputTemporality?(config: Config, input: Temporality): Temporality;
}

export interface ExporterQueueSettings {
  /** Batches waiting for this exporter; past it the oldest is dropped and counted. */
  capacityBatches: number;
  /** A call to `export` that has not settled by then is aborted and counted as failed. */
  timeoutMs: number;
}

export const DEFAULT_EXPORTER_QUEUE: ExporterQueueSettings = { capacityBatches: 100, timeoutMs: 30_000 };

export interface ExporterFactory<Config = unknown> extends FactoryBase<'exporter', Config> {
  create(ctx: ComponentContext, config: Config): Exporter | Promise<Exporter>;
  /** How the runtime queues batches for this exporter; DEFAULT_EXPORTER_QUEUE when absent. */
  queueSettings?(config: Config): ExporterQueueSettings;
}

export type AnyFactory =
  | ReceiverFactory<any>
  | ProcessorFactory<any>
  | ExporterFactory<any>;
