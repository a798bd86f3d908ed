import { OtlpProtoEncoder } from './src/exporters/shared/otlp/proto-encoder.ts';
import { zstdCompressSync, gzipSync, constants } from 'node:zlib';
const N = 262_144;
const start = 1_760_000_000_000_000_000n, end = start + 5_000_000_000n;
const flows = Array.from({ length: N }, (_, i) => ({ startTimeUnixNano: start, timeUnixNano: end, attributes: { 'source.address': `10.1.${(i >> 8) & 255}.${i & 255}`, 'destination.address': `10.200.0.${i % 200}`, 'network.transport': 'udp', 'network.type': 'ipv4', 'destination.port': 53 }, txBytes: 100 + i, rxBytes: 200 + i, txPackets: 1, rxPackets: 2, connections: 1 }));
const e = new OtlpProtoEncoder({ maxRequestBytes: 4 << 20, scopeVersion: '0.1.0' });
const mode = process.argv[2] ?? 'copy';
const finish = mode === 'zstd' ? (b: Buffer) => zstdCompressSync(b, { params: { [constants.ZSTD_c_compressionLevel]: 1 } }) : mode === 'gzip' ? (b: Buffer) => gzipSync(b, { level: 1 }) : mode === 'none' ? (b: Buffer) => b : (b: Buffer) => Buffer.from(b);
for (let k = 0; k < 6; k++) {
  const c0 = process.cpuUsage();
  const reqs = e.encode({ 'service.name': 'podflow', 'k8s.node.name': 'n' }, 'delta', flows, finish);
  const c1 = process.cpuUsage(c0);
  const bytes = reqs.reduce((n, r) => n + r.length, 0);
  console.log(`${mode}: ${((c1.user + c1.system) / 1e3).toFixed(0)} ms, ${reqs.length} reqs, ${(bytes / 1e6).toFixed(1)} MB`);
}
