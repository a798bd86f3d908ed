// An OTLP/HTTP metrics receiver for tests: accepts POST /v1/metrics (protobuf or OTLP/JSON,
// gzip or not), decodes each request with the official opentelemetry-proto definitions
// (test/harness/otlp-proto.ts, loaded by protobufjs — independent of podflow's encoder) and keeps
// them. `points()` flattens every sum data point with its resource and attributes.
//
//   const rx = await startOtlpReceiver();   // rx.url → an exporter's `endpoint`
//   t.teardown(() => rx.close());
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { ExportMetricsServiceRequest, ExportMetricsServiceResponse } from './otlp-proto.ts';

export type OtlpAnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number; value?: string };
export interface OtlpKeyValue { key: string; value: OtlpAnyValue }
export interface OtlpNumberDataPoint { attributes: OtlpKeyValue[]; asInt?: string | number; asDouble?: number; startTimeUnixNano: string | number; timeUnixNano: string | number }
export interface OtlpMetric { name: string; unit: string; description: string; sum?: { dataPoints: OtlpNumberDataPoint[]; aggregationTemporality: number | string; isMonotonic: boolean } }
export interface OtlpRequest {
  resourceMetrics: Array<{ resource: { attributes: OtlpKeyValue[] }; scopeMetrics: Array<{ scope: { name: string; version: string }; metrics: OtlpMetric[] }> }>;
}

export interface OtlpPoint {
  resource: Record<string, string | number | boolean>;
  metric: string;
  unit: string;
  /** 1 delta, 2 cumulative (AggregationTemporality). */
  temporality: number;
  attributes: Record<string, string | number | boolean>;
  value: number;
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
}

export interface OtlpReceiver {
  /** `http://127.0.0.1:<port>` (the exporter appends /v1/metrics). */
  url: string;
  requests: OtlpRequest[];
  /** Every sum data point of every request received so far. */
  points(): OtlpPoint[];
  close(): Promise<void>;
}

function value(v: OtlpAnyValue): string | number | boolean {
  // Protobuf requests are decoded with `oneofs: true`, so `value` names the field that was set
  // (a false or 0 is then still told apart from an empty string); OTLP/JSON carries only the set one.
  switch (v.value ?? Object.keys(v).find((k) => k !== 'value')) {
    case 'boolValue':
      return Boolean(v.boolValue);
    case 'intValue':
      return Number(v.intValue);
    case 'doubleValue':
      return Number(v.doubleValue);
    default:
      return v.stringValue ?? '';
  }
}

export function otlpAttributes(list: OtlpKeyValue[]): Record<string, string | number | boolean> {
  return Object.fromEntries(list.map(({ key, value: v }) => [key, value(v)]));
}

function decode(req: IncomingMessage, raw: Buffer): OtlpRequest {
  const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
  if (req.headers['content-type'] === 'application/json') return JSON.parse(body.toString()) as OtlpRequest;
  const message = ExportMetricsServiceRequest.decode(body);
  return ExportMetricsServiceRequest.toObject(message, { longs: String, enums: Number, defaults: true, oneofs: true }) as OtlpRequest;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const requests: OtlpRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: OtlpRequest;
      try {
        body = decode(req, Buffer.concat(chunks));
      } catch (e) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(`cannot decode: ${(e as Error).message}`);
        return;
      }
      requests.push(body);
      if (req.headers['content-type'] === 'application/json') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(ExportMetricsServiceResponse.encode({}).finish());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url,
    requests,
    points() {
      const out: OtlpPoint[] = [];
      for (const body of requests) {
        for (const rm of body.resourceMetrics) {
          const resource = otlpAttributes(rm.resource.attributes);
          for (const sm of rm.scopeMetrics) {
            for (const m of sm.metrics) {
              if (!m.sum) continue;
              for (const dp of m.sum.dataPoints) {
                out.push({
                  resource,
                  metric: m.name,
                  unit: m.unit,
                  temporality: Number(m.sum.aggregationTemporality),
                  attributes: otlpAttributes(dp.attributes),
                  value: Number(dp.asInt ?? dp.asDouble ?? 0),
                  startTimeUnixNano: BigInt(dp.startTimeUnixNano),
                  timeUnixNano: BigInt(dp.timeUnixNano),
                });
              }
            }
          }
        }
      }
      return out;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
