import { z } from 'zod';
import { durationMs } from '../../config/units.ts';
import { httpUrl } from '../shared/endpoint.ts';
import { retryOnFailureSchema } from '../shared/retry.ts';

const labelName = z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'label names are [a-zA-Z_][a-zA-Z0-9_]*').refine((n) => !n.startsWith('__'), 'label names starting with __ are reserved');

export const configSchema = z.strictObject({
  /** The remote-write URL, e.g. http://mimir:8080/api/v1/push. No default. */
  endpoint: httpUrl(),
  /** Extra HTTP headers (X-Scope-OrgID, Authorization, ...). */
  headers: z.record(z.string(), z.string()).default({}),
  /** Labels added to every series; a flow's own label of the same name wins. */
  external_labels: z.record(labelName, z.string().min(1, 'external label values must not be empty')).default({}),
  /** One HTTP request's deadline. */
  timeout: durationMs({ min: 1 }).default(5_000),
  retry_on_failure: retryOnFailureSchema,
  sending_queue: z.strictObject({
    /** Batches waiting to be sent; past it the oldest is dropped and counted. */
    queue_size: z.number().int().min(1).max(100_000).default(100),
  }).default({ queue_size: 100 }),
  /** Series per request (Prometheus' own sender defaults to 2000 samples per send). */
  max_series_per_request: z.number().int().min(1).max(1_000_000).default(2_000),
  /** Delta input is summed into counters; a counter with no data for this long is forgotten. */
  metric_expiration: durationMs({ min: 1_000 }).default(300_000),
});

export type RemoteWriteConfig = z.infer<typeof configSchema>;
