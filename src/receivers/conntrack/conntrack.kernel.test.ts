// Kernel tests: real namespaces, veth, nftables, real TCP/UDP/ICMP over IPv4 and IPv6. The
// oracle is the kernel's own counters read independently with `conntrack -L -o extended`.
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { entryTotals, flowTotals, readConntrackTable, sortedFlowTotals, type FlowTotalsByKey } from '../../../test/harness/conntrack-table.ts';
import { capturingContext, collector, testContext } from '../../../test/harness/context.ts';
import { ManualClock } from '../../../test/harness/manual-clock.ts';
import { createNodeTopology, type NodeTopology, POD1_V4, POD1_V6, POD2_V4, POD2_V6 } from '../../../test/harness/netns.ts';
import { requirePrivileges } from '../../../test/harness/privileges.ts';
import { systemTool } from '../../../test/harness/system-tools.ts';
import type { Flow } from '../../model/flow.ts';
import { ACTIVITY_PERIOD_MS } from '../shared/native-read-loop.ts';
import { conntrackConfigSchema, type ConntrackConfig } from './config.ts';
import { ConntrackReceiver } from './conntrack.ts';

const TOOLS = ['ip', 'nft', 'conntrack', 'ping'];

type TotalsByFlow = FlowTotalsByKey;

/** The kernel's view, per (transport, source, real destination, destination port, VIP). */
async function kernelTotals(topo: NodeTopology): Promise<TotalsByFlow> {
  return entryTotals(await readConntrackTable(topo.node), (e) => {
    const port = e.transport === 'tcp' || e.transport === 'udp' ? String(e.replySport) : '';
    const vip = e.origDst !== e.replySrc || (port !== '' && String(e.origDport) !== port) ? `${e.origDst}:${e.origDport || ''}` : '';
    return `${e.transport}|${e.origSrc}|${e.replySrc}|${port}|${vip}`;
  });
}

function receiverTotals(flows: Flow[]): TotalsByFlow {
  return flowTotals(flows, ({ attributes: a }) => {
    const vip = a['destination.original.address'] !== undefined ? `${a['destination.original.address']}:${a['destination.original.port'] ?? ''}` : '';
    return `${a['network.transport']}|${a['source.address']}|${a['destination.address']}|${a['destination.port'] ?? ''}|${vip}`;
  });
}

/** A long interval: the tests drive reads by moving a ManualClock one interval on. */
const INTERVAL_MS = 3_600_000;

function config(topo: NodeTopology, overrides: Partial<Record<keyof ConntrackConfig, unknown>> = {}): ConntrackConfig {
  return conntrackConfigSchema.parse({ interval: INTERVAL_MS, netns: topo.node.path, ...overrides });
}

async function withTopology(t: ExecutionContext, prefix: string, body: (topo: NodeTopology) => Promise<void>, accounting = true) {
  if (!requirePrivileges(t, TOOLS)) return;
  const topo = await createNodeTopology(prefix, { accounting });
  try {
    await body(topo);
  } finally {
    await topo.destroy();
  }
}

const settle = () => new Promise((r) => setTimeout(r, 300));

test('per-flow totals equal the kernel counters to the byte (TCP sizes, UDP, ICMP, IPv4+IPv6)', async (t) => {
  await withTopology(t, 'ctsum', async (topo) => {
    await topo.pod2.trafficServer('tcp-server', 8080);
    await topo.pod2.trafficServer('udp-server', 5353);
    const out = collector();
    const clock = new ManualClock(Date.now());
    const receiver = new ConntrackReceiver(testContext('conntrack'), config(topo), out, clock);
    await receiver.start();
    try {
      for (const [up, down] of [[0, 0], [1, 1], [1000, 20_000], [100_000, 5], [3_000_000, 777]] as const) {
        t.deepEqual(await topo.pod1.traffic('tcp-client', [POD2_V4, 8080, up, down]), { sent: up, received: down });
      }
      await topo.pod1.traffic('tcp-client', [POD2_V6, 8080, 5000, 70_000]);
      await topo.pod1.traffic('udp-client', [POD2_V4, 5353, 10, 500]);
      await topo.pod1.traffic('udp-client', [POD2_V6, 5353, 7, 1200]);
      await topo.pod1.exec('ping', ['-c', '3', '-i', '0.05', POD2_V4]);
      await topo.pod1.exec('ping', ['-6', '-c', '2', '-i', '0.05', POD2_V6]);
      // Traffic in the middle of an interval, then more: both reads add up.
      await clock.advance(INTERVAL_MS);
      await topo.pod1.traffic('tcp-client', [POD2_V4, 8080, 4321, 1234]);
      await settle();
      const kernel = await kernelTotals(topo);
      await clock.advance(INTERVAL_MS);
      const got = receiverTotals(out.batches.flatMap((b) => b.flows));
      t.deepEqual(sortedFlowTotals(got), sortedFlowTotals(kernel));
      // The oracle itself covered what was sent: 7 TCP + 2 UDP + 2 ICMP flows.
      const tcp = kernel.get(`tcp|${POD1_V4}|${POD2_V4}|8080|`)!;
      t.is(tcp.connections, 6);
      t.true(tcp.txBytes > 3_000_000 + 100_000 + 1000 + 4321);
      t.true(kernel.has(`ipv6-icmp|${POD1_V6}|${POD2_V6}||`));
      t.true(kernel.has(`udp|${POD1_V6}|${POD2_V6}|5353|`));
      t.is(kernel.get(`udp|${POD1_V4}|${POD2_V4}|5353|`)!.txBytes, 10 * (500 + 28));
      t.is(out.batches.every((b) => b.temporality === 'delta'), true);
    } finally {
      await receiver.shutdown();
    }
  });
});

test('a connection opened, closed and flushed within one interval is counted fully (destroy events)', async (t) => {
  await withTopology(t, 'ctdel', async (topo) => {
    await topo.pod2.trafficServer('tcp-server', 8080);
    const withEvents = collector();
    const withoutEvents = collector();
    const [clockA, clockB] = [new ManualClock(Date.now()), new ManualClock(Date.now())];
    const a = new ConntrackReceiver(testContext('conntrack/events'), config(topo), withEvents, clockA);
    const b = new ConntrackReceiver(testContext('conntrack/noevents'), config(topo, { destroy_events: false }), withoutEvents, clockB);
    await a.start();
    await b.start();
    try {
      await topo.pod1.traffic('tcp-client', [POD2_V4, 8080, 50_000, 123_456]);
      await topo.pod1.traffic('tcp-client', [POD2_V6, 8080, 777, 888]);
      await settle();
      const kernel = await kernelTotals(topo);
      t.is(kernel.size, 2);
      await topo.node.exec('conntrack', ['-F']);
      await topo.node.exec('conntrack', ['-F', '-f', 'ipv6']);
      t.is((await kernelTotals(topo)).size, 0, 'the table was flushed');
      await clockA.advance(INTERVAL_MS);
      await clockB.advance(INTERVAL_MS);
      t.deepEqual(sortedFlowTotals(receiverTotals(withEvents.batches.flatMap((x) => x.flows))), sortedFlowTotals(kernel));
      // Without destroy events the same connections are lost: what the events are for.
      t.is(withoutEvents.batches.flatMap((x) => x.flows).length, 0);
    } finally {
      await a.shutdown();
      await b.shutdown();
    }
  });
});

test('DNAT to a service VIP reports the backend as destination and the VIP as destination.original', async (t) => {
  await withTopology(t, 'ctnat', async (topo) => {
    await topo.pod2.trafficServer('tcp-server', 8080);
    await topo.addDnat('tcp', '10.96.0.10', 80, POD2_V4, 8080);
    const out = collector();
    const clock = new ManualClock(Date.now());
    const receiver = new ConntrackReceiver(testContext('conntrack'), config(topo), out, clock);
    await receiver.start();
    try {
      await topo.pod1.traffic('tcp-client', ['10.96.0.10', 80, 2000, 9000]);
      await topo.pod1.traffic('tcp-client', ['10.96.0.10', 80, 10, 10]);
      await settle();
      const kernel = await kernelTotals(topo);
      t.is(kernel.size, 1);
      await clock.advance(INTERVAL_MS);
      const flows = out.batches.flatMap((b) => b.flows);
      t.is(flows.length, 1, 'two connections pre-aggregated into one record');
      t.like(flows[0]!.attributes, {
        'source.address': POD1_V4,
        'destination.address': POD2_V4,
        'destination.port': 8080,
        'destination.original.address': '10.96.0.10',
        'destination.original.port': 80,
        'network.transport': 'tcp',
        'network.type': 'ipv4',
      });
      t.is(flows[0]!.connections, 2);
      t.deepEqual(sortedFlowTotals(receiverTotals(flows)), sortedFlowTotals(kernel));
    } finally {
      await receiver.shutdown();
    }
  });
});

test('procfs source reports the same totals as the kernel', async (t) => {
  await withTopology(t, 'ctproc', async (topo) => {
    await topo.pod2.trafficServer('tcp-server', 8080);
    const out = collector();
    const clock = new ManualClock(Date.now());
    const receiver = new ConntrackReceiver(testContext('conntrack'), config(topo, { source: 'procfs' }), out, clock);
    await receiver.start();
    try {
      await topo.pod1.traffic('tcp-client', [POD2_V4, 8080, 30_000, 40_000]);
      await topo.pod1.traffic('tcp-client', [POD2_V6, 8080, 300, 400]);
      await topo.pod1.exec('ping', ['-c', '2', '-i', '0.05', POD2_V4]);
      await settle();
      const kernel = await kernelTotals(topo);
      t.is(kernel.size, 3, 'TCP over IPv4 and IPv6, ICMP');
      await clock.advance(INTERVAL_MS);
      t.deepEqual(sortedFlowTotals(receiverTotals(out.batches.flatMap((b) => b.flows))), sortedFlowTotals(kernel));
    } finally {
      await receiver.shutdown();
    }
  });
});

test('startup: baseline hides what was in the table at start; count reports it', async (t) => {
  await withTopology(t, 'ctbase', async (topo) => {
    await topo.pod2.trafficServer('tcp-server', 8080);
    await topo.pod1.traffic('tcp-client', [POD2_V4, 8080, 1000, 1000]);
    await settle();
    const kernel = await kernelTotals(topo);
    t.is(kernel.size, 1);
    const baseline = collector();
    const count = collector();
    const a = new ConntrackReceiver(testContext('conntrack/b'), config(topo), baseline);
    const b = new ConntrackReceiver(testContext('conntrack/c'), config(topo, { startup: 'count' }), count);
    await a.start();
    await b.start();
    await a.shutdown();
    await b.shutdown();
    t.is(baseline.batches.length, 0);
    t.deepEqual(sortedFlowTotals(receiverTotals(count.batches.flatMap((x) => x.flows))), sortedFlowTotals(kernel));
  });
});

test('accounting switch: enabled when 0 with enable_accounting, left alone (counters zero) without', async (t) => {
  await withTopology(t, 'ctacct', async (topo) => {
    const acct = async () => (await topo.node.exec('sysctl', ['-n', 'net.netfilter.nf_conntrack_acct'])).trim();
    t.is(await acct(), '0');
    const off = new ConntrackReceiver(testContext('conntrack/off'), config(topo, { enable_accounting: false }), collector());
    await off.start();
    await off.shutdown();
    t.is(await acct(), '0');
    const on = new ConntrackReceiver(testContext('conntrack/on'), config(topo), collector());
    await on.start();
    await on.shutdown();
    t.is(await acct(), '1');
  }, false);
});

test('enable_accounting where /proc/sys is read-only (a container): warns that counters stay zero and starts', async (t) => {
  if (!requirePrivileges(t, ['unshare', 'mount'])) return;
  await withTopology(t, 'ctacro', async (topo) => {
    const probe = new URL('./testdata/start-readonly-sysctl.ts', import.meta.url).pathname;
    // A mount namespace of its own whose /proc/sys is a read-only bind of itself.
    const script = `${systemTool('mount')} --bind /proc/sys /proc/sys && ${systemTool('mount')} -o remount,bind,ro /proc/sys && exec "$0" "$@"`;
    const { stdout } = await promisify(execFile)(systemTool('unshare'), ['--mount', '--propagation', 'private', '/bin/sh', '-c', script, process.execPath, probe, topo.node.path]);
    const lines = stdout.trim().split('\n');
    t.is(lines.at(-1), 'started');
    const warnings = lines.slice(0, -1).map((l) => JSON.parse(l) as { msg: string; err: string });
    t.deepEqual(warnings.map((w) => w.msg), ['conntrack: cannot set net.netfilter.nf_conntrack_acct=1: byte and packet counters stay zero while it is 0 (set it on the node: sysctl -w net.netfilter.nf_conntrack_acct=1)']);
    t.regex(warnings[0]!.err, /write 1 to \/proc\/sys\/net\/netfilter\/nf_conntrack_acct: Read-only file system/);
    t.is((await topo.node.exec('sysctl', ['-n', 'net.netfilter.nf_conntrack_acct'])).trim(), '0');
  }, false);
});

test('a line a minute of what was read; a minute without bytes says what to check (nf_conntrack_acct as it is now, the table, permissions)', async (t) => {
  await withTopology(t, 'ctact', async (topo) => {
    await topo.pod2.trafficServer('tcp-server', 8080);
    const ctx = capturingContext('conntrack');
    const out = collector();
    const clock = new ManualClock(Date.now());
    const receiver = new ConntrackReceiver(ctx, config(topo, { interval: '10s', enable_accounting: false }), out, clock);
    await receiver.start();
    const activity = () => ctx.logs.filter((l) => l.periodS === 60);
    /** One minute of reads every 10 s; the activity line comes at its end. */
    const minute = async () => {
      for (let ms = 0; ms < ACTIVITY_PERIOD_MS; ms += 10_000) await clock.advance(10_000);
    };
    const check = (acct: string, table: string) =>
      `check net.netfilter.nf_conntrack_acct is ${acct}; ${table}; ` +
      `permissions: CAP_NET_ADMIN held, CAP_SYS_ADMIN held; network namespace ${topo.node.path}`;
    const ACCT_OFF = '0, so every byte and packet counter stays zero (set it to 1, or enable_accounting: true)';
    try {
      // 1. Nothing happens: a warning with what to check, the sysctl read as it is now.
      await minute();
      t.is(activity().length, 1);
      t.is(activity()[0]!.level, 40);
      t.is(activity()[0]!.msg, `conntrack: 0 flows, 0 B, 0 failed reads in the last 60s; no flow was read: ${check(ACCT_OFF, 'the table had 0 entries at the last read (is conntrack in use in this network namespace? it needs a netfilter rule or NAT that uses it)')}`);

      // 2. Connections, but accounting is off: flows without bytes (still the same quiet stretch: info).
      await topo.pod1.traffic('tcp-client', [POD2_V4, 8080, 1000, 20_000]);
      await settle();
      await minute();
      const [, zero] = activity();
      t.is(zero!.level, 30);
      t.true((zero!.flows as number) > 0);
      t.is(zero!.bytes, 0);
      t.regex(zero!.msg, /^conntrack: \d+ flows, 0 B, 0 failed reads in the last 60s; the flows carry no bytes: check net\.netfilter\.nf_conntrack_acct is 0, /);

      // 3. Accounting on: the line counts exactly what the receiver passed on that minute, no hints.
      await topo.node.sysctl('net.netfilter.nf_conntrack_acct', 1);
      const before = out.batches.length;
      await topo.pod1.traffic('tcp-client', [POD2_V4, 8080, 5000, 70_000]);
      await settle();
      await minute();
      const passed = out.batches.slice(before).flatMap((b) => b.flows);
      const bytes = passed.reduce((sum, f) => sum + f.txBytes + f.rxBytes, 0);
      const busy = activity()[2]!;
      t.true(bytes > 75_000);
      t.like(busy, { level: 30, flows: passed.length, bytes, errors: 0 });
      t.is(busy.msg, `conntrack: ${passed.length} flows, ${(bytes / 1024).toFixed(1)} KiB, 0 failed reads in the last 60s`);
      t.is(busy.check, undefined);

      // 4. Quiet again: a new stretch warns again, now with accounting on and the table's entries.
      await minute();
      const quiet = activity()[3]!;
      t.is(quiet.level, 40);
      t.regex(quiet.msg, /; no flow was read: check net\.netfilter\.nf_conntrack_acct is 1; the table had [1-9]\d* entries at the last read; permissions: /);
    } finally {
      await receiver.shutdown();
    }
  }, false);
});

test('without CAP_NET_ADMIN the error names it', async (t) => {
  if (!requirePrivileges(t, ['setpriv'])) return;
  // Loads the addon as root, then becomes nobody (setuid drops every capability): the repository
  // need not be readable by nobody (a clone in /root is not).
  const script = `
    import { loadFlowsource, NativeSource } from './src/native/index.ts';
    loadFlowsource();
    process.setgroups([]); process.setgid(65534); process.setuid(65534);
    try { const s = NativeSource.open('conntrack', { netns: null, source: 'netlink', destroyEvents: false, startup: 'baseline', excludeCidrs: [] }); await s.tick(); console.log('no error'); }
    catch (e) { console.log(e.message); }`;
  const { stdout } = await promisify(execFile)(
    systemTool('setpriv'),
    ['--inh-caps=-all', process.execPath, '--input-type=module', '-e', script],
    { cwd: new URL('../../../', import.meta.url).pathname },
  );
  t.regex(stdout, /CAP_NET_ADMIN/);
});
