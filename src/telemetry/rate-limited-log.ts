// For failures that repeat every batch (an exporter down, a full queue): a person needs one line
// a minute, not one per batch.

export type LogLine = (fields: Record<string, unknown>, message: string) => void;

/** Logs the first event, then at most one line per period with how many were suppressed. */
export class RateLimitedLog {
  readonly #log: LogLine;
  readonly #periodMs: number;
  #lastMs = -Infinity;
  #suppressed = 0;

  /** `log` is e.g. `(f, m) => logger.error(f, m)`. */
  constructor(log: LogLine, periodMs = 60_000) {
    this.#log = log;
    this.#periodMs = periodMs;
  }

  emit(fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    if (now - this.#lastMs < this.#periodMs) {
      this.#suppressed++;
      return;
    }
    this.#log({ ...fields, suppressed: this.#suppressed }, message);
    this.#lastMs = now;
    this.#suppressed = 0;
  }
}
