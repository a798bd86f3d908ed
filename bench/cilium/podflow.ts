// Bench helper for run.sh (not a test).
//   fill <bpffs root> <count>          creates tc/globals/cilium_ct4_global (LRU, max <count>) with
//                                      <count> synthetic OUT TCP entries (v1.15 layout)
//   measure <bpffs root> <runs> <method> [threads]  podflow's read + decode + delta + aggregation + JS
//                                      decoding with read_method <method> (batch | key_by_key) and
//                                      read_threads [threads] (default 0 = auto): the first
//                                      tick (every entry new, startup: count) and steady-state ticks
//                                      (counters unchanged); prints one JSON line
import { decodeBatch } from '../../src/native/records.ts';
import { loadCiliumAddon } from '../../src/receivers/cilium/native.ts';

const [mode, root, arg, method, threadsArg] = process.argv.slice(2);
const addon = loadCiliumAddon();

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function tick(handle: ReturnType<typeof addon.ciliumOpen>) {
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  const buf = await addon.ciliumTick(handle);
  const { stats, flows } = decodeBatch(buf, 0n, 1n);
  return { cpu_s: cpuSeconds() - cpu0, wall_s: (performance.now() - t0) / 1000, entries: stats.entries, flows: flows.length };
}

if (mode === 'fill') {
  const count = Number(arg);
  const t0 = performance.now();
  const held = Number(await addon.ciliumCreateTestMap(`${root}/tc/globals/cilium_ct4_global`, 14, count, count));
  console.log(JSON.stringify({ requested: count, held, seconds: (performance.now() - t0) / 1000 }));
} else if (mode === 'measure') {
  const runs = Number(arg ?? 5);
  const m = method === 'key_by_key' ? 'key_by_key' : 'batch';
  const threads = Number(threadsArg ?? 0);
  const handle = addon.ciliumOpen(root!, 'cilium_ct4_global', 'v1.15', 'ktime', 'count', '', m, threads);
  const statusThreads = () => (JSON.parse(addon.ciliumStatus(handle)) as { maps: Array<{ threads: number }> }).maps[0]!.threads;
  const first = await tick(handle);
  const steady: Array<Awaited<ReturnType<typeof tick>>> = [];
  for (let i = 0; i < runs; i++) steady.push(await tick(handle));
  const mean = (k: 'cpu_s' | 'wall_s') => steady.reduce((s, x) => s + x[k], 0) / steady.length;
  const usedThreads = statusThreads();
  addon.ciliumClose(handle);
  console.log(
    JSON.stringify({
      method: m,
      threads: usedThreads,
      first_tick: first,
      steady_cpu_s: mean('cpu_s'),
      steady_wall_s: mean('wall_s'),
      steady_entries: steady.at(-1)!.entries,
      peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    }),
  );
}
