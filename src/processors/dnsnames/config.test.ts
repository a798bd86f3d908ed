import test from 'ava';
import { dnsnamesConfigSchema } from './config.ts';
import { dnsnamesFactory } from './index.ts';

const issue = (input: unknown) => {
  const r = dnsnamesConfigSchema.safeParse(input);
  return r.success ? '' : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
};

test('defaults', (t) => {
  t.deepEqual(dnsnamesConfigSchema.parse({}), {
    interface: 'any', max_entries: 65_536, ttl_floor: 120_000, ring_size: 4 * 1024 * 1024, only_public: true, cluster_cidrs: [],
  });
  t.is(dnsnamesConfigSchema.parse({ ttl_floor: '0s' }).ttl_floor, 0);
});

test('bad values name the key', (t) => {
  t.regex(issue({ max_entries: 0 }), /^max_entries: /);
  t.regex(issue({ ttl_floor: '2 days' }), /^ttl_floor: "2 days" is not a duration/);
  t.regex(issue({ ttl_floor: '2d' }), /^ttl_floor: duration must be at most/);
  t.regex(issue({ cluster_cidrs: ['10.0.0.0/8', 'pods'] }), /^cluster_cidrs\.1: "pods" is not a CIDR/);
  t.regex(issue({ interface: '' }), /^interface: /);
  t.regex(issue({ ttl: '1m' }), /Unrecognized key: "ttl"/);
});

test('a processor factory (registered: src/components.test.ts)', (t) => {
  t.true(dnsnamesFactory.kind === 'processor' && dnsnamesFactory.type === 'dnsnames');
});
