import test from 'ava';
import { nativeFilter, packetConfigSchema } from './config.ts';

const issue = (input: unknown) => {
  const r = packetConfigSchema.safeParse(input);
  return r.success ? '' : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
};

test('defaults', (t) => {
  t.deepEqual(packetConfigSchema.parse({}), {
    interface: 'cni0', filter: 'tcp', interval: 5_000, ring_size: 16 * 1024 * 1024,
    max_connections: 262_144, idle_timeout: 120_000, exclude_cidrs: ['127.0.0.0/8', '::1/128'],
  });
});

test('filters: tcp, udp, all, or a list of ports', (t) => {
  t.is(nativeFilter(packetConfigSchema.parse({ filter: 'udp' }).filter), 'udp');
  t.is(nativeFilter(packetConfigSchema.parse({ filter: 'all' }).filter), 'all');
  t.is(nativeFilter(packetConfigSchema.parse({ filter: [53, 443] }).filter), '53,443');
  t.is(issue({ filter: 'icmp' }), 'filter: "icmp" is not tcp, udp, all or a list of ports');
  t.is(issue({ filter: [80, 0] }), 'filter.1: 0 is not a port (a whole number 1-65535)');
  t.regex(issue({ filter: [80.5] }), /filter\.0: 80\.5 is not a port/);
  t.regex(issue({ filter: ['http'] }), /filter\.0: "http" is not a port/);
  t.regex(issue({ filter: [] }), /at least one port/);
  t.regex(issue({ filter: Array.from({ length: 49 }, (_, i) => i + 1) }), /at most 48 ports, not 49/);
});

test('bad keys and values name the key', (t) => {
  t.regex(issue({ interface: 'a-very-long-interface' }), /^interface: .*15 characters/);
  t.regex(issue({ interface: '' }), /^interface: .*empty/);
  t.regex(issue({ ring_size: '1MiB' }), /^ring_size: size must be at least/);
  t.regex(issue({ interval: 'soon' }), /^interval: "soon" is not a duration/);
  t.regex(issue({ exclude_cidrs: ['10.0.0.0/40'] }), /^exclude_cidrs\.0: .*prefix/);
  t.regex(issue({ iface: 'eth0' }), /Unrecognized key: "iface"/);
  t.is(packetConfigSchema.parse({ ring_size: '64MiB', idle_timeout: '5m' }).ring_size, 64 * 1024 * 1024);
});
