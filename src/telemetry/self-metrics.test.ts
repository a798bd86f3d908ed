import test from 'ava';
import { RENAMED_GAUGES, SelfMetrics } from './self-metrics.ts';

/** Sample values of `name` in a Prometheus text exposition (any labels). */
function samples(text: string, name: string): number[] {
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].map((m) => Number(m[1]));
}

test("prom-client's active handles, requests and resources totals: gauges named without _total, equal to the per-type sum", async (t) => {
  const metrics = new SelfMetrics();
  // Something to count: a timer is an active handle and an active resource.
  const timer = setInterval(() => {}, 60_000);
  t.teardown(() => clearInterval(timer));
  const text = await metrics.registry.metrics();
  for (const { what, oldName, name } of RENAMED_GAUGES) {
    t.deepEqual(samples(text, oldName), [], `${oldName} is not served`);
    t.regex(text, new RegExp(`^# TYPE ${name} gauge$`, 'm'));
    const total = samples(text, name);
    t.is(total.length, 1, name);
    const perType = samples(text, `podflow_nodejs_active_${what}`);
    t.is(total[0], perType.reduce((a, b) => a + b, 0), `${name} is the sum of podflow_nodejs_active_${what}`);
  }
  t.true(samples(text, 'podflow_nodejs_active_resources_all')[0]! >= 1, 'the timer is an active resource');
});
