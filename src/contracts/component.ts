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
  /**
   * A failure the running component lives with and a person must fix (the API server refuses
   * its credentials, say). Read on every `/readyz`: podflow is not ready while one is reported.
   * Absent: always healthy once started.
   */
  health?(): ComponentHealth;
  /** Where it listens, reads and writes, for the start-up summary (read after start). */
  endpoints?(): ComponentEndpoints;
}

export type ComponentHealth = { healthy: true } | { healthy: false; reason: string };

export interface ComponentEndpoints {
  /** Addresses it serves (`host:port` or a URL). */
  listening?: string[];
  /** What it reads: a table in a network namespace, map paths, an interface, an API server. */
  readsFrom?: string[];
  /** Where its output goes: files, URLs without credentials, stdout. */
  writesTo?: string[];
}

export type Receiver = Component;

/**
 * A processor owns the batches it is given and may change their flows; a flow's attribute map
 * may be frozen and shared (reduce's groups), so attributes are set with `setFlowAttribute`
 * (src/model/flow.ts), never by writing into a frozen map (docs/data-model.md).
 */
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
  /**
   * Exporters whose queue may be kept in a file (`sending_queue.storage: file`): a request as
   * bytes and back. The bytes must identify the request to the backend the same way after a
   * restart (postgres: its batch ids), so that one sent before a crash is not stored twice.
   */
  readonly requestCodec?: RequestCodec<Request>;
}

export interface RequestCodec<Request extends ExportRequest> {
  encode(request: Request): Uint8Array;
  /** Throws on bytes it cannot read (the request is then dropped, counted and logged). */
  decode(bytes: Uint8Array): Request;
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
    /**
     * `file`: waiting requests are also kept in an append-only log under `directory`, which
     * outlives the process; those left at a restart are sent after the next start. Absent: memory.
     */
    storage?: 'memory' | 'file';
    /** Where `storage: file` keeps its log (one file per exporter). */
    directory?: string;
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
  create(ctx: ComponentContext, config: Config): Exporter | Promise<Exporter>;
  /** How the runtime queues batches for this exporter; DEFAULT_EXPORTER_QUEUE when absent. */
  queueSettings?(config: Config): ExporterQueueSettings;
}

export type AnyFactory =
  | ReceiverFactory<any>
  | ProcessorFactory<any>
  | ExporterFactory<any>;
