// gzip bodies inflated into one buffer of their size: zlib's default 16 KiB output chunks cost a
// thread-pool round trip and a JS callback each, 3-4× the CPU of the inflation itself for the
// 4 MiB requests agents send (bench/otlp). Used by both servers (OTLP/HTTP bodies, and gRPC
// messages in place of @grpc/grpc-js's streaming gunzip).
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';

const gunzipAsync = promisify(gunzip) as (body: Buffer, options: { maxOutputLength: number; chunkSize: number }) => Promise<Buffer>;

/**
 * Inflates `body`, refusing more than `maxOutputLength` bytes (zlib's ERR_BUFFER_TOO_LARGE). The
 * output size is the trailer's ISIZE (RFC 1952: the last 4 bytes, the input's size mod 2^32,
 * little endian); it is only a hint: a wrong one costs more chunks, and maxOutputLength still
 * bounds the output.
 */
export function gunzipWhole(body: Buffer, maxOutputLength: number): Promise<Buffer> {
  const isize = body.length >= 18 ? body.readUInt32LE(body.length - 4) : 0;
  return gunzipAsync(body, { maxOutputLength, chunkSize: Math.max(16 * 1024, Math.min(isize, maxOutputLength) + 1) });
}
