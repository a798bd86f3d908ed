import type { Logger } from 'pino';
import { cloneBatch, type FlowBatch } from '../model/index.ts';
import type { FlowConsumer } from '../contracts/component.ts';

/**
 * Gives every consumer its own copy of each batch (the last one gets the original), so one
 * consumer's changes or failure never reach another.
 */
export class Fanout implements FlowConsumer {
  readonly #consumers: readonly FlowConsumer[];
  readonly #logger: Logger;

  constructor(consumers: readonly FlowConsumer[], logger: Logger) {
    this.#consumers = consumers;
    this.#logger = logger;
  }

  async consume(batch: FlowBatch): Promise<void> {
    const last = this.#consumers.length - 1;
    await Promise.all(
      this.#consumers.map((c, i) =>
        c.consume(i === last ? batch : cloneBatch(batch)).catch((err: Error) => {
          this.#logger.error({ err: err.message }, 'a pipeline stage failed to take a batch');
        }),
      ),
    );
  }
}
