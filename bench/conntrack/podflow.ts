// Bench helper for run.sh (not a test).
//   fill <netns path> <count>      inserts <count> synthetic UDP entries over ctnetlink in batches
//   measure <netns path> <runs>    podflow's dump + decode + delta + aggregation + JS decoding:
//                                  the first tick (every entry new, startup: count) and steady-state
//                                  ticks (counters unchanged); prints one JSON line
import { decodeBatch, NativeSource } from '../../src/native/index.ts';
import { conntrackInsertEntries } from '../../test/harness/native.ts';

const [mode, netns, arg] = process.argv.slice(2);

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function tick(source: NativeSource<'conntrack'>) {
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  const buf = await source.tick();
  const { stats, flows } = decodeBatch(buf, 0n, 1n);
  return { cpu_s: cpuSeconds() - cpu0, wall_s: (performance.now() - t0) / 1000, entries: stats.entries, flows: flows.length };
}

if (mode === 'fill') {
  const t0 = performance.now();
  const result = await conntrackInsertEntries(netns!, Number(arg), 512);
  console.log(JSON.stringify({ ...result, seconds: (performance.now() - t0) / 1000 }));
} else if (mode === 'measure') {
  const runs = Number(arg ?? 5);
  const source = NativeSource.open('conntrack', { netns: netns!, source: 'netlink', destroyEvents: false, startup: 'count', excludeCidrs: [] });
  const first = await tick(source);
  const steady: Array<Awaited<ReturnType<typeof tick>>> = [];
  for (let i = 0; i < runs; i++) steady.push(await tick(source));
  const mean = (k: 'cpu_s' | 'wall_s') => steady.reduce((s, x) => s + x[k], 0) / steady.length;
  source.close();
  console.log(
    JSON.stringify({
      first_tick: first,
      steady_cpu_s: mean('cpu_s'),
      steady_wall_s: mean('wall_s'),
      steady_flows: steady.at(-1)!.flows,
      steady_entries: steady.at(-1)!.entries,
      peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    }),
  );
}
