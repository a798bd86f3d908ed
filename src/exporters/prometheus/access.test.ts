// Who may scrape: HTTPS (tls), mutual TLS (tls.client_ca_file), bearer and basic auth, tested with
// a real Prometheus server scraping with its own tls_config, basic_auth and authorization.
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import test from 'ava';
import { capturingContext } from '../../../test/harness/context.ts';
import { sendNow } from '../../../test/harness/exporter-queue.ts';
import { batch, flow } from '../../../test/harness/flows.ts';
import { requirePrivileges } from '../../../test/harness/privileges.ts';
import { startPrometheus } from '../../../test/harness/prometheus.ts';
import { makeClientCertificate } from '../../../test/harness/tls-client.ts';
import { makeTestCertificates, missingOpenssl, type TestCertificates } from '../../../test/harness/tls.ts';
import { configSchema } from './config.ts';
import { PrometheusExporter } from './prometheus-exporter.ts';

const web = { 'source.k8s.namespace.name': 'shop', 'source.k8s.owner.name': 'web', 'destination.k8s.owner.name': 'db', 'network.transport': 'tcp' };
const PASSWORD = 'pr0m: "scrape" p@ss';
const TOKEN = 'tok-0123456789abcdef-xyz';

let certs: TestCertificates | undefined;
test.before(() => {
  if (!missingOpenssl()) certs = makeTestCertificates();
});
test.after.always(() => certs?.remove());

function needsCerts(t: import('ava').ExecutionContext): TestCertificates | undefined {
  if (!requirePrivileges(t, ['prometheus'])) return undefined;
  if (!certs) {
    if (process.env.CI === 'true') t.fail('needs openssl');
    else t.log('SKIPPED: needs openssl');
    t.pass();
    return undefined;
  }
  return certs;
}

async function started(config: Record<string, unknown>) {
  const ctx = capturingContext('prometheus/secure');
  const exporter = new PrometheusExporter(ctx, configSchema.parse({ endpoint: '127.0.0.1:0', ...config }));
  await exporter.start();
  return { exporter, ctx, port: exporter.address.port };
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** GET over https trusting the test CA (optionally presenting a client certificate). */
function httpsGet(url: string, ca: string, options: { headers?: Record<string, string>; cert?: string; key?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, headers: options.headers, cert: options.cert, key: options.key }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

test('https + basic auth: a real Prometheus scrapes exact totals; no or wrong credentials get 401; a 10 MB label arrives cut', async (t) => {
  const c = needsCerts(t);
  if (!c) return;
  const { exporter, ctx, port } = await started({
    tls: { cert_file: c.serverCertFile, key_file: c.serverKeyFile },
    auth: { basic: { username: 'prometheus', password: PASSWORD } },
  });
  t.teardown(() => exporter.shutdown());
  await sendNow(exporter, batch('delta', [flow(web, [1_234_567, 9], [7, 1]), flow({ ...web, 'source.k8s.pod.label.blob': 'y'.repeat(10 * 1024 * 1024) }, [42, 1], [0, 0])]));

  const prometheus = await startPrometheus({ scrapeTargets: [`127.0.0.1:${port}`], scrape: { tls: { caFile: c.caFile }, basicAuth: { username: 'prometheus', password: PASSWORD } } });
  t.teardown(() => prometheus.stop());
  const samples = await prometheus.waitFor('network_flow_io_bytes_total{source_k8s_owner_name="web"}', (s) => s.length === 3);
  const byDirection = samples.filter((s) => !s.metric.source_k8s_pod_label_blob).map((s) => [s.metric.network_io_direction, s.value]).sort();
  t.deepEqual(byDirection, [['receive', 7], ['transmit', 1_234_567]], prometheus.log().slice(-1_000));
  const blob = samples.find((s) => s.metric.source_k8s_pod_label_blob)!;
  t.is(blob.value, 42);
  t.is(Buffer.byteLength(blob.metric.source_k8s_pod_label_blob!), 1024);
  t.regex(blob.metric.source_k8s_pod_label_blob!, /^y+…\[truncated from 10485760 bytes\]$/);
  t.deepEqual((await prometheus.targets()).map((x) => [x.scrapeUrl, x.health]), [[`https://127.0.0.1:${port}/metrics`, 'up']]);

  const url = `https://127.0.0.1:${port}/metrics`;
  const ca = readFileSync(c.caFile, 'utf8');
  const none = await httpsGet(url, ca);
  t.is(none.status, 401);
  t.is(none.headers['www-authenticate'], 'Basic realm="podflow metrics", charset="UTF-8"');
  t.false(none.body.includes('network_flow'));
  t.is((await httpsGet(url, ca, { headers: basic('prometheus', `${PASSWORD}x`) })).status, 401);
  t.is((await httpsGet(url, ca, { headers: basic('other', PASSWORD) })).status, 401);
  t.is((await httpsGet(url, ca, { headers: { authorization: `Bearer ${PASSWORD}` } })).status, 401);
  const ok = await httpsGet(url, ca, { headers: basic('prometheus', PASSWORD) });
  t.is(ok.status, 200);
  t.regex(ok.body, /network_io_direction="transmit",network_transport="tcp",source_k8s_namespace_name="shop",source_k8s_owner_name="web"\} 1234567/);
  // plain http to the https port gets nothing
  await t.throwsAsync(fetch(`http://127.0.0.1:${port}/metrics`));
  t.regex(await ctx.metrics.metrics(), /podflow_exporter_prometheus_scrape_errors_total\{exporter="prometheus\/secure",reason="unauthorized"\} 4\n/);
});

test('bearer token: Prometheus with the token is up, with another token the target is down with 401', async (t) => {
  if (!requirePrivileges(t, ['prometheus'])) return;
  const { exporter, ctx, port } = await started({ auth: { bearer_token: TOKEN } });
  t.teardown(() => exporter.shutdown());
  await sendNow(exporter, batch('delta', [flow(web, [500, 5], [0, 0])]));
  const right = await startPrometheus({ scrapeTargets: [`127.0.0.1:${port}`], scrape: { bearerToken: TOKEN } });
  t.teardown(() => right.stop());
  const wrong = await startPrometheus({ scrapeTargets: [`127.0.0.1:${port}`], scrape: { bearerToken: `${TOKEN}-old` } });
  t.teardown(() => wrong.stop());
  const samples = await right.waitFor('network_flow_io_bytes_total', (s) => s.length === 1);
  t.is(samples[0]?.value, 500, right.log().slice(-1_000));
  let targets = await wrong.targets();
  for (let i = 0; i < 50 && targets[0]?.health !== 'down'; i++) {
    await new Promise((r) => setTimeout(r, 200));
    targets = await wrong.targets();
  }
  t.is(targets[0]?.health, 'down');
  t.regex(targets[0]?.lastError ?? '', /401/);
  t.deepEqual(await wrong.query('network_flow_io_bytes_total'), []);
  const plain = await fetch(`http://127.0.0.1:${port}/metrics`);
  t.is(plain.status, 401);
  t.is(plain.headers.get('www-authenticate'), 'Bearer realm="podflow metrics"');
  t.is((await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
  // the warning that credentials travel in clear is for non-loopback endpoints only
  t.false(ctx.logs.some((l) => /clear text/.test(l.msg)));
});

test('mutual TLS (tls.client_ca_file): Prometheus presenting a certificate of that CA scrapes; a client without one is refused', async (t) => {
  const c = needsCerts(t);
  if (!c) return;
  const client = makeClientCertificate(c, 'prometheus');
  const { exporter, port } = await started({ tls: { cert_file: c.serverCertFile, key_file: c.serverKeyFile, client_ca_file: c.caFile, min_version: '1.3' } });
  t.teardown(() => exporter.shutdown());
  await sendNow(exporter, batch('delta', [flow(web, [77, 1], [0, 0])]));
  const prometheus = await startPrometheus({ scrapeTargets: [`127.0.0.1:${port}`], scrape: { tls: { caFile: c.caFile, certFile: client.certFile, keyFile: client.keyFile } } });
  t.teardown(() => prometheus.stop());
  const samples = await prometheus.waitFor('network_flow_io_bytes_total', (s) => s.length === 1);
  t.is(samples[0]?.value, 77, prometheus.log().slice(-1_000));
  const ca = readFileSync(c.caFile, 'utf8');
  await t.throwsAsync(httpsGet(`https://127.0.0.1:${port}/metrics`, ca));
  const withCert = await httpsGet(`https://127.0.0.1:${port}/metrics`, ca, { cert: readFileSync(client.certFile, 'utf8'), key: readFileSync(client.keyFile, 'utf8') });
  t.is(withCert.status, 200);
  t.regex(withCert.body, /\} 77\n/);
});

test('tls and auth config: a missing file or a key that is not the certificate\'s fails start naming the key; weak settings are refused', async (t) => {
  const c = certs;
  if (!c) {
    if (process.env.CI === 'true') t.fail('needs openssl');
    t.pass();
    return;
  }
  const missing = new PrometheusExporter(capturingContext('prometheus'), configSchema.parse({ endpoint: '127.0.0.1:0', tls: { cert_file: '/nonexistent/cert.pem', key_file: c.serverKeyFile } }));
  await t.throwsAsync(missing.start(), { message: 'tls.cert_file: cannot read /nonexistent/cert.pem: ENOENT' });
  const other = makeClientCertificate(c, 'someone-else');
  const mismatched = new PrometheusExporter(capturingContext('prometheus'), configSchema.parse({ endpoint: '127.0.0.1:0', tls: { cert_file: c.serverCertFile, key_file: other.keyFile } }));
  await t.throwsAsync(mismatched.start(), { message: /^tls: .*server\.pem and .*client-someone_else\.key are not a usable certificate and key: / });

  const issue = (config: unknown) => {
    const r = configSchema.safeParse(config);
    return r.success ? undefined : `${r.error.issues[0]!.path.join('.')}: ${r.error.issues[0]!.message}`;
  };
  t.is(issue({ auth: { bearer_token: 'short' } }), 'auth.bearer_token: bearer_token must be at least 16 characters');
  t.is(issue({ auth: {} }), 'auth: set exactly one of auth.bearer_token and auth.basic');
  t.is(issue({ auth: { bearer_token: TOKEN, basic: { username: 'a', password: 'password1' } } }), 'auth: set exactly one of auth.bearer_token and auth.basic');
  t.is(issue({ tls: { cert_file: 'a' } }), 'tls.key_file: Invalid input: expected string, received undefined');
  t.is(issue({ tls: { cert_file: 'a', key_file: 'b', min_version: '1.1' } })?.split(':')[0], 'tls.min_version');
  t.is(issue({ max_series: 0 })?.split(':')[0], 'max_series');
  t.is(issue({ max_label_value_length: '16B' }), 'max_label_value_length: size must be at least 64 bytes');
  t.is(configSchema.parse({ max_label_value_length: '4KiB' }).max_label_value_length, 4096);
});
