import test from 'ava';
import { pod } from '../../../test/harness/k8s-objects.ts';
import { CLOCK_SKEW_MS, ClusterCache } from './cluster-cache.ts';
import { toPodRecord } from './objects.ts';

const extract = { labels: [], annotations: [] };
const rec = (name: string, ip: string, createdMs: number, more: Partial<Parameters<typeof pod>[0]> = {}) =>
  toPodRecord(pod({ namespace: 'ns', name, ip, node: 'n', created: new Date(createdMs), ...more }), extract);

test('the pod whose lifetime overlaps the interval most wins; ended pods only within grace', (t) => {
  let now = 1_000_000;
  const cache = new ClusterCache(120_000, () => now);
  const a = rec('a', '10.0.0.1', 0);
  cache.upsertPod(a);
  now = 500_000;
  cache.deletePod(a); // a: [0, 500s]
  const b = rec('b', '10.0.0.1', 600_000);
  now = 600_000;
  cache.upsertPod(b); // b: [600s, ∞)
  const at = (s: number, e: number) => cache.podAt('10.0.0.1', s, e)?.pod.name;
  t.is(at(100_000, 110_000), 'a');
  t.is(at(650_000, 660_000), 'b');
  t.is(at(495_000, 605_000), 'b', 'a 5s, b 5s: a tie goes to the newer pod');
  t.is(at(490_000, 605_000), 'a', 'a 10s vs b 5s');
  t.is(at(498_000, 610_000), 'b', 'a 2s vs b 10s');
  t.is(at(520_000, 530_000), 'a', 'between lives: the one that ended, within grace');
  t.is(at(600_000 - CLOCK_SKEW_MS - 20_000, 600_000 - CLOCK_SKEW_MS - 10_000), 'a');
  now = 500_000 + 120_001;
  t.is(at(520_000, 530_000), undefined, 'a is past its grace; b starts 70s after the flow');
  t.is(at(599_000, 599_500), 'b', 'b created within the clock-skew allowance after the flow');
  t.is(cache.counts().pods, 2);
  t.is(cache.sweep(), 1);
  t.is(cache.counts().pods, 1);
});

test('a recreated pod (same name, new uid) ends the old one; updates after a delete do not revive it', (t) => {
  let now = 100_000;
  const cache = new ClusterCache(60_000, () => now);
  const old = rec('web-0', '10.0.0.2', 0);
  cache.upsertPod(old);
  now = 200_000;
  cache.upsertPod(rec('web-0', '10.0.0.3', 150_000));
  const oldEntry = cache.podAt('10.0.0.2', 10_000, 20_000)!;
  t.true(oldEntry.deleted);
  t.is(oldEntry.endMs, 150_000);
  cache.upsertPod(old);
  t.true(cache.podAt('10.0.0.2', 10_000, 20_000)!.deleted);
});

test('a pod that gets its IP in an update is indexed; a changed IP is re-indexed', (t) => {
  const cache = new ClusterCache(60_000, () => 10_000);
  const uid = 'u-1';
  cache.upsertPod(toPodRecord(pod({ namespace: 'ns', name: 'p', node: 'n', uid, created: new Date(0) }), extract));
  t.is(cache.podAt('10.0.0.9', 0, 1), undefined);
  cache.upsertPod(toPodRecord(pod({ namespace: 'ns', name: 'p', node: 'n', uid, ip: '10.0.0.9', created: new Date(0) }), extract));
  t.is(cache.podAt('10.0.0.9', 0, 1)?.pod.name, 'p');
  cache.upsertPod(toPodRecord(pod({ namespace: 'ns', name: 'p', node: 'n', uid, ip: '10.0.0.10', created: new Date(0) }), extract));
  t.is(cache.podAt('10.0.0.9', 0, 1), undefined);
  t.is(cache.podAt('10.0.0.10', 0, 1)?.pod.name, 'p');
});

test('toPodRecord keeps only what podflow needs; accepts the client models (Date timestamps); canonical IPv6', (t) => {
  const raw = pod({ namespace: 'ns', name: 'p', node: 'n', ip: '10.0.0.1', ips: ['FD00:0:0::1'], labels: { app: 'x', other: 'y' }, created: new Date(5_000) });
  (raw.metadata as Record<string, unknown>).creationTimestamp = new Date(5_000);
  const r = toPodRecord(raw, { labels: ['app'], annotations: [] });
  t.deepEqual(r.ips, ['10.0.0.1', 'fd00::1']);
  t.deepEqual(r.labels, [['app', 'x']]);
  t.is(r.createdMs, 5_000);
  t.deepEqual(Object.keys(r).sort(), ['annotations', 'controller', 'createdMs', 'finishedMs', 'hostNetwork', 'hostPorts', 'ips', 'labels', 'metadata', 'name', 'namespace', 'nodeName', 'templateHash', 'terminal', 'uid']);
  t.deepEqual(r.metadata, { name: 'p', namespace: 'ns', resourceVersion: undefined });
});
