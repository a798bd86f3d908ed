import test from 'ava';
import { ciliumConfigSchema } from './config.ts';

test('every key has its documented default', (t) => {
  t.deepEqual(ciliumConfigSchema.parse({}), {
    bpffs: '/sys/fs/bpf',
    maps: ['cilium_ct4_global', 'cilium_ct_any4_global', 'cilium_ct6_global', 'cilium_ct_any6_global'],
    layout: 'auto',
    clock_source: 'ktime',
    interval: 5000,
    startup: 'baseline',
    read_method: 'auto',
    read_threads: 'auto',
    exclude_cidrs: ['127.0.0.0/8', '::1/128'],
  });
});

test('bad values are refused with the key that is wrong', (t) => {
  const issues = (input: unknown) => {
    const r = ciliumConfigSchema.safeParse(input);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };
  t.regex(issues({ maps: ['cilium_lb4_services'] })[0]!, /^maps\.0: the name must tell the family/);
  t.regex(issues({ maps: ['tc/globals/cilium_ct4_global'] })[0]!, /^maps\.0: a map name .* or an absolute path/);
  t.deepEqual(issues({ maps: ['/run/cilium/bpffs/tc/globals/cilium_per_cluster_ct_tcp6_3'] }), []);
  t.regex(issues({ maps: [] })[0]!, /^maps:/);
  t.regex(issues({ bpffs: 'sys/fs/bpf' })[0]!, /^bpffs: bpffs must be an absolute path/);
  t.regex(issues({ layout: 'v1.17' })[0]!, /^layout:/);
  t.regex(issues({ clock_source: 'tsc' })[0]!, /^clock_source:/);
  t.regex(issues({ interval: '10ms' })[0]!, /^interval:/);
  t.regex(issues({ exclude_cidrs: ['10.0.0.0/33'] })[0]!, /^exclude_cidrs\.0:/);
  t.regex(issues({ read_threads: 0 })[0]!, /^read_threads:/);
  t.regex(issues({ read_threads: 1.5 })[0]!, /^read_threads:/);
  t.deepEqual(issues({ read_threads: 2 }), []);
  t.regex(issues({ bogus: 1 })[0]!, /bogus/);
});
