// Retry with exponential backoff, shared by the push exporters (otlp, prometheus_remote_write).
// The keys and defaults follow the OpenTelemetry Collector's exporterhelper `retry_on_failure`.
import { z } from 'zod';
import { durationMs } from '../../config/units.ts';

export const retryOnFailureSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** Wait before the first retry. */
    initial_interval: durationMs({ min: 1 }).default(1_000),
    /** Upper bound of one wait. */
    max_interval: durationMs({ min: 1 }).default(30_000),
    /** Growth of the wait after each retry. */
    multiplier: z.number().min(1).max(10).default(1.5),
    /** Give up after this long since the first attempt; 0 = retry until the queue's deadline. */
    max_elapsed_time: durationMs({ min: 0 }).default(300_000),
  })
  .default({ enabled: true, initial_interval: 1_000, max_interval: 30_000, multiplier: 1.5, max_elapsed_time: 300_000 });

export type RetryOnFailure = z.infer<typeof retryOnFailureSchema>;

/** A batch may take every retry plus its last request (and a margin) before the queue aborts it. */
export function exportDeadlineMs(maxElapsedMs: number, requestTimeoutMs: number): number {
  return maxElapsedMs === 0 ? 24 * 3_600_000 : maxElapsedMs + requestTimeoutMs + 1_000;
}

/** What one attempt ended with. `retryAfterMs` comes from a Retry-After header. */
export type AttemptResult =
  | { ok: true }
  | { ok: false; retryable: boolean; error: Error; retryAfterMs?: number };

/** Thrown when a send gives up; `attempts` counts every try including the first. */
export class SendFailedError extends Error {
  readonly attempts: number;
  constructor(message: string, attempts: number, cause: Error) {
    super(message, { cause });
    this.name = 'SendFailedError';
    this.attempts = attempts;
  }
}

/** Resolves after `ms`, or rejects as soon as `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('export aborted');
}

/** An HTTP status the push protocols (OTLP/HTTP, remote write 1.0) say to retry: 429 and 5xx. */
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

/**
 * Runs `attempt` until it succeeds, fails permanently, the retry budget is spent or `signal`
 * aborts. `onRetry` is told before each wait (for the retries self-metric and a log line).
 */
export async function sendWithRetry(
  attempt: () => Promise<AttemptResult>,
  policy: RetryOnFailure,
  signal: AbortSignal,
  onRetry: (error: Error, waitMs: number, attempts: number) => void = () => {},
): Promise<void> {
  const startedMs = Date.now();
  let waitMs = policy.initial_interval;
  for (let attempts = 1; ; attempts++) {
    if (signal.aborted) throw abortError(signal);
    const result = await attempt();
    if (result.ok) return;
    if (!result.retryable || !policy.enabled) {
      throw new SendFailedError(`${result.error.message} (not retryable, ${attempts} attempt(s))`, attempts, result.error);
    }
    // Jitter (±20%) keeps a fleet of agents from retrying in lock-step against one backend.
    const jittered = Math.min(waitMs, policy.max_interval) * (0.8 + Math.random() * 0.4);
    const nextWaitMs = Math.max(result.retryAfterMs ?? 0, jittered);
    if (policy.max_elapsed_time > 0 && Date.now() + nextWaitMs - startedMs > policy.max_elapsed_time) {
      throw new SendFailedError(`${result.error.message} (gave up after ${attempts} attempt(s))`, attempts, result.error);
    }
    onRetry(result.error, nextWaitMs, attempts);
    await sleep(nextWaitMs, signal);
    waitMs = Math.min(waitMs * policy.multiplier, policy.max_interval);
  }
}
