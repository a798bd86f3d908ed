// Small components for runtime tests: a receiver that emits numbered flows, a processor that tags
// them, and an exporter that records, throws, hangs or fails to start. Each logs its start and shutdown.
import { z } from 'zod';
import { httpUrl, listenAddress } from '../../src/config/endpoints.ts';
import { durationMs } from '../../src/config/units.ts';
import { type Flow, type FlowBatch, setFlowAttribute, unixNanoFromMs } from '../../src/model/index.ts';
import { DEFAULT_EXPORTER_QUEUE, type Exporter, type ExporterFactory, type ExportRequest, type ProcessorFactory, type ReceiverFactory } from '../../src/contracts/component.ts';

/** `start:<id>` / `shutdown:<id>` in the order they happened. */
export const lifecycle: string[] = [];
/** Batches each recording exporter was given, by component id. */
export const recorded = new Map<string, FlowBatch[]>();

let sequence = 0;

export function numberedFlow(n: number, extra: Record<string, string | boolean> = {}): Flow {
  const now = unixNanoFromMs(Date.now());
  return {
    startTimeUnixNano: now - 1_000_000n,
    timeUnixNano: now,
    attributes: { 'source.address': '10.0.0.1', 'destination.address': '10.0.0.2', 'test.seq': n, ...extra },
    txBytes: 100 + n,
    rxBytes: 200 + n,
    txPackets: 1,
    rxPackets: 2,
    connections: 1,
  };
}

const sequenceSchema = z.strictObject({
  interval: durationMs({ min: 1 }).default(50),
  flows_per_batch: z.number().int().min(1).default(2),
});

export const sequenceReceiverFactory: ReceiverFactory<z.output<typeof sequenceSchema>> = {
  kind: 'receiver',
  type: 'sequence',
  description: 'test: emits numbered flows every interval and a final batch on shutdown',
  configSchema: sequenceSchema,
  create(ctx, config, next) {
    let timer: NodeJS.Timeout | undefined;
    const emit = (extra: Record<string, boolean> = {}) =>
      next.consume({
        temporality: 'delta',
        flows: Array.from({ length: config.flows_per_batch }, () => numberedFlow(sequence++, extra)),
      });
    return {
      async start() {
        lifecycle.push(`start:${ctx.id}`);
        timer = setInterval(() => void emit(), config.interval);
      },
      async shutdown() {
        lifecycle.push(`shutdown:${ctx.id}`);
        clearInterval(timer);
        await emit({ 'test.final': true });
      },
    };
  },
};

const tagSchema = z.strictObject({
  key: z.string().default('test.tag'),
  value: z.string().default('x'),
  /** Pass batches on with this temporality (as a reduce would). */
  temporality: z.enum(['delta', 'cumulative']).optional(),
});

export const tagProcessorFactory: ProcessorFactory<z.output<typeof tagSchema>> = {
  kind: 'processor',
  type: 'tag',
  description: 'test: sets one attribute on every flow',
  configSchema: tagSchema,
  outputTemporality: (config, input) => config.temporality ?? input,
  create(ctx, config, next) {
    return {
      async start() {
        lifecycle.push(`start:${ctx.id}`);
      },
      async shutdown() {
        lifecycle.push(`shutdown:${ctx.id}`);
      },
      async consume(batch) {
        for (const f of batch.flows) setFlowAttribute(f, config.key, config.value);
        await next.consume(config.temporality ? { ...batch, temporality: config.temporality } : batch);
      },
    };
  },
};

const recordingSchema = z.strictObject({
  behaviour: z.enum(['record', 'throw', 'hang', 'fail_start']).default('record'),
  timeout: durationMs({ min: 1 }).default(200),
  /** Refuse (in validation) a pipeline that brings it the other temporality. */
  accepts: z.enum(['delta', 'cumulative']).optional(),
  /** Claim this listen address (it does not listen; validation checks for clashes). */
  listen: listenAddress().optional(),
  /** Credentials as exporters that send somewhere take them (read by nothing but the config tests). */
  endpoint: httpUrl().optional(),
  password: z.string().optional(),
  headers: z.record(z.string(), z.string()).optional(),
  /** What it claims to write to (its endpoints(), for the start summary). */
  writes_to: z.array(z.string()).optional(),
  /** A health failure it reports from start on (its health(), for /readyz). */
  unhealthy: z.string().optional(),
});

/** The reporting node each recording exporter was given (ComponentContext.reportingNode), by id. */
export const reportingNodes = new Map<string, string | undefined>();

/** The recording exporter sends each batch whole (the harness stays below the component layer). */
interface BatchRequest extends ExportRequest {
  readonly batch: FlowBatch;
}

export const recordingExporterFactory: ExporterFactory<z.output<typeof recordingSchema>> = {
  kind: 'exporter',
  type: 'recording',
  description: 'test: records batches, or throws, or hangs, or fails to start',
  configSchema: recordingSchema,
  queueSettings: (config) => ({ ...DEFAULT_EXPORTER_QUEUE, sending_queue: { enabled: true, num_consumers: 1, queue_size: 1000 }, timeout: config.timeout }),
  checkInput: (config, input) =>
    config.accepts && config.accepts !== input.temporality
      ? { severity: 'error', message: `takes ${config.accepts} only, ${input.from} sends ${input.temporality}` }
      : undefined,
  listenEndpoints: (config) => (config.listen ? [{ key: 'listen', ...config.listen }] : []),
  create(ctx, config): Exporter<BatchRequest> {
    recorded.set(ctx.id, []);
    reportingNodes.set(ctx.id, ctx.reportingNode);
    return {
      async start() {
        if (config.behaviour === 'fail_start') throw new Error('test exporter fails to start on purpose');
        lifecycle.push(`start:${ctx.id}`);
      },
      async shutdown() {
        lifecycle.push(`shutdown:${ctx.id}`);
      },
      health: () => (config.unhealthy === undefined ? { healthy: true } : { healthy: false, reason: config.unhealthy }),
      endpoints: () => ({ writesTo: config.writes_to ?? [] }),
      toRequests: (batch: FlowBatch): BatchRequest[] => [{ batch, flowCount: batch.flows.length }],
      async send({ batch }, signal) {
        if (config.behaviour === 'throw') throw new Error('test exporter fails on purpose');
        if (config.behaviour === 'hang') {
          await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
        }
        recorded.get(ctx.id)!.push(batch);
      },
    };
  },
};

export const TEST_FACTORIES = [sequenceReceiverFactory, tagProcessorFactory, recordingExporterFactory];
