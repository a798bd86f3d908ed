// For failures that repeat every batch (an exporter down, a full queue): a person needs one line
// a minute, not one per batch.
import { type Clock, systemClock } from '../contracts/clock.ts';

export type LogLine = (fields: Record<string, unknown>, message: string) => void;

/** Logs the first event, then at most one line per period with how many were suppressed. */
export class RateLimitedLog {
  readonly #log: LogLine;
  readonly #periodMs: number;
  readonly #clock: Clock;
  #lastMs = -Infinity;
  #suppressed = 0;

  /** `log` is e.g. `(f, m) => logger.error(f, m)`. */
  constructor(log: LogLine, periodMs = 60_000, clock: Clock = systemClock) {
    this.#log = log;
    this.#periodMs = periodMs;
    this.#clock = clock;
  }

  emit(fields: Record<string, unknown>, message: string): void {
    const now = this.#clock.nowMs();
    if (now - this.#lastMs < this.#periodMs) {
      this.#suppressed++;
      return;
    }
    this.#log({ ...fields, suppressed: this.#suppressed }, message);
    this.#lastMs = now;
    this.#suppressed = 0;
  }
}
