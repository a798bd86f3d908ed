// The otlp receiver started on free ports with a pipeline that keeps what it gets, and podflow's
// own otlp exporter pointed at it: the two ends of an agent → gateway hop, for the receiver's and
// the loadbalancing exporter's tests.
import type { Attributes, Flow, FlowBatch } from '../../../model/index.ts';
import type { FlowConsumer } from '../../../contracts/component.ts';
import { testContext, type TestContext } from '../../../../test/harness/context.ts';
import { otlpReceiverConfigSchema } from '../config.ts';
import { OtlpReceiver } from '../otlp-receiver.ts';

export interface RunningReceiver {
  receiver: OtlpReceiver;
  ctx: TestContext;
  batches: FlowBatch[];
  httpUrl: string;
  grpcUrl: string;
  /** podflow_receiver_refused_requests_total for these labels. */
  refused(labels: Record<string, string>): Promise<number>;
  stop(): Promise<void>;
}

/** Starts a receiver on 127.0.0.1:0 (both protocols unless `config.protocols` says otherwise). */
export async function startReceiver(config: Record<string, unknown> = {}, next?: (batch: FlowBatch) => Promise<void>): Promise<RunningReceiver> {
  const batches: FlowBatch[] = [];
  const consumer: FlowConsumer = {
    consume: async (batch) => {
      if (next) await next(batch);
      batches.push(batch);
    },
  };
  const ctx = testContext('otlp/test');
  const parsed = otlpReceiverConfigSchema.parse({ protocols: { http: { endpoint: '127.0.0.1:0' }, grpc: { endpoint: '127.0.0.1:0' } }, ...config });
  const receiver = new OtlpReceiver(ctx, parsed, consumer);
  await receiver.start();
  return {
    receiver,
    ctx,
    batches,
    httpUrl: `http://${receiver.listening.http}`,
    grpcUrl: `http://${receiver.listening.grpc}`,
    refused: async (labels) => {
      const metric = ctx.metrics.getSingleMetric('podflow_receiver_refused_requests_total');
      const values = metric ? (await metric.get()).values : [];
      return values.filter((v) => Object.entries(labels).every(([k, value]) => v.labels[k] === value)).reduce((n, v) => n + v.value, 0);
    },
    stop: () => receiver.shutdown(),
  };
}

/** Flows of a few series over consecutive intervals [t0 + i·5 s, t0 + (i+1)·5 s): what an agent reports tick by tick. */
export function agentTicks(t0Ns: bigint, ticks: number, series: Attributes[]): Flow[][] {
  const out: Flow[][] = [];
  for (let i = 0; i < ticks; i++) {
    out.push(series.map((attributes, s) => ({
      startTimeUnixNano: t0Ns + BigInt(i) * 5_000_000_000n,
      timeUnixNano: t0Ns + BigInt(i + 1) * 5_000_000_000n,
      attributes,
      txBytes: 1_000_003 * (i + 1) + s * 7,
      rxBytes: 2_000_029 * (i + 1) + s,
      txPackets: 700 + i + s,
      rxPackets: 900 + i,
      connections: i === 0 ? s + 1 : 0,
    })));
  }
  return out;
}

/** Flows in a comparable order (by attributes and start). */
export function sorted(flows: readonly Flow[]): Flow[] {
  const key = (f: Flow) => `${JSON.stringify(Object.entries(f.attributes).sort())}/${f.startTimeUnixNano}`;
  return [...flows].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
