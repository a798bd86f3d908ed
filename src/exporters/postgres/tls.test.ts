// The tls modes against a real PostgreSQL with ssl=on and a certificate from a test CA. openssl
// comes with the Debian postgresql package (postgresql-common -> ssl-cert -> openssl).
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { skipOrFail } from '../../../test/harness/privileges.ts';
import { makeTestCa, missingTestCa } from '../../../test/harness/test-ca.ts';
import { missingPostgres, startPostgres, type PostgresServer } from '../../../test/harness/postgres.ts';
import { queued } from '../../../test/harness/exporter-queue.ts';
import { postgresConfigSchema } from './config.ts';
import { postgresExporterFactory } from './index.ts';
import { PostgresExporter } from './postgres-exporter.ts';
import { deltaBatch, flowAt } from './testdata/flows.ts';

let unavailable = missingPostgres();
let server: PostgresServer | undefined;
let dir = '';

test.before(async () => {
  if (unavailable) return;
  unavailable = missingTestCa();
  if (unavailable) return;
  dir = mkdtempSync(join(tmpdir(), 'podflow-pg-tls-'));
  makeTestCa(dir);
  if (process.getuid?.() === 0) {
    // the server runs as nobody and insists on owning its key
    for (const f of ['server.pem', 'server.key']) chownSync(join(dir, f), 65534, 65534);
    chownSync(dir, 65534, 65534);
  }
  server = await startPostgres({
    settings: { ssl: 'on', ssl_cert_file: join(dir, 'server.pem'), ssl_key_file: join(dir, 'server.key') },
  });
  await server.createDatabase('tls');
});

test.after.always(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function ready(t: import('ava').ExecutionContext): PostgresServer | undefined {
  if (server) return server;
  skipOrFail(t, unavailable ?? 'no PostgreSQL server');
  return undefined;
}

function exporter(s: PostgresServer, tls: Record<string, string>) {
  const config = postgresConfigSchema.parse({ endpoint: s.url('tls'), retention: 0, tls });
  return queued('postgres/tls', postgresExporterFactory.queueSettings!(config), (ctx) => new PostgresExporter(ctx, config));
}

test('tls require and verify-full (test CA) write over TLS; the server sees an encrypted session', async (t) => {
  const s = ready(t);
  if (!s) return;
  const modes: Array<Record<string, string>> = [{ mode: 'require' }, { mode: 'verify-full', ca_file: join(dir, 'ca.pem') }, { mode: 'verify-ca', ca_file: join(dir, 'ca.pem') }];
  for (const tls of modes) {
    const q = exporter(s, tls);
    await q.exporter.start();
    await q.consume(deltaBatch([flowAt(Date.UTC(2030, 0, 1), { mode: tls.mode! }, { txBytes: 1 })]));
    for (let i = 0; i < 200 && (await q.metric('podflow_exporter_sent_flows_total')) === 0; i++) await new Promise((r) => setTimeout(r, 20));
    // the exporter's connection, as the server sees it
    t.deepEqual(await s.query('tls', `SELECT count(*)::int AS n, bool_and(s.ssl) AS ssl FROM pg_stat_ssl s
      JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'podflow'`), [{ n: 1, ssl: true }], tls.mode);
    t.true(await q.shutdown(2_000));
    t.is(await q.metric('podflow_exporter_sent_flows_total'), 1, tls.mode);
  }
  t.deepEqual(await s.query('tls', `SELECT attributes->>'mode' AS mode FROM podflow.flows ORDER BY 1`), [{ mode: 'require' }, { mode: 'verify-ca' }, { mode: 'verify-full' }]);
});

test('a certificate from another CA fails start with the reason', async (t) => {
  const s = ready(t);
  if (!s) return;
  const q = exporter(s, { mode: 'verify-full', ca_file: join(dir, 'other.pem') });
  await t.throwsAsync(q.exporter.start(), { message: /postgres exporter postgres\/tls: .*(certificate|verify)/i });
  await q.shutdown();
});
