// A Clock for tests: time moves only when the test says so, and due timers run in order.
// Timers run on a monotonic time, as Node's do; the wall clock can also be stepped (NTP, VM
// resume) without moving the timers.
import type { Clock } from '../../src/contracts/clock.ts';

interface Timer { atMonoMs: number; callback: () => void | Promise<void> }

export class ManualClock implements Clock {
  #monoMs = 0;
  #wallOffsetMs: number;
  #nextId = 1;
  readonly timers = new Map<number, Timer>();

  constructor(startMs: number) {
    this.#wallOffsetMs = startMs;
  }

  nowMs(): number {
    return this.#monoMs + this.#wallOffsetMs;
  }

  /** Timers run only when the test advances time; `keepAlive` does not matter here. */
  setTimer(callback: () => void | Promise<void>, delayMs: number): unknown {
    const id = this.#nextId++;
    this.timers.set(id, { atMonoMs: this.#monoMs + delayMs, callback });
    return id;
  }

  clearTimer(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Wall-clock time at which the earliest pending timer fires (if the wall clock is not stepped), or undefined. */
  get nextTimerAtMs(): number | undefined {
    let earliest: number | undefined;
    for (const timer of this.timers.values()) if (earliest === undefined || timer.atMonoMs < earliest) earliest = timer.atMonoMs;
    return earliest === undefined ? undefined : earliest + this.#wallOffsetMs;
  }

  /** Steps the wall clock by `deltaMs` (negative: backwards) without moving timers. */
  stepWall(deltaMs: number): void {
    this.#wallOffsetMs += deltaMs;
  }

  /**
   * Moves time forward by `ms`, running every timer that falls due on the way (synchronously, in
   * order). Resolves once the work those timers started has settled. A timer that a callback
   * sets only after its work settled is not run by this call, even when it falls due on the way.
   */
  advance(ms: number): Promise<void> {
    const target = this.#monoMs + ms;
    const work: Array<void | Promise<void>> = [];
    for (;;) {
      let due: [number, Timer] | undefined;
      for (const entry of this.timers) if (entry[1].atMonoMs <= target && (!due || entry[1].atMonoMs < due[1].atMonoMs)) due = entry;
      if (!due) break;
      this.timers.delete(due[0]);
      this.#monoMs = Math.max(this.#monoMs, due[1].atMonoMs);
      work.push(due[1].callback());
    }
    this.#monoMs = target;
    return Promise.all(work).then(() => undefined);
  }

  /** Moves the wall clock forward to `wallMs`, running due timers (see advance). */
  advanceTo(wallMs: number): Promise<void> {
    return this.advance(Math.max(0, wallMs - this.nowMs()));
  }
}
