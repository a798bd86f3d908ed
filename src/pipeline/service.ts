// Builds the pipelines of a checked config, starts them (exporters → processors → receivers),
// and shuts them down in the reverse order, draining in-flight batches within a deadline.
import type { Logger } from 'pino';
import type { PodflowConfig } from '../config/load.ts';
import { reportingNodeName } from '../config/reporting-node.ts';
import type { FlowBatch } from '../model/index.ts';
import { SelfMetrics } from '../telemetry/self-metrics.ts';
import { TelemetryServer, type Readiness } from '../telemetry/server.ts';
import { urlWithoutCredentials } from '../telemetry/url-without-credentials.ts';
import {
  DEFAULT_EXPORTER_QUEUE,
  type Component,
  type ComponentContext,
  type ComponentEndpoints,
  type Exporter,
  type ExporterFactory,
  type FlowConsumer,
  type ProcessorFactory,
  type Receiver,
  type ReceiverFactory,
} from '../contracts/component.ts';
import { ExporterQueue } from './exporter-queue.ts';
import { Fanout } from './fanout.ts';

/** A factory's component, or an error naming the component. */
async function created<T>(id: string, create: () => T | Promise<T>): Promise<T> {
  try {
    return await create();
  } catch (err) {
    throw new Error(`${id}: cannot be created: ${(err as Error).message}`, { cause: err });
  }
}

interface Started {
  id: string;
  component: Component;
}

export class Service {
  readonly metrics = new SelfMetrics();
  readonly #config: PodflowConfig;
  readonly #logger: Logger;
  readonly #exporters: Array<Started & { queue: ExporterQueue }> = [];
  /** Per pipeline, first processor first. */
  readonly #processors: Started[][] = [];
  readonly #receivers: Started[] = [];
  readonly #reportingNode: string;
  #telemetry: TelemetryServer | undefined;
  #state: 'starting' | 'running' | 'stopping' = 'starting';
  #built = false;

  constructor(config: PodflowConfig, logger: Logger) {
    this.#config = config;
    this.#logger = logger;
    this.#reportingNode = reportingNodeName({ resource: config.service.resource, k8sattributesNodeName: k8sattributesNodeName(config) });
  }

  #context(id: string, kind: string, pipeline?: string): ComponentContext {
    const metrics = this.metrics;
    return {
      id,
      logger: this.#logger.child({ kind, component: id, ...(pipeline ? { pipeline } : {}) }),
      metrics: metrics.registry,
      resource: { ...this.#config.service.resource },
      reportingNode: this.#reportingNode,
      countDropped(flows: number) {
        if (kind === 'exporter') metrics.exporterSendFailed.inc({ exporter: id }, flows);
        else metrics.processorDropped.inc({ processor: id, pipeline: pipeline ?? '' }, flows);
      },
    };
  }

  /**
   * Creates the components (each factory loads its implementation now; each registers its
   * metrics). `start` calls it; once is enough.
   */
  async build(): Promise<void> {
    if (this.#built) return;
    this.#built = true;
    const { service } = this.#config;
    const used = (section: 'exporters' | 'receivers') =>
      new Set(Object.values(service.pipelines).flatMap((p) => p[section]));

    const queues = new Map<string, ExporterQueue>();
    for (const id of used('exporters')) {
      const { factory, config } = this.#config.exporters.get(id)!;
      const f = factory as ExporterFactory;
      const ctx = this.#context(id, 'exporter');
      const exporter: Exporter = await created(id, () => f.create(ctx, config));
      const queue = new ExporterQueue(id, exporter, f.queueSettings?.(config) ?? DEFAULT_EXPORTER_QUEUE, this.metrics, ctx.logger);
      queues.set(id, queue);
      this.#exporters.push({ id, component: exporter, queue });
    }

    const entries = new Map<string, FlowConsumer[]>();
    for (const [name, pipeline] of Object.entries(service.pipelines)) {
      let next: FlowConsumer = new Fanout(pipeline.exporters.map((id) => queues.get(id)!), this.#logger);
      const stages: Started[] = [];
      for (const id of [...pipeline.processors].reverse()) {
        const { factory, config } = this.#config.processors.get(id)!;
        const processor = await created(id, () => (factory as ProcessorFactory).create(this.#context(id, 'processor', name), config, next));
        stages.unshift({ id, component: processor });
        next = processor;
      }
      this.#processors.push(stages);
      for (const id of pipeline.receivers) entries.set(id, [...(entries.get(id) ?? []), next]);
    }

    for (const id of used('receivers')) {
      const { factory, config } = this.#config.receivers.get(id)!;
      const fanout = new Fanout(entries.get(id)!, this.#logger);
      const accepted = this.metrics.receiverAccepted.labels({ receiver: id });
      const next: FlowConsumer = {
        consume: (batch: FlowBatch) => {
          accepted.inc(batch.flows.length);
          return fanout.consume(batch);
        },
      };
      const receiver: Receiver = await created(id, () => (factory as ReceiverFactory).create(this.#context(id, 'receiver'), config, next));
      this.#receivers.push({ id, component: receiver });
    }
  }

  async start(): Promise<void> {
    // The same warnings `validate` prints (an unused component...), where an operator sees them.
    for (const w of this.#config.warnings) {
      this.#logger.warn({ config: this.#config.file, path: w.path, line: w.line, column: w.column }, w.message);
    }
    await this.build();
    const address = this.#config.service.telemetry.metrics.address;
    let boundAddress: string | undefined;
    if (address) {
      this.#telemetry = new TelemetryServer(this.metrics.registry, { readiness: () => this.#readiness() });
      const bound = await this.#telemetry.listen(address);
      boundAddress = `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
    }
    const order = [...this.#exporters, ...this.#processors.flatMap((p) => [...p].reverse()), ...this.#receivers];
    const started: Started[] = [];
    for (const s of order) {
      try {
        await s.component.start();
        started.push(s);
        // A file queue's requests left by the previous run are queued once their exporter runs.
        if ('queue' in s) await (s as { queue: ExporterQueue }).queue.open();
      } catch (err) {
        this.#logger.error({ component: s.id, err: (err as Error).message }, 'start failed; stopping what started');
        for (const done of started.reverse()) {
          if ('queue' in done) await (done as { queue: ExporterQueue }).queue.close().catch(() => undefined);
          await done.component.shutdown().catch(() => undefined);
        }
        await this.#telemetry?.close();
        throw new Error(`${s.id}: failed to start: ${(err as Error).message}`, { cause: err });
      }
    }
    this.#state = 'running';
    const summary = this.#summary(boundAddress);
    this.#logger.info(summary.fields, summary.message);
  }

  /** Every component's, in start order. */
  #components(): Started[] {
    return [...this.#exporters, ...this.#processors.flat(), ...this.#receivers];
  }

  /** Ready once started, while no component reports a failure (e.g. the API server refuses k8sattributes). */
  #readiness(): Readiness {
    if (this.#state !== 'running') return { ready: false, problems: [this.#state] };
    const problems = new Set<string>();
    for (const { id, component } of this.#components()) {
      const health = component.health?.();
      if (health && !health.healthy) problems.add(`${id}: ${health.reason}`);
    }
    return { ready: problems.size === 0, problems: [...problems] };
  }

  /**
   * The start-up line a person reads first: each pipeline's components, where podflow listens,
   * what it reads and where its output goes (URLs without credentials).
   */
  #summary(metricsAddress: string | undefined): { fields: Record<string, unknown>; message: string } {
    const pipelines = this.#config.service.pipelines;
    const endpoints: Record<keyof ComponentEndpoints, Record<string, string[]>> = { listening: {}, readsFrom: {}, writesTo: {} };
    if (metricsAddress) endpoints.listening.telemetry = [`${metricsAddress} (/metrics /healthz /readyz)`];
    for (const { id, component } of this.#components()) {
      const e = component.endpoints?.() ?? {};
      for (const key of ['listening', 'readsFrom', 'writesTo'] as const) {
        const values = (e[key] ?? []).map(urlWithoutCredentials);
        if (values.length > 0) endpoints[key][id] = [...new Set([...(endpoints[key][id] ?? []), ...values])];
      }
    }
    const chain = (p: (typeof pipelines)[string]) => [p.receivers.join(', '), ...p.processors, p.exporters.join(', ')].join(' → ');
    const sentence = (verb: string, of: Record<string, string[]>) =>
      Object.entries(of).map(([id, values]) => `${id} ${verb} ${values.join(', ')}`);
    const parts = [
      `${Object.keys(pipelines).length === 1 ? 'pipeline' : 'pipelines'} ${Object.entries(pipelines).map(([name, p]) => `${name}: ${chain(p)}`).join('; ')}`,
      ...sentence('listens on', endpoints.listening),
      ...sentence('reads', endpoints.readsFrom),
      ...sentence('writes to', endpoints.writesTo),
    ];
    return {
      fields: { pipelines, metrics: metricsAddress, ...endpoints },
      message: `podflow started: ${parts.join('; ')}`,
    };
  }

  /** Receivers first (their last batch flows on), then processors in pipeline order, then exporters. */
  async shutdown(): Promise<void> {
    this.#state = 'stopping';
    const deadlineMs = Date.now() + this.#config.service.shutdown_timeout;
    const stop = async (s: Started) => {
      const left = deadlineMs - Date.now();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(resolve, Math.max(0, left), 'timeout')));
      try {
        const result = await Promise.race([s.component.shutdown().then(() => 'ok' as const), timeout]);
        if (result === 'timeout') this.#logger.warn({ component: s.id }, 'shutdown did not finish before service.shutdown_timeout');
      } catch (err) {
        this.#logger.error({ component: s.id, err: (err as Error).message }, 'shutdown failed');
      } finally {
        clearTimeout(timer);
      }
    };
    for (const r of this.#receivers) await stop(r);
    for (const pipeline of this.#processors) for (const p of pipeline) await stop(p);
    await Promise.all(
      this.#exporters.map(async (e) => {
        if (!(await e.queue.drain(deadlineMs))) this.#logger.warn({ component: e.id }, 'exporter queue not drained before service.shutdown_timeout');
        await stop(e);
      }),
    );
    await this.#telemetry?.close();
    this.#logger.info('podflow stopped');
  }
}

/** `node_name` of the first k8sattributes processor that sets one (the reporting node chain's second link). */
function k8sattributesNodeName(config: PodflowConfig): string | undefined {
  for (const { factory, config: parsed } of config.processors.values()) {
    if (factory.type !== 'k8sattributes') continue;
    const name = (parsed as { node_name?: unknown }).node_name;
    if (typeof name === 'string' && name !== '') return name;
  }
  return undefined;
}
