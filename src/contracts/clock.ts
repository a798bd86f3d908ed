// Time for components that act on a schedule (the native receivers' reads, reduce's flushes).
// Injected through their constructors: production passes systemClock, tests a ManualClock
// (test/harness/manual-clock.ts) whose time moves only when the test says so.

export interface TimerOptions {
  keepAlive?: boolean;
}

export interface Clock {
  /** Wall-clock time in ms since the epoch. */
  nowMs(): number;
  /**
   * Calls `callback` after `delayMs`. A promise the callback returns is the work the timer
   * started (a ManualClock waits for it). The timer keeps the process alive only with
   * `keepAlive` (a receiver's schedule is what keeps podflow running).
   */
  setTimer(callback: () => void | Promise<void>, delayMs: number, options?: TimerOptions): unknown;
  clearTimer(handle: unknown): void;
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  setTimer(callback, delayMs, options) {
    const timer = setTimeout(callback, delayMs);
    return options?.keepAlive ? timer : timer.unref();
  },
  clearTimer(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};
