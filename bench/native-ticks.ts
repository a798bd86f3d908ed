// Shared by the native readers' bench helpers (bench/conntrack, bench/cilium): times a
// source's ticks, the Rust read and the JS decoding of the batch, in CPU and wall seconds.
import { decodeBatch, type NativeSource, type SourceType } from '../src/native/index.ts';

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function timedTick<T extends SourceType>(source: NativeSource<T>) {
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  const buf = await source.tick();
  const { stats, flows } = decodeBatch(buf, 0n, 1n);
  return { cpu_s: cpuSeconds() - cpu0, wall_s: (performance.now() - t0) / 1000, entries: stats.entries, flows: flows.length };
}

/** The first tick (every entry new under startup: count), then the mean of `runs` steady ticks. */
export async function measureTicks<T extends SourceType>(source: NativeSource<T>, runs: number) {
  const first = await timedTick(source);
  const steady: Array<Awaited<ReturnType<typeof timedTick>>> = [];
  for (let i = 0; i < runs; i++) steady.push(await timedTick(source));
  const mean = (k: 'cpu_s' | 'wall_s') => steady.reduce((s, x) => s + x[k], 0) / steady.length;
  return {
    first_tick: first,
    steady_cpu_s: mean('cpu_s'),
    steady_wall_s: mean('wall_s'),
    steady_flows: steady.at(-1)!.flows,
    steady_entries: steady.at(-1)!.entries,
  };
}
