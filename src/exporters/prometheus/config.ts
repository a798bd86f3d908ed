import { z } from 'zod';
import { durationMs } from '../../config/units.ts';
import { listenAddress } from '../shared/endpoint.ts';

export const configSchema = z.strictObject({
  /** Where Prometheus scrapes `/metrics`. */
  endpoint: listenAddress().default({ host: '0.0.0.0', port: 9464 }),
  /** A series that received no data for this long is no longer exposed. */
  metric_expiration: durationMs({ min: 1_000 }).default(300_000),
  /** Labels added to every series (a flow's own label of the same name wins). */
  const_labels: z.record(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'label names are [a-zA-Z_][a-zA-Z0-9_]*'), z.string()).default({}),
});

export type PrometheusConfig = z.infer<typeof configSchema>;
