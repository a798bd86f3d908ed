// What the receiver answers when it refuses a request: a google.rpc.Status, as the OTLP/HTTP
// error body (protobuf or JSON, as the request was) and as the gRPC `grpc-status-details-bin`
// trailer, with a google.rpc.RetryInfo detail when the sender should come back later.
//
//   google.rpc.Status     1: int32 code  2: string message  3: repeated google.protobuf.Any details
//   google.protobuf.Any   1: string type_url  2: bytes value
//   google.rpc.RetryInfo  1: google.protobuf.Duration retry_delay { 1: int64 seconds  2: int32 nanos }
import protobuf from 'protobufjs';

export const RETRY_INFO_TYPE = 'type.googleapis.com/google.rpc.RetryInfo';

/** gRPC / google.rpc codes the receiver answers with. */
export const RpcCode = { INVALID_ARGUMENT: 3, RESOURCE_EXHAUSTED: 8, INTERNAL: 13, UNAUTHENTICATED: 16 } as const;

function retryInfo(retryAfterMs: number): Uint8Array {
  const seconds = Math.floor(retryAfterMs / 1000);
  const nanos = Math.round((retryAfterMs - seconds * 1000) * 1e6);
  const duration = protobuf.Writer.create();
  if (seconds) duration.uint32(0x08).int64(seconds);
  if (nanos) duration.uint32(0x10).int32(nanos);
  return protobuf.Writer.create().uint32(0x0a).bytes(duration.finish()).finish();
}

/** A google.rpc.Status as protobuf bytes. */
export function statusProto(code: number, message: string, retryAfterMs?: number): Buffer {
  const w = protobuf.Writer.create();
  w.uint32(0x08).int32(code);
  w.uint32(0x12).string(message);
  if (retryAfterMs !== undefined) {
    const any = protobuf.Writer.create().uint32(0x0a).string(RETRY_INFO_TYPE).uint32(0x12).bytes(retryInfo(retryAfterMs)).finish();
    w.uint32(0x1a).bytes(any);
  }
  return Buffer.from(w.finish());
}

/** A google.rpc.Status in OTLP/JSON (the protobuf JSON mapping: a Duration is a "1.5s" string). */
export function statusJson(code: number, message: string, retryAfterMs?: number): string {
  const details = retryAfterMs === undefined ? [] : [{ '@type': RETRY_INFO_TYPE, retryDelay: `${retryAfterMs / 1000}s` }];
  return JSON.stringify({ code, message, details });
}
