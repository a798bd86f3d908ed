// What every native receiver shares (conntrack, cilium, packet): it opens the receiver's Rust
// source (src/native/ NativeSource) and reads it every interval, never two reads at once, a
// failed read counted (`podflow_<type>_tick_errors_total`) and retried next interval, one last
// read at close so the final interval is not lost, then the source closed. Every minute it logs
// one line of what was read (flows, bytes, failed reads); a minute that read no byte at all says
// what to check (the receiver's `idleHints`). A receiver adds its options, its metrics and its
// log lines (`onBatch`).
import { unixNanoFromMs } from '../../model/flow.ts';
import type { Clock } from '../../contracts/clock.ts';
import { decodeBatch, NativeSource, type Sources, type SourceType, type TickStats } from '../../native/index.ts';
import type { ComponentContext, FlowConsumer } from '../../contracts/component.ts';
import { receiverMetrics } from './receiver-metrics.ts';

export interface NativeReadLoopOptions<T extends SourceType> {
  ctx: ComponentContext;
  next: FlowConsumer;
  /** The source's handle type, which also names the error counter. */
  type: T;
  intervalMs: number;
  /** When reads happen and the times the flows cover (systemClock in production). */
  clock: Clock;
  /** Bookkeeping after a batch is decoded (metrics, warnings), before it is passed on. */
  onBatch(stats: TickStats): void;
  /** What failed, for the log line: e.g. `conntrack: reading the table`. */
  readingWhat: string;
  /** What a person should check when a whole activity period read no byte (`last`: the last read's stats). */
  idleHints(last: TickStats | undefined): string[];
}

/** How often the activity line is logged. */
export const ACTIVITY_PERIOD_MS = 60_000;

interface Activity {
  flows: number;
  bytes: number;
  errors: number;
}

/** 123456789 → `117.7 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export class NativeReadLoop<T extends SourceType> {
  readonly #o: NativeReadLoopOptions<T>;
  readonly #errors;
  #source: NativeSource<T> | undefined;
  #timer: unknown;
  #activityTimer: unknown;
  #activity: Activity = { flows: 0, bytes: 0, errors: 0 };
  /** The current stretch of periods without a flow already got its warning. */
  #idleWarned = false;
  #lastStats: TickStats | undefined;
  #inFlight: Promise<void> | undefined;
  #lastReadUnixNano: bigint;
  #stopped = false;

  constructor(options: NativeReadLoopOptions<T>) {
    this.#o = options;
    this.#lastReadUnixNano = unixNanoFromMs(options.clock.nowMs());
    this.#errors = receiverMetrics(options.ctx.metrics).counter(`podflow_${options.type}_tick_errors_total`, 'Ticks that failed (the next tick retries)');
  }

  /** Opens the native source (throws NativeError when the Rust core refuses the options or cannot open it). */
  open(options: Sources[T]['options']): void {
    this.#source = NativeSource.open(this.#o.type, options);
  }

  get opened(): boolean {
    return this.#source !== undefined;
  }

  /** The source's status; undefined before open and after close. */
  status(): Sources[T]['status'] | undefined {
    return this.#source?.status();
  }

  /** Starts reading every interval (the first batch covers the time since construction). */
  start(): void {
    this.#schedule();
    this.#scheduleActivity();
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

  /** Stops the schedule, makes the last read and closes the source. */
  async close(): Promise<void> {
    this.#stopped = true;
    this.#o.clock.clearTimer(this.#timer);
    this.#o.clock.clearTimer(this.#activityTimer);
    if (!this.#source) return;
    await this.tickNow();
    this.#source.close();
    this.#source = undefined;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = this.#o.clock.setTimer(() => this.tickNow().finally(() => this.#schedule()), this.#o.intervalMs, { keepAlive: true });
  }

  #scheduleActivity(): void {
    if (this.#stopped) return;
    this.#activityTimer = this.#o.clock.setTimer(() => {
      this.#logActivity();
      this.#scheduleActivity();
    }, ACTIVITY_PERIOD_MS);
  }

  #logActivity(): void {
    const { ctx, type } = this.#o;
    const activity = this.#activity;
    this.#activity = { flows: 0, bytes: 0, errors: 0 };
    const fields = { ...activity, periodS: ACTIVITY_PERIOD_MS / 1000 };
    const line = `${type}: ${activity.flows} flows, ${formatBytes(activity.bytes)}, ${activity.errors} failed reads in the last ${fields.periodS}s`;
    if (activity.bytes > 0) {
      this.#idleWarned = false;
      ctx.logger.info(fields, line);
      return;
    }
    // Nothing read, or flows whose counters are all zero (conntrack accounting off, Cilium ≥ 1.16
    // without --bpf-conntrack-accounting): say what to check.
    const check = this.#o.idleHints(this.#lastStats);
    const message = `${line}; ${activity.flows === 0 ? 'no flow was read' : 'the flows carry no bytes'}: check ${check.join('; ')}`;
    // The first such minute warns; a node that stays quiet is told at info every minute after.
    if (this.#idleWarned) ctx.logger.info({ ...fields, check }, message);
    else ctx.logger.warn({ ...fields, check }, message);
    this.#idleWarned = true;
  }

  async #read(): Promise<void> {
    const o = this.#o;
    const source = this.#source;
    if (!source) return;
    let buf: Buffer;
    try {
      buf = await source.tick();
    } catch (e) {
      this.#errors.inc({ receiver: o.ctx.id });
      this.#activity.errors++;
      o.ctx.logger.error({ err: (e as Error).message }, `${o.readingWhat} failed; retrying next interval`);
      return;
    }
    const now = unixNanoFromMs(o.clock.nowMs());
    const { stats, flows } = decodeBatch(buf, this.#lastReadUnixNano, now);
    this.#lastReadUnixNano = now;
    this.#lastStats = stats;
    this.#activity.flows += flows.length;
    for (const f of flows) this.#activity.bytes += f.txBytes + f.rxBytes;
    o.onBatch(stats);
    if (flows.length > 0) await o.next.consume({ flows, temporality: 'delta' });
  }
}
