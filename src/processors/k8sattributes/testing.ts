// Test helpers shared by the k8sattributes tests and benchmark: a processor wired to a fake API
// server, flow builders, and a log capture.
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { Attributes, Flow, FlowBatch } from '../../model/index.ts';
import type { ComponentContext } from '../../contracts/component.ts';
import { configSchema, type K8sAttributesConfig } from './config.ts';
import { K8sAttributesProcessor, type ProcessorOptions } from './processor.ts';

export interface CapturingContext extends ComponentContext {
  dropped: number;
  logs: Array<{ level: number; msg: string; [k: string]: unknown }>;
}

/** A ComponentContext whose logs are kept (tests assert on the messages). */
export function capturingContext(id = 'k8sattributes', resource: Attributes = {}): CapturingContext {
  const logs: CapturingContext['logs'] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as CapturingContext['logs'][number]);
      done();
    },
  });
  const ctx: CapturingContext = {
    id,
    logger: pino({ level: 'debug' }, stream),
    metrics: new Registry(),
    resource,
    dropped: 0,
    logs,
    countDropped(n: number) {
      ctx.dropped += n;
    },
  };
  return ctx;
}

export function parseConfig(input: Record<string, unknown>): K8sAttributesConfig {
  return configSchema.parse(input);
}

export interface FlowSpec {
  src: string;
  dst: string;
  srcPort?: number;
  dstPort?: number;
  transport?: string;
  original?: string;
  /** Interval in ms since the epoch; default [now - 10s, now]. */
  startMs?: number;
  endMs?: number;
}

export function flow(s: FlowSpec): Flow {
  const end = s.endMs ?? Date.now();
  const start = s.startMs ?? end - 10_000;
  const attributes: Attributes = {
    'source.address': s.src,
    'source.port': s.srcPort ?? 40_000,
    'destination.address': s.dst,
    'destination.port': s.dstPort ?? 80,
    'network.transport': s.transport ?? 'tcp',
    'network.type': s.src.includes(':') ? 'ipv6' : 'ipv4',
  };
  if (s.original) attributes['destination.original.address'] = s.original;
  return {
    startTimeUnixNano: BigInt(start) * 1_000_000n,
    timeUnixNano: BigInt(end) * 1_000_000n,
    attributes,
    txBytes: 100, rxBytes: 200, txPackets: 1, rxPackets: 2, connections: 1,
  };
}

/** Runs flows through the processor; returns the attributes of the flows it passed on. */
export async function enrich(p: K8sAttributesProcessor, sink: { batches: FlowBatch[] }, flows: Flow[]): Promise<Attributes[]> {
  sink.batches.length = 0;
  await p.consume({ flows, temporality: 'delta' });
  return sink.batches.flatMap((b) => b.flows.map((f) => f.attributes));
}

export async function until(cond: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function makeProcessor(ctx: ComponentContext, config: Record<string, unknown>, options: ProcessorOptions = {}) {
  const batches: FlowBatch[] = [];
  const sink = { batches, consume: async (b: FlowBatch) => void batches.push(b) };
  const p = new K8sAttributesProcessor(ctx, parseConfig(config), sink, {
    auth: { env: {}, home: '/nonexistent', serviceAccountRoot: '/nonexistent' },
    backoff: { initialMs: 50, maxMs: 400 },
    ...options,
  });
  return { p, sink };
}
