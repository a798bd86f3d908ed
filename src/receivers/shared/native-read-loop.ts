// The schedule every native receiver shares (conntrack, cilium, packet): read the Rust source
// every interval, never two reads at once, a failed read counted and retried next interval,
// one last read at shutdown so the final interval is not lost.
import type { Counter } from 'prom-client';
import { unixNanoFromMs } from '../../model/flow.ts';
import { decodeBatch, type TickStats } from '../../native/records.ts';
import type { Clock } from '../../contracts/clock.ts';
import type { ComponentContext, FlowConsumer } from '../../contracts/component.ts';

export interface NativeReadLoopOptions {
  ctx: ComponentContext;
  next: FlowConsumer;
  intervalMs: number;
  /** When reads happen and the times the flows cover (systemClock in production). */
  clock: Clock;
  /** One read of the native source: a packed batch (src/native/records.ts); undefined once closed. */
  read(): Promise<Buffer> | undefined;
  /** Bookkeeping after a batch is decoded (metrics, warnings), before it is passed on. */
  onBatch(buf: Buffer, stats: TickStats): void;
  /** What failed, for the log line: e.g. `conntrack: reading the table`. */
  readingWhat: string;
  /** Counts failed reads, labelled by receiver id. */
  errors: Counter<'receiver'>;
}

export class NativeReadLoop {
  readonly #o: NativeReadLoopOptions;
  #timer: unknown;
  #inFlight: Promise<void> | undefined;
  #lastReadUnixNano: bigint;
  #stopped = false;

  constructor(options: NativeReadLoopOptions) {
    this.#o = options;
    this.#lastReadUnixNano = unixNanoFromMs(options.clock.nowMs());
  }

  /** Starts reading every interval (the first batch covers the time since construction). */
  start(): void {
    this.#schedule();
  }

  /** Reads now and emits what was counted since the previous read (reads never overlap). */
  async tickNow(): Promise<void> {
    while (this.#inFlight) await this.#inFlight;
    const run = this.#read();
    this.#inFlight = run;
    try {
      await run;
    } finally {
      this.#inFlight = undefined;
    }
  }

  /** Stops the schedule and makes the last read. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#o.clock.clearTimer(this.#timer);
    await this.tickNow();
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = this.#o.clock.setTimer(() => this.tickNow().finally(() => this.#schedule()), this.#o.intervalMs, { keepAlive: true });
  }

  async #read(): Promise<void> {
    const o = this.#o;
    let buf: Buffer | undefined;
    try {
      buf = await o.read();
    } catch (e) {
      o.errors.inc({ receiver: o.ctx.id });
      o.ctx.logger.error({ err: (e as Error).message }, `${o.readingWhat} failed; retrying next interval`);
      return;
    }
    if (buf === undefined) return;
    const now = unixNanoFromMs(o.clock.nowMs());
    const { stats, flows } = decodeBatch(buf, this.#lastReadUnixNano, now);
    this.#lastReadUnixNano = now;
    o.onBatch(buf, stats);
    if (flows.length > 0) await o.next.consume({ flows, temporality: 'delta' });
  }
}
