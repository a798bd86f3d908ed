// Time for the reducer: injected so tests can step through intervals without waiting.

export interface Clock {
  nowMs(): number;
  /** Calls `callback` after `delayMs`; the timer must not keep the process alive. */
  setTimer(callback: () => void, delayMs: number): unknown;
  clearTimer(handle: unknown): void;
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  setTimer(callback, delayMs) {
    return setTimeout(callback, delayMs).unref();
  },
  clearTimer(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

/** The first multiple of `intervalMs` since the epoch that is later than `ms`. */
export function nextBoundaryMs(ms: number, intervalMs: number): number {
  return (Math.floor(ms / intervalMs) + 1) * intervalMs;
}
