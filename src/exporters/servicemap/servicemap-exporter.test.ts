// The servicemap exporter's configuration and HTTP endpoint: defaults, bad keys named with their
// place, JSON that stays inert with hostile names, the page's headers, authentication, the Host
// check, CORS and the Server-Sent Events stream.
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { testContext } from '../../../test/harness/context.ts';
import { DEFAULT_EXPORTER_QUEUE } from '../../contracts/component.ts';
import { sendNow } from '../../../test/harness/exporter-queue.ts';
import { ConfigError } from '../../config/issues.ts';
import { parseConfig } from '../../config/load.ts';
import { conntrackReceiverFactory } from '../../receivers/conntrack/index.ts';
import { k8sattributesFactory } from '../../processors/k8sattributes/index.ts';
import { reduceFactory } from '../../processors/reduce/index.ts';
import { postgresExporterFactory } from '../postgres/index.ts';
import type { Flow } from '../../model/index.ts';
import { hostAllowed } from './access.ts';
import { servicemapConfigSchema } from './config.ts';
import type { Graph } from './graph.ts';
import { MAX_STREAM_CLIENTS, safeJson } from './http-server.ts';
import { servicemapExporterFactory } from './index.ts';
import { ServicemapExporter } from './servicemap-exporter.ts';
import { bookinfoFlows, counters, externalFlow, HOSTILE, workloadFlow } from './testdata/flows.ts';

/** What the configs below use (registration itself: src/components.test.ts). */
const FACTORIES = [conntrackReceiverFactory, k8sattributesFactory, reduceFactory, postgresExporterFactory, servicemapExporterFactory];

const TOKEN = 'a-bearer-token-of-some-length';

async function started(t: import('ava').ExecutionContext, config: Record<string, unknown> = {}, flows: Flow[] = bookinfoFlows()) {
  const ctx = testContext('servicemap');
  const exporter = new ServicemapExporter(ctx, servicemapConfigSchema.parse({ endpoint: '127.0.0.1:0', ...config }));
  await exporter.start();
  t.teardown(() => exporter.shutdown());
  if (flows.length) await sendNow(exporter, { temporality: 'delta', flows });
  return { exporter, ctx, base: `http://127.0.0.1:${exporter.address.port}` };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A GET (or other method) with any headers, Host included (fetch would not send a foreign Host). */
function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('defaults: localhost:9470, 1h window, 5000 edges, memory source, no auth, no CORS', (t) => {
  const config = servicemapConfigSchema.parse({});
  t.deepEqual(config.endpoint, { host: 'localhost', port: 9470 });
  t.is(config.window, 3_600_000);
  t.is(config.max_edges, 5_000);
  t.is(config.auth, undefined);
  t.deepEqual(config.cors, { allowed_origins: [] });
  t.deepEqual(config.source, { memory: {} });
  // a queue of 100 requests, no retry (it only updates memory), 5 s per send
  t.deepEqual(servicemapExporterFactory.queueSettings!(config), {
    sending_queue: { enabled: true, num_consumers: 1, queue_size: 100 },
    retry_on_failure: { ...DEFAULT_EXPORTER_QUEUE.retry_on_failure, enabled: false },
    timeout: 5_000,
  });
  const postgres = servicemapConfigSchema.parse({ source: { postgres: { endpoint: 'postgres://u@db:5432/podflow' } } }).source.postgres!;
  t.like(postgres, { endpoint: 'postgres://u@db:5432/podflow', schema: 'podflow', refresh: 15_000, connect_timeout: 10_000 });
});

test('bad config: every problem named by key path and line:column', (t) => {
  const yaml = [
    'receivers:',
    '  conntrack: {}',
    'exporters:',
    '  servicemap:',
    '    endpoint: localhost',
    '    window: 30s',
    '    max_edges: 0',
    '    auth: {bearer_token: short}',
    '    cors: {allowed_origins: [https://grafana.example.com/]}',
    '  servicemap/both:',
    '    auth: {bearer_token: a-long-enough-token, basic: {username: u, password: long-enough}}',
    '    source: {memory: {}, postgres: {endpoint: "mysql://db/x"}}',
    'service:',
    '  pipelines:',
    '    flows: {receivers: [conntrack], exporters: [servicemap, servicemap/both]}',
    '',
  ].join('\n');
  const error = t.throws(() => parseConfig(yaml, FACTORIES), { instanceOf: ConfigError }) as ConfigError;
  const where = error.issues.map((i) => `${i.path} ${i.line}:${i.column}`);
  t.deepEqual(where.sort(), [
    'exporters.servicemap.auth.bearer_token 8:12',
    'exporters.servicemap.cors.allowed_origins[0] 9:30',
    'exporters.servicemap.endpoint 5:5',
    'exporters.servicemap.max_edges 7:5',
    'exporters.servicemap.window 6:5',
    'exporters.servicemap/both.auth 11:5',
    'exporters.servicemap/both.source 12:5',
    'exporters.servicemap/both.source.postgres.endpoint 12:37',
  ].sort(), error.message);
  t.regex(error.message, /bearer_token must be at least 16 characters/);
  t.regex(error.message, /an origin is scheme:\/\/host\[:port\]/);
  t.regex(error.message, /set exactly one of auth.bearer_token and auth.basic/);
  t.regex(error.message, /duration must be at least 60000ms/);
});

test("the README's example validates, and its table documents every key", (t) => {
  const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
  const example = /## Example\s+```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
  t.truthy(example);
  const config = parseConfig(example!, FACTORIES, { env: { NODE_NAME: 'node-a', PGPASSWORD: 'secret', SERVICEMAP_TOKEN: 'a-token-from-the-environment' } });
  t.deepEqual([...config.exporters.keys()].sort(), ['postgres', 'servicemap', 'servicemap/cluster']);
  const table = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## Example'));
  const documented = [...table.matchAll(/^\| `([a-z_.]+)`/gm)].map((m) => m[1]!.split('.')[0]);
  t.deepEqual([...new Set(documented)].sort(), Object.keys(servicemapConfigSchema.shape).sort());
  for (const key of ['auth.bearer_token', 'auth.basic.username', 'cors.allowed_origins', 'source.postgres.endpoint', 'source.postgres.schema', 'source.postgres.refresh', 'source.postgres.tls.mode']) {
    t.true(table.includes(`\`${key}\``), key);
  }
});

test('/api/graph: the graph as JSON; hostile names stay inert and come back exact', async (t) => {
  const hostile = [
    counters(workloadFlow({ namespace: HOSTILE.namespace, name: HOSTILE.workload }, { namespace: 'shop', name: 'db' }), [10, 1], [20, 1]),
    counters(externalFlow({ namespace: 'shop', name: 'db' }, { address: '0.0.0.0', domain: HOSTILE.domain }), [30, 1], [40, 1]),
  ];
  const { base } = await started(t, {}, hostile);
  const res = await get(`${base}/api/graph`);
  t.is(res.status, 200);
  t.is(res.headers['content-type'], 'application/json; charset=utf-8');
  t.is(res.headers['x-content-type-options'], 'nosniff');
  t.is(res.headers['cache-control'], 'no-store');
  t.is(res.headers['access-control-allow-origin'], undefined, 'no CORS unless configured');
  // Nothing a browser could take for markup, and no raw control byte or line separator.
  t.false(/[<>&\u0000-\u001f\u2028\u2029]/.test(res.body), res.body);
  const graph = JSON.parse(res.body) as Graph;
  const titles = graph.nodes.map((n) => n.title).sort();
  t.deepEqual(titles, [`${HOSTILE.namespace}/${HOSTILE.workload}`, 'shop/db', HOSTILE.domain].sort());
  t.deepEqual(graph.namespaces, [HOSTILE.namespace, 'shop'].sort());
  t.is(safeJson('</script><!--\u2028'), '"\\u003c/script\\u003e\\u003c!--\\u2028"');
});

test('the page and its assets: served from podflow, strict CSP, Cytoscape.js from node_modules', async (t) => {
  const { base } = await started(t);
  const page = await get(`${base}/`);
  t.is(page.status, 200);
  t.is(page.headers['content-type'], 'text/html; charset=utf-8');
  t.regex(String(page.headers['content-security-policy']), /default-src 'none'; script-src 'self'; style-src 'self';.*connect-src 'self'/);
  t.is(page.headers['x-frame-options'], 'DENY');
  // Every URL the page references is relative: on this server, nothing from outside.
  const refs = [...page.body.matchAll(/(?:src|href)="([^"]*)"/g)].map((m) => m[1]);
  t.deepEqual(refs, ['data:,', 'assets/app.css', 'assets/app.js']);
  const app = await get(`${base}/assets/app.js`);
  t.is(app.headers['content-type'], 'text/javascript; charset=utf-8');
  t.regex(app.body, /from '\.\/cytoscape\.esm\.min\.mjs'/);
  t.false(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/.test(app.body), 'the page never parses data as HTML');
  const lib = await get(`${base}/assets/cytoscape.esm.min.mjs`);
  t.is(lib.status, 200);
  t.is(lib.body, readFileSync(fileURLToPath(import.meta.resolve('cytoscape/dist/cytoscape.esm.min.mjs')), 'utf8'));
  t.is((await get(`${base}/assets/app.css`)).headers['content-type'], 'text/css; charset=utf-8');
  const missing = await get(`${base}/etc/passwd`);
  t.is(missing.status, 404);
  t.regex(JSON.parse(missing.body).error, /the map is at \//);
  t.is((await get(`${base}/assets/../../config.ts`)).status, 404);
  t.is((await get(`${base}/api/graph`, {}, 'POST')).status, 405);
  t.is((await get(`${base}/api/graph`, {}, 'HEAD')).status, 200);
});

test('bad query parameters: 400 naming the parameter', async (t) => {
  const { base } = await started(t);
  const cases: Array<[string, RegExp]> = [
    ['window=soon', /^window: "soon" is not a duration/],
    ['window=2h', /^window: must be more than 0 and at most the configured window \(3600s\)/],
    ['window=0', /^window: must be more than 0/],
    ['group=pod', /^group: must be one of workload, namespace, node, zone/],
  ];
  for (const [query, message] of cases) {
    const res = await get(`${base}/api/graph?${query}`);
    t.is(res.status, 400, query);
    t.regex(JSON.parse(res.body).error, message);
    t.is((await get(`${base}/api/graph/stream?${query}`)).status, 400);
  }
  const ok = JSON.parse((await get(`${base}/api/graph?window=5m&group=namespace&namespace=load`)).body) as Graph;
  t.like(ok, { window_ms: 300_000, group: 'namespace' });
  t.deepEqual(ok.edges.map((e) => e.id), ['namespace:load -> namespace:bookinfo']);
});

test('a loopback endpoint answers loopback Host names only (DNS rebinding)', async (t) => {
  const { base } = await started(t);
  const port = new URL(base).port;
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'localhost']) {
    t.is((await get(`${base}/api/graph`, { host })).status, 200, host);
  }
  const rebound = await get(`${base}/api/graph`, { host: `attacker.example:${port}` });
  t.is(rebound.status, 403);
  t.regex(JSON.parse(rebound.body).error, /listens on loopback/);
  t.is((await get(`${base}/`, { host: '127.0.0.1.attacker.example' })).status, 403);
  // Bound to every interface, any Host is the operator's choice.
  t.true(hostAllowed('0.0.0.0', 'podflow.example.com'));
  t.false(hostAllowed('127.0.0.1', undefined));
});

test('bearer token: the data needs it, the page does not (it asks for it)', async (t) => {
  const { base } = await started(t, { auth: { bearer_token: TOKEN } });
  const denied = await get(`${base}/api/graph`);
  t.is(denied.status, 401);
  t.is(denied.headers['www-authenticate'], 'Bearer realm="podflow servicemap"');
  t.is((await get(`${base}/api/graph`, { authorization: `Bearer ${TOKEN}x` })).status, 401);
  t.is((await get(`${base}/api/graph/stream`)).status, 401);
  t.is((await get(`${base}/api/graph`, { authorization: `Bearer ${TOKEN}` })).status, 200);
  t.is((await get(`${base}/`)).status, 200);
  t.is((await get(`${base}/assets/app.js`)).status, 200);
});

test('basic auth: everything needs it, the page included', async (t) => {
  const { base } = await started(t, { auth: { basic: { username: 'ops', password: 'correct horse' } } });
  const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
  const denied = await get(`${base}/`);
  t.is(denied.status, 401);
  t.is(denied.headers['www-authenticate'], 'Basic realm="podflow servicemap", charset="UTF-8"');
  t.is((await get(`${base}/`, basic('ops', 'wrong horse'))).status, 401);
  t.is((await get(`${base}/`, basic('opsx', 'correct horse'))).status, 401);
  t.is((await get(`${base}/`, basic('ops', 'correct horse'))).status, 200);
  t.is((await get(`${base}/api/graph`, basic('ops', 'correct horse'))).status, 200);
});

test('CORS: only configured origins, with a preflight for the Authorization header', async (t) => {
  const none = await started(t);
  t.is((await get(`${none.base}/api/graph`, { origin: 'https://grafana.example.com' })).headers['access-control-allow-origin'], undefined);
  t.is((await get(`${none.base}/api/graph`, { origin: 'https://grafana.example.com' }, 'OPTIONS')).status, 405);

  const { base } = await started(t, { cors: { allowed_origins: ['https://grafana.example.com'] }, auth: { bearer_token: TOKEN } });
  const allowed = await get(`${base}/api/graph`, { origin: 'https://grafana.example.com', authorization: `Bearer ${TOKEN}` });
  t.is(allowed.headers['access-control-allow-origin'], 'https://grafana.example.com');
  t.is(allowed.headers.vary, 'Origin');
  const other = await get(`${base}/api/graph`, { origin: 'https://evil.example.com', authorization: `Bearer ${TOKEN}` });
  t.is(other.status, 200);
  t.is(other.headers['access-control-allow-origin'], undefined);
  const preflight = await get(`${base}/api/graph`, { origin: 'https://grafana.example.com', 'access-control-request-headers': 'authorization' }, 'OPTIONS');
  t.is(preflight.status, 204);
  t.is(preflight.headers['access-control-allow-headers'], 'Authorization');
  t.is(preflight.headers['access-control-allow-methods'], 'GET, HEAD');
  t.is((await get(`${base}/`, { origin: 'https://grafana.example.com' })).headers['access-control-allow-origin'], undefined, 'the page is not shared');
});

/** Reads Server-Sent Events from a fetch body: one `event`/`data` pair at a time. */
async function* events(body: ReadableStream<Uint8Array>): AsyncGenerator<{ event: string; data: string }> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields = Object.fromEntries(block.split('\n').filter((l) => !l.startsWith(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
      if (fields.event) yield { event: fields.event, data: fields.data ?? '' };
    }
  }
}

test('/api/graph/stream: the graph now, then again after each batch', async (t) => {
  const { exporter, ctx, base } = await started(t, {}, []);
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const res = await fetch(`${base}/api/graph/stream?group=namespace`, { signal: abort.signal });
  t.is(res.status, 200);
  t.is(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const stream = events(res.body!);
  const first = (await stream.next()).value!;
  t.is(first.event, 'graph');
  t.deepEqual((JSON.parse(first.data) as Graph).edges, []);
  t.is((await ctx.metrics.getSingleMetricAsString('podflow_exporter_servicemap_stream_clients')).split('\n').pop(), 'podflow_exporter_servicemap_stream_clients{exporter="servicemap"} 1');

  await sendNow(exporter, { temporality: 'delta', flows: bookinfoFlows() });
  const second = JSON.parse((await stream.next()).value!.data) as Graph;
  t.is(second.group, 'namespace');
  t.deepEqual(second.edges.find((e) => e.id === 'namespace:load -> namespace:bookinfo'), {
    ...second.edges.find((e) => e.id === 'namespace:load -> namespace:bookinfo')!,
    tx_bytes: 27_000, rx_bytes: 91_000, connections: 45,
  });
  abort.abort();
  await new Promise((r) => setTimeout(r, 100));
  t.regex(await ctx.metrics.getSingleMetricAsString('podflow_exporter_servicemap_stream_clients'), /} 0$/);
});

test(`/api/graph/stream: at most ${MAX_STREAM_CLIENTS} clients; the next is told to poll`, async (t) => {
  const { base } = await started(t, {}, []);
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const open = await Promise.all(Array.from({ length: MAX_STREAM_CLIENTS }, () => fetch(`${base}/api/graph/stream`, { signal: abort.signal })));
  t.true(open.every((r) => r.status === 200));
  const refused = await fetch(`${base}/api/graph/stream`);
  t.is(refused.status, 503);
  t.regex(((await refused.json()) as { error: string }).error, /too many stream clients \(32\); poll \/api\/graph instead/);
  t.is((await fetch(`${base}/api/graph`)).status, 200);
});

test('self-metrics: edges kept and edges merged into "other"', async (t) => {
  const { exporter, ctx } = await started(t, { max_edges: 5 });
  t.is(exporter.address.address, '127.0.0.1');
  const metrics = await ctx.metrics.metrics();
  t.regex(metrics, /^podflow_exporter_servicemap_edges\{exporter="servicemap"\} 5$/m);
  t.regex(metrics, /^podflow_exporter_servicemap_merged_edges_total\{exporter="servicemap"\} 4$/m);
});

test('endpoint in use: start fails naming the address', async (t) => {
  const { exporter } = await started(t);
  const second = new ServicemapExporter(testContext('servicemap/b'), servicemapConfigSchema.parse({ endpoint: `127.0.0.1:${exporter.address.port}` }));
  await t.throwsAsync(second.start(), { message: new RegExp(`servicemap/b: cannot listen on 127.0.0.1:${exporter.address.port}: EADDRINUSE`) });
});
