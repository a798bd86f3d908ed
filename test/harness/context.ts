// A ComponentContext for tests that create one component directly, outside a pipeline.
import pino from 'pino';
import { Registry } from 'prom-client';
import type { ComponentContext } from '../../src/contracts/component.ts';
import type { FlowBatch } from '../../src/model/index.ts';

export interface TestContext extends ComponentContext {
  dropped: number;
}

export function testContext(id: string): TestContext {
  const ctx: TestContext = {
    id,
    logger: pino({ level: process.env.LOG_LEVEL ?? 'silent' }),
    metrics: new Registry(),
    resource: { 'k8s.node.name': 'test-node' },
    dropped: 0,
    countDropped(flows: number) {
      ctx.dropped += flows;
    },
  };
  return ctx;
}

/** A FlowConsumer that keeps every batch it is given. */
export function collector(): { batches: FlowBatch[]; consume(batch: FlowBatch): Promise<void> } {
  const batches: FlowBatch[] = [];
  return { batches, consume: async (batch) => void batches.push(batch) };
}
