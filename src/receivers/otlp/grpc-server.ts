// OTLP/gRPC: the MetricsService/Export unary call (HTTP/2 and message framing, gzip included, by
// @grpc/grpc-js). The request message reaches us as bytes and is read by the same decoder as
// OTLP/HTTP's protobuf. Answers: OK with an empty ExportMetricsServiceResponse; INVALID_ARGUMENT
// naming the place; UNAUTHENTICATED without the bearer token; RESOURCE_EXHAUSTED over
// max_request_body_size (grpc-js checks the size after decompression too) and, with a RetryInfo
// in grpc-status-details-bin, when the pipeline is full.
import { readFileSync } from 'node:fs';
import type * as Grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { OtlpServerConfig } from './config.ts';
import { decodeProtoRequest } from './decode-proto.ts';
import { gunzipWhole } from './gunzip.ts';
import { OtlpInputError } from './flow-assembler.ts';
import type { Intake } from './intake.ts';
import { bearerTokenMatches } from './auth.ts';
import { statusProto } from './status.ts';

const EXPORT_PATH = '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export';
const identity = (b: Buffer): Buffer => b;

/** MetricsService with its message (de)serialisation left to us: bytes in, bytes out. */
const METRICS_SERVICE: Grpc.ServiceDefinition = {
  Export: {
    path: EXPORT_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

function credentials(grpc: typeof Grpc, config: OtlpServerConfig): Grpc.ServerCredentials {
  const tls = config.tls;
  if (!tls) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(
    tls.client_ca_file ? readFileSync(tls.client_ca_file) : null,
    [{ cert_chain: readFileSync(tls.cert_file), private_key: readFileSync(tls.key_file) }],
    tls.client_ca_file !== undefined,
  );
}

function failure(grpc: typeof Grpc, code: Grpc.status, message: string, retryAfterMs?: number): Partial<Grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  if (retryAfterMs !== undefined) metadata.set('grpc-status-details-bin', statusProto(code, message, retryAfterMs));
  return { code, details: message, metadata };
}

/** What grpc-js's own server call has (BaseServerInterceptingCall): the message with its 5-byte gRPC frame header. */
interface DecompressingCall {
  decompressMessage?: (message: Buffer, encoding: string) => Promise<Buffer> | Buffer;
}

/**
 * An interceptor (the first, so it sees grpc-js's own call object) that inflates gzip messages
 * into one buffer (gunzip.ts) instead of grpc-js's zlib stream of 16 KiB chunks, ~4× less CPU
 * for agents' 4 MiB requests. Same limit (grpc.max_receive_message_length, after decompression)
 * and the same statuses as grpc-js; other encodings are grpc-js's. decompressMessage is not
 * grpc-js's public API: on a version without it, the call is left as it is (slower, as correct).
 */
function wholeGunzip(grpc: typeof Grpc, maxBytes: number): Grpc.ServerInterceptor {
  // grpc-js types the result as a ServerInterceptingCall; its server only needs the interface, which the call given has.
  return (_method, call) => {
    const same = call as Grpc.ServerInterceptingCall;
    const inner = call as unknown as DecompressingCall;
    const own = inner.decompressMessage;
    if (typeof own !== 'function') return same;
    inner.decompressMessage = (message, encoding) => {
      if (encoding !== 'gzip') return own.call(inner, message, encoding);
      return gunzipWhole(message.subarray(5), maxBytes).catch((err: { code?: string }) =>
        Promise.reject(err.code === 'ERR_BUFFER_TOO_LARGE'
          ? { code: grpc.status.RESOURCE_EXHAUSTED, details: `Received message that decompresses to a size larger than ${maxBytes}` }
          : { code: grpc.status.INTERNAL, details: 'Failed to decompress message' }));
    };
    return same;
  };
}

/** @grpc/grpc-js is loaded when the server starts listening (not by every podflow command). */
export class OtlpGrpcServer {
  readonly #config: OtlpServerConfig;
  readonly #intake: Intake;
  readonly #retryAfterMs: number;
  readonly #logger: Logger;
  #server: Grpc.Server | undefined;

  constructor(config: OtlpServerConfig, intake: Intake, retryAfterMs: number, logger: Logger) {
    this.#config = config;
    this.#intake = intake;
    this.#retryAfterMs = retryAfterMs;
    this.#logger = logger;
  }

  /** Listens; resolves with the bound port (port 0 gets a free one). */
  async listen(): Promise<number> {
    const grpc = await import('@grpc/grpc-js');
    const max = this.#config.max_request_body_size;
    const server = (this.#server = new grpc.Server({ 'grpc.max_receive_message_length': max, interceptors: [wholeGunzip(grpc, max)] }));
    server.addService(METRICS_SERVICE, { Export: (call: Grpc.ServerUnaryCall<Buffer, Buffer>, callback: Grpc.sendUnaryData<Buffer>) => void this.#export(grpc, call, callback) });
    const { host, port } = this.#config.endpoint;
    const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    return new Promise((resolve, reject) => {
      server.bindAsync(address, credentials(grpc, this.#config), (err, bound) => (err ? reject(err) : resolve(bound)));
    });
  }

  close(): Promise<void> {
    const server = this.#server;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 2_000);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async #export(grpc: typeof Grpc, call: Grpc.ServerUnaryCall<Buffer, Buffer>, callback: Grpc.sendUnaryData<Buffer>): Promise<void> {
    try {
      const auth = this.#config.auth;
      if (auth && !bearerTokenMatches(String(call.metadata.get('authorization')[0] ?? ''), auth.bearer_token)) {
        this.#intake.refuse('grpc', 'unauthenticated');
        return callback(failure(grpc, grpc.status.UNAUTHENTICATED, 'missing or wrong bearer token (authorization: Bearer <token>)'));
      }
      let received;
      try {
        received = decodeProtoRequest(call.request);
      } catch (err) {
        if (!(err instanceof OtlpInputError)) throw err;
        this.#intake.refuse('grpc', err.reason);
        return callback(failure(grpc, grpc.status.INVALID_ARGUMENT, err.message));
      }
      const result = await this.#intake.accept('grpc', received);
      if (result.accepted) return callback(null, Buffer.alloc(0));
      // Both are worth a retry: a full pipeline later, a failed one perhaps.
      const code = result.reason === 'pipeline_full' ? grpc.status.RESOURCE_EXHAUSTED : grpc.status.UNAVAILABLE;
      callback(failure(grpc, code, result.message, this.#retryAfterMs));
    } catch (err) {
      this.#logger.error({ err: (err as Error).message }, 'otlp receiver: unexpected error while handling a gRPC call');
      callback(failure(grpc, grpc.status.INTERNAL, (err as Error).message));
    }
  }
}
