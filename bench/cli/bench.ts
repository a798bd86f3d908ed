// bench/cli: how long bin/podflow takes to answer, against `node -e 0` measured in the same run
// (the commands take turns, so machine load hits them alike). Targets (issue 19/20):
// --version, version and help ≤ 150 ms; validate of the README's config ≤ 400 ms; validate of a
// 2 MiB config ≤ 2 s. Prints each command's wall median, p90 and min, its CPU time (GNU time),
// and last one JSON line.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FACTORIES } from '../../src/components.ts';
import { largeConfig } from '../../src/config/testdata/large-config.ts';
import { classify, docBlocks, placeholderEnv, toYaml } from '../../test/harness/docs-configs.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/podflow');
const RUNS = Number(process.env.RUNS ?? 30);
const LARGE_RUNS = Number(process.env.LARGE_RUNS ?? 5);

const dir = mkdtempSync(join(tmpdir(), 'podflow-bench-cli-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const readme = docBlocks().filter((b) => b.source.startsWith('README.md:')).flatMap((b) => classify(b, FACTORIES)).find((c) => c.kind === 'config');
if (!readme || readme.kind !== 'config') throw new Error('no config in README.md');
const readmeText = toYaml(readme.config);
const readmeFile = join(dir, 'readme.yaml');
writeFileSync(readmeFile, readmeText);
const large = largeConfig({ bytes: 2 * 1024 * 1024, receiver: 'conntrack', processor: 'filter', exporter: 'debug' });
const largeFile = join(dir, 'large.yaml');
writeFileSync(largeFile, large.text);
const env = { ...process.env, ...placeholderEnv(readmeText) };

interface Command {
  name: string;
  file: string;
  args: string[];
  runs: number;
  targetMs?: number;
}

const commands: Command[] = [
  { name: 'node -e 0', file: process.execPath, args: ['-e', '0'], runs: RUNS },
  { name: 'podflow --version', file: BIN, args: ['--version'], runs: RUNS, targetMs: 150 },
  { name: 'podflow version', file: BIN, args: ['version'], runs: RUNS, targetMs: 150 },
  { name: 'podflow help', file: BIN, args: ['help'], runs: RUNS, targetMs: 150 },
  { name: 'podflow validate (README config)', file: BIN, args: ['validate', '--config', readmeFile], runs: RUNS, targetMs: 400 },
  { name: `podflow validate (${(large.text.length / 1024 / 1024).toFixed(1)} MiB config)`, file: BIN, args: ['validate', '--config', largeFile], runs: LARGE_RUNS, targetMs: 2000 },
];

// GNU time reports the child's CPU time, the steadier figure on a loaded machine.
const GNU_TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
const timesMs = new Map<string, number[]>(commands.map((c) => [c.name, []]));
const cpuMs = new Map<string, number[]>(commands.map((c) => [c.name, []]));
const rounds = Math.max(...commands.map((c) => c.runs));
for (let round = 0; round < rounds; round++) {
  for (const c of commands) {
    if (round >= c.runs) continue;
    const [file, args] = GNU_TIME ? [GNU_TIME, ['-f', 'cpu %U %S', c.file, ...c.args]] : [c.file, c.args];
    const start = process.hrtime.bigint();
    const result = spawnSync(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (result.status !== 0) throw new Error(`${c.name} exited with ${result.status}: ${result.stderr}`);
    timesMs.get(c.name)!.push(ms);
    const cpu = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(result.stderr.toString());
    if (cpu) cpuMs.get(c.name)!.push((Number(cpu[1]) + Number(cpu[2])) * 1000);
  }
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const baseline = quantile(timesMs.get('node -e 0')!, 0.5);
const results = commands.map((c) => {
  const xs = timesMs.get(c.name)!;
  const median = quantile(xs, 0.5);
  const cpu = cpuMs.get(c.name)!;
  return {
    name: c.name,
    runs: xs.length,
    median_ms: Math.round(median),
    p90_ms: Math.round(quantile(xs, 0.9)),
    min_ms: Math.round(Math.min(...xs)),
    over_node_ms: Math.round(median - baseline),
    cpu_median_ms: cpu.length > 0 ? Math.round(quantile(cpu, 0.5)) : undefined,
    target_ms: c.targetMs,
    met: c.targetMs === undefined ? undefined : median <= c.targetMs,
  };
});

console.log(`bench/cli: ${RUNS} runs each (the 2 MiB validate ${LARGE_RUNS}), taking turns; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}, ${process.version}`);
console.log(`${'command'.padEnd(42)} ${'median'.padStart(8)} ${'p90'.padStart(8)} ${'min'.padStart(8)} ${'-node'.padStart(8)} ${'cpu'.padStart(8)}  target (wall median)`);
for (const r of results) {
  const cpu = r.cpu_median_ms === undefined ? '–' : `${r.cpu_median_ms} ms`;
  console.log(`${r.name.padEnd(42)} ${`${r.median_ms} ms`.padStart(8)} ${`${r.p90_ms} ms`.padStart(8)} ${`${r.min_ms} ms`.padStart(8)} ${`${r.over_node_ms} ms`.padStart(8)} ${cpu.padStart(8)}  ${r.target_ms === undefined ? '' : `≤ ${r.target_ms} ms: ${r.met ? 'met' : 'NOT MET'}`}`);
}
console.log(JSON.stringify({ bench: 'cli', load_average: loadavg()[0], results }));
