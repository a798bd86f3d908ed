import test from 'ava';
import { z } from 'zod';
import { exporterHelperKeys, queueSettingsOf, replacedBy } from './exporter-helper.ts';

const schema = z.strictObject({
  ...exporterHelperKeys({ queue_size: 7, num_consumers: 2, max_num_consumers: 4, timeout: 3_000, max_elapsed_time: 60_000 }),
  old: replacedBy('sending_queue.queue_size', 'why'),
});

function issues(input: unknown): string[] {
  const r = schema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

test('defaults: the exporter\'s own, the rest the same for every exporter', (t) => {
  t.deepEqual(schema.parse({}), {
    sending_queue: { enabled: true, num_consumers: 2, queue_size: 7 },
    retry_on_failure: { enabled: true, initial_interval: 1_000, max_interval: 30_000, multiplier: 1.5, max_elapsed_time: 60_000 },
    timeout: 3_000,
  });
  const config = schema.parse({ sending_queue: { enabled: false }, retry_on_failure: { initial_interval: '5s', max_elapsed_time: 0 }, timeout: '250ms' });
  t.deepEqual(queueSettingsOf(config), {
    sending_queue: { enabled: false, num_consumers: 2, queue_size: 7 },
    retry_on_failure: { enabled: true, initial_interval: 5_000, max_interval: 30_000, multiplier: 1.5, max_elapsed_time: 0 },
    timeout: 250,
  });
});

test('bad values name the key', (t) => {
  t.deepEqual(issues({ sending_queue: { num_consumers: 5, queue_size: 0, blocking: true } }), [
    'sending_queue.num_consumers: Too big: expected number to be <=4',
    'sending_queue.queue_size: Too small: expected number to be >=1',
    'sending_queue: Unrecognized key: "blocking"',
  ]);
  t.deepEqual(issues({ retry_on_failure: { initial_interval: '10s', max_interval: '1s' } }), ['retry_on_failure: max_interval must be at least initial_interval']);
  t.deepEqual(issues({ retry_on_failure: { multiplier: 0.5 } }), ['retry_on_failure.multiplier: Too small: expected number to be >=1']);
  t.deepEqual(issues({ timeout: 0 }), ['timeout: duration must be at least 1ms']);
});

test('sending_queue.storage: file only where the exporter offers it', (t) => {
  t.deepEqual(issues({ sending_queue: { storage: 'file', directory: '/q' } }), [
    'sending_queue.storage: this exporter keeps its queue in memory only; storage: file is offered where a request sent again after a restart is recognised (postgres)',
  ]);
  t.deepEqual(issues({ sending_queue: { storage: 'memory' } }), []);
  const persistent = z.strictObject(exporterHelperKeys({ queue_size: 7, num_consumers: 1, max_num_consumers: 4, timeout: 1_000, max_elapsed_time: 0, file_storage: true }));
  t.deepEqual(queueSettingsOf(persistent.parse({ sending_queue: { storage: 'file', directory: '/var/lib/podflow/queue' } })).sending_queue, {
    enabled: true, num_consumers: 1, queue_size: 7, storage: 'file', directory: '/var/lib/podflow/queue',
  });
});

test('a replaced key is refused naming its replacement, beside the other problems', (t) => {
  t.deepEqual(issues({ old: 3, timeout: 'x' }), [
    'timeout: "x" is not a duration (use e.g. 500ms, 5s, 2m, 1h30m, 7d)',
    'old: no longer a key: use sending_queue.queue_size (why)',
  ]);
  t.deepEqual(issues({}), []);
});
