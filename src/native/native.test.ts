import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ciliumCreateMap } from '../../test/harness/native.ts';
import { Netns } from '../../test/harness/netns.ts';
import { requirePrivileges } from '../../test/harness/privileges.ts';
import { addonPath, contractDifferences, loadFlowsource } from './addon.ts';
import { NativeError, NativeLoadError } from './errors.ts';
import { DnsNames, NativeSource } from './handle.ts';
import { BATCH_MAGIC, CT_LAYOUT_CODES, decodeBatch, formatAddress, HEADER_BYTES, RECORD_BYTES, SOURCE_KIND_CODES } from './records.ts';
import type { CiliumMapStatus, CiliumStatus, CiliumTickCounts, ConntrackOptions, ConntrackStatus, DnsStatus, PacketStatus } from './types.ts';

function batch(records: Array<(r: Buffer) => void>): Buffer {
  const buf = Buffer.alloc(HEADER_BYTES + records.length * RECORD_BYTES);
  buf.writeUInt32LE(BATCH_MAGIC, 0);
  buf.writeUInt32LE(records.length, 4);
  buf.writeUInt32LE(RECORD_BYTES, 8);
  buf.writeUInt32LE(1, 12);
  buf.writeBigUInt64LE(1234n, 16);
  buf.writeUInt32LE(2, 32);
  buf.writeBigUInt64LE(1_500_000_000n, 48);
  records.forEach((fill, i) => fill(buf.subarray(HEADER_BYTES + i * RECORD_BYTES, HEADER_BYTES + (i + 1) * RECORD_BYTES)));
  return buf;
}

test('decodes a DNAT TCP record and a plain ICMPv6 record', (t) => {
  const buf = batch([
    (r) => {
      r[0] = 4; r[1] = 6; r[2] = 1;
      r.writeUInt16LE(8080, 4); r.writeUInt16LE(80, 6);
      r.set([10, 0, 1, 2], 8); r.set([10, 0, 2, 2], 24); r.set([10, 96, 0, 10], 40);
      r.writeBigUInt64LE(1000n, 56); r.writeBigUInt64LE(10n, 64); r.writeBigUInt64LE(5000n, 72); r.writeBigUInt64LE(8n, 80);
      r.writeUInt32LE(3, 88);
    },
    (r) => {
      r[0] = 6; r[1] = 58;
      r.set(Buffer.from('fd000000000000000000000000000001', 'hex'), 8);
      r.set(Buffer.from('fd000000000000020000000000000002', 'hex'), 24);
      r.writeBigUInt64LE(104n, 56);
    },
  ]);
  const { stats, flows } = decodeBatch(buf, 1n, 2n);
  t.is(stats.entries, 1234);
  t.is(stats.restarts, 2);
  t.is(stats.readSeconds, 1.5);
  t.deepEqual(flows[0], {
    startTimeUnixNano: 1n,
    timeUnixNano: 2n,
    attributes: {
      'source.address': '10.0.1.2',
      'destination.address': '10.0.2.2',
      'destination.port': 8080,
      'destination.original.address': '10.96.0.10',
      'destination.original.port': 80,
      'network.transport': 'tcp',
      'network.type': 'ipv4',
    },
    txBytes: 1000, txPackets: 10, rxBytes: 5000, rxPackets: 8, connections: 3,
  });
  t.deepEqual(flows[1]!.attributes, {
    'source.address': 'fd00::1',
    'destination.address': 'fd00:0:0:2::2',
    'network.transport': 'ipv6-icmp',
    'network.type': 'ipv6',
  });
});

test('counters above 2^32 decode exactly; IPv4 text stays right for more distinct addresses than are kept between batches', (t) => {
  const big = 2 ** 40 + 12_345;
  const addresses = 70_000;
  const ipv4 = (n: number) => [10, (n >> 16) & 255, (n >> 8) & 255, n & 255];
  const records = Array.from({ length: addresses }, (_, i) => (r: Buffer) => {
    r[0] = 4; r[1] = 17;
    r.set(ipv4(i), 8); r.set(ipv4(addresses - 1 - i), 24);
    r.writeBigUInt64LE(BigInt(big + i), 56); r.writeBigUInt64LE(2n ** 33n + 1n, 64); r.writeBigUInt64LE(2n ** 52n + 3n, 72);
  });
  // Twice: the second batch reads addresses that were kept, then forgotten, then kept again.
  for (const round of [1, 2]) {
    const { flows } = decodeBatch(batch(records), 0n, 1n);
    let wrong = 0;
    flows.forEach((f, i) => {
      if (f.attributes['source.address'] !== ipv4(i).join('.') || f.attributes['destination.address'] !== ipv4(addresses - 1 - i).join('.')) wrong++;
      if (f.txBytes !== big + i || f.txPackets !== 2 ** 33 + 1 || f.rxBytes !== 2 ** 52 + 3) wrong++;
    });
    t.is(wrong, 0, `round ${round}`);
  }
});

test('IPv6 text matches the WHATWG URL serializer (RFC 5952 compression)', (t) => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xffff;
  for (let i = 0; i < 2000; i++) {
    const buf = Buffer.alloc(16);
    for (let g = 0; g < 8; g++) buf.writeUInt16BE(rand() % 3 === 0 ? 0 : rand(), g * 2);
    if (buf.subarray(0, 10).every((b) => b === 0) && buf.readUInt16BE(10) === 0xffff) continue;
    const full = [...Array(8).keys()].map((g) => buf.readUInt16BE(g * 2).toString(16)).join(':');
    t.is(formatAddress(buf, 0, 6), new URL(`http://[${full}]/`).hostname.slice(1, -1), full);
  }
  t.is(formatAddress(Buffer.from('00000000000000000000ffff0a000001', 'hex'), 0, 6), '::ffff:10.0.0.1');
});

test('a batch of the wrong layout is refused with a clear message', (t) => {
  t.throws(() => decodeBatch(Buffer.alloc(10), 0n, 0n), { message: /bad header/ });
  const buf = batch([() => {}]);
  buf.writeUInt32LE(80, 8);
  t.throws(() => decodeBatch(buf, 0n, 0n), { message: /stride/ });
});

test('a missing binary gives an error naming the path and `make native`', (t) => {
  const before = process.env.PODFLOW_FLOWSOURCE;
  process.env.PODFLOW_FLOWSOURCE = '/nonexistent/flowsource.node';
  try {
    t.throws(() => loadFlowsource(), { message: /\/nonexistent\/flowsource\.node is missing \(run `make native`/ });
  } finally {
    if (before === undefined) delete process.env.PODFLOW_FLOWSOURCE;
    else process.env.PODFLOW_FLOWSOURCE = before;
  }
  t.regex(addonPath(), /flowsource\.linux-(x64|arm64)-(gnu|musl)\.node$/);
});

test('the built addon loads and rejects bad arguments with errors, not crashes', (t) => {
  const addon = loadFlowsource();
  const options: ConntrackOptions = { netns: null, source: 'procfs', destroyEvents: true, startup: 'baseline', excludeCidrs: [] };
  t.throws(() => NativeSource.open('conntrack', { ...options, source: 'bogus' as 'auto' }), { message: /source must be auto, netlink or procfs/ });
  t.throws(() => NativeSource.open('conntrack', { ...options, excludeCidrs: ['10.0.0.0/40'] }), { message: /prefix longer/ });
  t.throws(() => addon.conntrack.status({} as never), { message: /not a handle of the expected kind/ });
});

test('a call that fails on a system call carries its errno name as code; an options error has none', (t) => {
  const err = t.throws(() => NativeSource.open('conntrack', { netns: '/nonexistent/netns', source: 'netlink', destroyEvents: false, startup: 'baseline', excludeCidrs: [] }));
  t.true(err instanceof NativeError);
  t.is((err as NativeError).code, 'ENOENT');
  t.regex(err!.message, /open netns \/nonexistent\/netns: No such file or directory \(os error 2\)/);
  const bad = t.throws(() => NativeSource.open('conntrack', { netns: null, source: 'bogus' as 'auto', destroyEvents: false, startup: 'baseline', excludeCidrs: [] }));
  t.is((bad as NativeError).code, undefined);
});

test('a failed call names the handle and the operation; options errors name the key', (t) => {
  const err = t.throws(() => NativeSource.open('conntrack', { netns: null, source: 'procfs', destroyEvents: 'yes' as unknown as boolean, startup: 'baseline', excludeCidrs: [] }));
  t.true(err instanceof NativeError);
  t.like(err as NativeError, { handle: 'conntrack', operation: 'open', message: 'conntrack options: destroyEvents must be a boolean, not a string' });
  t.throws(() => NativeSource.open('packet', { netns: null, interface: 'lo', filter: 'tcp', ringBytes: 1 << 21, maxConnections: 0, idleTimeoutMs: 1000, excludeCidrs: [] }), {
    message: 'packet options: maxConnections must be an integer from 1 to 4294967296, not 0',
  });
  // Options are checked before anything is opened.
  const addon = loadFlowsource();
  t.throws(() => addon.cilium.open({ bpffs: '/nonexistent', maps: [], layout: 'auto', clockSource: 'ktime', startup: 'count', excludeCidrs: [], readMethod: 'auto', readThreads: 0 }), {
    message: /maps: at least one map is needed/,
  });
});

test('the addon was built for the batch contract of records.ts; another one is refused by name', (t) => {
  const contract = loadFlowsource().contract;
  t.deepEqual(contractDifferences(contract), []);
  t.deepEqual(contract.sourceKinds, SOURCE_KIND_CODES);
  t.deepEqual(contract.ctLayouts, CT_LAYOUT_CODES);
  t.deepEqual(contractDifferences({ ...contract, recordBytes: 80 }), ['recordBytes 80 (expected 96)']);
  t.deepEqual(contractDifferences({ ...contract, sourceKinds: { ...contract.sourceKinds, packet: 3 } }), [
    'sourceKinds {"netlink":1,"procfs":2,"cilium":3,"packet":3} (expected {"netlink":1,"procfs":2,"cilium":3,"packet":4})',
  ]);
  t.deepEqual(contractDifferences(undefined), ['it exports no contract']);
  t.true(new NativeLoadError('x') instanceof Error);
});

test('every source kind and CT layout code decodes to its name; an unknown kind is refused', (t) => {
  const codes = new Set(Object.values(SOURCE_KIND_CODES));
  t.is(codes.size, Object.keys(SOURCE_KIND_CODES).length, 'no two kinds share a code');
  for (const [name, code] of Object.entries(SOURCE_KIND_CODES)) {
    const buf = batch([]);
    buf.writeUInt32LE(code, 12);
    t.is(decodeBatch(buf, 0n, 0n).stats.source as string, name);
  }
  const buf = batch([]);
  buf.writeUInt32LE(3, 12);
  t.is(decodeBatch(buf, 0n, 0n).stats.ctLayout, null);
  buf.writeUInt32LE(2, 60);
  t.is(decodeBatch(buf, 0n, 0n).stats.ctLayout, 'v1.16');
  buf.writeUInt32LE(9, 12);
  t.throws(() => decodeBatch(buf, 0n, 0n), { message: /unknown source kind 9/ });
});

// Every key of each status type, exhaustively (the compiler refuses a missing or extra key):
// the objects the Rust core builds must have exactly these.
const CONNTRACK_STATUS: Record<keyof ConntrackStatus, true> = { source: true, destroyEvents: true, fallbackReason: true, tracked: true };
const PACKET_STATUS: Record<keyof PacketStatus, true> = {
  packets: true, malformed: true, nonIp: true, filtered: true, fragments: true, tableFull: true, kernelDrops: true, connections: true,
};
const DNS_STATUS: Record<keyof DnsStatus, true> = {
  responses: true, names: true, badMessages: true, malformedFrames: true, tcpResyncs: true, duplicates: true, entries: true, evictions: true, expired: true,
};
const CILIUM_STATUS: Record<keyof CiliumStatus, true> = { maps: true, layout: true, layoutDecidedBy: true, evidence: true, tracked: true, last: true };
const CILIUM_MAP_STATUS: Record<keyof CiliumMapStatus, true> = {
  path: true, present: true, missing: true, type: true, keySize: true, valueSize: true, maxEntries: true, entries: true, method: true, threads: true,
};
const CILIUM_TICK_COUNTS: Record<keyof CiliumTickCounts, true> = {
  entries: true, service: true, related: true, inTwins: true, expired: true, noProtocol: true, batchGrows: true, vipMatched: true, withCounters: true,
};
const keys = (o: object) => Object.keys(o).sort();

test("each handle's status crosses as an object with exactly the keys of its TypeScript type", async (t) => {
  if (!requirePrivileges(t, ['ip', 'mount'])) return;
  const ns = await Netns.create(`pfnative${process.pid % 10000}`);
  const root = mkdtempSync(join(tmpdir(), 'podflow-native-bpffs-'));
  execFileSync('mount', ['-t', 'bpf', 'bpf', root]);
  try {
    const conntrack = NativeSource.open('conntrack', { netns: ns.path, source: 'netlink', destroyEvents: true, startup: 'count', excludeCidrs: [] });
    await conntrack.tick();
    const c = conntrack.status();
    t.deepEqual(keys(c), keys(CONNTRACK_STATUS));
    t.like(c, { source: 'netlink', destroyEvents: true, fallbackReason: null });
    conntrack.close();
    conntrack.close();
    t.true(conntrack.closed);
    t.throws(() => conntrack.status(), { instanceOf: NativeError, message: 'the conntrack handle is closed' });

    const packet = NativeSource.open('packet', { netns: ns.path, interface: 'lo', filter: 'all', ringBytes: 2 << 20, maxConnections: 16, idleTimeoutMs: 1000, excludeCidrs: [] });
    await ns.exec('ping', ['-c', '2', '-i', '0.2', '127.0.0.1']);
    await new Promise((r) => setTimeout(r, 100));
    const p = packet.status();
    packet.close();
    t.deepEqual(keys(p), keys(PACKET_STATUS));
    t.true(p.packets >= 4, `ping's requests and replies were captured (${p.packets})`);

    const dns = DnsNames.open({ netns: ns.path, interface: 'lo', maxEntries: 16, ttlFloorS: 0, ringBytes: 2 << 20 });
    t.deepEqual(dns.lookup(['192.0.2.1', 'not an address']), ['', '']);
    t.deepEqual(keys(dns.status()), keys(DNS_STATUS));
    dns.close();

    mkdirSync(join(root, 'tc/globals'), { recursive: true });
    t.is(await ciliumCreateMap(join(root, 'tc/globals/cilium_ct4_global'), 14, 64, 3), 3);
    const cilium = NativeSource.open('cilium', {
      bpffs: root, maps: ['cilium_ct4_global', 'cilium_ct6_global'], layout: 'v1.15', clockSource: 'ktime', startup: 'count', excludeCidrs: [], readMethod: 'auto', readThreads: 0,
    });
    t.is(decodeBatch(await cilium.tick(), 0n, 1n).flows.length, 3);
    const s = cilium.status();
    cilium.close();
    t.deepEqual(keys(s), keys(CILIUM_STATUS));
    t.deepEqual(keys(s.last), keys(CILIUM_TICK_COUNTS));
    t.deepEqual(keys(s.evidence), ['v1.15', 'v1.16']);
    t.is(s.maps.length, 2);
    for (const m of s.maps) t.deepEqual(keys(m), keys(CILIUM_MAP_STATUS));
    t.like(s, { layout: 'v1.15', layoutDecidedBy: 'config', last: { entries: 3 } });
    t.like(s.maps[0], { present: true, missing: null, keySize: 14, valueSize: 56, maxEntries: 64, entries: 3, method: 'batch', threads: 1 });
    t.like(s.maps[1], { present: false, keySize: 38, method: null });
    t.regex(s.maps[1]!.missing!, /cilium_ct6_global: no such pinned map/);
  } finally {
    execFileSync('umount', [root]);
    rmdirSync(root);
    await ns.destroy();
  }
});
