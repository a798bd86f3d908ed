// Credentials as the Helm chart passes them (`password: ${env:PODFLOW_PG_PASSWORD}`) reach a real
// PostgreSQL with scram-sha-256 authentication byte-exact, however hostile, and never appear in
// anything podflow prints; the libpq socket URL form reaches a server with no TCP at all.
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { missingPostgres, startPostgres, type PostgresServer } from '../../../test/harness/postgres.ts';
import { skipOrFail } from '../../../test/harness/privileges.ts';
import { until } from '../../../test/harness/wait.ts';

const FIXTURE = new URL('../../../test/harness/podflow-with-test-components.ts', import.meta.url).pathname;

/** Each would be read as something else by YAML, break a URL, or a careless quote. */
const HOSTILE_PASSWORDS = ['0123', 'null', 'a: b', '[x', '%', '50%off', '@', 'p@ss:w/rd?#', '"double" \'single\' `back`', 'ünïcødé ✓ 密码', '  spaces  around  ', '${env:HOME}', 'back\\slash'];

interface Run {
  code: number | null;
  output: string;
}

/** bin/podflow (with the test receiver) until `done` says so, then SIGTERM; stdout and stderr together. */
async function runPodflow(args: string[], env: NodeJS.ProcessEnv, done: (output: string) => Promise<boolean>): Promise<Run> {
  const child = spawn(process.execPath, [FIXTURE, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  try {
    await Promise.race([until(() => done(output), 30_000, 'podflow to write its rows', 100), exited]);
  } finally {
    child.kill('SIGTERM');
  }
  return { code: await exited, output };
}

async function rows(server: PostgresServer, database: string, schema = 'podflow'): Promise<number> {
  const result = await server.query<{ n: string }>(database, `SELECT count(*) AS n FROM ${pg.escapeIdentifier(schema)}.flows`).catch(() => [{ n: '0' }]);
  return Number(result[0]!.n);
}

let dir: string;
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'podflow-credentials-'));
});
test.after.always(() => rm(dir, { recursive: true, force: true }));

test.serial('hostile passwords reach PostgreSQL (scram-sha-256) byte-exact, from the password key and from the URL, and are never printed', async (t) => {
  if (missingPostgres()) return skipOrFail(t, missingPostgres()!);
  // Each exporter holds a writer's and its rollup job's connection: 52 for 26 exporters.
  const server = await startPostgres({ tcpAuth: 'scram-sha-256', settings: { max_connections: '120' } });
  t.teardown(() => server.stop());
  await server.query('postgres', `SET password_encryption = 'scram-sha-256'`);
  const env: NodeJS.ProcessEnv = {};
  const exporters: string[] = [];
  for (const [i, password] of HOSTILE_PASSWORDS.entries()) {
    await server.query('postgres', `CREATE ROLE r${i} LOGIN PASSWORD ${pg.escapeLiteral(password)}`);
    await server.query('postgres', `CREATE DATABASE d${i} OWNER r${i}`);
    env[`PW_${i}`] = password;
    env[`PW_URL_${i}`] = encodeURIComponent(password);
    exporters.push(
      `  postgres/key${i}:\n    endpoint: postgres://r${i}@127.0.0.1:${server.port}/d${i}\n    password: \${env:PW_${i}}\n    batch: {flush_interval: 50ms}`,
      `  postgres/url${i}:\n    endpoint: postgres://r${i}:\${env:PW_URL_${i}}@127.0.0.1:${server.port}/d${i}\n    schema: via_url\n    batch: {flush_interval: 50ms}`,
    );
  }
  const ids = HOSTILE_PASSWORDS.flatMap((_, i) => [`postgres/key${i}`, `postgres/url${i}`]);
  const file = join(dir, 'hostile.yaml');
  await writeFile(file, `receivers:
  sequence: {interval: 50ms, flows_per_batch: 1}
exporters:
${exporters.join('\n')}
service:
  shutdown_timeout: 5s
  telemetry: {logs: {level: debug}, metrics: {address: "127.0.0.1:0"}}
  pipelines:
    flows: {receivers: [sequence], exporters: [${ids.join(', ')}]}
`);

  const validate = await promisify(execFile)(process.execPath, [FIXTURE, 'validate', '--config', file], { env: { ...process.env, ...env } });
  t.is(validate.stdout, 'ok\n');
  const written = async () => {
    for (const i of HOSTILE_PASSWORDS.keys()) {
      if ((await rows(server, `d${i}`)) === 0 || (await rows(server, `d${i}`, 'via_url')) === 0) return false;
    }
    return true;
  };
  const run = await runPodflow(['run', '--config', file], env, written);
  t.is(run.code, 0, run.output);
  t.true(await written(), 'every exporter wrote rows as its role');
  t.regex(run.output, /"msg":"podflow started/);
  const printed = `${validate.stdout}${validate.stderr}${run.output}`;
  // Shorter ones (`%`, `@`) are characters any output holds; they are checked by the writes above.
  for (const password of HOSTILE_PASSWORDS.filter((p) => p.length >= 3)) {
    t.false(printed.includes(password), `printed: ${password}`);
    t.false(printed.includes(JSON.stringify(password).slice(1, -1)), `printed JSON-escaped: ${password}`);
  }
});

test.serial('a wrong password stops podflow with the server\'s reason and without the password', async (t) => {
  if (missingPostgres()) return skipOrFail(t, missingPostgres()!);
  const server = await startPostgres({ tcpAuth: 'scram-sha-256' });
  t.teardown(() => server.stop());
  await server.query('postgres', `CREATE ROLE podflow LOGIN PASSWORD 'right-password'`);
  const file = join(dir, 'wrong.yaml');
  await writeFile(file, `receivers:
  sequence: {}
exporters:
  postgres:
    endpoint: postgres://podflow:\${env:URL_PW}@127.0.0.1:${server.port}/postgres
    password: \${env:PODFLOW_PG_PASSWORD}
service:
  telemetry: {metrics: {address: ""}}
  pipelines:
    flows: {receivers: [sequence], exporters: [postgres]}
`);
  const wrong = { PODFLOW_PG_PASSWORD: 'wrong: [password 密码', URL_PW: 'url-password-also-secret' };
  const run = await runPodflow(['run', '--config', file], wrong, async () => false);
  t.is(run.code, 1);
  t.regex(run.output, /password authentication failed for user \\"podflow\\"/);
  t.false(run.output.includes(wrong.PODFLOW_PG_PASSWORD));
  t.false(run.output.includes(wrong.URL_PW));
});

test.serial('a host-less socket URL (postgres://user@/db?host=<dir>) reaches a server that listens on no TCP port', async (t) => {
  if (missingPostgres()) return skipOrFail(t, missingPostgres()!);
  // 5432: the URL names no port, so libpq's default applies; with no TCP it is only the socket's name.
  const server = await startPostgres({ tcp: false, port: 5432 });
  t.teardown(() => server.stop());
  await server.query('postgres', 'CREATE ROLE podflow LOGIN');
  await server.query('postgres', 'CREATE DATABASE flows OWNER podflow');
  t.deepEqual(await server.query('postgres', 'SHOW listen_addresses'), [{ listen_addresses: '' }], 'no TCP listener');
  const file = join(dir, 'socket.yaml');
  await writeFile(file, `receivers:
  sequence: {interval: 50ms, flows_per_batch: 1}
exporters:
  postgres:
    endpoint: postgres://podflow@/flows?host=${server.socketDir}
    batch: {flush_interval: 50ms}
service:
  telemetry: {metrics: {address: ""}}
  pipelines:
    flows: {receivers: [sequence], exporters: [postgres]}
`);
  const run = await runPodflow(['run', '--config', file], {}, async () => (await rows(server, 'flows')) > 0);
  t.is(run.code, 0, run.output);
  t.true((await rows(server, 'flows')) > 0);
});
