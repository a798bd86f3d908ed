// From the exporter's config to node-postgres client settings, and what a failure means.
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type pg from 'pg';
import { parsedEndpoint } from '../../config/endpoints.ts';
import type { PostgresConfig } from './config.ts';

/**
 * Client settings from `endpoint` (read by the same parser as the schema), `password` and `tls`.
 * The URL is taken apart here rather than handed to pg as a connection string, because pg lets
 * URL parameters override the explicit TLS settings.
 */
export function clientConfig(config: PostgresConfig, applicationName = 'podflow'): pg.ClientConfig {
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

/** The SQLSTATE of a server error, if it is one. */
function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * Data the server refuses for what it is (a value it cannot store, a row too large): sending
 * it again cannot help. Class 22 data exception, 23 integrity (but "no partition of relation
 * found for row", also 23514, which a retry fixes by creating the partition), 54 program limit exceeded.
 */
export function isRejectedData(err: unknown): boolean {
  const code = sqlState(err);
  if (!code) return false;
  if (code === '23514' && /no partition/i.test((err as Error).message)) return false;
  return code.startsWith('22') || code.startsWith('23') || code.startsWith('54');
}

/** The schema or table is gone (someone dropped it): migrating again fixes it. */
export function isMissingSchema(err: unknown): boolean {
  const code = sqlState(err);
  return code === '3F000' || code === '42P01' || code === '42883';
}

/**
 * Not a server's verdict on the request but on reaching it: refused, reset, timed out, the
 * server shutting down or starting (class 08 connection, 57 operator intervention, 53
 * resources). At start-up these mean "not yet": the exporter starts and retries.
 */
export function isConnectionProblem(err: unknown): boolean {
  const code = sqlState(err);
  if (code) return code.startsWith('08') || code.startsWith('57') || code.startsWith('53');
  const sysCode = (err as { code?: unknown } | null)?.code;
  if (typeof sysCode === 'string' && sysCode.startsWith('E')) return true; // ECONNREFUSED, ECONNRESET, ETIMEDOUT, ENOTFOUND...
  const message = err instanceof Error ? err.message : String(err);
  return /Connection terminated|timeout|ECONNRE|socket|closed/i.test(message);
}
