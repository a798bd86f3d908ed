// What both servers (HTTP, gRPC) hand decoded requests to: the pipeline, behind a bound on the
// requests in it at once (past it the sender is told to come back: 429 / RESOURCE_EXHAUSTED),
// with cumulative streams turned into deltas per sender and series, and every refusal counted.
import type { Counter } from 'prom-client';
import type { FlowBatch } from '../../model/index.ts';
import { seriesKeyOf, TemporalityConverter } from '../../model/temporality.ts';
import type { FlowConsumer } from '../../contracts/component.ts';
import type { ReceivedBatch } from './flow-assembler.ts';

/** Why a request was refused: the `reason` label of podflow_receiver_refused_requests_total. */
export type RefusalReason = 'malformed' | 'not_a_flow' | 'content_type' | 'too_large' | 'unauthenticated' | 'pipeline_full' | 'pipeline_error' | 'not_found';

export type IntakeResult = { accepted: true } | { accepted: false; reason: 'pipeline_full' | 'pipeline_error'; message: string };

/** Streams of a sender not seen for this long are forgotten (well past any export interval). */
const STREAM_TTL_MS = 30 * 60_000;

export class Intake {
  readonly #next: FlowConsumer;
  readonly #maxPending: number;
  readonly #refused: Counter<'receiver' | 'protocol' | 'reason'>;
  readonly #receiver: string;
  /** Cumulative → delta, one converter per sender (its resource). */
  readonly #converters = new Map<string, TemporalityConverter>();
  #pending = 0;

  constructor(receiver: string, next: FlowConsumer, maxPending: number, refused: Counter<'receiver' | 'protocol' | 'reason'>) {
    this.#receiver = receiver;
    this.#next = next;
    this.#maxPending = maxPending;
    this.#refused = refused;
  }

  /** Whether one more request may go into the pipeline now (checked before its body is read). */
  get full(): boolean {
    return this.#pending >= this.#maxPending;
  }

  refuse(protocol: 'http' | 'grpc', reason: RefusalReason): void {
    this.#refused.inc({ receiver: this.#receiver, protocol, reason });
  }

  /** Hands a request's flows to the pipeline; accepted once the pipeline has taken all of them. */
  async accept(protocol: 'http' | 'grpc', received: ReceivedBatch[]): Promise<IntakeResult> {
    if (this.full) {
      this.refuse(protocol, 'pipeline_full');
      return { accepted: false, reason: 'pipeline_full', message: `the pipeline is full (${this.#maxPending} requests in it): retry later` };
    }
    this.#pending++;
    try {
      const nowMs = Date.now();
      for (const r of received) {
        const flows = r.temporality === 'delta' ? r.flows : this.#toDeltas(r, nowMs);
        if (flows.length === 0) continue;
        const batch: FlowBatch = { flows, temporality: 'delta', resource: r.resource };
        await this.#next.consume(batch);
      }
      return { accepted: true };
    } catch (err) {
      this.refuse(protocol, 'pipeline_error');
      return { accepted: false, reason: 'pipeline_error', message: `the pipeline failed: ${(err as Error).message}` };
    } finally {
      this.#pending--;
    }
  }

  #toDeltas(received: ReceivedBatch, nowMs: number) {
    const key = seriesKeyOf(received.resource);
    let converter = this.#converters.get(key);
    if (!converter) {
      converter = new TemporalityConverter('delta', STREAM_TTL_MS);
      this.#converters.set(key, converter);
    }
    const flows = converter.convert(received, nowMs);
    // A sender whose every stream was forgotten is forgotten too.
    if (converter.size === 0) this.#converters.delete(key);
    return flows;
  }
}
