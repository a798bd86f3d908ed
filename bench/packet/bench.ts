// bench/packet: the packet receiver capturing a veth while a generator floods it.
//   node bench/packet/bench.ts <netns path of the capture side> <interface> <generator ns> <gen iface> <seconds> <flows> <payload>
// Starts the real receiver (1 s interval) in this process, runs the generator in its namespace,
// then prints one JSON line: packets sent, seen by the interface (sysfs rx_packets), captured
// into flows, dropped by the kernel (ring full), and the capture's rate and CPU.
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { FlowBatch } from '../../src/model/flow.ts';
import { packetConfigSchema } from '../../src/receivers/packet/config.ts';
import { PacketReceiver } from '../../src/receivers/packet/packet.ts';
import { systemTool } from '../../test/harness/system-tools.ts';

const [netnsPath, iface, genNs, genIface, seconds, flows, payload, generators] = process.argv.slice(2) as [string, string, string, string, string, string, string, string?];
const GEN = fileURLToPath(new URL('../../crates/flowsource/target/release/examples/packet_gen', import.meta.url));
const nsName = netnsPath.split('/').pop()!;
const rxPackets = () => Number(execFileSync(systemTool('ip'), ['netns', 'exec', nsName, systemTool('cat'), `/sys/class/net/${iface}/statistics/rx_packets`]).toString().trim());

let captured = 0;
let batches = 0;
let flowRecords = 0;
const consumer = {
  async consume(b: FlowBatch) {
    batches++;
    flowRecords += b.flows.length;
    for (const f of b.flows) captured += f.txPackets + f.rxPackets;
  },
};
const ctx = {
  id: 'packet', logger: pino({ level: 'silent' }), metrics: new Registry(), resource: {}, countDropped() {},
};
const config = packetConfigSchema.parse({ interface: iface, netns: netnsPath, filter: 'udp', interval: '1s', ring_size: process.env.RING_SIZE ?? '64MiB' });
const receiver = new PacketReceiver(ctx, config, consumer);
await receiver.start();
const rxBefore = rxPackets();
const cpuBefore = process.cpuUsage();
const started = performance.now();
// Generators run as child processes, so this process keeps ticking (1 s) while they send.
function generate(): Promise<{ sent: number; seconds: number; frame_bytes: number }> {
  const child = spawn(systemTool('ip'), ['netns', 'exec', genNs, GEN, genIface, seconds, flows, payload], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  return new Promise((resolve, reject) =>
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out.trim())) : reject(new Error(`generator exited ${code}`)))),
  );
}
const gens = await Promise.all(Array.from({ length: Number(generators ?? 1) }, generate));
const g = { sent: gens.reduce((s, x) => s + x.sent, 0), seconds: Math.max(...gens.map((x) => x.seconds)), frame_bytes: gens[0]!.frame_bytes };
await new Promise((r) => setTimeout(r, 300));
const rxAfter = rxPackets();
const status = receiver.status();
await receiver.shutdown();
const wallS = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
const drops = Number((await ctx.metrics.getSingleMetricAsString('podflow_packet_kernel_drops_total')).match(/} (\d+)/)?.[1] ?? 0);
console.log(JSON.stringify({
  sent: g.sent, gen_seconds: g.seconds, frame_bytes: g.frame_bytes, interface_rx: rxAfter - rxBefore,
  captured, kernel_drops: drops, batches, flow_records: flowRecords, status: status ?? null,
  wall_s: wallS, cpu_user_s: cpu.user / 1e6, cpu_system_s: cpu.system / 1e6,
}));
