// The one endpoint parser: what `validate` accepts is what `run` connects to, and its messages
// say what to change without repeating the user information.
import test from 'ava';
import { parseEndpointUrl, parseListenAddress, redactUrls, sameListenPort, type EndpointUrl } from './endpoints.ts';

const PG = ['postgres', 'postgresql'];
const HTTP = ['http', 'https'];

function parsed(text: string, schemes = PG): EndpointUrl {
  const url = parseEndpointUrl(text, schemes);
  if (url instanceof Error) throw url;
  return url;
}

function problem(text: string, schemes = PG): string {
  const url = parseEndpointUrl(text, schemes);
  if (!(url instanceof Error)) throw new Error(`${text} was accepted`);
  return url.message;
}

test('a postgres URL: user, password, host, port and database are percent-decoded', (t) => {
  const url = parsed('postgres://pod%40flow:p%25ss%3Aw%C3%B6rd@db.example:6432/flows%20db?application_name=x');
  t.like(url, { scheme: 'postgres', username: 'pod@flow', password: 'p%ss:wörd', host: 'db.example', port: 6432, path: '/flows db' });
  t.is(url.params.get('application_name'), 'x');
  t.is(url.redacted, 'postgres://[REDACTED]@db.example:6432/flows%20db?application_name=x');
});

test('a "%" that starts no percent-escape is refused with how to write it, never with the password', (t) => {
  const message = problem('postgres://podflow:50%off!@db/flows');
  t.is(message, 'the password holds a "%" that starts no percent-escape: write a literal % as %25, or set the password with the password key');
  t.false(message.includes('50%off'));
  t.regex(problem('postgres://po%flow@db/flows'), /^the user name holds a "%".*%25/);
  t.regex(problem('http://collector:4318/v1/%metrics', HTTP), /^the path holds a "%" that starts no percent-escape \(at "%me"\): write a literal % as %25$/);
  t.regex(problem('postgres://u:%C3@db/x'), /not UTF-8/);
});

test('a delimiter inside the password is named without repeating the password', (t) => {
  for (const url of ['postgres://podflow:se/cret@db/flows', 'postgres://podflow:se#cret@db/flows', 'postgres://podflow:se?cret@db:5432/flows']) {
    const message = problem(url);
    t.regex(message, /percent-encoded \(\/ → %2F, \? → %3F, # → %23\)/, url);
    t.false(message.includes('cret'), url);
  }
  t.regex(problem('http://user:se/cret@collector:4318', HTTP), /the port is not a number.*\/ → %2F/);
});

test('an "@" in the password is read as libpq and WHATWG read it: the last "@" ends the user information', (t) => {
  t.like(parsed('postgres://podflow:p@ss@db/flows'), { username: 'podflow', password: 'p@ss', host: 'db' });
});

test('a host-less socket URL, as libpq accepts it, names the socket directory in ?host=', (t) => {
  const url = parsed('postgres://podflow@/flows?host=/var/run/postgresql');
  t.like(url, { username: 'podflow', password: undefined, host: '', port: undefined, path: '/flows' });
  t.is(url.params.get('host'), '/var/run/postgresql');
  t.like(parsed('postgresql://podflow@/flows?host=%2Fvar%2Frun%2Fpostgresql'), { host: '' });
  t.is(problem('postgres://podflow@/flows'), 'the URL names no host (for a unix socket: postgres://user@/database?host=/var/run/postgresql)');
  t.is(problem('http:///v1/metrics', HTTP), 'the URL names no host');
});

test('IPv6 hosts, ports, schemes and several hosts', (t) => {
  t.like(parsed('postgres://u@[fd00::1]:5433/x'), { host: 'fd00::1', port: 5433 });
  t.is(problem('postgres://u@db:99999/x'), 'the port is not a number from 1 to 65535');
  t.is(problem('mysql://u@db/x'), 'scheme must be postgres:// or postgresql://, got mysql://');
  t.is(problem('db.example:5432'), 'not a URL: use postgres://user:password@host:5432/database');
  t.is(problem('postgres://u@db1,db2/x'), 'the URL names several hosts: podflow connects to one');
  t.like(parsed('https://collector.example/v1/metrics', HTTP), { scheme: 'https', host: 'collector.example', port: undefined });
  t.is(problem('http://exa mple.com/', HTTP), 'the host "exa mple.com" is not valid in a URL');
});

test('user information is redacted in any text', (t) => {
  t.is(redactUrls('POST http://user:s3cr3t@mimir:8080/api/v1/push: 401'), 'POST http://[REDACTED]@mimir:8080/api/v1/push: 401');
  t.is(redactUrls('{"url":"postgres://podflow:pw@db/flows","b":"https://token@host/x"}'), '{"url":"postgres://[REDACTED]@db/flows","b":"https://[REDACTED]@host/x"}');
  t.is(redactUrls('http://host:4318/v1/metrics'), 'http://host:4318/v1/metrics');
});

test('listen addresses, and which of them would fight over a port', (t) => {
  t.deepEqual(parseListenAddress('0.0.0.0:9464'), { host: '0.0.0.0', port: 9464 });
  t.deepEqual(parseListenAddress('[::1]:8888'), { host: '::1', port: 8888 });
  t.deepEqual(parseListenAddress(':8888'), { host: '0.0.0.0', port: 8888 });
  t.true(parseListenAddress('localhost') instanceof Error);
  const at = (text: string) => parseListenAddress(text) as { host: string; port: number };
  t.true(sameListenPort(at('0.0.0.0:9464'), at('127.0.0.1:9464')));
  t.true(sameListenPort(at('localhost:9464'), at('127.0.0.1:9464')));
  t.true(sameListenPort(at('[::]:9464'), at('10.0.0.1:9464')));
  t.false(sameListenPort(at('10.0.0.2:9464'), at('10.0.0.1:9464')));
  t.false(sameListenPort(at('127.0.0.1:0'), at('127.0.0.1:0')));
  t.false(sameListenPort(at('127.0.0.1:9464'), at('127.0.0.1:9465')));
});
