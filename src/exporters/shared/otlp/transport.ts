// One OTLP backend, as the exporter queue sends to it: a request body (already encoded, and for
// HTTP already compressed) goes out as one OTLP/HTTP POST or one OTLP/gRPC MetricsService/Export
// call. What the backend answers becomes what the queue needs: resolve (delivered), a
// RetryableError with the server's wait (429 / 5xx / RESOURCE_EXHAUSTED with RetryInfo /
// UNAVAILABLE ...), or a PermanentError (a 4xx, INVALID_ARGUMENT ...), as the OTLP
// specification sorts them.
import { readFileSync } from 'node:fs';
import type * as Grpc from '@grpc/grpc-js';
import { Agent, fetch } from 'undici';
import type { Logger } from 'pino';
import { PermanentError, RetryableError } from '../../../contracts/component.ts';
import { isRetryableStatus, parseRetryAfterMs } from '../http-status.ts';
import { requestTarget } from '../url-credentials.ts';
import { metricsUrl, type OtlpEndpointConfig, type OtlpTlsConfig } from './config.ts';
import { partialSuccessFromJson, partialSuccessFromProto, rpcStatusFromJson, rpcStatusFromProto, type PartialSuccess } from './responses.ts';

export const GRPC_EXPORT_PATH = '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export';
export const GRPC_STATUS_DETAILS = 'grpc-status-details-bin';

export interface OtlpTransport {
  /** Where it sends, for messages: the metrics URL or the gRPC target. */
  readonly target: string;
  send(body: Buffer, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export interface TransportOptions {
  contentType: string;
  /** The Content-Encoding of the bodies (HTTP); gRPC compresses each message itself. */
  contentEncoding: 'gzip' | 'zstd' | undefined;
  userAgent: string;
  logger: Logger;
}

function readPem(path: string | undefined): Buffer | undefined {
  return path === undefined ? undefined : readFileSync(path);
}

function logPartial(logger: Logger, target: string, partial: PartialSuccess | undefined): void {
  if (partial) logger.warn({ target, rejected_data_points: partial.rejectedDataPoints, error_message: partial.errorMessage }, 'OTLP backend rejected part of a request');
}

class HttpTransport implements OtlpTransport {
  /** For messages: the configured URL (logs redact its user information). */
  readonly target: string;
  /** Where requests go: the URL without user information (sent as Basic auth). */
  readonly #url: string;
  readonly #headers: Record<string, string>;
  readonly #dispatcher: Agent;
  readonly #logger: Logger;
  readonly #json: boolean;

  constructor(config: OtlpEndpointConfig, options: TransportOptions) {
    this.target = metricsUrl(config.endpoint);
    const target = requestTarget(this.target, config.headers);
    this.#url = target.url;
    this.#logger = options.logger;
    this.#json = options.contentType === 'application/json';
    this.#headers = {
      'user-agent': options.userAgent,
      ...target.headers,
      'content-type': options.contentType,
      ...(options.contentEncoding ? { 'content-encoding': options.contentEncoding } : {}),
    };
    const tls = config.tls;
    this.#dispatcher = new Agent({
      connect: tls ? { ca: readPem(tls.ca_file), cert: readPem(tls.cert_file), key: readPem(tls.key_file), rejectUnauthorized: !tls.insecure_skip_verify } : {},
    });
  }

  async send(body: Buffer, signal: AbortSignal): Promise<void> {
    let res;
    try {
      res = await fetch(this.#url, { method: 'POST', headers: this.#headers, body, signal, dispatcher: this.#dispatcher });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new RetryableError(`POST ${this.target}: ${cause?.code ?? cause?.message ?? (err as Error).message}`, undefined, { cause: err });
    }
    const bytes = Buffer.from(await res.arrayBuffer().catch(() => new ArrayBuffer(0)));
    const isJson = (res.headers.get('content-type') ?? '').startsWith('application/json');
    if (res.ok) {
      try {
        logPartial(this.#logger, this.target, isJson || this.#json ? (bytes.length ? partialSuccessFromJson(bytes.toString('utf8')) : undefined) : partialSuccessFromProto(bytes));
      } catch {
        // A success whose body is not an ExportMetricsServiceResponse is still a success.
      }
      return;
    }
    let detail = '';
    let retryDelayMs: number | undefined;
    try {
      const status = isJson ? rpcStatusFromJson(bytes.toString('utf8')) : (res.headers.get('content-type') ?? '').startsWith('application/x-protobuf') ? rpcStatusFromProto(bytes) : undefined;
      if (status) {
        detail = status.message;
        retryDelayMs = status.retryDelayMs;
      }
    } catch {
      // Not a google.rpc.Status: the text itself says what went wrong.
    }
    if (!detail) detail = bytes.toString('utf8').trim().slice(0, 300);
    const message = `POST ${this.target}: HTTP ${res.status} (${detail || 'no body'})`;
    if (!isRetryableStatus(res.status)) throw new PermanentError(message);
    throw new RetryableError(message, parseRetryAfterMs(res.headers.get('retry-after')) ?? retryDelayMs);
  }

  async close(): Promise<void> {
    await this.#dispatcher.close().catch(() => {});
  }
}

/** gRPC status codes (google.rpc.Code) the OTLP specification says to retry; RESOURCE_EXHAUSTED only with RetryInfo. */
const GRPC_RESOURCE_EXHAUSTED = 8;
const RETRYABLE_GRPC = new Set([1 /* CANCELLED */, 4 /* DEADLINE_EXCEEDED */, 10 /* ABORTED */, 11 /* OUT_OF_RANGE */, 14 /* UNAVAILABLE */, 15 /* DATA_LOSS */]);

function grpcCredentials(grpc: typeof Grpc, secure: boolean, tls: OtlpTlsConfig | undefined): Grpc.ChannelCredentials {
  if (!secure) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(
    readPem(tls?.ca_file) ?? null,
    readPem(tls?.key_file) ?? null,
    readPem(tls?.cert_file) ?? null,
    // insecure_skip_verify: the certificate's name is not checked (grpc-js still checks the chain).
    tls?.insecure_skip_verify ? { checkServerIdentity: () => undefined } : {},
  );
}

const identity = (b: Buffer): Buffer => b;

/**
 * @grpc/grpc-js is loaded on the first call (it costs start-up time to every podflow command
 * otherwise, also those that never send over gRPC).
 */
class GrpcTransport implements OtlpTransport {
  readonly target: string;
  readonly #config: OtlpEndpointConfig;
  readonly #options: TransportOptions;
  readonly #address: string;
  #client: Promise<{ grpc: typeof Grpc; client: Grpc.Client; metadata: Grpc.Metadata }> | undefined;
  #closed = false;

  constructor(config: OtlpEndpointConfig, options: TransportOptions) {
    const url = new URL(config.endpoint);
    this.target = `${url.hostname.replace(/^\[|\]$/g, '')}:${url.port || (url.protocol === 'https:' ? 443 : 4317)}`;
    this.#address = url.hostname.startsWith('[') ? `${url.hostname}:${url.port || 4317}` : this.target;
    this.#config = config;
    this.#options = options;
  }

  #connect() {
    this.#client ??= import('@grpc/grpc-js').then((grpc) => {
      const config = this.#config;
      const client = new grpc.Client(this.#address, grpcCredentials(grpc, new URL(config.endpoint).protocol === 'https:', config.tls), {
        'grpc.primary_user_agent': this.#options.userAgent,
        // 2 = gzip in grpc-js's compression algorithm enumeration; 0 = identity.
        'grpc.default_compression_algorithm': config.compression === 'gzip' ? 2 : 0,
        'grpc.max_send_message_length': -1,
      });
      const metadata = new grpc.Metadata();
      for (const [k, v] of Object.entries(config.headers)) metadata.set(k.toLowerCase(), v);
      if (this.#closed) client.close();
      return { grpc, client, metadata };
    });
    return this.#client;
  }

  async send(body: Buffer, signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw signal.reason;
    const { grpc, client, metadata } = await this.#connect();
    return new Promise((resolve, reject) => {
      const call = client.makeUnaryRequest(GRPC_EXPORT_PATH, identity, identity, body, metadata.clone(), {}, (err, response) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) return reject(signal.reason);
        if (!err) {
          try {
            logPartial(this.#options.logger, this.target, response ? partialSuccessFromProto(response) : undefined);
          } catch {
            // As for HTTP: an unreadable success body is still a success.
          }
          return resolve();
        }
        let retryDelayMs: number | undefined;
        const details = err.metadata?.get(GRPC_STATUS_DETAILS)[0];
        if (Buffer.isBuffer(details)) {
          try {
            retryDelayMs = rpcStatusFromProto(details).retryDelayMs;
          } catch {
            // Unreadable details: the code alone decides.
          }
        }
        const message = `gRPC ${GRPC_EXPORT_PATH} to ${this.target}: ${grpc.status[err.code] ?? err.code}: ${err.details}`;
        const retryable = RETRYABLE_GRPC.has(err.code) || (err.code === GRPC_RESOURCE_EXHAUSTED && retryDelayMs !== undefined);
        reject(retryable ? new RetryableError(message, retryDelayMs, { cause: err }) : new PermanentError(message, { cause: err }));
      });
      const onAbort = () => call.cancel();
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#client) (await this.#client).client.close();
  }
}

export function createTransport(config: OtlpEndpointConfig, options: TransportOptions): OtlpTransport {
  return config.protocol === 'grpc' ? new GrpcTransport(config, options) : new HttpTransport(config, options);
}
