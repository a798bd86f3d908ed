// Real pinned maps: each test mounts its own bpffs, creates LRU hash maps with Cilium's names
// and shapes with bpftool, writes entries byte by byte from the documented layouts, and checks
// the flows and deltas the receiver emits. Needs root (bpffs mount, bpf(2)).
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { capturingContext, collector, testContext } from '../../../test/harness/context.ts';
import { ManualClock } from '../../../test/harness/manual-clock.ts';
import { requirePrivileges } from '../../../test/harness/privileges.ts';
import { systemTool } from '../../../test/harness/system-tools.ts';
import type { Flow } from '../../model/flow.ts';
import { ACTIVITY_PERIOD_MS } from '../shared/native-read-loop.ts';
import { CiliumReceiver } from './cilium.ts';
import { type CiliumConfig, ciliumConfigSchema } from './config.ts';
import { ciliumCreateMap } from '../../../test/harness/native.ts';
import {
  CtFixture, type CtEntry, flowKey, serviceKey, TUPLE_F_IN, TUPLE_F_OUT, TUPLE_F_RELATED, valueV115, valueV116,
} from './testdata/ctmap-fixture.ts';

const TOOLS = ['bpftool', 'mount'];
const TCP = 6;
const UDP = 17;
const ICMP = 1;
const ICMPV6 = 58;
const [CT4, ANY4, CT6, ANY6] = ['cilium_ct4_global', 'cilium_ct_any4_global', 'cilium_ct6_global', 'cilium_ct_any6_global'];

const A = '10.0.1.5'; // local pod (initiator of most flows)
const B = '10.0.2.7'; // remote pod
const D = '10.0.1.6'; // local pod on the same node
const E = '10.0.9.9'; // remote client
const VIP = '10.96.0.10';
const BACKEND = '10.0.3.9';
const DNS_VIP = '10.96.0.53';
const DNS_BACKEND = '10.0.4.4';

async function fixture(t: ExecutionContext, maps: string[] = [CT4, ANY4, CT6, ANY6]): Promise<CtFixture> {
  const fx = await CtFixture.create();
  t.teardown(() => fx.destroy());
  for (const m of maps) await fx.createMap(m);
  return fx;
}

/** A long interval: the tests drive reads by moving the receiver's ManualClock one interval on. */
const INTERVAL_MS = 3_600_000;

function config(fx: CtFixture, over: Partial<Record<keyof CiliumConfig, unknown>> = {}): CiliumConfig {
  return ciliumConfigSchema.parse({ bpffs: fx.root, startup: 'count', interval: INTERVAL_MS, ...over });
}

async function started(t: ExecutionContext, cfg: CiliumConfig) {
  const sink = collector();
  const ctx = testContext('cilium');
  const clock = new ManualClock(Date.now());
  const receiver = new CiliumReceiver(ctx, cfg, sink, clock);
  await receiver.start();
  t.teardown(() => receiver.shutdown());
  /** One read: the deltas since the previous one. */
  const nextRead = () => clock.advance(INTERVAL_MS);
  return { receiver, sink, ctx, nextRead };
}

/** One line per flow: transport src -> dst:port [via vip:port] tx=p/b rx=p/b conns=n. */
function lines(flows: Flow[]): string[] {
  return flows
    .map((f) => {
      const a = f.attributes;
      const port = a['destination.port'] === undefined ? '' : `:${a['destination.port']}`;
      const via = a['destination.original.address'] === undefined ? '' : ` via ${a['destination.original.address']}:${a['destination.original.port'] ?? ''}`;
      return `${a['network.transport']} ${a['network.type']} ${a['source.address']} -> ${a['destination.address']}${port}${via} tx=${f.txPackets}/${f.txBytes} rx=${f.rxPackets}/${f.rxBytes} conns=${f.connections}`;
    })
    .sort();
}

function lastLines(sink: ReturnType<typeof collector>): string[] {
  return lines(sink.batches.at(-1)?.flows ?? []);
}

// The v1.15 picture: OUT, IN, SERVICE + OUT, OUT + IN twins on one node, RELATED, ICMP echo,
// nexthdr 0, IPv4 and IPv6, TCP, UDP, ICMP, ICMPv6.
const V115 = {
  e1: { key: flowKey(A, 40000, B, 8080, TCP, TUPLE_F_OUT), value: valueV115([5, 900], [7, 600]) },
  svc: { key: serviceKey(A, 40001, VIP, 80, TCP), value: valueV115([0, 42], [0, 0], { revNat: 7 }) },
  e3: { key: flowKey(A, 40001, BACKEND, 8080, TCP, TUPLE_F_OUT), value: valueV115([3, 300], [4, 400], { revNat: 7 }) },
  twinOut: { key: flowKey(A, 40002, D, 9090, TCP, TUPLE_F_OUT), value: valueV115([2, 200], [3, 300]) },
  twinIn: { key: flowKey(A, 40002, D, 9090, TCP, TUPLE_F_IN), value: valueV115([3, 310], [2, 210]) },
  in5: { key: flowKey(E, 51000, A, 80, TCP, TUPLE_F_IN), value: valueV115([6, 600], [8, 8000]) },
  dnsSvc: { key: serviceKey(A, 53000, DNS_VIP, 53, UDP), value: valueV115([0, 3], [0, 0], { revNat: 9 }) },
  dnsOut: { key: flowKey(A, 53000, DNS_BACKEND, 53, UDP, TUPLE_F_OUT), value: valueV115([1, 120], [1, 80], { revNat: 9 }) },
  related: { key: flowKey(A, 0, B, 0, ICMP, TUPLE_F_OUT | TUPLE_F_RELATED), value: valueV115([1, 576], [0, 0]) },
  echo: { key: flowKey(A, 77, B, 0, ICMP, TUPLE_F_OUT), value: valueV115([2, 168], [2, 168]) },
  noProto: { key: flowKey(A, 1, B, 2, 0, TUPLE_F_OUT), value: valueV115([9, 999], [9, 999]) },
  v6tcp: { key: flowKey('fd00::1', 41000, 'fd00::2', 443, TCP, TUPLE_F_OUT), value: valueV115([10, 10000], [12, 1200]) },
  v6echo: { key: flowKey('fd00::1', 5, 'fd00::2', 0, ICMPV6, TUPLE_F_OUT), value: valueV115([1, 104], [1, 104]) },
  v6udpIn: { key: flowKey('fd00::9', 5353, 'fd00::1', 53, UDP, TUPLE_F_IN), value: valueV115([4, 400], [4, 800]) },
} satisfies Record<string, CtEntry>;

async function fillV115(fx: CtFixture): Promise<void> {
  const v = V115;
  await fx.write(CT4, [v.e1, v.svc, v.e3, v.twinOut, v.twinIn, v.in5]);
  await fx.write(ANY4, [v.dnsSvc, v.dnsOut, v.related, v.echo, v.noProto]);
  await fx.write(CT6, [v.v6tcp]);
  await fx.write(ANY6, [v.v6echo, v.v6udpIn]);
}

test('v1.15: every entry kind decodes initiator-oriented, SERVICE gives the VIP, twins and RELATED count once', async (t) => {
  if (!requirePrivileges(t, TOOLS)) return;
  const fx = await fixture(t);
  await fillV115(fx);
  const { receiver, sink, nextRead } = await started(t, config(fx, { layout: 'v1.15' }));
  t.deepEqual(lastLines(sink), [
    'icmp ipv4 10.0.1.5 -> 10.0.2.7 tx=2/168 rx=2/168 conns=1',
    'ipv6-icmp ipv6 fd00::1 -> fd00::2 tx=1/104 rx=1/104 conns=1',
    // IN entry: the remote side opened it; rx (what the local pod received) is the original direction.
    'tcp ipv4 10.0.9.9 -> 10.0.1.5:80 tx=6/600 rx=8/8000 conns=1',
    // Pod to service: the OUT entry after load balancing, the VIP from the SERVICE entry.
    'tcp ipv4 10.0.1.5 -> 10.0.3.9:8080 via 10.96.0.10:80 tx=4/400 rx=3/300 conns=1',
    // Pod to pod on one node: OUT and IN entries, counted once (from OUT).
    'tcp ipv4 10.0.1.5 -> 10.0.1.6:9090 tx=3/300 rx=2/200 conns=1',
    'tcp ipv4 10.0.1.5 -> 10.0.2.7:8080 tx=7/600 rx=5/900 conns=1',
    'tcp ipv6 fd00::1 -> fd00::2:443 tx=12/1200 rx=10/10000 conns=1',
    'udp ipv4 10.0.1.5 -> 10.0.4.4:53 via 10.96.0.53:53 tx=1/80 rx=1/120 conns=1',
    'udp ipv6 fd00::9 -> fd00::1:53 tx=4/400 rx=4/800 conns=1',
  ].sort());
  const s = receiver.status()!;
  t.like(s.last, { entries: 14, service: 2, related: 1, inTwins: 1, noProtocol: 1, vipMatched: 2 });
  t.is(s.layoutDecidedBy, 'config');
  t.deepEqual(s.maps.map((m) => [m.path.split('/').pop(), m.type, m.keySize, m.valueSize, m.maxEntries, m.entries, m.method]), [
    [CT4, 9, 14, 56, 1024, 6, 'batch'],
    [ANY4, 9, 14, 56, 1024, 5, 'batch'],
    [CT6, 9, 38, 56, 1024, 1, 'batch'],
    [ANY6, 9, 38, 56, 1024, 2, 'batch'],
  ]);
});

test('v1.15: deltas across reads (updated, evicted, counter reset, added, IN taking over from OUT)', async (t) => {
  if (!requirePrivileges(t, TOOLS)) return;
  const fx = await fixture(t);
  await fillV115(fx);
  const { receiver, sink, nextRead } = await started(t, config(fx, { layout: 'v1.15' }));
  const v = V115;
  await fx.write(
    CT4,
    [
      { key: v.e1.key, value: valueV115([6, 1000], [9, 800]) }, // +1/100 rx, +2/200 tx
      { key: v.in5.key, value: valueV115([1, 60], [1, 60]) }, // counters went back: a new connection
      { key: flowKey(A, 40005, B, 8080, TCP, TUPLE_F_OUT), value: valueV115([1, 60], [1, 74]) }, // added
      { key: v.twinIn.key, value: valueV115([4, 410], [3, 310]) }, // OUT twin gone: IN continues the flow
    ],
    [v.e3.key, v.twinOut.key], // evicted
  );
  await nextRead();
  t.deepEqual(lastLines(sink), [
    'tcp ipv4 10.0.1.5 -> 10.0.1.6:9090 tx=1/110 rx=1/110 conns=0',
    // e1's delta and the new connection's counters, pre-aggregated into one record.
    'tcp ipv4 10.0.1.5 -> 10.0.2.7:8080 tx=3/274 rx=2/160 conns=1',
    'tcp ipv4 10.0.9.9 -> 10.0.1.5:80 tx=1/60 rx=1/60 conns=1',
  ]);
  // e1, the added one, the reset IN, the twin (now its IN entry), and the 5 untouched flows.
  t.is(receiver.status()!.tracked, 9);
  // Nothing changed: nothing emitted.
  const before = sink.batches.length;
  await nextRead();
  t.is(sink.batches.length, before);
  // The evicted service connection comes back (same tuple, fresh counters): counted from zero.
  await fx.write(CT4, [{ key: v.e3.key, value: valueV115([1, 60], [1, 74], { revNat: 7 }) }]);
  await nextRead();
  t.deepEqual(lastLines(sink), ['tcp ipv4 10.0.1.5 -> 10.0.3.9:8080 via 10.96.0.10:80 tx=1/74 rx=1/60 conns=1']);
});

test('a service connection keeps its VIP after its SERVICE entry is gone (no new connection, no lost VIP)', async (t) => {
  if (!requirePrivileges(t, TOOLS)) return;
  const fx = await fixture(t, [CT4]);
  const v = V115;
  await fx.write(CT4, [v.svc, v.e3]);
  const { sink, nextRead } = await started(t, config(fx, { maps: [CT4], layout: 'v1.15' }));
  t.deepEqual(lastLines(sink), ['tcp ipv4 10.0.1.5 -> 10.0.3.9:8080 via 10.96.0.10:80 tx=4/400 rx=3/300 conns=1']);
  await fx.write(CT4, [{ key: v.e3.key, value: valueV115([5, 420], [6, 560], { revNat: 7 }) }], [v.svc.key]);
  await nextRead();
  t.deepEqual(lastLines(sink), ['tcp ipv4 10.0.1.5 -> 10.0.3.9:8080 via 10.96.0.10:80 tx=2/160 rx=2/120 conns=0']);
  // Once the OUT entry is gone too, the same tuple is a new connection without a VIP.
  await fx.write(CT4, [], [v.e3.key]);
  await nextRead();
  await fx.write(CT4, [{ key: v.e3.key, value: valueV115([1, 60], [1, 74], { revNat: 7 }) }]);
  await nextRead();
  t.deepEqual(lastLines(sink), ['tcp ipv4 10.0.1.5 -> 10.0.3.9:8080 tx=1/74 rx=1/60 conns=1']);
});

test('v1.16: one combined counter pair, backend id at offset 8, twins once, deltas', async (t) => {
  if (!requirePrivileges(t, TOOLS)) return;
  const fx = await fixture(t);
  const e1 = flowKey(A, 40000, B, 8080, TCP, TUPLE_F_OUT);
  await fx.write(CT4, [
    { key: e1, value: valueV116(12, 1500, { txFlagsSeen: 0x12, rxFlagsSeen: 0x12 }) },
    { key: serviceKey(A, 40001, VIP, 80, TCP), value: valueV116(0, 0, { backendId: 42, revNat: 7 }) },
    { key: flowKey(A, 40001, BACKEND, 8080, TCP, TUPLE_F_OUT), value: valueV116(7, 700, { revNat: 7 }) },
    // Issue #36311: both entries of one flow on one node count the total.
    { key: flowKey(A, 40002, D, 9090, TCP, TUPLE_F_OUT), value: valueV116(5, 500) },
    { key: flowKey(A, 40002, D, 9090, TCP, TUPLE_F_IN), value: valueV116(5, 500) },
  ]);
  await fx.write(ANY6, [{ key: flowKey('fd00::1', 5353, 'fd00::53', 53, UDP, TUPLE_F_OUT), value: valueV116(2, 190) }]);
  const { sink, nextRead } = await started(t, config(fx, { layout: 'v1.16' }));
  t.deepEqual(lastLines(sink), [
    'tcp ipv4 10.0.1.5 -> 10.0.1.6:9090 tx=5/500 rx=0/0 conns=1',
    'tcp ipv4 10.0.1.5 -> 10.0.2.7:8080 tx=12/1500 rx=0/0 conns=1',
    'tcp ipv4 10.0.1.5 -> 10.0.3.9:8080 via 10.96.0.10:80 tx=7/700 rx=0/0 conns=1',
    'udp ipv6 fd00::1 -> fd00::53:53 tx=2/190 rx=0/0 conns=1',
  ]);
  await fx.write(CT4, [{ key: e1, value: valueV116(20, 2300, { txFlagsSeen: 0x12, rxFlagsSeen: 0x12 }) }]);
  await nextRead();
  t.deepEqual(lastLines(sink), ['tcp ipv4 10.0.1.5 -> 10.0.2.7:8080 tx=8/800 rx=0/0 conns=0']);
});

test('layout auto: decided from rx pairs (v1.15) or two-way TCP flags with empty rx words (v1.16), else waits', async (t) => {
  if (!requirePrivileges(t, TOOLS)) return;
  const fx = await fixture(t, [CT4]);
  const key = flowKey(A, 40000, B, 8080, TCP, TUPLE_F_OUT);
  // Only one-way traffic and a SERVICE entry: no evidence either way.
  await fx.write(CT4, [
    { key, value: valueV115([0, 0], [3, 180], { txFlagsSeen: 0x02 }) },
    { key: serviceKey(A, 40001, VIP, 80, TCP), value: valueV115([0, 42], [0, 0], { revNat: 7 }) },
  ]);
  const { receiver, sink, nextRead } = await started(t, config(fx, { maps: [CT4] }));
  t.is(receiver.status()!.layoutDecidedBy, 'undecided');
  t.is(sink.batches.length, 0);
  // The reply arrives: a plausible rx pair at offsets 0/8 means v1.15.
  await fx.write(CT4, [{ key, value: valueV115([1, 60], [3, 180], { txFlagsSeen: 0x02, rxFlagsSeen: 0x12 }) }]);
  await nextRead();
  t.like(receiver.status()!, { layout: 'v1.15', layoutDecidedBy: 'observed' });
  // The tracker starts at the deciding tick (startup: count reports the table then).
  t.deepEqual(lastLines(sink), ['tcp ipv4 10.0.1.5 -> 10.0.2.7:8080 tx=3/180 rx=1/60 conns=1']);

  const fx16 = await fixture(t, [CT4]);
  await fx16.write(CT4, [{ key, value: valueV116(9, 900, { txFlagsSeen: 0x12, rxFlagsSeen: 0x13 }) }]);
  const r16 = await started(t, config(fx16, { maps: [CT4] }));
  t.like(r16.receiver.status()!, { layout: 'v1.16', layoutDecidedBy: 'observed', evidence: { 'v1.15': 0, 'v1.16': 1 } });
  t.deepEqual(lastLines(r16.sink), ['tcp ipv4 10.0.1.5 -> 10.0.2.7:8080 tx=9/900 rx=0/0 conns=1']);
});

test('v1.16 with accounting off (all counters zero) warns about --bpf-conntrack-accounting', async (t) => {
  if (!requirePrivileges(t, TOOLS)) return;
  const fx = await fixture(t, [CT4]);
  await fx.write(CT4, [{ key: flowKey(A, 40000, B, 8080, TCP, TUPLE_F_OUT), value: valueV116(0, 0, { txFlagsSeen: 0x12, rxFlagsSeen: 0x12 }) }]);
  const sink = collector();
  const ctx = testContext('cilium');
  const warnings: string[] = [];
  ctx.logger.warn = ((_: unknown, msg: string) => void warnings.push(msg)) as typeof ctx.logger.warn;
  const receiver = new CiliumReceiver(ctx, config(fx, { maps: [CT4], layout: 'v1.16' }), sink);
  await receiver.start();
  t.teardown(() => receiver.shutdown());
  t.true(warnings.some((w) => w.includes('--bpf-conntrack-accounting')), warnings.join('\n'));
  t.deepEqual(lastLines(sink), ['tcp ipv4 10.0.1.5 -> 10.0.2.7:8080 tx=0/0 rx=0/0 conns=1']);
});

test('expired entries are counted with clock_source ktime (CLOCK_MONOTONIC seconds)', async (t) => {
  if (!requirePrivileges(t, TOOLS)) return;
  const fx = await fixture(t, [CT4]);
  const now = Number(process.hrtime.bigint() / 1_000_000_000n);
  await fx.write(CT4, [
    { key: flowKey(A, 1, B, 80, TCP, 0), value: valueV115([1, 60], [1, 60], { lifetime: now - 30 }) },
    { key: flowKey(A, 2, B, 80, TCP, 0), value: valueV115([1, 60], [1, 60], { lifetime: now + 3600 }) },
    { key: flowKey(A, 3, B, 80, TCP, 0), value: valueV115([1, 60], [1, 60], { lifetime: now + 30 }) },
  ]);
  const { receiver } = await started(t, config(fx, { maps: [CT4], layout: 'v1.15' }));
  t.is(receiver.status()!.last.expired, 1);
});

test('expired entries with clock_source jiffies (jiffies >> 8, as the datapath writes them)', async (t) => {
  if (!requirePrivileges(t, TOOLS)) return;
  const fx = await fixture(t, [CT4]);
  const jiffies = () => {
    const text = readFileSync('/proc/timer_list', 'utf8');
    return Number(/^jiffies: (\d+)/m.exec(text)![1]);
  };
  const now = Math.floor(jiffies() / 256);
  await fx.write(CT4, [
    { key: flowKey(A, 1, B, 80, TCP, 0), value: valueV115([1, 60], [1, 60], { lifetime: now - 2 }) },
    { key: flowKey(A, 2, B, 80, TCP, 0), value: valueV115([1, 60], [1, 60], { lifetime: now - 100 }) },
    { key: flowKey(A, 3, B, 80, TCP, 0), value: valueV115([1, 60], [1, 60], { lifetime: now + 1000 }) },
  ]);
  const { receiver } = await started(t, config(fx, { maps: [CT4], layout: 'v1.15', clock_source: 'jiffies' }));
  t.is(receiver.status()!.last.expired, 2);
  // Read as ktime (CLOCK_MONOTONIC seconds, far smaller than jiffies >> 8 here) none has expired:
  // the clock source matters.
  const ktime = await started(t, config(fx, { maps: [CT4], layout: 'v1.15', clock_source: 'ktime' }));
  t.is(ktime.receiver.status()!.last.expired, 0);
});

test('a large map (100,000 entries, many batches) reads the same by batch (1 and 4 threads) and key by key, matching bpftool', async (t) => {
  if (!requirePrivileges(t, TOOLS)) return;
  const fx = await fixture(t, []);
  const held = await ciliumCreateMap(fx.path(CT4), 14, 131_072, 100_000);
  t.is(held, 100_000);
  t.is(await fx.count(CT4), held);
  const batch = await started(t, config(fx, { maps: [CT4], layout: 'v1.15' }));
  const keyed = await started(t, config(fx, { maps: [CT4], layout: 'v1.15', read_method: 'key_by_key' }));
  // 131,072 buckets split in 4 ranges read at once, and one thread.
  const four = await started(t, config(fx, { maps: [CT4], layout: 'v1.15', read_threads: 4 }));
  const one = await started(t, config(fx, { maps: [CT4], layout: 'v1.15', read_threads: 1 }));
  t.is(batch.receiver.status()!.last.entries, held);
  t.is(keyed.receiver.status()!.last.entries, held);
  t.deepEqual([four, one, keyed].map((r) => [r.receiver.status()!.last.entries, r.receiver.status()!.maps[0]!.threads]), [[held, 4], [held, 1], [held, 1]]);
  const sum = (flows: Flow[]) => flows.reduce((a, f) => [a[0]! + f.txBytes, a[1]! + f.rxBytes, a[2]! + f.connections], [0, 0, 0]);
  const flowsB = batch.sink.batches.flatMap((b) => b.flows);
  const flowsK = keyed.sink.batches.flatMap((b) => b.flows);
  // Every synthetic entry: tx 3 packets / 200 bytes, rx 2 / 140 (crate::testdata::cilium_filled_map).
  t.deepEqual(sum(flowsB), [200 * held, 140 * held, held]);
  t.deepEqual(lines(flowsK), lines(flowsB));
  t.deepEqual(lines(four.sink.batches.flatMap((b) => b.flows)), lines(flowsB));
  t.deepEqual(lines(one.sink.batches.flatMap((b) => b.flows)), lines(flowsB));
});

test('key-by-key reading gives the same flows as batch reading', async (t) => {
  if (!requirePrivileges(t, TOOLS)) return;
  const fx = await fixture(t);
  await fillV115(fx);
  const batch = await started(t, config(fx, { layout: 'v1.15' }));
  const keyed = await started(t, config(fx, { layout: 'v1.15', read_method: 'key_by_key' }));
  t.deepEqual(lastLines(keyed.sink), lastLines(batch.sink));
  t.true(keyed.receiver.status()!.maps.every((m) => m.method === 'key_by_key'));
});

test('a map with the wrong key or value size, or of another type, is refused with its path and sizes', async (t) => {
  if (!requirePrivileges(t, TOOLS)) return;
  const fx = await fixture(t, []);
  await fx.createMap(CT4, { key: 16 });
  const err = await t.throwsAsync(started(t, config(fx, { maps: [CT4] })));
  t.is(err?.message, `${fx.path(CT4)}: key 16 B / value 56 B, but a Cilium CT map has key 14 B / value 56 B (wrong map, or a Cilium layout podflow does not know)`);
  await fx.createMap(CT6, { value: 64 });
  const err6 = await t.throwsAsync(started(t, config(fx, { maps: [CT6] })));
  t.regex(err6!.message, /cilium_ct6_global: key 38 B \/ value 64 B, but a Cilium CT map has key 38 B \/ value 56 B/);
  await fx.createMap(ANY4, { type: 'array', key: 4 });
  const errType = await t.throwsAsync(started(t, config(fx, { maps: [ANY4] })));
  t.regex(errType!.message, /cilium_ct_any4_global: map type 2 is not a conntrack map \(expected LRU_HASH \(9\) or HASH \(1\)\)/);
});

test('missing maps: a warning per map while one is there; none at all is an error naming each path', async (t) => {
  if (!requirePrivileges(t, TOOLS)) return;
  const fx = await fixture(t, []);
  const err = await t.throwsAsync(started(t, config(fx)));
  t.regex(err!.message, /^no Cilium conntrack map found: .*tc\/globals\/cilium_ct4_global: no such pinned map/);
  t.true([CT4, ANY4, CT6, ANY6].every((m) => err!.message.includes(fx.path(m))));

  await fx.createMap(CT4);
  await fx.write(CT4, [V115.e1]);
  const sink = collector();
  const ctx = testContext('cilium');
  const warnings: string[] = [];
  ctx.logger.warn = ((_: unknown, msg: string) => void warnings.push(msg)) as typeof ctx.logger.warn;
  const clock = new ManualClock(Date.now());
  const receiver = new CiliumReceiver(ctx, config(fx, { layout: 'v1.15' }), sink, clock);
  await receiver.start();
  t.teardown(() => receiver.shutdown());
  t.deepEqual(lastLines(sink), ['tcp ipv4 10.0.1.5 -> 10.0.2.7:8080 tx=7/600 rx=5/900 conns=1']);
  t.is(warnings.filter((w) => w.includes('no such pinned map')).length, 3);
  // A map that appears later is read from the next tick on (maps are opened by path each tick).
  await fx.createMap(ANY4);
  await fx.write(ANY4, [V115.echo]);
  await clock.advance(INTERVAL_MS);
  t.deepEqual(lastLines(sink), ['icmp ipv4 10.0.1.5 -> 10.0.2.7 tx=2/168 rx=2/168 conns=1']);
});

test('random bytes in values (and keys) never crash the receiver', async (t) => {
  if (!requirePrivileges(t, TOOLS)) return;
  const fx = await fixture(t);
  const random = (n: number, keyBytes: number): CtEntry[] =>
    Array.from({ length: n }, () => ({ key: randomBytes(keyBytes), value: randomBytes(56) }));
  await fx.write(CT4, random(400, 14));
  await fx.write(ANY4, [...random(300, 14), V115.echo]);
  await fx.write(CT6, random(300, 38));
  await fx.write(ANY6, random(300, 38));
  for (const layout of ['auto', 'v1.15', 'v1.16'] as const) {
    const { receiver, sink, nextRead } = await started(t, config(fx, { layout }));
    for (let i = 0; i < 3; i++) {
      await fx.write(CT4, random(50, 14));
      await nextRead();
    }
    t.is(receiver.status()!.last.entries, await Promise.all([CT4, ANY4, CT6, ANY6].map((m) => fx.count(m))).then((c) => c.reduce((a, b) => a + b)));
    for (const f of sink.batches.flatMap((b) => b.flows)) {
      t.true(Number.isSafeInteger(f.txBytes) || f.txBytes > 0);
      t.truthy(f.attributes['source.address']);
    }
  }
});

const execFileP = promisify(execFile);
const PROBE = fileURLToPath(new URL('./testdata/open-unprivileged.ts', import.meta.url));

test('without access the error names the privilege: file access to the pinned map (EACCES)', async (t) => {
  if (!requirePrivileges(t, [...TOOLS, 'setpriv'])) return;
  const fx = await fixture(t, [CT4]);
  const probe = (setpriv: string[], asUid: string[] = []) =>
    execFileP(systemTool('setpriv'), [...setpriv, process.execPath, PROBE, fx.root, ...asUid], { env: { ...process.env } }).then((r) => r.stdout.trim());
  // nobody without capabilities: Cilium's pins are root-owned 0600 (and the temp dir is 0700).
  // The probe becomes nobody after loading the addon (setuid drops every capability).
  t.regex(await probe(['--inh-caps=-all'], ['65534']), /cilium_ct4_global: BPF_OBJ_GET: permission denied .*run podflow as uid 0, or give it CAP_DAC_READ_SEARCH/);
  // uid 0 with every capability dropped: enough on this kernel (≥ 6.5: OBJ_GET and lookups need no capability).
  t.is(await probe(['--inh-caps=-all', '--bounding-set=-all']), 'opened');
});

test('a line a minute of what was read; a quiet minute names each map path (entries, or why it is missing), the layout and the capabilities', async (t) => {
  if (!requirePrivileges(t, TOOLS)) return;
  const fx = await fixture(t, [CT4]);
  const ctx = capturingContext('cilium');
  const sink = collector();
  const clock = new ManualClock(Date.now());
  const receiver = new CiliumReceiver(ctx, config(fx, { interval: '10s' }), sink, clock);
  await receiver.start();
  t.teardown(() => receiver.shutdown());
  const activity = () => ctx.logs.filter((l) => l.periodS === 60);
  const minute = async () => {
    for (let ms = 0; ms < ACTIVITY_PERIOD_MS; ms += 10_000) await clock.advance(10_000);
  };
  // 1. An empty map and three missing ones: a warning that names every path.
  await minute();
  const quiet = activity()[0]!;
  t.is(quiet.level, 40);
  const missing = (m: string) => `${fx.path(m)}: no such pinned map (is Cilium running, and is \`bpffs\` its BPF root?)`;
  t.is(
    quiet.msg,
    `cilium: 0 flows, 0 B, 0 failed reads in the last 60s; no flow was read: check the map paths under bpffs ${fx.root}: ` +
      `${fx.path(CT4)} (0 entries), ${missing(ANY4)}, ${missing(CT6)}, ${missing(ANY6)}; 0 entries at the last read; ` +
      'the CT layout is still undecided (set `layout` to the Cilium version); permissions: CAP_BPF held, CAP_SYS_ADMIN held',
  );
  // 2. Traffic: the line counts exactly the flows passed on that minute, with no hints.
  const before = sink.batches.length;
  await fx.write(CT4, [V115.e1, V115.in5]);
  await minute();
  const passed = sink.batches.slice(before).flatMap((b) => b.flows);
  const bytes = passed.reduce((sum, f) => sum + f.txBytes + f.rxBytes, 0);
  t.is(bytes, 900 + 600 + 600 + 8000);
  t.like(activity()[1], { level: 30, flows: 2, bytes, errors: 0, msg: 'cilium: 2 flows, 9.9 KiB, 0 failed reads in the last 60s' });
  t.is(activity()[1]!.check, undefined);
});
