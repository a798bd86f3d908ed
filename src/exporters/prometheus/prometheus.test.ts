import { get } from 'node:http';
import test from 'ava';
import { testContext } from '../../../test/harness/context.ts';
import { sendNow } from '../../../test/harness/exporter-queue.ts';
import { requirePrivileges } from '../../../test/harness/privileges.ts';
import { startPrometheus } from '../../../test/harness/prometheus.ts';
import { batch, flow } from '../../../test/harness/flows.ts';
import { DEFAULT_EXPORTER_QUEUE } from '../../contracts/component.ts';
import { SeriesStore, sanitizeLabelName, type StoredSeries } from '../shared/prometheus-series.ts';
import { configSchema } from './config.ts';
import { exposition } from './exposition.ts';
import { prometheusExporterFactory } from './index.ts';
import { PrometheusExporter } from './prometheus-exporter.ts';

const web = { 'source.k8s.namespace.name': 'shop', 'source.k8s.owner.name': 'web', 'destination.k8s.namespace.name': 'shop', 'destination.k8s.owner.name': 'db', 'destination.port': 5432, 'network.transport': 'tcp' };

/** The whole exposition of a store, as a scrape streams it. */
async function renderExposition(series: Iterable<StoredSeries>): Promise<string> {
  let text = '';
  for await (const chunk of exposition([...series])) text += chunk;
  return text;
}

test('defaults: localhost:9464 (exposing it is a choice), 5m expiration, 100k series, 1 KiB label values, no tls, no auth', (t) => {
  const config = configSchema.parse({});
  t.deepEqual(config.endpoint, { host: 'localhost', port: 9464 });
  t.is(config.metric_expiration, 300_000);
  t.deepEqual(config.const_labels, {});
  t.is(config.max_series, 100_000);
  t.is(config.max_label_value_length, 1024);
  t.is(config.tls, undefined);
  t.is(config.auth, undefined);
  // a queue of 100 requests, no retry (it only updates memory), 5 s per send
  t.deepEqual(prometheusExporterFactory.queueSettings!(config), {
    sending_queue: { enabled: true, num_consumers: 1, queue_size: 100 },
    retry_on_failure: { ...DEFAULT_EXPORTER_QUEUE.retry_on_failure, enabled: false },
    timeout: 5_000,
  });
});

test('bad config names the key', (t) => {
  const endpoint = configSchema.safeParse({ endpoint: 'localhost' });
  t.false(endpoint.success);
  t.deepEqual(endpoint.error!.issues[0]!.path, ['endpoint']);
  t.regex(endpoint.error!.issues[0]!.message, /host:port/);
  const expiration = configSchema.safeParse({ metric_expiration: 'soon' });
  t.deepEqual(expiration.error!.issues[0]!.path, ['metric_expiration']);
  t.false(configSchema.safeParse({ nope: 1 }).success);
  t.deepEqual(configSchema.parse({ endpoint: '[::1]:0' }).endpoint, { host: '::1', port: 0 });
});

test('label names: dots and dashes become underscores, a leading digit gets key_', (t) => {
  t.is(sanitizeLabelName('source.k8s.namespace.name'), 'source_k8s_namespace_name');
  t.is(sanitizeLabelName('source.k8s.pod.label.app-kubernetes-io/name'), 'source_k8s_pod_label_app_kubernetes_io_name');
  t.is(sanitizeLabelName('0day'), 'key_0day');
});

test('exposition: OTel names, sorted labels, empty values omitted, escaping', async (t) => {
  const store = new SeriesStore();
  store.apply(batch('delta', [flow({ 'z.last': 'x', 'a.first': 'say "hi"\\', 'empty.value': '', 'network.flow.inter_zone': true }, [100, 2], [0, 0])]));
  t.is(
    await renderExposition(store.values()),
    [
      '# HELP network_flow_io_bytes_total Bytes of network flows (L3 length as the kernel counts them), by direction: transmit is source to destination.',
      '# TYPE network_flow_io_bytes_total counter',
      'network_flow_io_bytes_total{a_first="say \\"hi\\"\\\\",network_flow_inter_zone="true",network_io_direction="transmit",z_last="x"} 100',
      '# HELP network_flow_packets_total Packets of network flows, by direction: transmit is source to destination.',
      '# TYPE network_flow_packets_total counter',
      'network_flow_packets_total{a_first="say \\"hi\\"\\\\",network_flow_inter_zone="true",network_io_direction="transmit",z_last="x"} 2',
      '',
    ].join('\n'),
  );
});

test('delta batches add up; cumulative batches replace; idle series expire', (t) => {
  const delta = new SeriesStore();
  delta.apply(batch('delta', [flow(web, [100, 1], [10, 1]), flow(web, [1, 1], [2, 1])]), 1_000);
  delta.apply(batch('delta', [flow(web, [1000, 3], [20, 2])]), 2_000);
  const value = (s: SeriesStore, name: string, dir: string) =>
    [...s.values()].find((x) => x.name === name && x.labels.some(([n, v]) => n === 'network_io_direction' && v === dir))?.value;
  t.is(value(delta, 'network_flow_io_bytes_total', 'transmit'), 1101);
  t.is(value(delta, 'network_flow_io_bytes_total', 'receive'), 32);
  t.is(value(delta, 'network_flow_packets_total', 'transmit'), 5);

  const cumulative = new SeriesStore();
  cumulative.apply(batch('cumulative', [flow(web, [100, 1], [10, 1])]), 1_000);
  cumulative.apply(batch('cumulative', [flow(web, [150, 2], [10, 1])]), 2_000);
  t.is(value(cumulative, 'network_flow_io_bytes_total', 'transmit'), 150, 'cumulative input is not summed again');
  // two groups of one batch that collapse onto one series are summed
  cumulative.apply(batch('cumulative', [flow(web, [200, 2], [10, 1]), flow({ ...web, empty: '' }, [5, 1], [0, 0])]), 3_000);
  t.is(value(cumulative, 'network_flow_io_bytes_total', 'transmit'), 205);

  t.is(cumulative.expire(60_000, 60_000 + 3_000), 0);
  t.is(cumulative.expire(60_000, 60_001 + 3_000), 4);
  t.is(cumulative.size, 0);
});

test('expiry in steps: a sweep looks at a bounded number of series per call, resumes, and removes exactly the idle ones', (t) => {
  const store = new SeriesStore();
  // 25 flows, 4 series each: 10 flows last updated at 1 s, 15 at 100 s.
  store.apply(batch('delta', Array.from({ length: 10 }, (_, i) => flow({ ...web, i: String(i) }, [1, 1], [1, 1]))), 1_000);
  store.apply(batch('delta', Array.from({ length: 15 }, (_, i) => flow({ ...web, i: String(100 + i) }, [1, 1], [1, 1]))), 100_000);
  t.is(store.size, 100);
  const steps: Array<{ removed: number; done: boolean }> = [];
  do steps.push(store.expireSome(60_000, 100_000, 30));
  while (!steps.at(-1)!.done);
  // 100 series, 30 per step: three steps that are not done, the fourth ends the sweep.
  t.deepEqual(steps.map((s) => s.done), [false, false, false, true]);
  t.deepEqual(steps.map((s) => s.removed), [30, 10, 0, 0]);
  t.is(store.size, 60);
  t.true([...store.values()].every((s) => s.updatedMs === 100_000));
  // The next sweep starts over from the beginning.
  t.deepEqual(store.expireSome(60_000, 200_000, 1_000), { removed: 60, done: true });
});

test('endpoint in use: start fails naming the address', async (t) => {
  const first = new PrometheusExporter(testContext('prometheus/a'), configSchema.parse({ endpoint: '127.0.0.1:0' }));
  await first.start();
  t.teardown(() => first.shutdown());
  const second = new PrometheusExporter(testContext('prometheus/b'), configSchema.parse({ endpoint: `127.0.0.1:${first.address.port}` }));
  await t.throwsAsync(second.start(), { message: new RegExp(`prometheus/b: cannot listen on 127.0.0.1:${first.address.port}: EADDRINUSE`) });
});

test('only /metrics is served', async (t) => {
  const exporter = new PrometheusExporter(testContext('prometheus'), configSchema.parse({ endpoint: '127.0.0.1:0' }));
  await exporter.start();
  t.teardown(() => exporter.shutdown());
  const base = `http://127.0.0.1:${exporter.address.port}`;
  t.is((await fetch(`${base}/`)).status, 404);
  const empty = await fetch(`${base}/metrics`);
  t.is(empty.status, 200);
  t.is(await empty.text(), '');
  await sendNow(exporter, batch('delta', [flow(web, [7, 1], [0, 0])]));
  const plain = await new Promise<{ headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    get(`${base}/metrics`, (r) => {
      let body = '';
      r.on('data', (c: Buffer) => (body += c.toString()));
      r.on('end', () => resolve({ headers: r.headers, body }));
    }).on('error', reject);
  });
  t.is(plain.headers['content-encoding'], undefined);
  t.regex(plain.body, /^network_flow_io_bytes_total\{.*\} 7$/m);
  const res = await fetch(`${base}/metrics`); // fetch asks for gzip and inflates it
  t.is(res.headers.get('content-encoding'), 'gzip');
  t.is(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  t.regex(await res.text(), /^network_flow_io_bytes_total\{destination_k8s_namespace_name="shop",destination_k8s_owner_name="db",destination_port="5432",network_io_direction="transmit",network_transport="tcp",source_k8s_namespace_name="shop",source_k8s_owner_name="web"\} 7$/m);
});

test('a real Prometheus scrapes exact byte totals', async (t) => {
  if (!requirePrivileges(t, ['prometheus'])) return;
  const exporter = new PrometheusExporter(testContext('prometheus'), configSchema.parse({ endpoint: '127.0.0.1:0', const_labels: { cluster: 'kind' } }));
  await exporter.start();
  t.teardown(() => exporter.shutdown());
  const prometheus = await startPrometheus({ scrapeTargets: [`127.0.0.1:${exporter.address.port}`] });
  t.teardown(() => prometheus.stop());

  // Two delta intervals of one group (+ a one-way UDP flow) and a second group.
  await sendNow(exporter, batch('delta', [flow(web, [1_234_567, 900], [98_765, 700]), flow({ ...web, 'network.transport': 'udp', 'destination.port': 53 }, [80, 1], [0, 0])]));
  await sendNow(exporter, batch('delta', [flow(web, [1_000_000, 100], [1, 1]), flow({ ...web, 'source.k8s.owner.name': 'api' }, [42, 1], [43, 1])]));

  const expr = 'network_flow_io_bytes_total{source_k8s_owner_name="web",network_transport="tcp"}';
  const samples = await prometheus.waitFor(expr, (s) => s.length === 2 && s.some((x) => x.value === 2_234_567));
  const byDirection = Object.fromEntries(samples.map((s) => [s.metric.network_io_direction, s.value]));
  t.deepEqual(byDirection, { transmit: 2_234_567, receive: 98_766 }, prometheus.log().slice(-1_000));
  const one = samples.find((s) => s.metric.network_io_direction === 'transmit')!;
  t.is(one.metric.cluster, 'kind');
  t.is(one.metric.destination_port, '5432');
  t.is(one.metric.job, 'podflow');

  const packets = await prometheus.query('sum(network_flow_packets_total)');
  t.is(packets[0]!.value, 900 + 700 + 1 + 100 + 1 + 1 + 1);
  const udp = await prometheus.query('network_flow_io_bytes_total{network_transport="udp"}');
  t.deepEqual(udp.map((s) => [s.metric.network_io_direction, s.value]), [['transmit', 80]], 'a zero direction creates no series');
  t.deepEqual((await prometheus.targets()).map((x) => x.health), ['up']);
});

test('cost: network_flow_cost_usd_total, no direction, exact sums shown as doubles; a real Prometheus scrapes it', async (t) => {
  const priced = (zepto: bigint, attrs: Record<string, string | number> = web) => ({ ...flow(attrs, [100, 1], [10, 1]), costZeptoUsd: zepto });
  const cents = (n: bigint) => n * 10n ** 19n;
  const store = new SeriesStore();
  // 0.1 + 0.2 as doubles is 0.30000000000000004; summed as integers it is 0.3.
  store.apply(batch('delta', [priced(cents(10n)), priced(cents(20n)), flow({ ...web, 'source.k8s.owner.name': 'api' }, [1, 1], [1, 1])]), 1_000);
  const cost = [...store.values()].filter((s) => s.name === 'network_flow_cost_usd_total');
  t.deepEqual(cost.map((s) => [s.value, s.labels.some(([n]) => n === 'network_io_direction'), s.labels.find(([n]) => n === 'source_k8s_owner_name')![1]]), [[0.3, false, 'web']]);
  const cumulative = new SeriesStore();
  cumulative.apply(batch('cumulative', [priced(cents(10n))]), 1_000);
  cumulative.apply(batch('cumulative', [priced(cents(25n))]), 2_000);
  t.is([...cumulative.values()].find((s) => s.name === 'network_flow_cost_usd_total')!.value, 0.25, 'cumulative input is not summed again');

  if (!requirePrivileges(t, ['prometheus'])) return;
  const exporter = new PrometheusExporter(testContext('prometheus/cost'), configSchema.parse({ endpoint: '127.0.0.1:0' }));
  await exporter.start();
  t.teardown(() => exporter.shutdown());
  const prometheus = await startPrometheus({ scrapeTargets: [`127.0.0.1:${exporter.address.port}`] });
  t.teardown(() => prometheus.stop());
  await sendNow(exporter, batch('delta', [priced(cents(10n), { ...web, 'network.flow.cost.class': 'inter_zone' }), priced(cents(20n), { ...web, 'network.flow.cost.class': 'inter_zone' })]));
  const samples = await prometheus.waitFor('network_flow_cost_usd_total{network_flow_cost_class="inter_zone"}', (s) => s.length === 1);
  t.is(samples[0]!.value, 0.3);
  t.is(samples[0]!.metric.source_k8s_owner_name, 'web');
});
