// The ingest rate of one gateway's otlp receiver: a receiver process (ingest-receiver.ts: the
// otlp receiver, both protocols, into a pipeline that counts) and this process as the agent,
// sending 262,144 raw flows per round as podflow's otlp exporter does (its encoder, protobuf,
// gzip; requests of ≤ 4 MiB, 4 in flight). The figure is the flows per CPU second of the
// receiver process (HTTP server or @grpc/grpc-js, gunzip, decode, hand-off), median of the
// rounds after a warm-up; every round must arrive whole (flows and bytes are checked).
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import pino from 'pino';
import { OtlpSender } from '../../src/exporters/shared/otlp/sender.ts';
import type { Flow } from '../../src/model/index.ts';

export interface IngestFigure {
  protocol: 'http' | 'grpc';
  /** Median receiver CPU ms per round of `flows` flows. */
  cpuMs: number;
  flowsPerCpuS: number;
  wallMs: number;
  requests: number;
}

const IN_FLIGHT = 4;

interface Mark {
  cpuUs: number;
  flows: number;
  bytes: number;
}

function mark(child: ChildProcess): Promise<Mark> {
  child.send('mark');
  return once(child, 'message').then(([m]) => m as Mark);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Sends `bodies` with IN_FLIGHT requests at a time. */
async function sendAll(sender: OtlpSender, bodies: Buffer[]): Promise<void> {
  let next = 0;
  const signal = new AbortController().signal;
  const worker = async () => {
    while (next < bodies.length) await sender.send(bodies[next++]!, signal);
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
}

/** Receiver CPU for `flows` per round over HTTP and gRPC, `rounds` rounds each after one warm-up. */
export async function measureIngest(flows: Flow[], resource: Record<string, string>, rounds: number): Promise<IngestFigure[]> {
  const child = fork(new URL('./ingest-receiver.ts', import.meta.url), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: process.env.INGEST_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.INGEST_PROF}`] : [] });
  try {
    const [urls] = (await once(child, 'message')) as [{ http: string; grpc: string }];
    const logger = pino({ level: 'silent' });
    const sentBytes = flows.reduce((n, f) => n + f.txBytes + f.rxBytes, 0);
    const out: IngestFigure[] = [];
    for (const protocol of ['http', 'grpc'] as const) {
      const sender = new OtlpSender({ endpoint: urls[protocol], protocol, headers: {}, compression: 'gzip', encoding: 'proto', temporality: 'delta', max_request_size: 4 * 1024 * 1024 }, logger);
      const cpu: number[] = [];
      const wall: number[] = [];
      let requests = 0;
      for (let round = 0; round <= rounds; round++) {
        // Encoded anew each round, as an agent does every tick (its CPU is this process's).
        const bodies = sender.encode(resource, 'delta', flows);
        requests = bodies.length;
        const before = await mark(child);
        const t0 = performance.now();
        await sendAll(sender, bodies);
        const after = await mark(child);
        if (after.flows - before.flows !== flows.length || after.bytes - before.bytes !== sentBytes) {
          throw new Error(`ingest over ${protocol}: received ${after.flows - before.flows} flows / ${after.bytes - before.bytes} bytes of ${flows.length} / ${sentBytes}`);
        }
        if (round === 0) continue;
        wall.push(performance.now() - t0);
        cpu.push((after.cpuUs - before.cpuUs) / 1_000);
      }
      await sender.close();
      const cpuMs = median(cpu);
      out.push({ protocol, cpuMs, flowsPerCpuS: Math.round(flows.length / (cpuMs / 1_000)), wallMs: median(wall), requests });
    }
    return out;
  } finally {
    child.send('stop');
    await once(child, 'exit');
  }
}
