// What an OTLP server answers, read with protobufjs's wire reader:
//
//   ExportMetricsServiceResponse  1: ExportMetricsPartialSuccess { 1: int64 rejected_data_points,
//                                                                   2: string error_message }
//   google.rpc.Status             1: int32 code  2: string message  3: repeated google.protobuf.Any
//                                 details { 1: string type_url  2: bytes value }
//   google.rpc.RetryInfo          1: google.protobuf.Duration retry_delay { 1: int64 seconds,
//                                                                             2: int32 nanos }
//
// OTLP/HTTP sends a Status as the body of an error answer (protobuf or JSON, as the request
// was); OTLP/gRPC sends it in the `grpc-status-details-bin` trailer. A RetryInfo among its
// details is the server's "retry after".
import protobuf from 'protobufjs';

export interface PartialSuccess {
  rejectedDataPoints: number;
  errorMessage: string;
}

export interface RpcStatus {
  code: number;
  message: string;
  /** From a google.rpc.RetryInfo detail, when there is one. */
  retryDelayMs?: number;
}

const RETRY_INFO_TYPE = 'type.googleapis.com/google.rpc.RetryInfo';

/** Calls `field(number, reader)` for each field of the message in `bytes`; unknown ones are skipped by it. */
function fields(bytes: Uint8Array, field: (n: number, r: protobuf.Reader, wireType: number) => boolean): void {
  const r = protobuf.Reader.create(bytes);
  while (r.pos < r.len) {
    const t = r.uint32();
    if (!field(t >>> 3, r, t & 7)) r.skipType(t & 7);
  }
}

function int64(r: protobuf.Reader): number {
  const v = r.int64();
  return typeof v === 'number' ? v : Number(v.toString());
}

/** The partial success of a protobuf ExportMetricsServiceResponse; undefined when nothing was rejected. */
export function partialSuccessFromProto(bytes: Uint8Array): PartialSuccess | undefined {
  let out: PartialSuccess | undefined;
  fields(bytes, (n, r, w) => {
    if (n !== 1 || w !== 2) return false;
    const partial: PartialSuccess = { rejectedDataPoints: 0, errorMessage: '' };
    fields(r.bytes(), (m, inner, iw) => {
      if (m === 1 && iw === 0) partial.rejectedDataPoints = int64(inner);
      else if (m === 2 && iw === 2) partial.errorMessage = inner.string();
      else return false;
      return true;
    });
    out = partial;
    return true;
  });
  return out && (out.rejectedDataPoints > 0 || out.errorMessage) ? out : undefined;
}

/** The partial success of an OTLP/JSON response body; undefined when nothing was rejected. */
export function partialSuccessFromJson(text: string): PartialSuccess | undefined {
  const body = JSON.parse(text) as { partialSuccess?: { rejectedDataPoints?: string | number; errorMessage?: string } } | null;
  const p = body?.partialSuccess;
  if (!p) return undefined;
  const out = { rejectedDataPoints: Number(p.rejectedDataPoints ?? 0), errorMessage: p.errorMessage ?? '' };
  return out.rejectedDataPoints > 0 || out.errorMessage ? out : undefined;
}

function retryDelayMs(retryInfo: Uint8Array): number | undefined {
  let ms: number | undefined;
  fields(retryInfo, (n, r, w) => {
    if (n !== 1 || w !== 2) return false;
    let seconds = 0;
    let nanos = 0;
    fields(r.bytes(), (m, d, dw) => {
      if (m === 1 && dw === 0) seconds = int64(d);
      else if (m === 2 && dw === 0) nanos = d.int32();
      else return false;
      return true;
    });
    ms = seconds * 1000 + nanos / 1e6;
    return true;
  });
  return ms;
}

/** A protobuf google.rpc.Status, with the RetryInfo among its details. */
export function rpcStatusFromProto(bytes: Uint8Array): RpcStatus {
  const status: RpcStatus = { code: 0, message: '' };
  fields(bytes, (n, r, w) => {
    if (n === 1 && w === 0) status.code = r.int32();
    else if (n === 2 && w === 2) status.message = r.string();
    else if (n === 3 && w === 2) {
      let typeUrl = '';
      let value: Uint8Array = new Uint8Array(0);
      fields(r.bytes(), (m, a, aw) => {
        if (m === 1 && aw === 2) typeUrl = a.string();
        else if (m === 2 && aw === 2) value = a.bytes();
        else return false;
        return true;
      });
      if (typeUrl === RETRY_INFO_TYPE) {
        const delay = retryDelayMs(value);
        if (delay !== undefined) status.retryDelayMs = delay;
      }
    } else return false;
    return true;
  });
  return status;
}

/** A google.rpc.Status in OTLP/JSON (RetryInfo's retryDelay is a duration string such as "1.5s"). */
export function rpcStatusFromJson(text: string): RpcStatus {
  const body = JSON.parse(text) as { code?: number; message?: string; details?: Array<{ '@type'?: string; retryDelay?: string }> };
  const status: RpcStatus = { code: Number(body.code ?? 0), message: String(body.message ?? '') };
  const retry = body.details?.find((d) => d['@type'] === RETRY_INFO_TYPE);
  const delay = retry?.retryDelay ? /^(\d+(?:\.\d+)?)s$/.exec(retry.retryDelay) : null;
  if (delay) status.retryDelayMs = Number(delay[1]) * 1000;
  return status;
}
