// The exporter queue: queue bound, consumers, retry and backoff, timeouts, batching hooks, drain.
// The exporter side is a scripted one: each attempt's outcome is given by the test.
import test from 'ava';
import pino from 'pino';
import { type Clock, systemClock } from '../contracts/clock.ts';
import { PermanentError, RetryableError, type Exporter, type ExporterQueueSettings, type ExportRequest } from '../contracts/component.ts';
import type { Flow, FlowBatch } from '../model/index.ts';
import { SelfMetrics } from '../telemetry/self-metrics.ts';
import { ExporterQueue } from './exporter-queue.ts';

const silent = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Req extends ExportRequest {
  id: number;
  flowCount: number;
  /** For the batching hook: when it is due (ms since the epoch). */
  dueAtMs?: number;
}

type Outcome = 'ok' | 'hang' | Error;

/** Each batch becomes one request of its flows; each attempt takes the next scripted outcome. */
class Scripted implements Exporter<Req> {
  readonly outcomes: Outcome[] = [];
  readonly attempts: Array<{ id: number; atMs: number }> = [];
  readonly delivered: number[] = [];
  sendMs = 0;
  active = 0;
  maxActive = 0;
  nextId = 0;
  async start(): Promise<void> {}
  async shutdown(): Promise<void> {}
  toRequests(batch: FlowBatch): Req[] | Promise<Req[]> {
    return [{ id: this.nextId++, flowCount: batch.flows.length }];
  }
  async send(request: Req, signal: AbortSignal): Promise<void> {
    this.attempts.push({ id: request.id, atMs: Date.now() });
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      const outcome = this.outcomes.shift() ?? 'ok';
      if (outcome === 'hang') await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      if (this.sendMs > 0) await sleep(this.sendMs);
      if (outcome instanceof Error) throw outcome;
      this.delivered.push(request.id);
    } finally {
      this.active--;
    }
  }
}

function settings(over: { queue?: Partial<ExporterQueueSettings['sending_queue']>; retry?: Partial<ExporterQueueSettings['retry_on_failure']>; timeout?: number } = {}): ExporterQueueSettings {
  return {
    sending_queue: { enabled: true, num_consumers: 1, queue_size: 100, ...over.queue },
    retry_on_failure: { enabled: true, initial_interval: 10, max_interval: 40, multiplier: 2, max_elapsed_time: 0, ...over.retry },
    timeout: over.timeout ?? 5_000,
  };
}

function batchOf(flows: number): FlowBatch {
  const flow: Flow = { startTimeUnixNano: 0n, timeUnixNano: 1n, attributes: {}, txBytes: 1, rxBytes: 1, txPackets: 1, rxPackets: 1, connections: 1 };
  return { temporality: 'delta', flows: Array.from({ length: flows }, () => ({ ...flow })) };
}

/** A clock whose timers fire at once, advancing its time by their delay: it keeps the waits asked for. */
class InstantClock implements Clock {
  #now = 0;
  readonly delaysMs: number[] = [];
  nowMs(): number {
    return this.#now;
  }
  setTimer(callback: () => void, delayMs: number): unknown {
    this.delaysMs.push(delayMs);
    this.#now += delayMs;
    return setImmediate(callback);
  }
  clearTimer(handle: unknown): void {
    clearImmediate(handle as NodeJS.Immediate);
  }
}

function setup(s: ExporterQueueSettings, exporter = new Scripted(), clock: Clock = systemClock) {
  const metrics = new SelfMetrics();
  const queue = new ExporterQueue('test', exporter, s, metrics, silent, clock);
  const value = async (name: string) => (await metrics.registry.getSingleMetric(name)!.get()).values.find((v) => v.labels.exporter === 'test')?.value ?? 0;
  return { exporter, queue, metrics, value };
}

test('overflow drops the oldest waiting request, counted as enqueue failed and send failed', async (t) => {
  const { exporter, queue, value } = setup(settings({ queue: { queue_size: 3 }, timeout: 150 }));
  exporter.outcomes.push('hang'); // request 0's first attempt hangs until its timeout, then it is retried
  for (let n = 1; n <= 6; n++) await queue.consume(batchOf(n)); // requests 0..5 of 1..6 flows
  t.is(await value('podflow_exporter_queue_size'), 3);
  t.is(await value('podflow_exporter_queue_capacity'), 3);
  // 0 in flight; 1..5 arrived while 3 may wait: 1 and 2 (2 + 3 flows) were dropped, oldest first
  t.is(await value('podflow_exporter_enqueue_failed_flows_total'), 2 + 3);
  t.true(await queue.drain(Date.now() + 5_000));
  t.deepEqual(exporter.delivered, [0, 3, 4, 5]);
  t.is(await value('podflow_exporter_sent_flows_total'), 1 + 4 + 5 + 6);
  t.is(await value('podflow_exporter_send_failed_flows_total'), 2 + 3);
});

test('num_consumers requests are sent at once, never more', async (t) => {
  for (const consumers of [1, 3]) {
    const exporter = new Scripted();
    exporter.sendMs = 30;
    const { queue, value } = setup(settings({ queue: { num_consumers: consumers } }), exporter);
    for (let i = 0; i < 9; i++) await queue.consume(batchOf(1));
    t.true(await queue.drain(Date.now() + 5_000));
    t.is(exporter.maxActive, consumers);
    t.is(exporter.delivered.length, 9);
    t.is(await value('podflow_exporter_sent_flows_total'), 9);
  }
});

test('retryable failures: retried with waits growing by multiplier, jittered, bounded by max_interval', async (t) => {
  const clock = new InstantClock();
  const { exporter, queue, value } = setup(settings({ retry: { initial_interval: 40, max_interval: 100, multiplier: 2 } }), new Scripted(), clock);
  exporter.outcomes.push(new Error('down'), new Error('down'), new Error('down'), new Error('down'));
  await queue.consume(batchOf(7));
  t.true(await queue.drain(Date.now() + 5_000));
  t.deepEqual(exporter.delivered, [0]);
  t.is(await value('podflow_exporter_retries_total'), 4);
  t.is(await value('podflow_exporter_sent_flows_total'), 7);
  t.is(await value('podflow_exporter_send_failed_flows_total'), 0);
  // intervals 40, 80, 100 (capped), 100; each wait in [0.5, 1.5] x interval, never above max_interval
  const intervals = [40, 80, 100, 100];
  t.is(clock.delaysMs.length, 4);
  clock.delaysMs.forEach((w, i) => t.true(w >= intervals[i]! * 0.5 && w <= Math.min(100, intervals[i]! * 1.5), `wait ${i}: ${w} ms`));
});

test('a PermanentError is not retried; its flows are counted failed', async (t) => {
  const { exporter, queue, value } = setup(settings());
  exporter.outcomes.push(new PermanentError('HTTP 400'));
  await queue.consume(batchOf(5));
  await queue.consume(batchOf(2));
  t.true(await queue.drain(Date.now() + 5_000));
  t.deepEqual(exporter.attempts.map((a) => a.id), [0, 1]);
  t.is(await value('podflow_exporter_retries_total'), 0);
  t.is(await value('podflow_exporter_send_failed_flows_total'), 5);
  t.is(await value('podflow_exporter_sent_flows_total'), 2);
});

test('retry disabled: one attempt only', async (t) => {
  const { exporter, queue, value } = setup(settings({ retry: { enabled: false } }));
  exporter.outcomes.push(new Error('down'));
  await queue.consume(batchOf(3));
  t.true(await queue.drain(Date.now() + 5_000));
  t.is(exporter.attempts.length, 1);
  t.is(await value('podflow_exporter_send_failed_flows_total'), 3);
});

test('gives up after max_elapsed_time, counting attempts', async (t) => {
  const { exporter, queue, value } = setup(settings({ retry: { initial_interval: 10, max_interval: 20, multiplier: 1.5, max_elapsed_time: 100 } }));
  exporter.outcomes.push(...Array.from({ length: 100 }, () => new Error('HTTP 503')));
  const started = Date.now();
  await queue.consume(batchOf(4));
  t.true(await queue.drain(Date.now() + 5_000));
  const attempts = exporter.attempts.length;
  t.true(attempts >= 4 && attempts <= 14, String(attempts));
  // no wait planned past max_elapsed_time (timers may fire late on a loaded machine: a margin)
  t.true(exporter.attempts.at(-1)!.atMs - started <= 100 + 150, 'no attempt after max_elapsed_time');
  t.is(await value('podflow_exporter_retries_total'), attempts - 1);
  t.is(await value('podflow_exporter_send_failed_flows_total'), 4);
});

test('Retry-After is honoured over a shorter backoff', async (t) => {
  const { exporter, queue } = setup(settings({ retry: { initial_interval: 5, max_interval: 10 } }));
  exporter.outcomes.push(new RetryableError('HTTP 429', 150));
  await queue.consume(batchOf(1));
  t.true(await queue.drain(Date.now() + 5_000));
  t.true(exporter.attempts[1]!.atMs - exporter.attempts[0]!.atMs >= 148);
});

test('an attempt that does not settle within timeout is aborted and retried', async (t) => {
  const { exporter, queue, value } = setup(settings({ timeout: 50 }));
  exporter.outcomes.push('hang', 'hang');
  await queue.consume(batchOf(2));
  t.true(await queue.drain(Date.now() + 5_000));
  t.is(exporter.attempts.length, 3);
  t.true(exporter.attempts[1]!.atMs - exporter.attempts[0]!.atMs >= 50);
  t.deepEqual(exporter.delivered, [0]);
  t.is(await value('podflow_exporter_retries_total'), 2);
});

test('a failed request keeps its place: with one consumer it is retried before anything newer is sent', async (t) => {
  const { exporter, queue } = setup(settings());
  exporter.outcomes.push(new Error('down'), new Error('down'));
  for (let i = 0; i < 3; i++) await queue.consume(batchOf(1));
  t.true(await queue.drain(Date.now() + 5_000));
  t.deepEqual(exporter.attempts.map((a) => a.id), [0, 0, 0, 1, 2]);
  t.deepEqual(exporter.delivered, [0, 1, 2]);
});

/** Batches add to the newest waiting request until it holds `max` flows; due when full or `waitMs` after it opened. */
class Batching extends Scripted {
  readonly max: number;
  readonly waitMs: number;
  constructor(max: number, waitMs: number) {
    super();
    this.max = max;
    this.waitMs = waitMs;
  }
  override toRequests(batch: FlowBatch, open?: Req): Req[] {
    const made: Req[] = [];
    let left = batch.flows.length;
    while (left > 0) {
      let tail = made.at(-1) ?? open;
      if (!tail || tail.flowCount >= this.max) made.push((tail = { id: this.nextId++, flowCount: 0, dueAtMs: Date.now() + this.waitMs }));
      const take = Math.min(left, this.max - tail.flowCount);
      tail.flowCount += take;
      left -= take;
    }
    return made;
  }
  dueAtMs(request: Req): number {
    return request.flowCount >= this.max ? 0 : request.dueAtMs!;
  }
}

test('batching: flows fill the newest waiting request; it is due when full, when a newer one is behind it, or at its due time', async (t) => {
  const exporter = new Batching(3, 300);
  const { queue, value } = setup(settings(), exporter);
  await queue.consume(batchOf(2));
  await sleep(50);
  t.deepEqual(exporter.attempts, [], 'not full, not due');
  await queue.consume(batchOf(4)); // fills request 0 (3), request 1 gets 3: full
  await sleep(50);
  t.deepEqual(exporter.delivered, [0, 1]);
  await queue.consume(batchOf(1)); // request 2: waits for its due time
  await sleep(100);
  t.deepEqual(exporter.delivered, [0, 1]);
  await sleep(300);
  t.deepEqual(exporter.delivered, [0, 1, 2]);
  // drain sends what waits, due or not
  await queue.consume(batchOf(2));
  t.true(await queue.drain(Date.now() + 5_000));
  t.deepEqual(exporter.delivered, [0, 1, 2, 3]);
  t.is(await value('podflow_exporter_sent_flows_total'), 9);
});

test('drain at the deadline aborts attempts in flight and counts what is left as failed', async (t) => {
  const { exporter, queue, value } = setup(settings());
  exporter.outcomes.push('hang');
  for (let i = 0; i < 3; i++) await queue.consume(batchOf(10));
  const started = Date.now();
  t.false(await queue.drain(Date.now() + 100));
  t.true(Date.now() - started < 1_000);
  await sleep(10);
  t.is(await value('podflow_exporter_send_failed_flows_total'), 30);
  t.is(await value('podflow_exporter_queue_size'), 0);
  // a batch after the deadline is counted failed, not queued
  await queue.consume(batchOf(4));
  t.is(await value('podflow_exporter_send_failed_flows_total'), 34);
});

test('a retry wait is cut short by the drain deadline', async (t) => {
  const { exporter, queue, value } = setup(settings({ retry: { initial_interval: 10_000, max_interval: 10_000 } }));
  exporter.outcomes.push(new Error('down'));
  await queue.consume(batchOf(3));
  const started = Date.now();
  t.false(await queue.drain(Date.now() + 100));
  await sleep(10);
  t.true(Date.now() - started < 1_000);
  t.is(await value('podflow_exporter_send_failed_flows_total'), 3);
});

test('sending_queue disabled: consume waits until the batch is sent, retries included', async (t) => {
  const { exporter, queue, value } = setup(settings({ queue: { enabled: false } }));
  exporter.outcomes.push(new Error('down'));
  await queue.consume(batchOf(2));
  t.deepEqual(exporter.delivered, [0]);
  t.is(exporter.attempts.length, 2);
  t.is(await value('podflow_exporter_sent_flows_total'), 2);
  t.is(await value('podflow_exporter_queue_capacity'), 0);
});

test('a batch the exporter refuses is counted failed; the next one goes on', async (t) => {
  const exporter = new Scripted();
  const convert = exporter.toRequests.bind(exporter);
  exporter.toRequests = (batch) => {
    if (batch.flows.length === 13) throw new Error('unlucky');
    return convert(batch);
  };
  const { queue, value } = setup(settings(), exporter);
  await queue.consume(batchOf(13));
  await queue.consume(batchOf(2));
  t.true(await queue.drain(Date.now() + 5_000));
  t.is(await value('podflow_exporter_send_failed_flows_total'), 13);
  t.is(await value('podflow_exporter_sent_flows_total'), 2);
});

test('conversions run one at a time, in the order batches came, even when asynchronous', async (t) => {
  const exporter = new Scripted();
  const order: number[] = [];
  exporter.toRequests = async (batch) => {
    order.push(batch.flows.length);
    await sleep(batch.flows.length === 1 ? 40 : 1);
    order.push(-batch.flows.length);
    return [{ id: exporter.nextId++, flowCount: batch.flows.length }];
  };
  const { queue } = setup(settings(), exporter);
  await Promise.all([queue.consume(batchOf(1)), queue.consume(batchOf(2)), queue.consume(batchOf(3))]);
  t.true(await queue.drain(Date.now() + 5_000));
  t.deepEqual(order, [1, -1, 2, -2, 3, -3]);
  t.deepEqual(exporter.delivered, [0, 1, 2]);
});
