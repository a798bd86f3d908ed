import test from 'ava';
import { addonPath, loadFlowsource } from './addon.ts';
import { BATCH_MAGIC, decodeBatch, formatAddress, HEADER_BYTES, RECORD_BYTES } from './records.ts';

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
  t.is(stats.dumpRestarts, 2);
  t.is(stats.dumpSeconds, 1.5);
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
  t.throws(() => addon.conntrackOpen(null, 'bogus' as 'auto', true, 'baseline', ''), { message: /source must be auto, netlink or procfs/ });
  t.throws(() => addon.conntrackOpen(null, 'procfs', true, 'baseline', '10.0.0.0/40'), { message: /prefix longer/ });
  t.throws(() => addon.conntrackStatus({} as never), { message: /not a handle of the expected kind/ });
});
