import test from 'ava';
import { PermanentError, RetryableError } from '../../contracts/component.ts';
import { httpFailure, isRetryableStatus, parseRetryAfterMs } from './http-status.ts';

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

test('an HTTP failure is permanent for 4xx, retryable with its Retry-After for 429 and 5xx', (t) => {
  const bad = httpFailure(400, 'HTTP 400: no');
  t.true(bad instanceof PermanentError);
  t.is(bad.message, 'HTTP 400: no');
  const busy = httpFailure(429, 'HTTP 429', '2');
  t.true(busy instanceof RetryableError);
  t.is((busy as RetryableError).retryAfterMs, 2_000);
  t.is((httpFailure(503, 'HTTP 503') as RetryableError).retryAfterMs, undefined);
});
