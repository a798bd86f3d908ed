// Bench helper for run.sh (not a test).
//   fill <netns path> <count>      inserts <count> synthetic UDP entries over ctnetlink in batches
//   measure <netns path> <runs>    podflow's dump + decode + delta + aggregation + JS decoding:
//                                  the first tick (every entry new, startup: count) and steady-state
//                                  ticks (counters unchanged); prints one JSON line
import { NativeSource } from '../../src/native/index.ts';
import { measureTicks } from '../native-ticks.ts';
import { conntrackInsertEntries } from '../../test/harness/native.ts';

const [mode, netns, arg] = process.argv.slice(2);

if (mode === 'fill') {
  const t0 = performance.now();
  const result = await conntrackInsertEntries(netns!, Number(arg), 512);
  console.log(JSON.stringify({ ...result, seconds: (performance.now() - t0) / 1000 }));
} else if (mode === 'measure') {
  const runs = Number(arg ?? 5);
  const source = NativeSource.open('conntrack', { netns: netns!, source: 'netlink', destroyEvents: false, startup: 'count', excludeCidrs: [] });
  const measured = await measureTicks(source, runs);
  source.close();
  console.log(JSON.stringify({ ...measured, peak_rss_mb: process.resourceUsage().maxRSS / 1024 }));
}
