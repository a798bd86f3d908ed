import { z } from 'zod';
import { durationMs, sizeBytes } from '../../config/units.ts';
import { listenAddress } from '../shared/endpoint.ts';
import { httpAuthSchema } from '../shared/http-auth.ts';
import { serverTlsSchema } from '../shared/tls-server.ts';

export const DEFAULT_MAX_SERIES = 100_000;
export const DEFAULT_MAX_LABEL_VALUE_LENGTH = 1024;

export const configSchema = z.strictObject({
  /**
   * Where Prometheus scrapes `/metrics`. Loopback by default, as the Collector's endpoints are:
   * exposing it is a choice (the Helm chart sets the pod IP).
   */
  endpoint: listenAddress().default({ host: 'localhost', port: 9464 }),
  /** A series that received no data for this long is no longer exposed. */
  metric_expiration: durationMs({ min: 1_000 }).default(300_000),
  /** Labels added to every series (a flow's own label of the same name wins). */
  const_labels: z.record(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'label names are [a-zA-Z_][a-zA-Z0-9_]*'), z.string()).default({}),
  /** Series kept at most; flows that would add more are not exposed (counted, logged once). */
  max_series: z.number().int().min(1).max(1_000_000).default(DEFAULT_MAX_SERIES),
  /** Longest label value (UTF-8 bytes); a longer one is cut and ends in a marker saying so. */
  max_label_value_length: sizeBytes({ min: 64, max: 1024 * 1024 }).default(DEFAULT_MAX_LABEL_VALUE_LENGTH),
  /** Serve HTTPS. */
  tls: serverTlsSchema.optional(),
  /** Require a bearer token or basic credentials. */
  auth: httpAuthSchema.optional(),
});

export type PrometheusConfig = z.infer<typeof configSchema>;
