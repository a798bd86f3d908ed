import { z } from 'zod';
import { durationMs } from '../../config/units.ts';
import { exporterHelperKeys, replacedBy } from '../shared/exporter-helper.ts';

/** A schema name that needs no quoting surprises: lower-case letters, digits, underscores. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

const endpoint = z.string().superRefine((text, ctx) => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'not a URL: use postgres://user:password@host:5432/database' });
    return;
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    ctx.addIssue({ code: 'custom', message: `scheme must be postgres:// or postgresql://, got ${url.protocol}//` });
  }
  if (!url.hostname) ctx.addIssue({ code: 'custom', message: 'the URL names no host' });
  for (const key of ['sslmode', 'sslcert', 'sslkey', 'sslrootcert', 'ssl']) {
    if (url.searchParams.has(key)) ctx.addIssue({ code: 'custom', message: `URL parameter "${key}" is not read: use the tls keys` });
  }
});

export const postgresConfigSchema = z.strictObject({
  /** `postgres://user:password@host:5432/database`; `${env:PGPASSWORD}` works inside it. */
  endpoint,
  /** Overrides the URL's password (for passwords with characters a URL would need escaped). */
  password: z.string().optional(),
  /** Schema that holds `flows`, `schema_migrations` and the node graph functions. */
  schema: z
    .string()
    .regex(SCHEMA_NAME, 'schema must be a lower-case SQL identifier ([a-z_][a-z0-9_]*, at most 63 characters)')
    .default('podflow'),
  batch: z
    .strictObject({
      /** Rows per request (one COPY): a request is sent once it has this many rows... */
      max_rows: z.number().int().min(1).max(1_000_000).default(10_000),
      /** ...or once its first row has waited this long. */
      flush_interval: durationMs({ min: 1, max: 3_600_000 }).default(1_000),
    })
    .prefault({}),
  /** Partitions (one per UTC day) wholly older than this are dropped; 0 keeps everything. */
  retention: durationMs({ min: 0 })
    .refine((ms) => ms === 0 || ms >= 3_600_000, 'retention must be 0 (keep everything) or at least 1h')
    .default(7 * 86_400_000),
  /**
   * The exporter queue. A request is up to batch.max_rows rows, written in one transaction.
   * `sending_queue.num_consumers` requests are written at once, each on a connection of its own:
   * more than one lets the server parse one COPY on a core while another commits or waits for
   * its data. Retries never give up by default (max_elapsed_time 0): the queue bound is what
   * limits memory. `timeout` bounds one write (partitions, COPY, COMMIT).
   */
  ...exporterHelperKeys({ queue_size: 20, num_consumers: 1, max_num_consumers: 16, timeout: 120_000, max_elapsed_time: 0 }),
  queue_size: replacedBy('sending_queue.queue_size'),
  writers: replacedBy('sending_queue.num_consumers', 'each consumer writes on a connection of its own'),
  flush_timeout: replacedBy('service.shutdown_timeout', 'the runtime drains every exporter queue within it'),
  /** Connecting (TCP + TLS + authentication) fails after this long. */
  connect_timeout: durationMs({ min: 1 }).default(10_000),
  tls: z
    .strictObject({
      /**
       * `disable`: plain TCP. `require`: TLS without checking the certificate. `verify-ca`: the
       * certificate must chain to ca_file (or the system roots). `verify-full`: and name the host.
       */
      mode: z.enum(['disable', 'require', 'verify-ca', 'verify-full']).default('disable'),
      /** PEM file with the CA(s) the server certificate must chain to. */
      ca_file: z.string().min(1).optional(),
      /** PEM client certificate and key, for certificate authentication. */
      cert_file: z.string().min(1).optional(),
      key_file: z.string().min(1).optional(),
    })
    .refine((tls) => (tls.cert_file === undefined) === (tls.key_file === undefined), 'tls.cert_file and tls.key_file go together')
    .prefault({}),
});

export type PostgresConfig = z.output<typeof postgresConfigSchema>;
