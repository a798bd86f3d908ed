// The exporter queue with sending_queue.storage: file: what a shutdown deadline leaves waits in
// the log for the next start, a batching exporter's grown request is logged as it grew, overflow
// and delivery take requests out of the log.
import test from 'ava';
import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { Exporter, ExporterQueueSettings, ExportRequest, RequestCodec } from '../contracts/component.ts';
import type { Flow, FlowBatch } from '../model/index.ts';
import { SelfMetrics } from '../telemetry/self-metrics.ts';
import { ExporterQueue } from './exporter-queue.ts';

const silent = pino({ level: 'silent' });

/** A request is the list of flow numbers it carries; it grows up to `maxFlows` (like postgres rows). */
interface Numbers extends ExportRequest {
  numbers: number[];
  flowCount: number;
}

const codec: RequestCodec<Numbers> = {
  encode: (r) => Buffer.from(JSON.stringify(r.numbers)),
  decode: (bytes) => {
    const numbers = JSON.parse(Buffer.from(bytes).toString()) as number[];
    return { numbers, flowCount: numbers.length };
  },
};

class Batching implements Exporter<Numbers> {
  readonly requestCodec = codec;
  readonly delivered: number[][] = [];
  /** While true every attempt fails (the backend is down). */
  down = false;
  readonly maxFlows: number;
  constructor(maxFlows: number) {
    this.maxFlows = maxFlows;
  }
  async start(): Promise<void> {}
  async shutdown(): Promise<void> {}
  toRequests(batch: FlowBatch, open: Numbers | undefined): Numbers[] {
    const created: Numbers[] = [];
    let tail = open;
    for (const f of batch.flows) {
      if (!tail || tail.flowCount >= this.maxFlows) created.push((tail = { numbers: [], flowCount: 0 }));
      tail.numbers.push(f.txBytes);
      tail.flowCount++;
    }
    return created;
  }
  dueAtMs(r: Numbers): number {
    return r.flowCount >= this.maxFlows ? 0 : Date.now() + 60_000;
  }
  async send(r: Numbers): Promise<void> {
    if (this.down) throw new Error('backend down');
    this.delivered.push([...r.numbers]);
  }
}

function settings(directory: string, queue_size = 100): ExporterQueueSettings {
  return {
    sending_queue: { enabled: true, num_consumers: 1, queue_size, storage: 'file', directory },
    retry_on_failure: { enabled: true, initial_interval: 5, max_interval: 10, multiplier: 2, max_elapsed_time: 0 },
    timeout: 1_000,
  };
}

/** Numbers the flows (the tests that use it run one at a time). */
let counter = 0;
function batchOf(count: number): FlowBatch {
  const flows: Flow[] = Array.from({ length: count }, () => ({ startTimeUnixNano: 0n, timeUnixNano: 1n, attributes: {}, txBytes: counter++, rxBytes: 0, txPackets: 1, rxPackets: 0, connections: 0 }));
  return { temporality: 'delta', flows };
}

function queueOf(directory: string, exporter: Batching, queue_size = 100) {
  const metrics = new SelfMetrics();
  const queue = new ExporterQueue('postgres/main', exporter, settings(directory, queue_size), metrics, silent);
  const value = async (name: string) => (await metrics.registry.getSingleMetric(name)!.get()).values.find((v) => v.labels.exporter === 'postgres/main')?.value ?? 0;
  return { queue, value };
}

test.serial('a drain cut short keeps what is left in the log; the next start sends it, grown requests whole', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'podflow-fq-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  counter = 0;
  const down = new Batching(3);
  down.down = true;
  const first = queueOf(dir, down);
  await first.queue.open();
  // 1 + 1 + 2 + 3 flows: requests [0,1,2] [3,4,5] [6] (the last one grew batch by batch)
  for (const n of [1, 1, 2, 3]) await first.queue.consume(batchOf(n));
  t.false(await first.queue.drain(Date.now() + 100));
  t.deepEqual(down.delivered, []);
  t.is(await first.value('podflow_exporter_send_failed_flows_total'), 0, 'kept, not failed');
  t.true(statSync(ExporterQueue.journalPath(dir, 'postgres/main')).size > 0);
  t.is(ExporterQueue.journalPath(dir, 'postgres/main'), join(dir, 'postgres%2Fmain.queue'));

  const up = new Batching(3);
  const second = queueOf(dir, up);
  await second.queue.open();
  await second.queue.consume(batchOf(2)); // the restored [6] is the newest waiting request: it grows to [6, 7, 8]
  t.true(await second.queue.drain(Date.now() + 5_000));
  t.deepEqual(up.delivered, [[0, 1, 2], [3, 4, 5], [6, 7, 8]]);
  t.is(await second.value('podflow_exporter_sent_flows_total'), 9);
  t.is(statSync(ExporterQueue.journalPath(dir, 'postgres/main')).size, 0, 'all sent: the log is empty');
});

test.serial('overflow and delivery take requests out of the log', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'podflow-fq-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  counter = 0;
  const down = new Batching(1);
  down.down = true;
  const first = queueOf(dir, down, 2);
  await first.queue.open();
  for (let i = 0; i < 5; i++) await first.queue.consume(batchOf(1));
  t.false(await first.queue.drain(Date.now() + 50));
  // One in flight when the deadline came, two waiting: the two oldest waiting were dropped.
  t.is(await first.value('podflow_exporter_enqueue_failed_flows_total'), 2);
  const up = new Batching(1);
  const second = queueOf(dir, up, 2);
  await second.queue.open();
  t.true(await second.queue.drain(Date.now() + 5_000));
  t.deepEqual(up.delivered, [[0], [3], [4]]);
});

test('an exporter that cannot encode its requests refuses storage: file at start, naming itself', async (t) => {
  const exporter: Exporter<ExportRequest> = { start: async () => undefined, shutdown: async () => undefined, toRequests: () => [], send: async () => undefined };
  const queue = new ExporterQueue('otlp', exporter, settings('/nonexistent'), new SelfMetrics(), silent);
  await t.throwsAsync(queue.open(), { message: 'otlp: this exporter cannot keep its queue in a file (sending_queue.storage: file)' });
});
