// Bench driver for run.sh (not a test): the agent's CPU per tick, end to end.
//   node bench/agent/bench.ts <netns path> <entries> <ticks> <interval>
// The namespace is run.sh's (conntrack in use, accounting on, a route for the generator's
// packets). This process is the OTLP/HTTP sink: it decodes every request with the otlp
// receiver's decoder and sums the bytes of the flows per tick (the flows' time). In turn:
//   1. the generator (crates/flowsource example ct_udp_gen, its own process) sends one packet per
//      entry: the first run creates the table's entries, each later run changes every entry's
//      counters;
//   2. the agent (`bin/podflow run`: conntrack → otlp, protobuf + gzip, the config of
//      docs/deployment-modes.md) is started once the table is full, and reads it every interval;
//   3. between two ticks: the generator, then one bare receive loop (ct_bare_dump, the floor) on
//      the same table; then the next tick's requests are awaited until their bytes equal what the
//      generator sent, and the agent's CPU (user + system of all its threads, /proc/<pid>/stat)
//      since the end of the previous tick is that tick's.
// Prints a table and, last, one JSON line.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, zstdDecompressSync } from 'node:zlib';
import { decodeProtoRequest } from '../../src/receivers/otlp/decode-proto.ts';

const [netns, entriesArg, ticksArg, intervalArg] = process.argv.slice(2);
if (!netns) throw new Error('usage: bench.ts <netns path> <entries> <ticks> <interval>');
const ENTRIES = Number(entriesArg ?? 262_144);
const TICKS = Number(ticksArg ?? 5);
const INTERVAL = intervalArg ?? '10s';
/** The otlp exporter's compression: its default (gzip), or zstd / none to compare. */
const COMPRESSION = process.env.COMPRESSION ?? 'gzip';
const EXAMPLES = 'crates/flowsource/target/release/examples';
/** A tick is over when its bytes are all in and no request came for this long. */
const QUIET_MS = 400;
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

// ---- the sink -------------------------------------------------------------------------------------
interface TickReceived {
  requests: number;
  /** Bytes as sent (compressed). */
  wireBytes: number;
  /** Protobuf bytes after gunzip. */
  protoBytes: number;
  flows: number;
  points: number;
  /** tx + rx bytes of the flows: what the kernel counted. */
  flowBytes: number;
  flowPackets: number;
}
const received = new Map<bigint, TickReceived>();
let lastRequestAt = 0;
let sinkErrors = 0;

function handle(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    lastRequestAt = performance.now();
    try {
      const wire = Buffer.concat(chunks);
      const encoding = req.headers['content-encoding'];
      const proto = encoding === 'gzip' ? gunzipSync(wire) : encoding === 'zstd' ? zstdDecompressSync(wire) : wire;
      let tick: TickReceived | undefined;
      for (const batch of decodeProtoRequest(proto)) {
        for (const f of batch.flows) {
          tick = received.get(f.timeUnixNano);
          if (!tick) received.set(f.timeUnixNano, (tick = { requests: 0, wireBytes: 0, protoBytes: 0, flows: 0, points: 0, flowBytes: 0, flowPackets: 0 }));
          tick.flows++;
          tick.points += Number(f.txBytes > 0) + Number(f.rxBytes > 0) + Number(f.txPackets > 0) + Number(f.rxPackets > 0) + Number(f.connections > 0);
          tick.flowBytes += f.txBytes + f.rxBytes;
          tick.flowPackets += f.txPackets + f.rxPackets;
        }
      }
      if (tick) {
        tick.requests++;
        tick.wireBytes += wire.length;
        tick.protoBytes += proto.length;
      }
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    } catch (e) {
      sinkErrors++;
      console.error(`sink: ${(e as Error).message}`);
      res.writeHead(400).end();
    }
  });
}

const sink = createServer(handle);
await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
const sinkPort = (sink.address() as { port: number }).port;

// ---- helpers ----------------------------------------------------------------------------------------
function runJson<T>(file: string, args: string[]): T {
  return JSON.parse(execFileSync(file, args, { encoding: 'utf8' })) as T;
}

interface GenResult { packets: number; bytes: number; cpu_s: number; wall_s: number }
interface BareResult { cpu_s: number; user_s: number; sys_s: number; wall_s: number; bytes: number }

const generate = () => runJson<GenResult>(`${EXAMPLES}/ct_udp_gen`, [netns, String(ENTRIES)]);
const bare = () => runJson<BareResult>(`${EXAMPLES}/ct_bare_dump`, [netns, '1']);

/** User + system CPU seconds of every thread of `pid`, and its peak RSS in MB. */
function processCpu(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}
/** CPU seconds per thread name of `pid` (node's main thread, libuv workers, V8's GC helpers, the addon's). */
function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended
    }
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/\d+$/, 'N');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(name, (out.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) / CLK_TCK);
  }
  return out;
}
function statusMb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for the first tick newer than `after` whose flow bytes reach `bytes`, then for quiet. */
async function awaitTick(after: bigint, bytes: number, timeoutMs: number): Promise<{ time: bigint; tick: TickReceived } | undefined> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const times = [...received.keys()].filter((t) => t > after).sort((a, b) => (a < b ? -1 : 1));
    const time = times[0];
    const tick = time === undefined ? undefined : received.get(time)!;
    const quiet = performance.now() - lastRequestAt >= QUIET_MS;
    if (tick && quiet && (tick.flowBytes >= bytes || times.length > 1)) return { time: time!, tick };
    if (performance.now() > deadline) return tick ? { time: time!, tick } : undefined;
    await sleep(50);
  }
}

// ---- the run ------------------------------------------------------------------------------------------
const fill = generate();
const dir = mkdtempSync(join(tmpdir(), 'podflow-bench-agent-'));
const configPath = join(dir, 'agent.yaml');
// docs/deployment-modes.md's agent, with the otlp exporter to this sink (JSON is YAML).
writeFileSync(configPath, JSON.stringify({
  receivers: { conntrack: { interval: INTERVAL, netns } },
  exporters: { otlp: { endpoint: `http://127.0.0.1:${sinkPort}`, temporality: 'delta', compression: COMPRESSION } },
  service: {
    pipelines: { flows: { receivers: ['conntrack'], exporters: ['otlp'] } },
    resource: { 'k8s.node.name': 'bench-node' },
    telemetry: { metrics: { address: '127.0.0.1:0' } },
  },
}, null, 2));

// AGENT_CPU_PROF=<dir>: the agent writes a V8 CPU profile there when it stops (node --cpu-prof).
const profDir = process.env.AGENT_CPU_PROF;
const agentEnv = profDir ? { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${profDir}` } : process.env;
const agent: ChildProcess = spawn('bin/podflow', ['run', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'], env: agentEnv });
let agentLog = '';
let started: () => void;
const startedP = new Promise<void>((r) => (started = r));
for (const s of [agent.stdout!, agent.stderr!]) {
  s.on('data', (c: Buffer) => {
    agentLog += c.toString();
    if (agentLog.includes('conntrack receiver started')) started();
  });
}
const exited = new Promise<number | null>((r) => agent.on('exit', (code) => r(code)));
const startTimeout = setTimeout(() => {
  console.error(agentLog);
  agent.kill('SIGKILL');
  throw new Error('the agent did not start within 60 s');
}, 60_000);
const early = await Promise.race([startedP.then(() => undefined), exited.then((code) => ({ code }))]);
clearTimeout(startTimeout);
if (early) {
  console.error(agentLog);
  throw new Error(`the agent exited (${early.code}) before it started`);
}
const pid = agent.pid!;
const rssAfterStartMb = statusMb(pid, 'VmRSS');

interface Tick { cpu_s: number; bare: BareResult; gen: GenResult; received: TickReceived; bytes_match: boolean }
const ticks: Tick[] = [];
let lastTime = 0n;
/** Rounds whose generator and bare read ended after the next tick had begun. */
let late = 0;
let cpuBefore = processCpu(pid);
let threadsBefore = threadCpu(pid);
const threadsMeasured = new Map<string, number>();
const intervalMs = Number(/^(\d+)s$/.exec(INTERVAL)?.[1] ?? 10) * 1000;
let rssMb = NaN;
let rssEndMb = NaN;
try {
  // One tick more than measured: the first after the baseline warms the agent up.
  for (let i = 0; i <= TICKS; i++) {
    const gen = generate();
    const floor = bare();
    // The next read starts an interval after the last one ended (the flows' time): packets sent
    // after it would be split over two ticks, which the byte check below would report.
    if (lastTime > 0n && Date.now() > Number(lastTime / 1_000_000n) + intervalMs) late++;
    const got = await awaitTick(lastTime, gen.bytes, 4 * intervalMs + 30_000);
    if (!got) throw new Error(`tick ${i}: nothing received within ${4 * intervalMs / 1000 + 30} s\n${agentLog.slice(-4000)}`);
    lastTime = got.time;
    const cpuAfter = processCpu(pid);
    const threadsAfter = threadCpu(pid);
    if (i > 0) {
      ticks.push({ cpu_s: cpuAfter - cpuBefore, bare: floor, gen, received: got.tick, bytes_match: got.tick.flowBytes === gen.bytes });
      // Threads that ended since are missing here (their CPU is in processCpu's total).
      for (const [name, s] of threadsAfter) threadsMeasured.set(name, (threadsMeasured.get(name) ?? 0) + s - (threadsBefore.get(name) ?? 0));
    }
    cpuBefore = cpuAfter;
    threadsBefore = threadsAfter;
  }
} finally {
  rssMb = statusMb(pid, 'VmHWM');
  rssEndMb = statusMb(pid, 'VmRSS');
  agent.kill('SIGTERM');
  await exited;
  sink.close();
  rmSync(dir, { recursive: true, force: true });
}

const mean = (f: (t: Tick) => number) => ticks.reduce((s, t) => s + f(t), 0) / ticks.length;
const r3 = (x: number) => Math.round(x * 1000) / 1000;
const agentCpu = mean((t) => t.cpu_s);
const bareCpu = mean((t) => t.bare.cpu_s);
const last = ticks.at(-1)!;
const out = {
  bench: 'agent',
  entries: ENTRIES,
  interval: INTERVAL,
  compression: COMPRESSION,
  ticks: ticks.length,
  agent_cpu_s_per_tick: r3(agentCpu),
  bare_cpu_s: r3(bareCpu),
  ratio_agent_vs_bare_cpu: r3(agentCpu / bareCpu),
  agent_cpu_s_per_tick_each: ticks.map((t) => r3(t.cpu_s)),
  bare_cpu_s_each: ticks.map((t) => r3(t.bare.cpu_s)),
  flows_per_tick: last.received.flows,
  points_per_tick: last.received.points,
  requests_per_tick: last.received.requests,
  wire_bytes_per_tick: last.received.wireBytes,
  proto_bytes_per_tick: last.received.protoBytes,
  generator_packets_per_tick: last.gen.packets,
  generator_bytes_per_tick: last.gen.bytes,
  sink_flow_bytes_per_tick: ticks.map((t) => t.received.flowBytes),
  bytes_match_every_tick: ticks.every((t) => t.bytes_match),
  packets_match_every_tick: ticks.every((t) => t.received.flowPackets === t.gen.packets),
  sink_errors: sinkErrors,
  rounds_late: late,
  fill_cpu_s: fill.cpu_s,
  generator_cpu_s: r3(mean((t) => t.gen.cpu_s)),
  dump_bytes: last.bare.bytes,
  agent_peak_rss_mb: r3(rssMb),
  agent_rss_mb_after_baseline: r3(rssAfterStartMb),
  agent_rss_mb_at_end: r3(rssEndMb),
  agent_cpu_s_per_tick_by_thread: Object.fromEntries([...threadsMeasured].filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, r3(v / ticks.length)])),
  load_average: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number),
  target_le_1_5x_bare: agentCpu <= 1.5 * bareCpu,
};
console.log(`table: ${ENTRIES} entries, every counter changed between ticks (${out.generator_packets_per_tick} packets, ${out.generator_bytes_per_tick} bytes per tick, generator ${out.generator_cpu_s} s CPU in its own process)`);
console.log('| tick | agent CPU s | bare loop CPU s | flows | points | requests | sent | protobuf | sink bytes = generator bytes |');
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---|');
ticks.forEach((t, i) => console.log(`| ${i + 1} | ${r3(t.cpu_s)} | ${r3(t.bare.cpu_s)} | ${t.received.flows} | ${t.received.points} | ${t.received.requests} | ${t.received.wireBytes} | ${t.received.protoBytes} | ${t.bytes_match ? 'yes' : `NO (${t.received.flowBytes} vs ${t.gen.bytes})`} |`));
console.log(`agent (conntrack → otlp, proto + ${COMPRESSION}) ${out.agent_cpu_s_per_tick} s CPU per tick vs bare receive loop ${out.bare_cpu_s} s: ${out.ratio_agent_vs_bare_cpu}x (target ≤ 1.5x: ${out.target_le_1_5x_bare ? 'met' : 'not met'}); agent RSS ${out.agent_rss_mb_after_baseline} MB after the baseline read, ${out.agent_rss_mb_at_end} MB at the end, peak ${out.agent_peak_rss_mb} MB; load ${out.load_average.join(' ')}`);
console.log(`agent CPU per tick by thread: ${Object.entries(out.agent_cpu_s_per_tick_by_thread).map(([k, v]) => `${k} ${v} s`).join(', ')}`);
console.log(JSON.stringify(out));
if (!out.bytes_match_every_tick || !out.packets_match_every_tick || sinkErrors > 0) process.exitCode = 1;
