import { z } from 'zod';
import { httpUrl } from '../shared/endpoint.ts';
import { exporterHelperKeys } from '../shared/exporter-helper.ts';

/** The reduce processor's default max_groups; keep the two equal. */
export const DEFAULT_MAX_GROUPS = 10_000;

export const configSchema = z.strictObject({
  /** OTLP/HTTP base URL; `/v1/metrics` is appended unless the URL already ends with it. */
  endpoint: httpUrl().default('http://localhost:4318'),
  headers: z.record(z.string(), z.string()).default({}),
  compression: z.enum(['gzip', 'none']).default('gzip'),
  /** `proto`: application/x-protobuf; `json`: application/json (OTLP/JSON). */
  encoding: z.enum(['proto', 'json']).default('proto'),
  /** Aggregation temporality of the exported sums. */
  temporality: z.enum(['delta', 'cumulative']).default('cumulative'),
  /**
   * Distinct groups one batch may carry; set it to the reduce processor's `max_groups`. The SDK's
   * cardinality limit per instrument is derived from it, so no flow is folded into the SDK's
   * overflow series; a larger batch is sent in several requests.
   */
  max_groups: z.number().int().min(1).max(10_000_000).default(DEFAULT_MAX_GROUPS),
  /**
   * The exporter queue: one request per batch; `timeout` bounds one attempt (the SDK exporter
   * re-sends 429/502/503/504 within it).
   */
  ...exporterHelperKeys({ queue_size: 100, num_consumers: 1, max_num_consumers: 16, timeout: 10_000, max_elapsed_time: 300_000 }),
});

export type OtlpConfig = z.infer<typeof configSchema>;

/** The full metrics URL for an endpoint, as the Collector's otlphttp exporter builds it. */
export function metricsUrl(endpoint: string): string {
  const url = new URL(endpoint);
  if (!url.pathname.endsWith('/v1/metrics')) url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/metrics`;
  return url.toString();
}

/**
 * The SDK cardinality limit per instrument: every group yields a transmit and a receive series,
 * the reducer may add its own overflow group, and the SDK keeps one slot for its overflow series.
 */
export function cardinalityLimit(maxGroups: number): number {
  return 2 * (maxGroups + 1) + 1;
}
