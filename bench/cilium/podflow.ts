// Bench helper for run.sh (not a test).
//   fill <bpffs root> <count>          creates tc/globals/cilium_ct4_global (LRU, max <count>) with
//                                      <count> synthetic OUT TCP entries (v1.15 layout)
//   measure <bpffs root> <runs> <method> [threads]  podflow's read + decode + delta + aggregation + JS
//                                      decoding with read_method <method> (batch | key_by_key) and
//                                      read_threads [threads] (default 0 = auto): the first
//                                      tick (every entry new, startup: count) and steady-state ticks
//                                      (counters unchanged); prints one JSON line
import { decodeBatch, NativeSource } from '../../src/native/index.ts';
import { ciliumCreateMap } from '../../test/harness/native.ts';

const [mode, root, arg, method, threadsArg] = process.argv.slice(2);

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function tick(source: NativeSource<'cilium'>) {
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  const buf = await source.tick();
  const { stats, flows } = decodeBatch(buf, 0n, 1n);
  return { cpu_s: cpuSeconds() - cpu0, wall_s: (performance.now() - t0) / 1000, entries: stats.entries, flows: flows.length };
}

if (mode === 'fill') {
  const count = Number(arg);
  const t0 = performance.now();
  const held = await ciliumCreateMap(`${root}/tc/globals/cilium_ct4_global`, 14, count, count);
  console.log(JSON.stringify({ requested: count, held, seconds: (performance.now() - t0) / 1000 }));
} else if (mode === 'measure') {
  const runs = Number(arg ?? 5);
  const m = method === 'key_by_key' ? 'key_by_key' : 'batch';
  const threads = Number(threadsArg ?? 0);
  const source = NativeSource.open('cilium', {
    bpffs: root!, maps: ['cilium_ct4_global'], layout: 'v1.15', clockSource: 'ktime', startup: 'count', excludeCidrs: [], readMethod: m, readThreads: threads,
  });
  const first = await tick(source);
  const steady: Array<Awaited<ReturnType<typeof tick>>> = [];
  for (let i = 0; i < runs; i++) steady.push(await tick(source));
  const mean = (k: 'cpu_s' | 'wall_s') => steady.reduce((s, x) => s + x[k], 0) / steady.length;
  const usedThreads = source.status().maps[0]!.threads;
  source.close();
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
