// What an HTTP answer means for the exporter queue, for the push protocols (OTLP/HTTP, remote
// write 1.0): 429 and 5xx may succeed later (retryable, honouring Retry-After); any other 4xx
// will not (permanent).
import { PermanentError, RetryableError } from '../../contracts/component.ts';

/** An HTTP status the push protocols say to retry: 429 and 5xx. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status <= 599);
}

/** Retry-After as milliseconds (delta-seconds or an HTTP date), or undefined. */
export function parseRetryAfterMs(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1_000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** The error `send` rejects with for an HTTP answer that is not a success. */
export function httpFailure(status: number, message: string, retryAfter?: string | null): Error {
  return isRetryableStatus(status) ? new RetryableError(message, parseRetryAfterMs(retryAfter)) : new PermanentError(message);
}
