import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { capturingContext } from '../../../test/harness/context.ts';
import { flowBetween } from '../../../test/harness/flows.ts';
import { resolveAuth, SERVICE_ACCOUNT_TOKEN } from './auth.ts';
import { k8sattributesConfigSchema } from './config.ts';
import { K8sAttributesProcessor } from './processor.ts';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'podflow-k8sauth-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const kubeconfig = (server: string) => JSON.stringify({
  apiVersion: 'v1', kind: 'Config', 'current-context': 'c',
  clusters: [{ name: 'k', cluster: { server, 'insecure-skip-tls-verify': true } }],
  users: [{ name: 'u', user: { token: 't' } }],
  contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }, { name: 'other', context: { cluster: 'k', user: 'u' } }],
});

test('auto: service account, else KUBECONFIG, else ~/.kube/config, else none', (t) => {
  const dir = tempDir(t);
  const cfg = k8sattributesConfigSchema.parse({});
  const none = resolveAuth(cfg, { env: {}, home: dir, serviceAccountRoot: dir });
  t.is(none.kubeConfig, undefined);
  t.regex(none.description, /^none \(no service account mounted, no kubeconfig at .*\.kube\/config\)$/);

  mkdirSync(join(dir, '.kube'));
  writeFileSync(join(dir, '.kube', 'config'), kubeconfig('http://127.0.0.1:1'));
  t.is(resolveAuth(cfg, { env: {}, home: dir, serviceAccountRoot: dir }).description, `kubeConfig ${join(dir, '.kube', 'config')}`);

  const envFile = join(dir, 'env-kubeconfig');
  writeFileSync(envFile, kubeconfig('http://127.0.0.1:2'));
  const viaEnv = resolveAuth(cfg, { env: { KUBECONFIG: `${join(dir, 'missing')}:${envFile}` }, home: dir, serviceAccountRoot: dir });
  t.is(viaEnv.kubeConfig?.getCurrentCluster()?.server, 'http://127.0.0.1:2');

  mkdirSync(join(dir, SERVICE_ACCOUNT_TOKEN, '..'), { recursive: true });
  writeFileSync(join(dir, SERVICE_ACCOUNT_TOKEN), 'token');
  const inCluster = resolveAuth(cfg, { env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, home: dir, serviceAccountRoot: dir });
  t.is(inCluster.description, 'serviceAccount');
  t.is(inCluster.kubeConfig?.getCurrentCluster()?.server, 'https://10.96.0.1:443');
});

test('explicit auth types fail clearly when what they need is missing', (t) => {
  const dir = tempDir(t);
  const e = { env: {}, home: dir, serviceAccountRoot: dir };
  t.throws(() => resolveAuth(k8sattributesConfigSchema.parse({ auth_type: 'serviceAccount' }), e), { message: /^auth_type serviceAccount: no service account token at .*\/var\/run\/secrets\/kubernetes.io\/serviceaccount\/token/ });
  t.throws(() => resolveAuth(k8sattributesConfigSchema.parse({ auth_type: 'kubeConfig', kubeconfig: join(dir, 'nope') }), e), { message: `auth_type kubeConfig: kubeconfig ${join(dir, 'nope')} does not exist (set kubeconfig or KUBECONFIG)` });
  const bad = join(dir, 'bad');
  writeFileSync(bad, '{ not: [yaml');
  t.throws(() => resolveAuth(k8sattributesConfigSchema.parse({ auth_type: 'kubeConfig', kubeconfig: bad }), e), { message: new RegExp(`^kubeconfig ${bad}: `) });
  const good = join(dir, 'good');
  writeFileSync(good, kubeconfig('http://127.0.0.1:3'));
  t.throws(() => resolveAuth(k8sattributesConfigSchema.parse({ auth_type: 'kubeConfig', kubeconfig: good, context: 'missing' }), e), { message: `kubeconfig ${good}: no context "missing" (context)` });
  t.is(resolveAuth(k8sattributesConfigSchema.parse({ auth_type: 'kubeConfig', kubeconfig: good, context: 'other' }), e).kubeConfig?.getCurrentContext(), 'other');
});

test('no cluster access: one warning, network-only attributes, start() rejects for a missing kubeconfig', async (t) => {
  const dir = tempDir(t);
  const ctx = capturingContext('k8sattributes');
  const batches: unknown[] = [];
  const p = new K8sAttributesProcessor(ctx, k8sattributesConfigSchema.parse({}), { consume: async (b) => void batches.push(b) }, { auth: { env: {}, home: dir, serviceAccountRoot: dir } });
  await p.start();
  t.deepEqual(ctx.logs.filter((l) => l.level === 40).map((l) => l.msg), [
    `k8sattributes: no cluster access, none (no service account mounted, no kubeconfig at ${join(dir, '.kube', 'config')}): only network attributes (address types) are added`,
  ]);
  const f = flowBetween({ src: '10.0.0.1', dst: '8.8.8.8' });
  await p.consume({ flows: [f], temporality: 'delta' });
  t.is(f.attributes['source.address.type'], 'private');
  t.is(f.attributes['destination.address.type'], 'public');
  // Ready (start() returned) and synced: there is nothing to wait for without cluster access.
  t.regex(await ctx.metrics.getSingleMetricAsString('podflow_k8sattributes_synced'), /\{processor="k8sattributes"\} 1$/m);
  await p.shutdown();

  const strict = new K8sAttributesProcessor(capturingContext('k8sattributes'), k8sattributesConfigSchema.parse({ auth_type: 'kubeConfig', kubeconfig: join(dir, 'x') }), { consume: async () => {} });
  await t.throwsAsync(strict.start(), { message: /^auth_type kubeConfig: kubeconfig .*\/x does not exist/ });
});

test('config: defaults, durations, and errors that name the key', (t) => {
  t.deepEqual(k8sattributesConfigSchema.parse({}), {
    auth_type: 'auto', kubeconfig: '', context: '', node_name: '', report_once: true, deleted_pod_grace: 120_000, wait_for_sync: 10_000,
    cluster_cidrs: [], extract: { labels: [], annotations: [] }, max_watch_line_size: 16 * 1024 * 1024,
  });
  t.is(k8sattributesConfigSchema.parse({ deleted_pod_grace: '30s' }).deleted_pod_grace, 30_000);
  t.is(k8sattributesConfigSchema.parse({ max_watch_line_size: '1MiB' }).max_watch_line_size, 1024 * 1024);
  const issues = (input: unknown) => k8sattributesConfigSchema.safeParse(input).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
  t.deepEqual(issues({ auth_type: 'token' }), ['auth_type: Invalid option: expected one of "auto"|"serviceAccount"|"kubeConfig"|"none"']);
  t.deepEqual(issues({ wait_for_sync: 'soon' }), ['wait_for_sync: "soon" is not a duration (use e.g. 500ms, 5s, 2m, 1h30m, 7d)']);
  t.deepEqual(issues({ cluster_cidrs: ['10.0.0.0/33'] }), ['cluster_cidrs.0: "10.0.0.0/33" is not a CIDR: prefix longer than the address (/32 at most for IPv4)']);
  t.deepEqual(issues({ extract: { labels: ['ok', 'bad key!'] } }), ['extract.labels.1: not a Kubernetes label/annotation key']);
  t.deepEqual(issues({ extract: { label: [] } }), ['extract: Unrecognized key: "label"']);
  t.deepEqual(issues({ max_watch_line_size: '1GiB' }), ['max_watch_line_size: size must be at most 268435456 bytes']);
});
