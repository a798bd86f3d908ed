import { z } from 'zod';
import { postgresUrl } from '../../config/endpoints.ts';
import { durationMs } from '../../config/units.ts';

/** A schema name that needs no quoting surprises: lower-case letters, digits, underscores. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Read with the one endpoint parser (src/config/endpoints.ts), as the exporter reads it at run time. */
const endpoint = postgresUrl((url) => {
  const tlsKey = ['sslmode', 'sslcert', 'sslkey', 'sslrootcert', 'ssl'].find((key) => url.params.has(key));
  return tlsKey ? `URL parameter "${tlsKey}" is not read: use the tls keys` : undefined;
});

export const postgresConfigSchema = z.strictObject({
  /**
   * `postgres://user:password@host:5432/database`, or a unix socket directory as libpq writes it:
   * `postgres://user@/database?host=/var/run/postgresql`. `${env:PGPASSWORD}` works inside it.
   */
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
      /** Rows per COPY: a batch is written once it has this many rows... */
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
   * Connections writing batches at once (each batch still one transaction). More than one lets
   * the server parse one COPY on a core while another commits or waits for its data.
   */
  writers: z.number().int().min(1).max(16).default(1),
  /** Batches (of up to batch.max_rows rows) waiting while PostgreSQL is slow or down; past it the oldest is dropped. */
  queue_size: z.number().int().min(1).max(100_000).default(20),
  retry_on_failure: z
    .strictObject({
      /** First wait after a failed write; doubles (with jitter) up to max_interval. */
      initial_interval: durationMs({ min: 1 }).default(1_000),
      max_interval: durationMs({ min: 1 }).default(30_000),
    })
    .prefault({}),
  /** How long shutdown keeps trying to write what is queued; what is left then is counted as dropped. */
  flush_timeout: durationMs({ min: 0 }).default(10_000),
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
