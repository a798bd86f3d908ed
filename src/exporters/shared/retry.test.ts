import test from 'ava';
import { isRetryableStatus, parseRetryAfterMs, retryOnFailureSchema, sendWithRetry, type AttemptResult } from './retry.ts';

const never = new AbortController().signal;

test('retryable statuses: 429 and 5xx only', (t) => {
  t.deepEqual([200, 400, 401, 404, 413, 429, 500, 502, 503, 504, 599].filter(isRetryableStatus), [429, 500, 502, 503, 504, 599]);
});

test('Retry-After: seconds or an HTTP date', (t) => {
  t.is(parseRetryAfterMs('3'), 3_000);
  t.is(parseRetryAfterMs(null), undefined);
  t.is(parseRetryAfterMs('soon'), undefined);
  const ms = parseRetryAfterMs(new Date(Date.now() + 10_000).toUTCString())!;
  t.true(ms > 8_000 && ms <= 10_000, String(ms));
});

test('gives up after max_elapsed_time, counting attempts', async (t) => {
  const policy = retryOnFailureSchema.parse({ initial_interval: '10ms', max_interval: '20ms', max_elapsed_time: '100ms' });
  let attempts = 0;
  let retries = 0;
  const failing = async (): Promise<AttemptResult> => (attempts++, { ok: false, retryable: true, error: new Error('HTTP 503') });
  const err = await t.throwsAsync(sendWithRetry(failing, policy, never, () => retries++), { message: /HTTP 503 \(gave up after \d+ attempt/ });
  t.true(attempts >= 4 && attempts <= 12, String(attempts));
  t.is(retries, attempts - 1);
  t.is((err as unknown as { attempts: number }).attempts, attempts);
});

test('disabled: one attempt only', async (t) => {
  const policy = retryOnFailureSchema.parse({ enabled: false });
  let attempts = 0;
  await t.throwsAsync(sendWithRetry(async () => (attempts++, { ok: false, retryable: true, error: new Error('down') }), policy, never));
  t.is(attempts, 1);
});

test('defaults follow the Collector', (t) => {
  t.deepEqual(retryOnFailureSchema.parse(undefined), { enabled: true, initial_interval: 1_000, max_interval: 30_000, multiplier: 1.5, max_elapsed_time: 300_000 });
});
