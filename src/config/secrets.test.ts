// Which values are secrets, and taking them out of text in every form a log line may hold them.
import test from 'ava';
import { collectSecrets, Redactor } from './secrets.ts';

test('secrets are found by where they stand: credential keys, auth headers, URL user information', (t) => {
  const secrets = collectSecrets({
    exporters: {
      postgres: { endpoint: 'postgres://podflow:p%40ss@db/flows', password: 'pg-secret', schema: 'podflow' },
      otlp: { endpoint: 'https://collector:4318', headers: { Authorization: 'Bearer tok-abc', 'X-Scope-OrgID': 'team', 'x-api-key': 'key-123' } },
      servicemap: { auth: { bearer_token: 'map-token-0123456789', basic: { username: 'admin', password: 'map-pass' } } },
      remote: { endpoint: 'https://token-as-user@mimir/api/v1/push' },
      socket: { endpoint: 'postgres://podflow@/flows?host=/run/postgresql' },
    },
    service: { resource: { 'k8s.node.name': 'node-a' } },
  });
  t.deepEqual(secrets.sort(), [
    'podflow:p%40ss', 'p%40ss', 'p@ss', 'pg-secret',
    'Bearer tok-abc', 'tok-abc', 'key-123',
    'map-token-0123456789', 'map-pass',
    'token-as-user',
  ].sort());
});

test('the redactor replaces every known secret as written, JSON-escaped and percent-encoded, and any URL user information', (t) => {
  const redactor = new Redactor(['pa"ss wörd', 'x']);
  const line = JSON.stringify({ msg: 'failed', password: 'pa"ss wörd', url: 'postgres://u:pa%22ss%20w%C3%B6rd@db/x', other: 'http://a:b@h/' });
  t.is(redactor.redact(line), '{"msg":"failed","password":"[REDACTED]","url":"postgres://[REDACTED]@db/x","other":"http://[REDACTED]@h/"}');
  t.is(redactor.redact('plain pa"ss wörd and pa%22ss%20w%C3%B6rd'), 'plain [REDACTED] and [REDACTED]');
  // Too short to search for: it would match everywhere.
  t.is(redactor.redact('x marks the spot'), 'x marks the spot');
  redactor.add(['later-secret']);
  t.is(redactor.redact('a later-secret and pa"ss wörd'), 'a [REDACTED] and [REDACTED]');
});

test('a secret that contains another is replaced whole', (t) => {
  const redactor = new Redactor(['abc', 'abcdef']);
  t.is(redactor.redact('abcdef abc'), '[REDACTED] [REDACTED]');
});

test('a YAML syntax error next to a password written in the file does not print it', async (t) => {
  const { parseConfig } = await import('./load.ts');
  const { ConfigError } = await import('./issues.ts');
  const text = 'exporters:\n  postgres:\n    password: hunter2-in-file\n    endpoint: "postgres://u:pw-in-url@db/x"\n  bad: [\n';
  const error = t.throws(() => parseConfig(text, []), { instanceOf: ConfigError });
  t.false(error!.message.includes('hunter2-in-file'));
  t.false(error!.message.includes('pw-in-url'));
  // YAML reads an unquoted `a: b` password as a mapping: the key path must not show its text.
  const nested = t.throws(() => parseConfig('exporters:\n  postgres:\n    password: hunter2 in: file\n', []), { instanceOf: ConfigError });
  t.deepEqual(nested!.issues.map((i) => [i.path, i.line]), [['exporters.postgres.password', 3]]);
  t.false(nested!.message.includes('hunter2'));
});
