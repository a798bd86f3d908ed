// The schedule every native receiver shares (conntrack, cilium, packet): read the Rust source
// every interval, never two reads at once, a failed read counted and retried next interval,
// one last read at shutdown so the final interval is not lost.
import type { Counter } from 'prom-client';
import { nowUnixNano } from '../../model/flow.ts';
import { decodeBatch, type TickStats } from '../../native/index.ts';
import type { ComponentContext, FlowConsumer } from '../../contracts/component.ts';

export interface NativeReadLoopOptions {
  ctx: ComponentContext;
  next: FlowConsumer;
  intervalMs: number;
  /** One read of the native source (NativeSource.tick): a packed batch; undefined once closed. */
  read(): Promise<Buffer> | undefined;
  /** Bookkeeping after a batch is decoded (metrics, warnings), before it is passed on. */
  onBatch(stats: TickStats): void;
  /** What failed, for the log line: e.g. `conntrack: reading the table`. */
  readingWhat: string;
  /** Counts failed reads, labelled by receiver id. */
  errors: Counter<'receiver'>;
}

export class NativeReadLoop {
  readonly #o: NativeReadLoopOptions;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #lastReadUnixNano = nowUnixNano();
  #stopped = false;

  constructor(options: NativeReadLoopOptions) {
    this.#o = options;
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
    clearTimeout(this.#timer);
    await this.tickNow();
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.tickNow().finally(() => this.#schedule());
    }, this.#o.intervalMs);
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
    const now = nowUnixNano();
    const { stats, flows } = decodeBatch(buf, this.#lastReadUnixNano, now);
    this.#lastReadUnixNano = now;
    o.onBatch(stats);
    if (flows.length > 0) await o.next.consume({ flows, temporality: 'delta' });
  }
}
