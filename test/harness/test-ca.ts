// A test certificate authority made with openssl (from the Debian packages of the machine): a CA,
// a server certificate for 127.0.0.1 / localhost signed by it, and an unrelated CA, for tests of
// TLS clients and servers. The files are written into `dir`.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { missingTool, systemTool } from './system-tools.ts';

export interface TestCa {
  /** The CA certificate that signed server.pem. */
  ca: string;
  /** A CA certificate that signed nothing here. */
  otherCa: string;
  serverCert: string;
  serverKey: string;
}

/** Why no test CA can be made here (openssl missing), or undefined. */
export function missingTestCa(): string | undefined {
  return missingTool('openssl');
}

export function makeTestCa(dir: string): TestCa {
  const openssl = (...args: string[]) => execFileSync(systemTool('openssl'), args, { cwd: dir, stdio: 'pipe' });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=podflow test CA', '-keyout', 'ca.key', '-out', 'ca.pem');
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=other CA', '-keyout', 'other.key', '-out', 'other.pem');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'san.ext', '-out', 'server.pem');
  return { ca: join(dir, 'ca.pem'), otherCa: join(dir, 'other.pem'), serverCert: join(dir, 'server.pem'), serverKey: join(dir, 'server.key') };
}
