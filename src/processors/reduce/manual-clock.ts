// A Clock for tests: time moves only when the test says so, and due timers run in order.
import type { Clock } from './clock.ts';

interface Timer { atMs: number; callback: () => void }

export class ManualClock implements Clock {
  #nowMs: number;
  #nextId = 1;
  readonly timers = new Map<number, Timer>();

  constructor(startMs: number) {
    this.#nowMs = startMs;
  }

  nowMs(): number {
    return this.#nowMs;
  }

  setTimer(callback: () => void, delayMs: number): unknown {
    const id = this.#nextId++;
    this.timers.set(id, { atMs: this.#nowMs + delayMs, callback });
    return id;
  }

  clearTimer(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** When the earliest pending timer is due, or undefined. */
  get nextTimerAtMs(): number | undefined {
    let earliest: number | undefined;
    for (const timer of this.timers.values()) if (earliest === undefined || timer.atMs < earliest) earliest = timer.atMs;
    return earliest;
  }

  /** Moves time forward by `ms`, running every timer that falls due on the way. */
  advance(ms: number): void {
    this.advanceTo(this.#nowMs + ms);
  }

  advanceTo(targetMs: number): void {
    for (;;) {
      let due: [number, Timer] | undefined;
      for (const entry of this.timers) if (entry[1].atMs <= targetMs && (!due || entry[1].atMs < due[1].atMs)) due = entry;
      if (!due) break;
      this.timers.delete(due[0]);
      this.#nowMs = Math.max(this.#nowMs, due[1].atMs);
      due[1].callback();
    }
    this.#nowMs = Math.max(this.#nowMs, targetMs);
  }
}
