// Kernel tests: real namespaces, veth pairs and TCP/UDP over IPv4 and IPv6, captured on the node
// side of pod1's veth. Oracles: the kernel's conntrack counters for the same flows (read with
// `conntrack -L -o extended`), and the interface's own counters in /sys/class/net/<if>/statistics.
import test, { type ExecutionContext } from 'ava';
import { entryTotals, flowTotals, readConntrackTable, sortedFlowTotals, type FlowTotalsByKey } from '../../../test/harness/conntrack-table.ts';
import { capturingContext, collector, testContext } from '../../../test/harness/context.ts';
import { ManualClock } from '../../../test/harness/manual-clock.ts';
import { ACTIVITY_PERIOD_MS } from '../shared/native-read-loop.ts';
import { createNodeTopology, type NodeTopology, POD1_V4, POD1_V6, POD2_V4, POD2_V6 } from '../../../test/harness/netns.ts';
import { requirePrivileges } from '../../../test/harness/privileges.ts';
import type { Flow } from '../../model/flow.ts';
import { packetConfigSchema } from './config.ts';
import { PacketReceiver, RETIRE_WAIT_MS } from './packet.ts';

const TOOLS = ['ip', 'nft', 'conntrack'];
type TotalsByFlow = FlowTotalsByKey;

/** Conntrack's per-flow counters in the node namespace: `proto|src|dst|dport` → totals. */
async function conntrackTotals(topo: NodeTopology): Promise<TotalsByFlow> {
  return entryTotals(await readConntrackTable(topo.node), (e) =>
    e.transport === 'tcp' || e.transport === 'udp' ? `${e.transport}|${e.origSrc}|${e.origDst}|${e.origDport}` : undefined);
}

function receiverTotals(flows: Flow[]): TotalsByFlow {
  return flowTotals(flows, ({ attributes: a }) => `${a['network.transport']}|${a['source.address']}|${a['destination.address']}|${a['destination.port'] ?? ''}`);
}

async function interfaceCounters(topo: NodeTopology, iface: string): Promise<{ packets: number; bytes: number }> {
  const read = async (name: string) => Number((await topo.node.exec('cat', [`/sys/class/net/${iface}/statistics/${name}`])).trim());
  return {
    packets: (await read('rx_packets')) + (await read('tx_packets')),
    bytes: (await read('rx_bytes')) + (await read('tx_bytes')),
  };
}

async function withTopology(t: ExecutionContext, prefix: string, body: (topo: NodeTopology) => Promise<void>) {
  if (!requirePrivileges(t, TOOLS)) return;
  const topo = await createNodeTopology(prefix);
  try {
    await body(topo);
  } finally {
    await topo.destroy();
  }
}

const settle = () => new Promise((r) => setTimeout(r, 300));

/**
 * SYN and SYN-ACK retransmissions in a namespace (TcpExt TCPSynRetrans in /proc/net/netstat).
 * Conntrack's counters leave out a retransmitted SYN (the kernel skips the refresh of a
 * SYN_SENT entry on SYN retransmit, and accounting with it) and a duplicate SYN-ACK (ignored
 * in SYN_RECV), while a capture counts both: the exact comparison holds only without them.
 */
async function synRetransmits(ns: NodeTopology['pod1']): Promise<number> {
  const lines = (await ns.exec('cat', ['/proc/net/netstat'])).split('\n');
  const at = lines.findIndex((l) => l.startsWith('TcpExt:'));
  const names = lines[at]!.trim().split(/\s+/);
  const values = lines[at + 1]!.trim().split(/\s+/);
  return Number(values[names.indexOf('TCPSynRetrans')]);
}

/** Permanent ARP entries on pod1's link, so no ARP frame crosses it during a test. */
async function staticArp(topo: NodeTopology): Promise<void> {
  const mac = async (ns: NodeTopology['node'], dev: string) =>
    (JSON.parse(await ns.exec('ip', ['-j', 'link', 'show', dev])) as Array<{ address: string }>)[0]!.address;
  await topo.pod1.exec('ip', ['neigh', 'replace', '10.0.1.1', 'lladdr', await mac(topo.node, 'vpod1'), 'nud', 'permanent', 'dev', 'eth0']);
  await topo.node.exec('ip', ['neigh', 'replace', POD1_V4, 'lladdr', await mac(topo.pod1, 'eth0'), 'nud', 'permanent', 'dev', 'vpod1']);
}

/**
 * A TCP client that connects, prints a line, and sends `up` bytes when it gets SIGUSR2: the test
 * sends the signal once the capture runs, so the handshake is before it and all the data after,
 * however long the capture takes to start (no timer racing it). SIGUSR2, not SIGUSR1: Node keeps
 * that one for its inspector.
 */
const SLOW_CLIENT = `
const net = require('node:net');
const [host, port, up] = process.argv.slice(1);
process.once('SIGUSR2', () => { s.write('10\\n'); s.end(Buffer.alloc(Number(up), 0x62)); });
const s = net.connect({ host, port: Number(port) }, () => console.log('connected'));
s.on('data', () => {});
s.on('close', () => process.exit(0));
`;

/** A long interval: the tests drive reads by moving the receiver's ManualClock one interval on. */
const INTERVAL_MS = 3_600_000;

function receiver(topo: NodeTopology, filter: unknown) {
  const out = collector();
  const clock = new ManualClock(Date.now());
  const config = packetConfigSchema.parse({ interface: 'vpod1', netns: topo.node.path, interval: INTERVAL_MS, filter });
  return { out, clock, receiver: new PacketReceiver(testContext(`packet/${String(filter)}`), config, out, clock) };
}

test('per-flow totals equal the kernel conntrack counters and the interface counters (TCP, UDP, IPv4, IPv6)', async (t) => {
  await withTopology(t, 'pktsum', async (topo) => {
    await topo.pod2.trafficServer('tcp-server', 8080);
    await topo.pod2.trafficServer('udp-server', 5353);
    // Traffic before the capture starts stays out of both oracles' windows: start clean.
    await topo.node.exec('conntrack', ['-F']);
    await topo.node.exec('conntrack', ['-F', '-f', 'ipv6']);
    await staticArp(topo);
    const ports = receiver(topo, [8080, 5353]);
    const tcp = receiver(topo, 'tcp');
    const udp = receiver(topo, 'udp');
    const all = receiver(topo, 'all');
    for (const r of [ports, tcp, udp, all]) await r.receiver.start();
    const before = await interfaceCounters(topo, 'vpod1');
    try {
      for (const [up, down] of [[0, 0], [1, 1], [1000, 20_000], [100_000, 5], [2_000_000, 777]] as const) {
        t.deepEqual(await topo.pod1.traffic('tcp-client', [POD2_V4, 8080, up, down]), { sent: up, received: down });
      }
      await topo.pod1.traffic('tcp-client', [POD2_V6, 8080, 5000, 70_000]);
      await topo.pod1.traffic('udp-client', [POD2_V4, 5353, 10, 500]);
      await topo.pod1.traffic('udp-client', [POD2_V6, 5353, 7, 1200]);
      // Two intervals: the deltas add up.
      await new Promise((r) => setTimeout(r, RETIRE_WAIT_MS));
      await ports.clock.advance(INTERVAL_MS);
      await topo.pod1.traffic('tcp-client', [POD2_V4, 8080, 4321, 1234]);
      await settle();
      const kernel = await conntrackTotals(topo);
      const after = await interfaceCounters(topo, 'vpod1');
      for (const r of [ports, tcp, udp, all]) await r.clock.advance(INTERVAL_MS);

      const got = receiverTotals(ports.out.batches.flatMap((b) => b.flows));
      t.is((await synRetransmits(topo.pod1)) + (await synRetransmits(topo.pod2)), 0, 'no SYN or SYN-ACK retransmitted: conntrack would not count it');
      t.deepEqual(sortedFlowTotals(got), sortedFlowTotals(kernel));
      // The oracle saw what was sent: 6 TCP connections to 8080 over IPv4, UDP sizes exact.
      t.is(kernel.get(`tcp|${POD1_V4}|${POD2_V4}|8080`)!.connections, 6);
      t.true(kernel.get(`tcp|${POD1_V4}|${POD2_V4}|8080`)!.txBytes > 2_000_000 + 100_000);
      t.is(kernel.get(`udp|${POD1_V4}|${POD2_V4}|5353`)!.txBytes, 10 * (500 + 28));
      t.is(kernel.get(`udp|${POD1_V6}|${POD2_V6}|5353`)!.rxBytes, 7 * (1200 + 48));
      t.is(ports.out.batches.length, 2);

      // Protocol filters split the same traffic.
      const onlyTcp = sortedFlowTotals(new Map([...kernel].filter(([k]) => k.startsWith('tcp|'))));
      const onlyUdp = sortedFlowTotals(new Map([...kernel].filter(([k]) => k.startsWith('udp|'))));
      t.deepEqual(sortedFlowTotals(receiverTotals(tcp.out.batches.flatMap((b) => b.flows))), onlyTcp);
      t.deepEqual(sortedFlowTotals(receiverTotals(udp.out.batches.flatMap((b) => b.flows))), onlyUdp);

      // filter: all saw every frame the interface counted (IP flows + non-IP frames); with no
      // non-IP frame in the window, bytes match too: L3 bytes + a 14-byte Ethernet header each.
      const status = all.receiver.status()!;
      const allFlows = all.out.batches.flatMap((b) => b.flows);
      const ipPackets = allFlows.reduce((s, f) => s + f.txPackets + f.rxPackets, 0);
      const ipBytes = allFlows.reduce((s, f) => s + f.txBytes + f.rxBytes, 0);
      t.is(status.malformed, 0);
      t.is(status.kernelDrops, 0);
      t.is(ipPackets + status.nonIp, after.packets - before.packets);
      t.is(status.nonIp, 0, 'static ARP: no non-IP frame on the link');
      t.is(ipBytes + 14 * ipPackets, after.bytes - before.bytes);
    } finally {
      for (const r of [ports, tcp, udp, all]) await r.receiver.shutdown();
    }
  });
});

test('orientation: a connection open before the capture is oriented by the lower-port heuristic', async (t) => {
  await withTopology(t, 'pktori', async (topo) => {
    await topo.pod2.trafficServer('tcp-server', 8080);
    const { out, clock, receiver: r } = receiver(topo, 'tcp');
    // The handshake happens before the capture starts; data flows after.
    const { child } = await topo.pod1.spawn(process.execPath, ['-e', SLOW_CLIENT, POD2_V6, '8080', '300000']);
    const exited = new Promise((res) => child.once('exit', res));
    await r.start();
    child.kill('SIGUSR2');
    await exited;
    await settle();
    await clock.advance(INTERVAL_MS);
    await r.shutdown();
    const flows = out.batches.flatMap((b) => b.flows);
    t.is(flows.length, 1);
    t.like(flows[0]!.attributes, { 'source.address': POD1_V6, 'destination.address': POD2_V6, 'destination.port': 8080, 'network.type': 'ipv6' });
    t.true(flows[0]!.txBytes > 300_000, "the client's upload is tx");
    t.true(flows[0]!.rxBytes < flows[0]!.txBytes);
    t.is(flows[0]!.connections, 0, 'no SYN seen: no new connection counted');
  });
});

test('a missing interface fails start-up with its name', async (t) => {
  if (!requirePrivileges(t, TOOLS)) return;
  const config = packetConfigSchema.parse({ interface: 'nosuch0' });
  const r = new PacketReceiver(testContext('packet'), config, collector());
  await t.throwsAsync(r.start(), { message: /interface nosuch0: .*no network interface named "nosuch0"/ });
});

test('a quiet minute names the interface, its namespace, the filter and CAP_NET_RAW; a busy one counts what was passed on', async (t) => {
  await withTopology(t, 'pktact', async (topo) => {
    await topo.pod2.trafficServer('tcp-server', 8080);
    const ctx = capturingContext('packet');
    const out = collector();
    const clock = new ManualClock(Date.now());
    const config = packetConfigSchema.parse({ interface: 'vpod1', netns: topo.node.path, interval: '10s', filter: 'tcp' });
    const r = new PacketReceiver(ctx, config, out, clock);
    await r.start();
    const activity = () => ctx.logs.filter((l) => l.periodS === 60);
    const minute = async () => {
      for (let ms = 0; ms < ACTIVITY_PERIOD_MS; ms += 10_000) await clock.advance(10_000);
    };
    try {
      await minute();
      const quiet = activity()[0]!;
      t.is(quiet.level, 40);
      t.is(
        quiet.msg.replace(/; \d+ packets captured/, '; N packets captured'),
        `packet: 0 flows, 0 B, 0 failed reads in the last 60s; no flow was read: check interface vpod1 in ${topo.node.path} and filter "tcp"; ` +
          'N packets captured in the last interval; permissions: CAP_NET_RAW held',
      );
      await topo.pod1.traffic('tcp-client', [POD2_V4, 8080, 2000, 30_000]);
      await settle();
      const before = out.batches.length;
      await minute();
      const passed = out.batches.slice(before).flatMap((b) => b.flows);
      const bytes = passed.reduce((sum, f) => sum + f.txBytes + f.rxBytes, 0);
      t.true(bytes > 32_000, `bytes ${bytes}`);
      t.like(activity()[1], { level: 30, flows: passed.length, bytes, errors: 0 });
      t.is(activity()[1]!.check, undefined);
    } finally {
      await r.shutdown();
    }
  });
});
