// Keeps the flows that match `include` (when given) and do not match `exclude`.
import { withFlows, type Flow, type FlowBatch } from '../../model/index.ts';
import type { ComponentContext, FlowConsumer, Processor } from '../../contracts/component.ts';
import type { FilterConfig } from './config.ts';
import { type Predicate, compileAny } from './rules.ts';

export class FilterProcessor implements Processor {
  readonly #ctx: ComponentContext;
  readonly #next: FlowConsumer;
  readonly #include: Predicate | undefined;
  readonly #exclude: Predicate | undefined;

  constructor(ctx: ComponentContext, config: FilterConfig, next: FlowConsumer) {
    this.#ctx = ctx;
    this.#next = next;
    this.#include = compileAny(config.include);
    this.#exclude = compileAny(config.exclude);
  }

  async start(): Promise<void> {}

  async shutdown(): Promise<void> {}

  /** Whether a flow passes the filter. */
  keeps(flow: Flow): boolean {
    const attributes = flow.attributes;
    if (this.#include && !this.#include(attributes)) return false;
    return !(this.#exclude && this.#exclude(attributes));
  }

  consume(batch: FlowBatch): Promise<void> {
    const kept: Flow[] = [];
    for (const flow of batch.flows) if (this.keeps(flow)) kept.push(flow);
    const dropped = batch.flows.length - kept.length;
    if (dropped === 0) return this.#next.consume(batch);
    this.#ctx.countDropped(dropped);
    if (kept.length === 0) return Promise.resolve();
    return this.#next.consume(withFlows(batch, kept));
  }
}
