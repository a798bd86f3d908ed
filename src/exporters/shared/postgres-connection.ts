// The connection to PostgreSQL, for every component that talks to it (the postgres exporter
// writes, the servicemap's postgres source reads): the config keys and the node-postgres client
// settings made from them.
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type pg from 'pg';
import { z } from 'zod';
import { parsedEndpoint, postgresUrl } from '../../config/endpoints.ts';
import { durationMs } from '../../config/units.ts';

/** A schema name that needs no quoting surprises: lower-case letters, digits, underscores. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Read with the one endpoint parser (src/config/endpoints.ts), as clientConfig reads it at run time. */
const endpoint = postgresUrl((url) => {
  const tlsKey = ['sslmode', 'sslcert', 'sslkey', 'sslrootcert', 'ssl'].find((key) => url.params.has(key));
  return tlsKey ? `URL parameter "${tlsKey}" is not read: use the tls keys` : undefined;
});

/** The connection keys, spread into a component's schema. */
export const postgresConnectionKeys = {
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
};

const postgresConnectionSchema = z.strictObject(postgresConnectionKeys);
export type PostgresConnection = z.output<typeof postgresConnectionSchema>;

/**
 * Client settings from `endpoint` (read by the same parser as the schema), `password` and `tls`.
 * The URL is taken apart here rather than handed to pg as a connection string, because pg lets
 * URL parameters override the explicit TLS settings.
 */
export function clientConfig(config: PostgresConnection, applicationName = 'podflow'): pg.ClientConfig {
  const url = parsedEndpoint(config.endpoint, ['postgres', 'postgresql']);
  // `?host=` wins, as in libpq; a value starting with `/` is a unix socket directory.
  const host = url.params.get('host') || url.host;
  const tls = config.tls;
  let ssl: pg.ClientConfig['ssl'] = false;
  if (tls.mode !== 'disable') {
    const options: ConnectionOptions = { rejectUnauthorized: tls.mode !== 'require' };
    if (tls.ca_file) options.ca = readFileSync(tls.ca_file, 'utf8');
    if (tls.cert_file && tls.key_file) {
      options.cert = readFileSync(tls.cert_file, 'utf8');
      options.key = readFileSync(tls.key_file, 'utf8');
    }
    // verify-ca checks the chain but not the name, like libpq.
    if (tls.mode === 'verify-ca') options.checkServerIdentity = () => undefined;
    ssl = options;
  }
  return {
    host,
    port: url.port ?? 5432,
    user: url.username || 'postgres',
    password: config.password ?? url.password,
    database: url.path.length > 1 ? url.path.slice(1) : 'postgres',
    ssl,
    connectionTimeoutMillis: config.connect_timeout,
    keepAlive: true,
    application_name: url.params.get('application_name') ?? applicationName,
  };
}
