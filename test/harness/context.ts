// A ComponentContext for tests that create one component directly, outside a pipeline.
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { ComponentContext } from '../../src/contracts/component.ts';
import type { Attributes, FlowBatch } from '../../src/model/index.ts';

export interface TestContext extends ComponentContext {
  dropped: number;
}

export function testContext(id: string, resource: Attributes = { 'k8s.node.name': 'test-node' }, logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' })): TestContext {
  const ctx: TestContext = {
    id,
    logger,
    metrics: new Registry(),
    resource,
    dropped: 0,
    countDropped(flows: number) {
      ctx.dropped += flows;
    },
  };
  return ctx;
}

/** A log line as pino writes it. */
export type LogLine = { level: number; msg: string; [key: string]: unknown };

export interface CapturingContext extends TestContext {
  logs: LogLine[];
}

/** A ComponentContext whose logs (debug and up) are kept: tests assert on the messages. */
export function capturingContext(id: string, resource: Attributes = {}): CapturingContext {
  const logs: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return Object.assign(testContext(id, resource, pino({ level: 'debug' }, stream)), { logs });
}

/** A FlowConsumer that keeps every batch it is given. */
export function collector(): { batches: FlowBatch[]; consume(batch: FlowBatch): Promise<void> } {
  const batches: FlowBatch[] = [];
  return { batches, consume: async (batch) => void batches.push(batch) };
}
