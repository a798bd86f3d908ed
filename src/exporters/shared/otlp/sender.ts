// One OTLP backend as an exporter uses it: flows → request bodies (the fast encoder, protobuf or
// OTLP/JSON, compressed for HTTP), and bodies → the backend (transport.ts). The otlp exporter has
// one; the loadbalancing exporter one per gateway.
import { readFileSync } from 'node:fs';
import { constants, gzipSync, zstdCompressSync } from 'node:zlib';
import type { Logger } from 'pino';
import type { Attributes, Flow, Temporality } from '../../../model/index.ts';
import type { OtlpEndpointConfig } from './config.ts';
import { OtlpJsonEncoder } from './json-encoder.ts';
import { copyBody, OtlpProtoEncoder, type BodyFinisher, type OtlpEncoder } from './proto-encoder.ts';
import { createTransport, type OtlpTransport } from './transport.ts';

export const PODFLOW_VERSION = (JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The resource a batch is sent with: the sender's own (a batch received over OTLP), else this process's. */
export function resourceOf(batchResource: Attributes | undefined, own: Attributes): Attributes {
  return batchResource ?? { 'service.name': 'podflow', 'service.version': PODFLOW_VERSION, ...own };
}

export class OtlpSender {
  readonly #encoder: OtlpEncoder;
  readonly #finish: BodyFinisher;
  readonly #transport: OtlpTransport;

  constructor(config: OtlpEndpointConfig, logger: Logger) {
    this.#encoder = config.encoding === 'json'
      ? new OtlpJsonEncoder({ maxRequestBytes: config.max_request_size, scopeVersion: PODFLOW_VERSION })
      : new OtlpProtoEncoder({ maxRequestBytes: config.max_request_size, scopeVersion: PODFLOW_VERSION });
    // gRPC compresses each message itself (grpc-encoding); HTTP bodies are compressed here, once.
    const http = config.protocol === 'http';
    this.#finish = !http || config.compression === 'none' ? copyBody
      : config.compression === 'gzip' ? (body) => gzipSync(body, { level: 1 })
      : (body) => zstdCompressSync(body, { params: { [constants.ZSTD_c_compressionLevel]: 1 } });
    this.#transport = createTransport(config, {
      contentType: this.#encoder.contentType,
      contentEncoding: http && config.compression !== 'none' ? config.compression : undefined,
      userAgent: `podflow/${PODFLOW_VERSION}`,
      logger,
    });
  }

  get target(): string {
    return this.#transport.target;
  }

  /** The flows as request bodies, ready to send (none when no flow carried anything). */
  encode(resource: Attributes, temporality: Temporality, flows: readonly Flow[]): Buffer[] {
    return this.#encoder.encode(resource, temporality, flows, this.#finish);
  }

  send(body: Buffer, signal: AbortSignal): Promise<void> {
    return this.#transport.send(body, signal);
  }

  close(): Promise<void> {
    return this.#transport.close();
  }
}
