// The keys of an OTLP client: the otlp exporter's, and those of each backend of the
// loadbalancing exporter (`protocol.otlp`), which adds no endpoint of its own.
import { z } from 'zod';
import { sizeBytes } from '../../../config/units.ts';
import { replacedBy } from '../exporter-helper.ts';

export const DEFAULT_HTTP_PORT = 4318;
export const DEFAULT_GRPC_PORT = 4317;

export const otlpTlsSchema = z.strictObject({
  /** PEM file of the CA(s) the server certificate must chain to; unset: the system's roots. */
  ca_file: z.string().min(1).optional(),
  /** PEM client certificate and key (mutual TLS). */
  cert_file: z.string().min(1).optional(),
  key_file: z.string().min(1).optional(),
  /** Accept any server certificate (testing only). */
  insecure_skip_verify: z.boolean().default(false),
});

export type OtlpTlsConfig = z.infer<typeof otlpTlsSchema>;

/** Every key of an OTLP client but the endpoint. */
export const otlpClientKeys = {
  /** `http`: OTLP/HTTP (POST /v1/metrics); `grpc`: OTLP/gRPC (MetricsService/Export). */
  protocol: z.enum(['http', 'grpc']).default('http'),
  /** Extra HTTP headers / gRPC metadata (e.g. `authorization: Bearer ...`). */
  headers: z.record(z.string(), z.string()).default({}),
  /** Body compression: gzip, zstd (HTTP only) or none. */
  compression: z.enum(['gzip', 'zstd', 'none']).default('gzip'),
  /** `proto`: application/x-protobuf; `json`: application/json (OTLP/JSON, HTTP only). */
  encoding: z.enum(['proto', 'json']).default('proto'),
  /** Aggregation temporality of the exported sums. */
  temporality: z.enum(['delta', 'cumulative']).default('cumulative'),
  /**
   * A batch is sent in requests of at most this many bytes before compression (the Collector's
   * gRPC receiver takes 4 MiB by default, podflow's HTTP receiver 16 MiB).
   */
  max_request_size: sizeBytes({ min: 4096, max: 256 * 1024 * 1024 }).default(4 * 1024 * 1024),
  /** TLS settings for an https:// endpoint. */
  tls: otlpTlsSchema.optional(),
  max_groups: replacedBy('max_request_size', 'a batch is cut into requests by size; no flow is ever folded into an overflow series'),
};

export interface OtlpClientConfig {
  protocol: 'http' | 'grpc';
  headers: Record<string, string>;
  compression: 'gzip' | 'zstd' | 'none';
  encoding: 'proto' | 'json';
  temporality: 'delta' | 'cumulative';
  max_request_size: number;
  tls?: OtlpTlsConfig | undefined;
}

/** An OTLP client config with the backend it sends to. */
export interface OtlpEndpointConfig extends OtlpClientConfig {
  /** `http(s)://host:port[/path]` */
  endpoint: string;
}

interface IssueSink {
  addIssue(issue: { code: 'custom'; message: string; path: PropertyKey[] }): void;
}

/** What the keys cannot be together: reported on the key that has to change. */
export function checkOtlpClient(config: OtlpClientConfig, ctx: IssueSink): void {
  if (config.protocol === 'grpc' && config.encoding === 'json') {
    ctx.addIssue({ code: 'custom', message: 'OTLP/gRPC is protobuf only: use encoding: proto (or protocol: http)', path: ['encoding'] });
  }
  if (config.protocol === 'grpc' && config.compression === 'zstd') {
    ctx.addIssue({ code: 'custom', message: 'OTLP/gRPC compresses with gzip or none (zstd is for protocol: http)', path: ['compression'] });
  }
  if (config.tls && (config.tls.cert_file === undefined) !== (config.tls.key_file === undefined)) {
    ctx.addIssue({ code: 'custom', message: 'tls.cert_file and tls.key_file go together', path: ['tls'] });
  }
}

/** The full metrics URL of an OTLP/HTTP endpoint, as the Collector's otlphttp exporter builds it. */
export function metricsUrl(endpoint: string): string {
  const url = new URL(endpoint);
  if (!url.pathname.endsWith('/v1/metrics')) url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/metrics`;
  return url.toString();
}
