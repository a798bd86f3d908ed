import test from 'ava';
import { systemClock } from './clock.ts';

test('the system clock timer does not keep the process alive', (t) => {
  const handle = systemClock.setTimer(() => {}, 60_000) as NodeJS.Timeout;
  t.false(handle.hasRef());
  systemClock.clearTimer(handle);
});

test('a keepAlive timer does (a receiver schedule keeps podflow running)', (t) => {
  const handle = systemClock.setTimer(() => {}, 60_000, { keepAlive: true }) as NodeJS.Timeout;
  t.true(handle.hasRef());
  systemClock.clearTimer(handle);
});
