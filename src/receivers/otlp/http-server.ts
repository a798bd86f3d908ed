// OTLP/HTTP: POST /v1/metrics with an ExportMetricsServiceRequest as application/x-protobuf or
// application/json, optionally gzip / deflate / zstd compressed. Answers as the OTLP
// specification says: 200 with an ExportMetricsServiceResponse; 400 with a google.rpc.Status
// naming the place for a body that is not flows; 401 without the bearer token; 413 over
// max_request_body_size (as sent or decompressed); 415 for another content type or encoding;
// 429 with Retry-After and RetryInfo when the pipeline is full.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { inflate, zstdDecompress } from 'node:zlib';
import type { Logger } from 'pino';
import type { OtlpServerConfig } from './config.ts';
import { decodeJsonRequest } from './decode-json.ts';
import { decodeProtoRequest } from './decode-proto.ts';
import { gunzipWhole } from './gunzip.ts';
import { OtlpInputError, type ReceivedBatch } from './flow-assembler.ts';
import type { Intake, RefusalReason } from './intake.ts';
import { bearerTokenMatches } from './auth.ts';
import { RpcCode, statusJson, statusProto } from './status.ts';

export const METRICS_PATH = '/v1/metrics';

/** How long close() waits for requests in flight. */
const CLOSE_GRACE_MS = 5_000;

type Decompress = (body: Buffer, options: { maxOutputLength: number }) => Promise<Buffer>;
const DECOMPRESS: Record<string, Decompress> = {
  gzip: (body, { maxOutputLength }) => gunzipWhole(body, maxOutputLength),
  deflate: promisify(inflate) as Decompress,
  zstd: promisify(zstdDecompress) as Decompress,
};

class Refusal extends Error {
  readonly status: number;
  readonly reason: RefusalReason;
  readonly rpcCode: number;
  constructor(status: number, reason: RefusalReason, message: string, rpcCode: number = RpcCode.INVALID_ARGUMENT) {
    super(message);
    this.status = status;
    this.reason = reason;
    this.rpcCode = rpcCode;
  }
}

function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.removeAllListeners('data');
        req.resume();
        reject(new Refusal(413, 'too_large', `request body over max_request_body_size (${maxBytes} bytes)`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

export class OtlpHttpServer {
  readonly #config: OtlpServerConfig;
  readonly #intake: Intake;
  readonly #logger: Logger;
  readonly #retryAfterMs: number;
  readonly #server: Server;

  constructor(config: OtlpServerConfig, intake: Intake, retryAfterMs: number, logger: Logger) {
    this.#config = config;
    this.#intake = intake;
    this.#retryAfterMs = retryAfterMs;
    this.#logger = logger;
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.#handle(req, res);
    const tls = config.tls;
    this.#server = tls
      ? createHttpsServer({ cert: readFileSync(tls.cert_file), key: readFileSync(tls.key_file), ...(tls.client_ca_file ? { ca: readFileSync(tls.client_ca_file), requestCert: true, rejectUnauthorized: true } : {}) }, handler)
      : createHttpServer(handler);
  }

  /** Listens; resolves with the bound address (port 0 gets a free port). */
  listen(): Promise<AddressInfo> {
    const { host, port } = this.#config.endpoint;
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  /**
   * Stops listening; requests being handed to the pipeline are answered first (their senders
   * must not retry what was accepted), idle keep-alive connections are closed at once, and what
   * is still open after CLOSE_GRACE_MS is cut.
   */
  close(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#server.closeAllConnections(), CLOSE_GRACE_MS);
      this.#server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      this.#server.closeIdleConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const json = contentType === 'application/json';
    try {
      const path = (req.url ?? '').split('?')[0];
      if (path !== METRICS_PATH) throw new Refusal(404, 'not_found', `no such path: ${path} (OTLP metrics go to POST ${METRICS_PATH})`);
      if (req.method !== 'POST') throw new Refusal(405, 'not_found', `${req.method} ${METRICS_PATH}: only POST`);
      const auth = this.#config.auth;
      if (auth && !bearerTokenMatches(req.headers.authorization, auth.bearer_token)) {
        throw new Refusal(401, 'unauthenticated', 'missing or wrong bearer token (authorization: Bearer <token>)', RpcCode.UNAUTHENTICATED);
      }
      if (!json && contentType !== 'application/x-protobuf') {
        throw new Refusal(415, 'content_type', `content type "${contentType}" is not application/x-protobuf or application/json`);
      }
      const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
      const decompress = DECOMPRESS[encoding];
      if (!decompress && encoding !== 'identity' && encoding !== 'none') {
        throw new Refusal(415, 'content_type', `content encoding "${encoding}" is not gzip, deflate, zstd or identity`);
      }
      // Refused before the body is read: the sender retries the same request later.
      if (this.#intake.full) {
        this.#intake.refuse('http', 'pipeline_full');
        req.resume();
        return this.#answerError(res, json, 429, RpcCode.RESOURCE_EXHAUSTED, 'the pipeline is full: retry later', this.#retryAfterMs);
      }
      const max = this.#config.max_request_body_size;
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > max) throw new Refusal(413, 'too_large', `request body of ${declared} bytes over max_request_body_size (${max} bytes)`);
      const raw = await readBody(req, max);
      let body = raw;
      if (decompress) {
        try {
          body = await decompress(raw, { maxOutputLength: max });
        } catch (err) {
          if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
            throw new Refusal(413, 'too_large', `${encoding} body decompresses to more than max_request_body_size (${max} bytes): refused`);
          }
          throw new Refusal(400, 'malformed', `body is not valid ${encoding} (${(err as Error).message})`);
        }
      }
      let received: ReceivedBatch[];
      try {
        received = json ? decodeJsonRequest(body.toString('utf8')) : decodeProtoRequest(body);
      } catch (err) {
        if (err instanceof OtlpInputError) throw new Refusal(400, err.reason, err.message);
        throw err;
      }
      const result = await this.#intake.accept('http', received);
      if (!result.accepted) {
        return result.reason === 'pipeline_full'
          ? this.#answerError(res, json, 429, RpcCode.RESOURCE_EXHAUSTED, result.message, this.#retryAfterMs)
          : this.#answerError(res, json, 503, RpcCode.INTERNAL, result.message, this.#retryAfterMs);
      }
      if (json) res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    } catch (err) {
      if (err instanceof Refusal) {
        if (err.reason !== 'pipeline_full') this.#intake.refuse('http', err.reason);
        if (err.status === 413) res.setHeader('connection', 'close');
        return this.#answerError(res, json, err.status, err.rpcCode, err.message);
      }
      this.#logger.error({ err: (err as Error).message }, 'otlp receiver: unexpected error while handling a request');
      this.#answerError(res, json, 500, RpcCode.INTERNAL, (err as Error).message);
    }
  }

  #answerError(res: ServerResponse, json: boolean, status: number, code: number, message: string, retryAfterMs?: number): void {
    if (res.headersSent) return;
    const headers: Record<string, string> = { 'content-type': json ? 'application/json' : 'application/x-protobuf' };
    if (retryAfterMs !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
    if (status === 401) headers['www-authenticate'] = 'Bearer';
    res.writeHead(status, headers).end(json ? statusJson(code, message, retryAfterMs) : statusProto(code, message, retryAfterMs));
  }
}
