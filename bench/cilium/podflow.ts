// Bench helper for run.sh (not a test).
//   fill <bpffs root> <count>          creates tc/globals/cilium_ct4_global (LRU, max <count>) with
//                                      <count> synthetic OUT TCP entries (v1.15 layout)
//   measure <bpffs root> <runs> <method> [threads]  podflow's read + decode + delta + aggregation + JS
//                                      decoding with read_method <method> (batch | key_by_key) and
//                                      read_threads [threads] (default 0 = auto): the first
//                                      tick (every entry new, startup: count) and steady-state ticks
//                                      (counters unchanged); prints one JSON line
import { NativeSource } from '../../src/native/index.ts';
import { measureTicks } from '../native-ticks.ts';
import { ciliumCreateMap } from '../../test/harness/native.ts';

const [mode, root, arg, method, threadsArg] = process.argv.slice(2);

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
  const measured = await measureTicks(source, runs);
  const usedThreads = source.status().maps[0]!.threads;
  source.close();
  console.log(JSON.stringify({ method: m, threads: usedThreads, ...measured, peak_rss_mb: process.resourceUsage().maxRSS / 1024 }));
}
