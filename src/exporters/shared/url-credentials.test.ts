import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { fetch } from 'undici';
import { requestTarget } from './url-credentials.ts';

test('a URL without user information is used as it is', (t) => {
  const headers = { 'x-a': '1' };
  t.deepEqual(requestTarget('http://127.0.0.1:4318/v1/metrics', headers), { url: 'http://127.0.0.1:4318/v1/metrics', headers });
});

test('user information becomes Basic auth (percent-decoded), and a server receives it; an Authorization header of the config wins', async (t) => {
  const seen: Array<string | undefined> = [];
  const server = createServer((req, res) => {
    seen.push(req.headers.authorization);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const target = requestTarget(`http://us%40er:p%C3%A9ss%3Aw@127.0.0.1:${port}/api/v1/write`, { 'x-a': '1' });
  t.is(target.url, `http://127.0.0.1:${port}/api/v1/write`);
  await fetch(target.url, { method: 'POST', headers: target.headers, body: 'x' });
  t.deepEqual(seen, [`Basic ${Buffer.from('us@er:péss:w').toString('base64')}`]);
  const own = requestTarget(`http://u:p@127.0.0.1:${port}/`, { Authorization: 'Bearer t' });
  t.deepEqual(own.headers, { Authorization: 'Bearer t' });
});
