// API server failures a person must fix: a 401, a 403 (the RBAC verb and resource that are
// missing, read from the Status the API server sends), a refused connection and a kubeconfig that
// cannot be used are each logged at error once with their cause, again at most once a minute
// while they last (the ManualClock moves that minute), reported by health() and /readyz, and
// cleared when the API server answers again. Against the fake API server's real Status bodies.
import test, { type ExecutionContext } from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { capturingContext, type CapturingContext, type LogLine } from '../../../test/harness/context.ts';
import { DEFAULT_SUBJECT, FakeApiServer } from '../../../test/harness/fake-apiserver.ts';
import { node, pod } from '../../../test/harness/k8s-objects.ts';
import { agentPipelineConfig, makeProcessor } from '../../../test/harness/k8sattributes.ts';
import { ManualClock } from '../../../test/harness/manual-clock.ts';
import { freePort } from '../../../test/harness/ports.ts';
import { TEST_FACTORIES } from '../../../test/harness/test-components.ts';
import { until } from '../../../test/harness/wait.ts';
import { parseConfig } from '../../config/load.ts';
import { Service } from '../../pipeline/service.ts';
import { API_FAILURE_LOG_PERIOD_MS } from './api-health.ts';
import { k8sattributesFactory } from './index.ts';

const ERROR = 50;

async function cluster(t: ExecutionContext, token?: string): Promise<FakeApiServer> {
  const server = await FakeApiServer.start({ token });
  t.teardown(() => server.close());
  server.add('nodes', node({ name: 'node-a', internalIPs: ['192.168.1.10'] }));
  server.add('pods', pod({ namespace: 'a', name: 'one', ip: '10.1.0.1', node: 'node-a' }));
  return server;
}

async function processor(t: ExecutionContext, kubeconfig: string) {
  const clock = new ManualClock(Date.now());
  const ctx = capturingContext('k8sattributes');
  const made = makeProcessor(ctx, { auth_type: 'kubeConfig', kubeconfig, wait_for_sync: '200ms', report_once: false }, { clock });
  t.teardown(() => made.p.shutdown());
  await made.p.start();
  return { ...made, ctx, clock };
}

/** List/watch attempts after the first, over every kind (each failed attempt is followed by one). */
async function attempts(ctx: CapturingContext): Promise<number> {
  const metric = await ctx.metrics.getSingleMetric('podflow_k8sattributes_watch_restarts_total')!.get();
  return metric.values.reduce((sum, v) => sum + v.value, 0);
}

const errors = (ctx: CapturingContext): LogLine[] => ctx.logs.filter((l) => l.level === ERROR && l.msg !== undefined && !l.msg.includes('malformed'));

/** The error line is logged once however often the failing call is retried; a minute on, once more, with the count left out. */
async function loggedOnceThenAtBoundedRate(t: ExecutionContext, ctx: CapturingContext, clock: ManualClock, retried: () => boolean | Promise<boolean>, message: string) {
  await until(retried, 10_000, 'several failed attempts');
  t.deepEqual(errors(ctx).map((l) => l.msg), [message]);
  t.is(errors(ctx)[0]!.suppressed, 0);
  await clock.advance(API_FAILURE_LOG_PERIOD_MS);
  await until(() => errors(ctx).length === 2, 10_000, 'the line repeated after a minute');
  t.is(errors(ctx)[1]!.msg, message);
  t.true((errors(ctx)[1]!.suppressed as number) >= 1, 'repeats within the minute were counted, not logged');
}

test('401: the credentials are named, logged once and then at most once a minute; health reports it until the token works', async (t) => {
  const server = await cluster(t, 'secret');
  const { p, ctx, clock } = await processor(t, server.writeKubeconfig('expired'));
  const message = `k8sattributes: the API server at ${server.url} refused the credentials (401 Unauthorized): the token or client certificate is wrong or expired`;
  await loggedOnceThenAtBoundedRate(t, ctx, clock, () => server.requests.filter((r) => r.status === 401).length >= 12, message);
  t.is(errors(ctx)[0]!.cause, 'unauthorized');
  t.regex(String(errors(ctx)[0]!.err), /HTTP 401 Unauthorized/);
  const health = p.health();
  t.false(health.healthy);
  if (!health.healthy) {
    t.true(health.reason.startsWith(`the API server at ${server.url} refused the credentials (401 Unauthorized)`), health.reason);
    for (const resource of ['nodes', 'replicasets', 'jobs', 'services', 'pods']) t.true(health.reason.includes(resource), resource);
  }

  server.requireToken('expired');
  await until(() => p.health().healthy, 10_000, 'healthy again');
  t.true(ctx.logs.some((l) => l.level === 30 && l.msg === `k8sattributes: the API server answers again (was: the API server at ${server.url} refused the credentials (401 Unauthorized): the token or client certificate is wrong or expired)`));
  t.is(errors(ctx).length, 2, 'nothing more at error');
});

test('403 on list: the subject, verb, resource and API group come from the Status the API server sends', async (t) => {
  const server = await cluster(t);
  server.forbid('pods', 'list');
  const { p, ctx, clock, cache } = await processor(t, server.writeKubeconfig());
  const message = `k8sattributes: 403 Forbidden: User "${DEFAULT_SUBJECT}" lacks RBAC verb "list" on resource "pods" (API group core); grant get, list, watch on it in podflow's ClusterRole`;
  await loggedOnceThenAtBoundedRate(t, ctx, clock, () => server.requests.filter((r) => r.status === 403).length >= 4, message);
  t.deepEqual(errors(ctx)[0]!.resources, ['pods']);
  t.deepEqual(p.health(), { healthy: false, reason: `${message.slice('k8sattributes: '.length)} [pods]` });
  t.is(cache.counts().nodes, 1, 'the kinds RBAC allows are watched meanwhile');

  server.allow('pods');
  await until(() => p.health().healthy && cache.counts().pods === 1, 10_000, 'pods listed once allowed');
});

test('403 on watch (list allowed): named with its API group; healthy again as soon as the watch streams, with no event to show it', async (t) => {
  const server = await cluster(t);
  server.forbid('replicasets', 'watch', 'system:serviceaccount:other:reader');
  const { p, ctx } = await processor(t, server.writeKubeconfig());
  const refusedWatches = () => server.requests.filter((r) => r.resource === 'replicasets' && r.watch && r.status === 403).length;
  await until(() => refusedWatches() >= 4, 10_000, 'refused watches');
  // The client library drops a refused watch's body: the request itself names verb, resource and group.
  t.deepEqual(errors(ctx).map((l) => l.msg), [
    'k8sattributes: 403 Forbidden: missing RBAC verb "watch" on resource "replicasets" (API group apps); grant get, list, watch on it in podflow\'s ClusterRole',
  ]);
  t.false(ctx.logs.some((l) => l.msg === 'k8sattributes: replicasets watch recovered'));
  t.false(p.health().healthy);

  // Nothing changes in the cluster: the watch that now streams is the only sign of recovery.
  server.allow('replicasets', 'watch');
  await until(() => p.health().healthy, 10_000, 'healthy once the watch streams');
  t.true(ctx.logs.some((l) => l.msg === 'k8sattributes: replicasets watch recovered'));
  t.true(ctx.logs.some((l) => l.msg.startsWith('k8sattributes: the API server answers again (was: 403 Forbidden: missing RBAC verb "watch"')));
});

test('a refused connection: logged once with its cause, repeated at most once a minute, healthy once the server is back', async (t) => {
  const server = await cluster(t);
  const kubeconfig = server.writeKubeconfig();
  await server.stop();
  const { p, ctx, clock, cache } = await processor(t, kubeconfig);
  const message = `k8sattributes: cannot reach the API server at ${server.url}: connection refused (ECONNREFUSED)`;
  await loggedOnceThenAtBoundedRate(t, ctx, clock, async () => (await attempts(ctx)) >= 15, message);
  t.is(errors(ctx)[0]!.cause, 'unreachable');
  t.false(p.health().healthy);

  await server.listen();
  await until(() => p.health().healthy && cache.counts().pods === 1, 10_000, 'resynced');
  t.true(ctx.logs.some((l) => l.msg === `k8sattributes: the API server answers again (was: cannot reach the API server at ${server.url}: connection refused (ECONNREFUSED))`));
});

test('a kubeconfig that loads but cannot be used (its client certificate file is gone): logged once at error, unhealthy', async (t) => {
  const server = await cluster(t);
  const file = join(server.writeKubeconfig(), '..', 'broken-kubeconfig');
  writeFileSync(file, JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'fake', cluster: { server: server.url, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'tester', user: { 'client-certificate': '/nonexistent/podflow-client.crt', 'client-key': '/nonexistent/podflow-client.key' } }],
    contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'tester' } }],
    'current-context': 'fake',
  }));
  const { p, ctx } = await processor(t, file);
  await until(() => ctx.logs.filter((l) => l.msg.includes('list/watch failed')).length === 5, 10_000, 'every kind failed');
  await new Promise((r) => setTimeout(r, 300));
  const lines = errors(ctx);
  t.is(lines.length, 1, JSON.stringify(lines));
  t.regex(lines[0]!.msg, /^k8sattributes: the kubeconfig cannot be used: .*ENOENT.*\/nonexistent\/podflow-client\.(crt|key)/);
  t.is(lines[0]!.cause, 'kubeconfig');
  t.is(server.requests.length, 0, 'nothing was sent');
  t.false(p.health().healthy);
});

test('/readyz of the running program: 503 naming the component and the missing RBAC verb, 200 once granted', async (t) => {
  const server = await cluster(t);
  server.forbid('nodes', 'list');
  const address = `127.0.0.1:${await freePort()}`;
  const config = parseConfig(agentPipelineConfig(server.writeKubeconfig(), address), [k8sattributesFactory, ...TEST_FACTORIES]);
  const svc = new Service(config, capturingContext('service').logger);
  await svc.start();
  t.teardown(() => svc.shutdown());
  const readyz = async () => {
    const res = await fetch(`http://${address}/readyz`);
    return { status: res.status, body: await res.text() };
  };
  await until(async () => (await readyz()).status === 503, 10_000, 'not ready');
  t.deepEqual(await readyz(), {
    status: 503,
    body: `k8sattributes/agent: 403 Forbidden: User "${DEFAULT_SUBJECT}" lacks RBAC verb "list" on resource "nodes" (API group core); grant get, list, watch on it in podflow's ClusterRole [nodes]\n`,
  });
  server.allow('nodes');
  await until(async () => (await readyz()).status === 200, 10_000, 'ready once granted');
  t.is((await readyz()).body, 'ready\n');
});
