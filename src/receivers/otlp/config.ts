// The otlp receiver's configuration, shaped like the OpenTelemetry Collector's otlp receiver:
// `protocols: {grpc: {endpoint}, http: {endpoint}}`, each with its own limits, TLS and auth.
import { z } from 'zod';
import { listenAddress } from '../../config/endpoints.ts';
import { durationMs, sizeBytes } from '../../config/units.ts';

export const DEFAULT_MAX_REQUEST_BODY_SIZE = 16 * 1024 * 1024;

const tlsServerSchema = z.strictObject({
  /** PEM server certificate (chain) and its key. */
  cert_file: z.string().min(1),
  key_file: z.string().min(1),
  /** PEM CA(s): when set, clients must present a certificate that chains to one (mutual TLS). */
  client_ca_file: z.string().min(1).optional(),
});

const authSchema = z.strictObject({
  /** Requests must carry `authorization: Bearer <bearer_token>` (HTTP header / gRPC metadata). */
  bearer_token: z.string().min(1, 'bearer_token cannot be empty (leave auth out for no authentication)'),
});

const serverSchema = (defaultEndpoint: string) =>
  z.strictObject({
    /** host:port to listen on. */
    endpoint: listenAddress().prefault(defaultEndpoint),
    /** Largest request accepted, as sent and after decompression (a gzip bomb is refused). */
    max_request_body_size: sizeBytes({ min: 1024, max: 1024 * 1024 * 1024 }).default(DEFAULT_MAX_REQUEST_BODY_SIZE),
    tls: tlsServerSchema.optional(),
    auth: authSchema.optional(),
  });

/** `grpc:` with nothing after it (YAML null) turns the protocol on with its defaults, as in the Collector. */
const protocol = (defaultEndpoint: string) => z.preprocess((v) => (v === null ? {} : v), serverSchema(defaultEndpoint).optional());

export const otlpReceiverConfigSchema = z.strictObject({
  protocols: z
    .strictObject({
      grpc: protocol('localhost:4317'),
      http: protocol('localhost:4318'),
    })
    .refine((p) => p.grpc !== undefined || p.http !== undefined, { message: 'at least one of grpc and http must be set' })
    .prefault({ grpc: {}, http: {} }),
  /**
   * Requests being handed to the pipeline at once; one more is answered 429 / RESOURCE_EXHAUSTED
   * with `retry_after`, so the sender retries later and nothing is lost.
   */
  max_pending_requests: z.number().int().min(1).max(10_000).default(16),
  /** The wait a refused sender is told (Retry-After, RetryInfo). */
  retry_after: durationMs({ min: 1, max: 600_000 }).default(1_000),
});

export type OtlpReceiverConfig = z.infer<typeof otlpReceiverConfigSchema>;
export type OtlpServerConfig = NonNullable<OtlpReceiverConfig['protocols']['http']>;
