// Builds the pipelines of a checked config, starts them (exporters → processors → receivers),
// and shuts them down in the reverse order, draining in-flight batches within a deadline.
import type { Logger } from 'pino';
import type { PodflowConfig } from '../config/load.ts';
import { reportingNodeName } from '../config/reporting-node.ts';
import type { FlowBatch } from '../model/index.ts';
import { SelfMetrics } from '../telemetry/self-metrics.ts';
import { TelemetryServer } from '../telemetry/server.ts';
import {
  DEFAULT_EXPORTER_QUEUE,
  type Component,
  type ComponentContext,
  type Exporter,
  type ExporterFactory,
  type FlowConsumer,
  type ProcessorFactory,
  type Receiver,
  type ReceiverFactory,
} from '../contracts/component.ts';
import { ExporterQueue } from './exporter-queue.ts';
import { Fanout } from './fanout.ts';

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
  #ready = false;

  constructor(config: PodflowConfig, logger: Logger) {
    this.#config = config;
    this.#logger = logger;
    this.#reportingNode = reportingNodeName({ resource: config.service.resource, k8sattributesNodeName: k8sattributesNodeName(config) });
    this.#build();
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

  #build(): void {
    const { service } = this.#config;
    const used = (section: 'exporters' | 'receivers') =>
      new Set(Object.values(service.pipelines).flatMap((p) => p[section]));

    const queues = new Map<string, ExporterQueue>();
    for (const id of used('exporters')) {
      const { factory, config } = this.#config.exporters.get(id)!;
      const f = factory as ExporterFactory;
      const ctx = this.#context(id, 'exporter');
      const exporter: Exporter = f.create(ctx, config);
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
        const processor = (factory as ProcessorFactory).create(this.#context(id, 'processor', name), config, next);
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
      const receiver: Receiver = (factory as ReceiverFactory).create(this.#context(id, 'receiver'), config, next);
      this.#receivers.push({ id, component: receiver });
    }
  }

  async start(): Promise<void> {
    const address = this.#config.service.telemetry.metrics.address;
    let boundAddress: string | undefined;
    if (address) {
      this.#telemetry = new TelemetryServer(this.metrics.registry, { ready: () => this.#ready });
      const bound = await this.#telemetry.listen(address);
      boundAddress = `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
    }
    const order = [...this.#exporters, ...this.#processors.flatMap((p) => [...p].reverse()), ...this.#receivers];
    const started: Started[] = [];
    for (const s of order) {
      try {
        await s.component.start();
        started.push(s);
      } catch (err) {
        this.#logger.error({ component: s.id, err: (err as Error).message }, 'start failed; stopping what started');
        for (const done of started.reverse()) await done.component.shutdown().catch(() => undefined);
        await this.#telemetry?.close();
        throw new Error(`${s.id}: failed to start: ${(err as Error).message}`, { cause: err });
      }
    }
    this.#ready = true;
    this.#logger.info(
      { pipelines: Object.keys(this.#config.service.pipelines), metrics: boundAddress },
      'podflow started',
    );
  }

  /** Receivers first (their last batch flows on), then processors in pipeline order, then exporters. */
  async shutdown(): Promise<void> {
    this.#ready = false;
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
