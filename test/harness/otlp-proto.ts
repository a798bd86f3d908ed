// The official OTLP protobuf definitions (opentelemetry-proto, vendored in
// ./opentelemetry-proto/, see its README) loaded with protobufjs: the independent reference that
// podflow's hand-written OTLP encoder and decoder are checked against, and what tests use to
// build requests of their own (other metric types, odd values).
//
//   const bytes = encodeMetricsRequest({ resourceMetrics: [...] });   // canonical protobuf
//   const request = decodeMetricsRequest(bytes);                      // plain object, int64 as strings
//
// google.rpc.Status and google.rpc.RetryInfo (the error bodies of OTLP/HTTP, the
// grpc-status-details-bin trailer of OTLP/gRPC) are not part of opentelemetry-proto; their four
// small messages are declared below with the field numbers of googleapis' google/rpc/status.proto,
// google/rpc/error_details.proto and google/protobuf/{any,duration}.proto.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const protoDir = fileURLToPath(new URL('./opentelemetry-proto', import.meta.url));
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => join(protoDir, target);
root.loadSync('opentelemetry/proto/collector/metrics/v1/metrics_service.proto', { keepCase: false });

export const ExportMetricsServiceRequest = root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest');
export const ExportMetricsServiceResponse = root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse');

const rpc = protobuf.Root.fromJSON({
  nested: {
    google: {
      nested: {
        protobuf: {
          nested: {
            Any: { fields: { typeUrl: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } },
            Duration: { fields: { seconds: { type: 'int64', id: 1 }, nanos: { type: 'int32', id: 2 } } },
          },
        },
        rpc: {
          nested: {
            Status: { fields: { code: { type: 'int32', id: 1 }, message: { type: 'string', id: 2 }, details: { rule: 'repeated', type: 'google.protobuf.Any', id: 3 } } },
            RetryInfo: { fields: { retryDelay: { type: 'google.protobuf.Duration', id: 1 } } },
          },
        },
      },
    },
  },
});
export const RpcStatus = rpc.lookupType('google.rpc.Status');
export const RetryInfo = rpc.lookupType('google.rpc.RetryInfo');

const TO_OBJECT = { longs: String, enums: Number, bytes: Buffer, defaults: false, oneofs: true } as const;

/** Canonical protobuf bytes of an ExportMetricsServiceRequest given as a plain object (camelCase keys). */
export function encodeMetricsRequest(request: object): Buffer {
  return Buffer.from(ExportMetricsServiceRequest.encode(ExportMetricsServiceRequest.fromObject(request)).finish());
}

/** The request as a plain object: int64 as decimal strings, enums as numbers, unset fields absent. */
export function decodeMetricsRequest(bytes: Uint8Array): Record<string, unknown> {
  return ExportMetricsServiceRequest.toObject(ExportMetricsServiceRequest.decode(bytes), TO_OBJECT);
}

/** An OTLP/JSON request body as the same plain object as decodeMetricsRequest gives. */
export function metricsRequestFromJson(json: unknown): Record<string, unknown> {
  return ExportMetricsServiceRequest.toObject(ExportMetricsServiceRequest.fromObject(json as object), TO_OBJECT);
}

export interface DecodedStatus {
  code: number;
  message: string;
  /** RetryInfo.retry_delay in ms, when the details carry one. */
  retryDelayMs?: number;
}

/** A google.rpc.Status (an OTLP/HTTP error body, the gRPC status details). */
export function decodeRpcStatus(bytes: Uint8Array): DecodedStatus {
  const status = RpcStatus.toObject(RpcStatus.decode(bytes), { longs: Number, bytes: Buffer, defaults: true }) as { code: number; message: string; details: Array<{ typeUrl: string; value: Buffer }> };
  const out: DecodedStatus = { code: status.code, message: status.message };
  for (const d of status.details) {
    if (d.typeUrl !== 'type.googleapis.com/google.rpc.RetryInfo') continue;
    const info = RetryInfo.toObject(RetryInfo.decode(d.value), { longs: Number, defaults: true }) as { retryDelay?: { seconds: number; nanos: number } };
    out.retryDelayMs = (info.retryDelay?.seconds ?? 0) * 1000 + (info.retryDelay?.nanos ?? 0) / 1e6;
  }
  return out;
}

/** The partial success of an ExportMetricsServiceResponse (protobuf), or undefined when there is none. */
export function decodePartialSuccess(bytes: Uint8Array): { rejectedDataPoints: number; errorMessage: string } | undefined {
  const response = ExportMetricsServiceResponse.toObject(ExportMetricsServiceResponse.decode(bytes), { longs: Number, defaults: true }) as { partialSuccess?: { rejectedDataPoints: number; errorMessage: string } };
  return response.partialSuccess;
}
