// TLS of the exporters that serve HTTP (prometheus): the Collector's server `tls` keys
// (cert_file, key_file, client_ca_file, min_version) and the node:https options made from them.
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureVersion } from 'node:tls';
import type { ServerOptions } from 'node:https';
import { z } from 'zod';

/** `tls`: serve HTTPS with this certificate; with `client_ca_file`, clients must present one it signed. */
export const serverTlsSchema = z.strictObject({
  /** PEM certificate (chain) the server presents. */
  cert_file: z.string().min(1),
  /** PEM private key of that certificate. */
  key_file: z.string().min(1),
  /** PEM CA(s): when set, a client must present a certificate they signed (mutual TLS). */
  client_ca_file: z.string().min(1).optional(),
  /** The oldest TLS version accepted. */
  min_version: z.enum(['1.2', '1.3']).default('1.2'),
});

export type ServerTls = z.output<typeof serverTlsSchema>;

function readPem(key: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`tls.${key}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

/**
 * The https server options: files read now, and checked (a key that does not match its
 * certificate, or a file that is not PEM, fails here with the keys named, not at the first client).
 */
export function serverTlsOptions(tls: ServerTls): ServerOptions {
  const options: ServerOptions = {
    cert: readPem('cert_file', tls.cert_file),
    key: readPem('key_file', tls.key_file),
    minVersion: `TLSv${tls.min_version}` as SecureVersion,
  };
  if (tls.client_ca_file !== undefined) {
    options.ca = readPem('client_ca_file', tls.client_ca_file);
    options.requestCert = true;
    options.rejectUnauthorized = true;
  }
  try {
    createSecureContext(options);
  } catch (err) {
    throw new Error(`tls: ${tls.cert_file} and ${tls.key_file} are not a usable certificate and key: ${(err as Error).message}`, { cause: err });
  }
  return options;
}
