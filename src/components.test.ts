// The registry: every component folder is registered once, as the kind its folder says.
import test from 'ava';
import { readdirSync } from 'node:fs';
import { FACTORIES } from './components.ts';
import { cidrError } from './model/cidr.ts';

const KINDS = { receivers: 'receiver', processors: 'processor', exporters: 'exporter' } as const;

test('every component folder has one factory in src/components.ts, of its folder kind and named after it', (t) => {
  const folders = Object.entries(KINDS).flatMap(([dir, kind]) =>
    readdirSync(new URL(dir, import.meta.url), { withFileTypes: true })
      .filter((d) => d.isDirectory() && d.name !== 'shared')
      .map((d) => `${kind} ${d.name}`),
  );
  t.deepEqual(FACTORIES.map((f) => `${f.kind} ${f.type}`).sort(), folders.sort());
});

test('every config key that takes CIDRs refuses a bad one with the same message, at its path', (t) => {
  const bad = 'pods/x';
  const cases: Array<[type: string, config: Record<string, unknown>, path: string]> = [
    ['conntrack', { exclude_cidrs: ['10.0.0.0/8', bad] }, 'exclude_cidrs.1'],
    ['cilium', { exclude_cidrs: [bad] }, 'exclude_cidrs.0'],
    ['packet', { interface: 'eth0', exclude_cidrs: [bad] }, 'exclude_cidrs.0'],
    ['dnsnames', { cluster_cidrs: [bad] }, 'cluster_cidrs.0'],
    ['reduce', { cluster_cidrs: [bad] }, 'cluster_cidrs.0'],
    ['k8sattributes', { cluster_cidrs: [bad] }, 'cluster_cidrs.0'],
    ['filter', { include: [{ key: 'destination.address', cidr: bad }] }, 'include.0.cidr'],
    ['filter', { exclude: [{ key: 'source.address', cidr: ['10.0.0.0/8', bad] }] }, 'exclude.0.cidr.1'],
  ];
  for (const [type, config, path] of cases) {
    const result = FACTORIES.find((f) => f.type === type)!.configSchema.safeParse(config);
    const issues = result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    t.deepEqual(issues, [`${path}: ${cidrError(bad)}`], type);
  }
});
