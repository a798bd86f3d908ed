import { z } from 'zod';
import { durationMs } from '../../config/units.ts';
import { httpUrl } from '../shared/endpoint.ts';
import { exporterHelperKeys } from '../shared/exporter-helper.ts';

const labelName = z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'label names are [a-zA-Z_][a-zA-Z0-9_]*').refine((n) => !n.startsWith('__'), 'label names starting with __ are reserved');

export const configSchema = z.strictObject({
  /** The remote-write URL, e.g. http://mimir:8080/api/v1/push. No default. */
  endpoint: httpUrl(),
  /** Extra HTTP headers (X-Scope-OrgID, Authorization, ...). */
  headers: z.record(z.string(), z.string()).default({}),
  /** Labels added to every series; a flow's own label of the same name wins. */
  external_labels: z.record(labelName, z.string().min(1, 'external label values must not be empty')).default({}),
  /** The exporter queue: one request per batch; `timeout` bounds one attempt (all its HTTP requests). */
  ...exporterHelperKeys({ queue_size: 100, num_consumers: 1, max_num_consumers: 16, timeout: 5_000, max_elapsed_time: 300_000 }),
  /** Series per request (Prometheus' own sender defaults to 2000 samples per send). */
  max_series_per_request: z.number().int().min(1).max(1_000_000).default(2_000),
  /** Delta input is summed into counters; a counter with no data for this long is forgotten. */
  metric_expiration: durationMs({ min: 1_000 }).default(300_000),
});

export type RemoteWriteConfig = z.infer<typeof configSchema>;
