// Certificates for TLS tests (PostgreSQL with ssl=on, the prometheus exporter over https, the
// otlp receiver and exporter): a test CA, a server certificate it signs for 127.0.0.1 and
// localhost, and a second CA that signs nothing (for "wrong CA" cases). Made with openssl, which comes with the Debian postgresql package
// (postgresql-common -> ssl-cert -> openssl).
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { missingTool, systemTool } from './system-tools.ts';

export interface TestCertificates {
  dir: string;
  /** PEM of the CA that signed the server certificate. */
  caFile: string;
  /** PEM of a CA that signed nothing here. */
  otherCaFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  /** ssl settings for startPostgres (the server runs as nobody when the tests run as root). */
  postgresSettings: Record<string, string>;
  remove(): void;
}

/** Why no certificates can be made here, or undefined. */
export function missingOpenssl(): string | undefined {
  return missingTool('openssl');
}

/** Runs openssl in `dir`. */
export function openssl(dir: string, ...args: string[]): void {
  execFileSync(systemTool('openssl'), args, { cwd: dir, stdio: 'pipe' });
}

export function makeTestCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'podflow-tls-'));
  openssl(dir, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=podflow test CA', '-keyout', 'ca.key', '-out', 'ca.pem');
  openssl(dir, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=other CA', '-keyout', 'other.key', '-out', 'other.pem');
  openssl(dir, 'req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(dir, 'x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'san.ext', '-out', 'server.pem');
  if (process.getuid?.() === 0) {
    // PostgreSQL runs as nobody and insists on owning its key.
    for (const f of ['server.pem', 'server.key']) chownSync(join(dir, f), 65534, 65534);
    chownSync(dir, 65534, 65534);
  }
  const serverCertFile = join(dir, 'server.pem');
  const serverKeyFile = join(dir, 'server.key');
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    otherCaFile: join(dir, 'other.pem'),
    serverCertFile,
    serverKeyFile,
    postgresSettings: { ssl: 'on', ssl_cert_file: serverCertFile, ssl_key_file: serverKeyFile },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
