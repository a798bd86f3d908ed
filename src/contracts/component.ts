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

/**
 * What an exporter sends in one attempt. It is made once from the batches it carries; a retry
 * sends the same request again, so nothing is ever recorded or encoded twice.
 */
export interface ExportRequest {
  /**
   * Flows it carries: what podflow_exporter_sent_flows_total / _send_failed_flows_total count
   * when it settles (read then, so an exporter may lower it for flows it refused meanwhile).
   */
  readonly flowCount: number;
}

/**
 * An exporter, as the runtime's exporter queue (src/pipeline/exporter-queue.ts, described in
 * docs/exporter-helper.md) drives it: batches become requests once, in pipeline order; the
 * queue's consumers send them, each attempt bounded by `timeout`, failed attempts retried with
 * backoff unless the error is a PermanentError.
 */
export interface Exporter<Request extends ExportRequest = ExportRequest> extends Component {
  /**
   * The batch as requests, called once per batch, one call at a time, in pipeline order, as the
   * batch enters the queue. `open` is the newest request still waiting in the queue: an exporter
   * that batches (postgres) may add the batch's flows to it, synchronously, before returning the
   * new requests (never `open` itself) for the rest. Throwing refuses the whole batch (counted as failed and logged); flows refused one by one
   * are the exporter's to count (`ComponentContext.countDropped`).
   */
  toRequests(batch: FlowBatch, open: Request | undefined): Request[] | Promise<Request[]>;
  /**
   * One attempt. Resolves once the request is delivered; rejects with a PermanentError when
   * sending it again cannot help (the backend refused it for what it is), with any other error
   * when a later attempt may succeed (RetryableError to pass the server's Retry-After). `signal`
   * aborts at the attempt's timeout and at the shutdown deadline.
   */
  send(request: Request, signal: AbortSignal): Promise<void>;
  /**
   * Exporters that add to `open` requests: when a waiting request that may still grow is due
   * anyway (ms since the epoch; 0 when full). Without it a request is due as soon as it is queued.
   */
  dueAtMs?(request: Request): number;
}

/** Sending the same request again cannot help: it is dropped (counted failed) at once. */
export class PermanentError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PermanentError';
  }
}

/** A failure a later attempt may get past; `retryAfterMs` is the server's own wait (Retry-After). */
export class RetryableError extends Error {
  readonly retryAfterMs: number | undefined;
  constructor(message: string, retryAfterMs?: number, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RetryableError';
    this.retryAfterMs = retryAfterMs;
  }
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
  /**
   * The node this process reports for: `service.resource["k8s.node.name"]`, else
   * `k8sattributes.node_name`, else NODE_NAME, else the host name (src/config/reporting-node.ts).
   * A batch's own `resource` (received from an agent) names its node instead.
   */
  reportingNode?: string;
  /**
   * Processors: count flows they drop on purpose (podflow_processor_dropped_flows_total).
   * Exporters: count flows they refuse one by one, e.g. a value PostgreSQL cannot store
   * (podflow_exporter_send_failed_flows_total).
   */
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

/**
 * How the runtime queues, sends and retries for one exporter: the OpenTelemetry Collector's
 * exporterhelper settings, with the same key names (durations in ms). Exporters that send over
 * a network take them from their config (`sending_queue`, `retry_on_failure`, `timeout`).
 */
export interface ExporterQueueSettings {
  sending_queue: {
    /** false: no queue; the pipeline waits while the batch is sent (and retried). */
    enabled: boolean;
    /** Requests sent at once. */
    num_consumers: number;
    /** Requests that may wait; past it the oldest waiting one is dropped and counted. */
    queue_size: number;
  };
  retry_on_failure: {
    enabled: boolean;
    /** Wait after the first failed attempt (ms)... */
    initial_interval: number;
    /** ...growing by `multiplier` per attempt up to this (ms); each wait is jittered by ±50 %. */
    max_interval: number;
    multiplier: number;
    /** Give a request up after this long since its first attempt (ms); 0: never. */
    max_elapsed_time: number;
  };
  /** One attempt that has not settled by then is aborted and retried (ms). */
  timeout: number;
}

/** For exporters that keep everything in this process (file, debug): no retry, 30 s per write. */
export const DEFAULT_EXPORTER_QUEUE: ExporterQueueSettings = {
  sending_queue: { enabled: true, num_consumers: 1, queue_size: 100 },
  retry_on_failure: { enabled: false, initial_interval: 1_000, max_interval: 30_000, multiplier: 1.5, max_elapsed_time: 300_000 },
  timeout: 30_000,
};

export interface ExporterFactory<Config = unknown> extends FactoryBase<'exporter', Config> {
  create(ctx: ComponentContext, config: Config): Exporter;
  /** How the runtime queues batches for this exporter; DEFAULT_EXPORTER_QUEUE when absent. */
  queueSettings?(config: Config): ExporterQueueSettings;
}

export type AnyFactory =
  | ReceiverFactory<any>
  | ProcessorFactory<any>
  | ExporterFactory<any>;
