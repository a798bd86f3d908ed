// Config schema, COPY row encoding and the exporter's requests: no server needed.
import test from 'ava';
import { testContext } from '../../../test/harness/context.ts';
import { sequenceReceiverFactory } from '../../../test/harness/test-components.ts';
import { parseConfig } from '../../config/load.ts';
import { ConfigError } from '../../config/issues.ts';
import { postgresConfigSchema } from './config.ts';
import { isConnectionProblem, isRejectedData } from './connection.ts';
import { clientConfig } from '../shared/postgres-connection.ts';
import { postgresExporterFactory } from './index.ts';
import { PostgresExporter } from './postgres-exporter.ts';
import { halfId, partLines, partOf, rowRequestCodec, RowRequest, type RowPart } from './row-request.ts';
import { COPY_COLUMNS, copyEscape, encodeFlow, timestampText } from './rows.ts';
import { deltaBatch, flowAt, fullFlow } from './testdata/flows.ts';

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
    retention: 2 * 86_400_000,
    rollup: { enabled: true, interval: 15_000, retention: { minute: 14 * 86_400_000, hour: 90 * 86_400_000, day: 730 * 86_400_000 } },
    sending_queue: { enabled: true, num_consumers: 1, queue_size: 20 },
    retry_on_failure: { enabled: true, initial_interval: 1000, max_interval: 30_000, multiplier: 1.5, max_elapsed_time: 0 },
    timeout: 120_000,
    connect_timeout: 10_000,
    tls: { mode: 'disable' },
  });
  t.deepEqual(issues({}), ['endpoint: Invalid input: expected string, received undefined']);
  t.deepEqual(issues({ endpoint: URL_OK, sending_queue: { num_consumers: 17 } }), ['sending_queue.num_consumers: Too big: expected number to be <=16']);
});

// Keys of the exporter's own queue before it used the runtime's: refused, naming what replaced them.
for (const [key, value, replacement] of [
  ['queue_size', '50', 'no longer a key: use sending_queue.queue_size'],
  ['writers', '2', 'no longer a key: use sending_queue.num_consumers (each consumer writes on a connection of its own)'],
  ['flush_timeout', '10s', 'no longer a key: use service.shutdown_timeout (the runtime drains every exporter queue within it)'],
] as const) {
  test(`config: the old key ${key} is refused at its line, naming the key that replaced it`, (t) => {
    const yaml = [
      'receivers:',
      '  sequence: {}',
      'exporters:',
      '  postgres:',
      '    endpoint: postgres://db/x',
      `    ${key}: ${value}`,
      'service:',
      '  pipelines:',
      '    flows: {receivers: [sequence], exporters: [postgres]}',
    ].join('\n');
    const err = t.throws(() => parseConfig(yaml, [sequenceReceiverFactory, postgresExporterFactory]), { instanceOf: ConfigError });
    t.deepEqual(err.issues, [{ path: `exporters.postgres.${key}`, line: 6, column: 5, message: replacement }]);
    t.regex(err.message, new RegExp(`config\\.yaml:6:5: exporters\\.postgres\\.${key}: ${replacement.replace(/[()]/g, '\\$&')}`));
  });
}

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
  t.deepEqual(issues({ endpoint: URL_OK, rollup: { retention: { hour: '10m' } } }), ['rollup.retention.hour: hour retention must be 0 (keep everything) or at least 1h']);
  t.deepEqual(issues({ endpoint: URL_OK, rollup: { interval: '10ms' } }), ['rollup.interval: duration must be at least 100ms']);
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

/** An exporter that is never started: toRequests and dueAtMs need no server. */
function unstarted(batch: Record<string, unknown>): PostgresExporter {
  return new PostgresExporter(testContext('postgres/units'), postgresConfigSchema.parse({ endpoint: 'postgres://127.0.0.1:1/x', batch }));
}

const seqs = (r: RowRequest) => r.parts.flatMap(partLines).map((line) => JSON.parse(line.slice(line.lastIndexOf('\t') + 1)).seq as number);

test('requests: rows fill the open request up to max_rows, then new ones; due when full or flush_interval after the first row', (t) => {
  const e = unstarted({ max_rows: 3, flush_interval: '500ms' });
  const flows = Array.from({ length: 7 }, (_, i) => flowAt(0, { seq: i + 1 }));
  const [first, ...none] = e.toRequests(deltaBatch(flows.slice(0, 2)), undefined);
  t.deepEqual(none, []);
  t.deepEqual(seqs(first!), [1, 2]);
  t.is(e.dueAtMs(first!), first!.firstRowAtMs + 500);
  // the next batch tops up the open request, then fills a new one
  const more = e.toRequests(deltaBatch(flows.slice(2)), first);
  t.deepEqual(seqs(first!), [1, 2, 3]);
  t.is(first!.flowCount, 3);
  t.is(e.dueAtMs(first!), 0, 'full: due at once');
  t.deepEqual(more.map(seqs), [[4, 5, 6], [7]]);
  t.deepEqual(more.map((r) => r.parts.length), [1, 1]);
  t.is(e.dueAtMs(more[1]!), more[1]!.firstRowAtMs + 500);
  // a flow that cannot be stored takes no room
  const [only] = e.toRequests(deltaBatch([flowAt(0, { seq: 8 }, { txBytes: 0.5 }), flowAt(0, { seq: 9 })]), undefined);
  t.deepEqual(seqs(only!), [9]);
});

test('config: sending_queue.storage: file needs a directory, and the queue', (t) => {
  const parsed = postgresConfigSchema.parse({ endpoint: URL_OK, sending_queue: { storage: 'file', directory: '/var/lib/podflow/queue' } });
  t.deepEqual(parsed.sending_queue, { enabled: true, num_consumers: 1, queue_size: 20, storage: 'file', directory: '/var/lib/podflow/queue' });
  t.deepEqual(issues({ endpoint: URL_OK, sending_queue: { storage: 'file' } }), ['sending_queue.directory: storage: file needs a directory']);
  t.deepEqual(issues({ endpoint: URL_OK, sending_queue: { directory: '/q' } }), ['sending_queue.directory: directory is only used with storage: file']);
  t.deepEqual(issues({ endpoint: URL_OK, sending_queue: { storage: 'file', directory: '/q', enabled: false } }), ['sending_queue.storage: storage: file needs the queue (enabled: true)']);
  t.is(issues({ endpoint: URL_OK, sending_queue: { storage: 'disk' } }).length, 1);
});

test('requests: a part halved keeps its rows and days; each half has an id of its own, the same every time', (t) => {
  const whole: RowPart = { id: '6f1c2d3e-4a5b-4c6d-8e7f-001122334455', chunks: [Buffer.from('a\nb\nc\n')], rows: 3, days: new Set(['2030-01-01']) };
  const request = new RowRequest(0, [whole]);
  t.is(request.flowCount, 3);
  const [part] = request.parts;
  const halves = [partOf(part!, 0, partLines(part!).slice(0, 2)), partOf(part!, 1, partLines(part!).slice(2))];
  t.deepEqual(halves.map(partLines), [['a\n', 'b\n'], ['c\n']]);
  t.is(new Set([part!.id, ...halves.map((h) => h.id)]).size, 3);
  t.deepEqual(halves.map((h) => [...h.days]), [['2030-01-01'], ['2030-01-01']]);
  // Sent again after a restart, the part is halved into the same ids (ingest_batches skips them).
  t.deepEqual([halfId(whole.id, 0), halfId(whole.id, 1)], halves.map((h) => h.id));
  for (const id of halves.map((h) => h.id)) t.regex(id, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test('requests: the file-queue encoding gives back the same parts, ids, rows, days and time', (t) => {
  const request = new RowRequest(1_700_000_000_123, [
    { id: '6f1c2d3e-4a5b-4c6d-8e7f-001122334455', chunks: [Buffer.from('a\tü\n'), Buffer.from('b\n')], rows: 2, days: new Set(['2030-01-01', '2030-01-02']) },
    { id: halfId('x', 1), chunks: [Buffer.from('c\n')], rows: 1, days: new Set(['2030-01-02']) },
  ]);
  const back = rowRequestCodec.decode(rowRequestCodec.encode(request));
  t.is(back.firstRowAtMs, 1_700_000_000_123);
  t.is(back.flowCount, 3);
  t.deepEqual(back.parts.map((p) => [p.id, p.rows, [...p.days], partLines(p)]), request.parts.map((p) => [p.id, p.rows, [...p.days], partLines(p)]));
  // Rows appended to a request only append to its encoding (the file queue writes just those).
  const growing = new RowRequest(5, []);
  growing.append({ bytes: Buffer.from('r1\nr2\n'), rows: 2, days: ['2030-01-01'], nulsReplaced: 0 });
  const before = Buffer.from(rowRequestCodec.encode(growing));
  growing.append({ bytes: Buffer.from('r3\n'), rows: 1, days: ['2030-01-01'], nulsReplaced: 0 });
  const after = Buffer.from(rowRequestCodec.encode(growing));
  t.true(after.length > before.length && after.subarray(0, before.length).equals(before));
  t.deepEqual(partLines(rowRequestCodec.decode(after).parts[0]!), ['r1\n', 'r2\n', 'r3\n']);
  // Cut short (a torn record never reaches decode, but a bug must not pass silently).
  const bytes = rowRequestCodec.encode(request);
  t.throws(() => rowRequestCodec.decode(bytes.subarray(0, bytes.length - 1)), { message: /cut short/ });
});

test('rows: the attributes field is JSON that round-trips every string', (t) => {
  const odd = { 'q"uote': 'a"b', ctl: '\u0001x', back: 'c:\\dir', emoji: '😀', lone: 'x\ud800', tab: 'a\tb', plain: 'p', n: 1.5, b: false };
  const r = encodeFlow(flowAt(0, odd));
  if ('invalid' in r) return t.fail(r.invalid);
  const field = r.line.slice(0, -1).split('\t').at(-1)!;
  const unescaped = field.replace(/\\(.)/g, (_, c: string) => ({ t: '\t', n: '\n', r: '\r', '\\': '\\' })[c] ?? c);
  t.deepEqual(JSON.parse(unescaped), { ...odd, lone: 'x\ufffd' });
});
