// A client certificate signed by the test CA of tls.ts, for servers that ask for one (mutual TLS).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openssl as run, type TestCertificates } from './tls.ts';

export interface ClientCertificate {
  certFile: string;
  keyFile: string;
}

/** A certificate for `commonName`, signed by the CA of `certs` (its files go into certs.dir). */
export function makeClientCertificate(certs: TestCertificates, commonName: string): ClientCertificate {
  const openssl = (...args: string[]) => run(certs.dir, ...args);
  const base = `client-${commonName.replace(/[^a-zA-Z0-9]/g, '_')}`;
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${commonName}`, '-keyout', `${base}.key`, '-out', `${base}.csr`);
  writeFileSync(join(certs.dir, `${base}.ext`), 'extendedKeyUsage=clientAuth\n');
  openssl('x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', `${base}.ext`, '-out', `${base}.pem`);
  return { certFile: join(certs.dir, `${base}.pem`), keyFile: join(certs.dir, `${base}.key`) };
}
