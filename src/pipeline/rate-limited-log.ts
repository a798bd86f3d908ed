import type { Logger } from 'pino';

/** Logs the first event, then at most one line per period with how many were suppressed. */
export class RateLimitedLog {
  readonly #logger: Logger;
  readonly #periodMs: number;
  #lastMs = -Infinity;
  #suppressed = 0;

  constructor(logger: Logger, periodMs: number) {
    this.#logger = logger;
    this.#periodMs = periodMs;
  }

  error(fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    if (now - this.#lastMs < this.#periodMs) {
      this.#suppressed++;
      return;
    }
    this.#logger.error({ ...fields, suppressed: this.#suppressed }, message);
    this.#lastMs = now;
    this.#suppressed = 0;
  }
}
