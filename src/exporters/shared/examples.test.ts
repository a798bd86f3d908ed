// Every example config of the otlp, loadbalancing, prometheus, prometheus_remote_write and postgres exporters
// (the folder's example.yaml, if any, and each YAML block of its README) is valid for the
// exporter's schema; so is every exporter in the examples of docs/exporter-helper.md.
import { existsSync, readFileSync } from 'node:fs';
import test from 'ava';
import { parse } from 'yaml';
import type { ExporterFactory } from '../../contracts/component.ts';
import { otlpExporterFactory } from '../otlp/index.ts';
import { loadbalancingExporterFactory } from '../loadbalancing/index.ts';
import { prometheusExporterFactory } from '../prometheus/index.ts';
import { prometheusRemoteWriteExporterFactory } from '../prometheus_remote_write/index.ts';
import { postgresExporterFactory } from '../postgres/index.ts';

const factories: Array<[string, ExporterFactory<unknown>]> = [
  ['otlp', otlpExporterFactory as ExporterFactory<unknown>],
  ['loadbalancing', loadbalancingExporterFactory as ExporterFactory<unknown>],
  ['prometheus', prometheusExporterFactory as ExporterFactory<unknown>],
  ['prometheus_remote_write', prometheusRemoteWriteExporterFactory as ExporterFactory<unknown>],
  ['postgres', postgresExporterFactory as ExporterFactory<unknown>],
];

for (const [dir, factory] of factories) {
  const read = (file: string) => readFileSync(new URL(`../${dir}/${file}`, import.meta.url), 'utf8');
  const documents = [
    ...(existsSync(new URL(`../${dir}/example.yaml`, import.meta.url)) ? [['example.yaml', read('example.yaml')] as const] : []),
    ...[...read('README.md').matchAll(/```yaml\n([\s\S]*?)```/g)].map((m, i) => [`README.md yaml block ${i + 1}`, m[1]!]),
  ] as const;
  for (const [name, text] of documents) {
    // A placeholder long enough for secrets with a minimum length (bearer tokens, passwords).
    const doc = parse(text.replace(/\$\{env:[A-Z_]+\}/g, 'value-from-the-environment')) as { exporters?: Record<string, unknown>; service?: { pipelines?: Record<string, { exporters?: string[] }> } };
    if (!doc.exporters) continue; // e.g. a Prometheus scrape config
    test(`${dir}/${name} is valid`, (t) => {
      const ids = Object.keys(doc.exporters!).filter((id) => id.split('/')[0] === factory.type);
      t.true(ids.length > 0, `no ${factory.type} exporter in ${name}`);
      for (const id of ids) {
        const result = factory.configSchema.safeParse(doc.exporters![id] ?? {});
        t.true(result.success, result.error?.issues.map((i) => `${id}.${i.path.join('.')}: ${i.message}`).join('\n'));
      }
      const used = Object.values(doc.service?.pipelines ?? {}).flatMap((p) => p.exporters ?? []);
      t.true(ids.every((id) => used.includes(id)), 'the example uses the exporter in a pipeline');
    });
  }
}

test('every exporter of docs/exporter-helper.md is valid', (t) => {
  const byType = new Map(factories.map(([, f]) => [f.type, f]));
  const text = readFileSync(new URL('../../../docs/exporter-helper.md', import.meta.url), 'utf8');
  const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parse(m[1]!.replace(/\$\{env:[A-Z_]+\}/g, 'x')) as { exporters?: Record<string, unknown> });
  const ids = blocks.flatMap((b) => Object.keys(b.exporters ?? {}));
  t.deepEqual(ids.sort(), ['otlp', 'postgres', 'prometheus_remote_write']);
  for (const block of blocks) {
    for (const [id, body] of Object.entries(block.exporters ?? {})) {
      const result = byType.get(id.split('/')[0]!)!.configSchema.safeParse(body ?? {});
      t.true(result.success, result.error?.issues.map((i) => `${id}.${i.path.join('.')}: ${i.message}`).join('\n'));
    }
  }
});
