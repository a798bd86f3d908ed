// The OTLP encoder, measured in one process:
//   before  the OpenTelemetry JS SDK path the otlp exporter had: flows recorded into the SDK's
//           synchronous counters, collected by a reader, serialized by the SDK's protobuf
//           serializer (@opentelemetry/otlp-transformer), gzipped (zlib's default level)
//   after   podflow's encoder (src/exporters/shared/otlp), as the exporter runs it now
// CPU per 10,000 reducer groups (proto + gzip, the default; also priced by netcost, with a
// network.flow.cost point each), the agent's 262,144 raw flows per tick, the otlp receiver's
// protobuf decoder in flows per CPU second, and the ingest of a gateway's otlp receiver in a
// process of its own over OTLP/HTTP and OTLP/gRPC (ingest.ts). Prints a table, then one JSON line.
import { availableParallelism, loadavg } from 'node:os';
import { gzipSync } from 'node:zlib';
import { ValueType, type Attributes as OtelAttributes } from '@opentelemetry/api';
import { ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { OtlpSender } from '../../src/exporters/shared/otlp/sender.ts';
import { decodeProtoRequest } from '../../src/receivers/otlp/decode-proto.ts';
import type { Flow } from '../../src/model/index.ts';
import { groups } from '../../test/harness/flows.ts';
import pino from 'pino';
import { agentFlows } from './agent-flows.ts';
import { measureIngest } from './ingest.ts';

const ROUNDS = Number(process.env.ROUNDS ?? 7);
const GROUPS = 10_000;
const AGENT_FLOWS = 262_144;
const resource = { 'service.name': 'podflow', 'service.version': '0.1.0', 'k8s.node.name': 'node-a' };

function cpuMs(fn: () => unknown): number {
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1_000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Median CPU ms of `fn` over ROUNDS runs after one warm-up. */
function measure(fn: () => unknown): number {
  fn();
  return median(Array.from({ length: ROUNDS }, () => cpuMs(fn)));
}

class OnDemandReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** The SDK path: record, collect, serialize, gzip. The collection is asynchronous: timed around it. */
async function sdkCpuMs(flows: readonly Flow[]): Promise<number> {
  const reader = new OnDemandReader({ aggregationTemporalitySelector: () => AggregationTemporality.DELTA, cardinalitySelector: () => 2 * flows.length + 3 });
  const provider = new MeterProvider({ resource: resourceFromAttributes(resource), readers: [reader] });
  const meter = provider.getMeter('podflow', '0.1.0');
  const bytes = meter.createCounter('network.flow.io', { unit: 'By', valueType: ValueType.INT });
  const packets = meter.createCounter('network.flow.packets', { unit: '{packet}', valueType: ValueType.INT });
  const once = async () => {
    const c0 = process.cpuUsage();
    for (const f of flows) {
      const attrs = f.attributes as OtelAttributes;
      const transmit = { ...attrs, 'network.io.direction': 'transmit' };
      const receive = { ...attrs, 'network.io.direction': 'receive' };
      bytes.add(f.txBytes, transmit);
      packets.add(f.txPackets, transmit);
      bytes.add(f.rxBytes, receive);
      packets.add(f.rxPackets, receive);
    }
    const { resourceMetrics } = await reader.collect();
    gzipSync(ProtobufMetricsSerializer.serializeRequest(resourceMetrics)!);
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1_000;
  };
  await once();
  const runs: number[] = [];
  for (let i = 0; i < ROUNDS; i++) runs.push(await once());
  await provider.shutdown();
  return median(runs);
}

const logger = pino({ level: 'silent' });
const sender = (encoding: 'proto' | 'json', compression: 'gzip' | 'none') =>
  new OtlpSender({ endpoint: 'http://127.0.0.1:9', protocol: 'http', headers: {}, compression, encoding, temporality: 'delta', max_request_size: 4 * 1024 * 1024 }, logger);

const reducerGroups = groups(GROUPS);
const before = await sdkCpuMs(reducerGroups);
const afterGzip = measure(() => sender('proto', 'gzip').encode(resource, 'delta', reducerGroups));
const afterNone = measure(() => sender('proto', 'none').encode(resource, 'delta', reducerGroups));
const afterJson = measure(() => sender('json', 'gzip').encode(resource, 'delta', reducerGroups));
// Priced as netcost prices them: bytes × $0.01 per GB (10^10 zUSD per byte), plus odd digits.
const pricedGroups = reducerGroups.map((f, i): Flow => ({ ...f, costZeptoUsd: BigInt(f.txBytes + f.rxBytes) * 10_000_000_000n + BigInt(i) }));
const pricedGzip = measure(() => sender('proto', 'gzip').encode(resource, 'delta', pricedGroups));
const pricedPlain = sender('proto', 'none').encode(resource, 'delta', pricedGroups);
const pricedDecode = measure(() => {
  for (const body of pricedPlain) decodeProtoRequest(body);
});

const agent = agentFlows(AGENT_FLOWS);
const agentSender = sender('proto', 'gzip');
let agentBodies: Buffer[] = [];
const agentGzip = measure(() => (agentBodies = agentSender.encode(resource, 'delta', agent)));
const agentBytes = agentBodies.reduce((n, b) => n + b.length, 0);
const plain = sender('proto', 'none').encode(resource, 'delta', agent);
const agentNone = measure(() => sender('proto', 'none').encode(resource, 'delta', agent));
const decode = measure(() => {
  for (const body of plain) decodeProtoRequest(body);
});

const ingest = await measureIngest(agent, resource, ROUNDS);

const rows: Array<[string, number, string]> = [
  ['before: SDK record+collect+serialize+gzip, 10k groups', before, ''],
  ['after: podflow encoder proto+gzip, 10k groups', afterGzip, `${(before / afterGzip).toFixed(1)}× less CPU`],
  ['after: podflow encoder proto, 10k groups', afterNone, ''],
  ['after: podflow encoder json+gzip, 10k groups', afterJson, ''],
  ['after: podflow encoder proto+gzip, 10k priced groups', pricedGzip, `+${(100 * (pricedGzip / afterGzip - 1)).toFixed(0)}% for network.flow.cost`],
  ['receiver: decode proto, 10k priced groups', pricedDecode, ''],
  [`agent: proto+gzip, ${AGENT_FLOWS} flows`, agentGzip, `${plain.length} requests, ${(agentBytes / 1e6).toFixed(1)} MB`],
  [`agent: proto, ${AGENT_FLOWS} flows`, agentNone, ''],
  [`receiver: decode proto, ${AGENT_FLOWS} flows`, decode, `${Math.round(AGENT_FLOWS / (decode / 1000)).toLocaleString('en')} flows/CPU s`],
  ...ingest.map((f): [string, number, string] => [`gateway ingest over ${f.protocol === 'http' ? 'OTLP/HTTP' : 'OTLP/gRPC'}, ${AGENT_FLOWS} flows`, f.cpuMs, `${f.flowsPerCpuS.toLocaleString('en')} flows/CPU s of the receiver process (target ≥ 300,000); ${f.requests} requests, ${Math.round(f.wallMs)} ms wall`]),
];
console.log(`bench/otlp: median CPU of ${ROUNDS} runs (Node ${process.versions.node}, load ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} CPUs)`);
for (const [name, ms, note] of rows) console.log(name.padEnd(56), `${ms.toFixed(1)} ms`.padStart(11), ` ${note}`);
console.log(JSON.stringify({
  bench: 'otlp',
  load: Number(loadavg()[0]!.toFixed(2)),
  groups: GROUPS,
  before_sdk_proto_gzip_cpu_ms: before,
  after_proto_gzip_cpu_ms: afterGzip,
  after_proto_cpu_ms: afterNone,
  after_json_gzip_cpu_ms: afterJson,
  after_priced_proto_gzip_cpu_ms: pricedGzip,
  receiver_decode_priced_groups_cpu_ms: pricedDecode,
  ratio_before_after: Number((before / afterGzip).toFixed(2)),
  agent_flows: AGENT_FLOWS,
  agent_proto_gzip_cpu_ms: agentGzip,
  agent_proto_cpu_ms: agentNone,
  agent_payload_bytes: agentBytes,
  receiver_decode_cpu_ms: decode,
  receiver_decode_flows_per_cpu_s: Math.round(AGENT_FLOWS / (decode / 1000)),
  ...Object.fromEntries(ingest.flatMap((f) => [
    [`ingest_${f.protocol}_receiver_cpu_ms`, f.cpuMs],
    [`ingest_${f.protocol}_flows_per_cpu_s`, f.flowsPerCpuS],
    [`ingest_${f.protocol}_wall_ms`, Math.round(f.wallMs)],
  ])),
}));
