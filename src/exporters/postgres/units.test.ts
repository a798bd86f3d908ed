// Config schema, COPY row encoding and the row queue: no server needed.
import test from 'ava';
import { postgresConfigSchema } from './config.ts';
import { clientConfig, isConnectionProblem, isRejectedData } from './connection.ts';
import { batchLines, RowQueue, type RowBatch } from './row-queue.ts';
import { COPY_COLUMNS, copyEscape, encodeFlow, timestampText } from './rows.ts';
import { flowAt, fullFlow } from './testdata/flows.ts';

const URL_OK = 'postgres://podflow:s3cret@db.example:5433/flows';

function issues(input: unknown): string[] {
  const r = postgresConfigSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

test('config: defaults', (t) => {
  t.deepEqual(postgresConfigSchema.parse({ endpoint: URL_OK }), {
    endpoint: URL_OK,
    schema: 'podflow',
    batch: { max_rows: 10_000, flush_interval: 1000 },
    retention: 7 * 86_400_000,
    writers: 1,
    queue_size: 20,
    retry_on_failure: { initial_interval: 1000, max_interval: 30_000 },
    flush_timeout: 10_000,
    connect_timeout: 10_000,
    tls: { mode: 'disable' },
  });
  t.deepEqual(issues({}), ['endpoint: Invalid input: expected string, received undefined']);
});

test('config: bad values name the key', (t) => {
  t.deepEqual(issues({ endpoint: 'mysql://x/y' }), ['endpoint: scheme must be postgres:// or postgresql://, got mysql://']);
  t.deepEqual(issues({ endpoint: 'nonsense' }), ['endpoint: not a URL: use postgres://user:password@host:5432/database']);
  t.deepEqual(issues({ endpoint: `${URL_OK}?sslmode=require` }), ['endpoint: URL parameter "sslmode" is not read: use the tls keys']);
  t.deepEqual(issues({ endpoint: URL_OK, schema: 'Bad-Name' }), ['schema: schema must be a lower-case SQL identifier ([a-z_][a-z0-9_]*, at most 63 characters)']);
  t.deepEqual(issues({ endpoint: URL_OK, retention: '30m' }), ['retention: retention must be 0 (keep everything) or at least 1h']);
  t.deepEqual(issues({ endpoint: URL_OK, batch: { max_rows: 0 } }), ['batch.max_rows: Too small: expected number to be >=1']);
  t.deepEqual(issues({ endpoint: URL_OK, batch: { flush_interval: 'soon' } }), ['batch.flush_interval: "soon" is not a duration (use e.g. 500ms, 5s, 2m, 1h30m, 7d)']);
  t.deepEqual(issues({ endpoint: URL_OK, tls: { mode: 'verify-full', cert_file: '/c.pem' } }), ['tls: tls.cert_file and tls.key_file go together']);
  t.deepEqual(issues({ endpoint: URL_OK, queue: 3 }), [': Unrecognized key: "queue"']);
  t.deepEqual(postgresConfigSchema.parse({ endpoint: URL_OK, retention: 0 }).retention, 0);
});

test('clientConfig: URL parts, password override, TLS modes', (t) => {
  const base = postgresConfigSchema.parse({ endpoint: 'postgres://u%40x:p%2Fw@db:6543/my%20db?application_name=pf' });
  t.like(clientConfig(base), { host: 'db', port: 6543, user: 'u@x', password: 'p/w', database: 'my db', ssl: false, application_name: 'pf' });
  const override = postgresConfigSchema.parse({ endpoint: 'postgres://u@db/x', password: 'from-env:@/' });
  t.like(clientConfig(override), { password: 'from-env:@/', port: 5432, application_name: 'podflow' });
  t.deepEqual(clientConfig(postgresConfigSchema.parse({ endpoint: 'postgres://db/x', tls: { mode: 'require' } })).ssl, { rejectUnauthorized: false });
  const verifyCa = clientConfig(postgresConfigSchema.parse({ endpoint: 'postgres://db/x', tls: { mode: 'verify-ca' } })).ssl as { rejectUnauthorized: boolean; checkServerIdentity: () => unknown };
  t.is(verifyCa.rejectUnauthorized, true);
  t.is(verifyCa.checkServerIdentity(), undefined);
  t.deepEqual(clientConfig(postgresConfigSchema.parse({ endpoint: 'postgres://db/x', tls: { mode: 'verify-full' } })).ssl, { rejectUnauthorized: true });
  t.throws(() => clientConfig(postgresConfigSchema.parse({ endpoint: 'postgres://db/x', tls: { mode: 'verify-full', ca_file: '/no/such/ca.pem' } })), { message: /no\/such\/ca\.pem/ });
  t.like(clientConfig(postgresConfigSchema.parse({ endpoint: 'postgres://u@localhost/x?host=/var/run/postgresql' })), { host: '/var/run/postgresql' });
});

test('errors: which are the data, which are the connection', (t) => {
  const e = (code: string, message = 'x') => Object.assign(new Error(message), { code });
  t.true(isRejectedData(e('22P02')));
  t.true(isRejectedData(e('23514', 'new row violates check constraint')));
  t.false(isRejectedData(e('23514', 'no partition of relation "flows" found for row')));
  t.false(isRejectedData(e('57P01')));
  t.false(isRejectedData(new Error('Connection terminated unexpectedly')));
  t.true(isConnectionProblem(e('ECONNREFUSED')));
  t.true(isConnectionProblem(e('57P03')));
  t.true(isConnectionProblem(e('08006')));
  t.true(isConnectionProblem(new Error('Connection terminated due to connection timeout')));
  t.false(isConnectionProblem(e('28P01', 'password authentication failed')));
  t.false(isConnectionProblem(e('3D000', 'database "x" does not exist')));
});

test('rows: timestamps keep microseconds', (t) => {
  t.is(timestampText(1_700_000_000_123_456_789n), '2023-11-14T22:13:20.123456Z');
  t.is(timestampText(0n), '1970-01-01T00:00:00.000000Z');
});

test('rows: COPY text escaping', (t) => {
  t.is(copyEscape('plain'), 'plain');
  t.is(copyEscape('a\tb\nc\\d\re'), 'a\\tb\\nc\\\\d\\re');
});

test('rows: a full flow is one line with a field per column', (t) => {
  const r = encodeFlow(fullFlow(5, Date.UTC(2030, 0, 1, 23, 59, 59)));
  if ('invalid' in r) return t.fail(r.invalid);
  t.is(r.day, '2030-01-01');
  t.true(r.line.endsWith('\n'));
  const fields = r.line.slice(0, -1).split('\t');
  t.is(fields.length, COPY_COLUMNS.length);
  const byColumn = Object.fromEntries(COPY_COLUMNS.map((c, i) => [c, fields[i]]));
  t.like(byColumn, {
    start_time: '2030-01-01T23:59:59.000000Z', end_time: '2030-01-02T00:00:09.000000Z', node: 'node-a',
    src_address: '10.1.0.5', src_port: '30005', dst_port: '9080', inter_zone: 't', dst_domain: '\\N',
    tx_bytes: '1005', rx_bytes: '20015', tx_packets: '10', rx_packets: '25', connections: '2',
    attributes: '{"network.type":"ipv4","k8s.cluster.name":"test","seq":5}',
  });
});

test('rows: what cannot be stored is refused with a reason', (t) => {
  t.deepEqual(encodeFlow(flowAt(0, {}, { txBytes: Number.NaN })), { invalid: 'tx_bytes is NaN, not an integer' });
  t.deepEqual(encodeFlow({ ...flowAt(0, {}), startTimeUnixNano: -1n }), { invalid: 'start time -1ns is outside 1970..9999' });
  t.deepEqual(encodeFlow({ ...flowAt(0, {}), timeUnixNano: 10n ** 30n }), { invalid: `end time ${10n ** 30n}ns is outside 1970..9999` });
});

const row = (i: number) => ({ line: `${i}\n`, day: '2030-01-01' });
const linesOf = (b: RowBatch | undefined) => (b ? batchLines(b) : undefined);

test('queue: rows fill batches up to max_rows; take waits for full, newer, or flush_interval', (t) => {
  const q = new RowQueue(3, 10);
  t.deepEqual(q.push([row(1), row(2)], 1000), []);
  t.is(q.take(1000, 500), undefined);
  t.is(q.msUntilReady(1200, 500), 300);
  t.deepEqual(linesOf(q.take(1500, 500)), ['1\n', '2\n']);
  q.push([row(3), row(4), row(5), row(6)], 2000);
  t.is(q.batches, 2);
  t.is(q.msUntilReady(2000, 500), 0);
  t.deepEqual(linesOf(q.take(2000, 500)), ['3\n', '4\n', '5\n']);
  t.is(q.take(2000, 500), undefined);
  t.deepEqual(linesOf(q.take(2000, 500, true)), ['6\n']);
  t.is(q.rows, 0);
});

test('queue: overflow drops the oldest waiting batch; a put-back batch keeps its place', (t) => {
  const q = new RowQueue(2, 2);
  t.deepEqual(q.push([row(1), row(2), row(3), row(4)], 0), []);
  const inFlight = q.take(0, 1000)!; // 1,2 being written
  q.push([row(5), row(6)], 0);
  const dropped = q.push([row(7)], 0);
  t.deepEqual(dropped.map(batchLines), [['3\n', '4\n']]);
  q.putBack(inFlight); // the write failed
  t.is(q.rows, 5);
  t.deepEqual(linesOf(q.take(0, 1000)), ['1\n', '2\n']);
  t.deepEqual(q.clear().map(batchLines), [['5\n', '6\n'], ['7\n']]);
  t.is(q.rows, 0);
});

test('rows: the attributes field is JSON that round-trips every string', (t) => {
  const odd = { 'q"uote': 'a"b', ctl: '\u0001x', back: 'c:\\dir', emoji: '😀', lone: 'x\ud800', tab: 'a\tb', plain: 'p', n: 1.5, b: false };
  const r = encodeFlow(flowAt(0, odd));
  if ('invalid' in r) return t.fail(r.invalid);
  const field = r.line.slice(0, -1).split('\t').at(-1)!;
  const unescaped = field.replace(/\\(.)/g, (_, c: string) => ({ t: '\t', n: '\n', r: '\r', '\\': '\\' })[c] ?? c);
  t.deepEqual(JSON.parse(unescaped), { ...odd, lone: 'x\ufffd' });
});
