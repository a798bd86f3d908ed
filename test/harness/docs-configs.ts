// Every podflow config a user can copy from the repository: the ```yaml blocks of every Markdown
// file (README.md, docs/, each component's README, deploy/, examples/) and the YAML files shipped
// as configs (config.yaml, deploy/image-config.yaml, src/**/example.yaml, examples/**/*.yaml).
// test/docs.test.ts validates and runs each; bench/cli times `validate` on the README's.
//
// Which YAML is a podflow config, and what is added to make it whole (the rule):
//   1. A mapping whose top-level keys are all podflow sections (receivers, processors,
//      exporters, service) is a config. A block shows what matters for its topic, so what it
//      leaves out is added: components a pipeline names but the block does not declare get
//      default settings (`{}`); without `service`, each declared processor gets a pipeline of
//      its own (one pipeline when there are none), fed by every declared receiver (conntrack
//      when none) and feeding every declared exporter (debug when none).
//   2. In a component's README (src/<kind>s/<type>/README.md), a mapping whose keys are all
//      keys of that component's config is that component's body: it is wrapped into conntrack
//      → <component> → debug (the component itself in its own slot).
//   3. In deploy/README.md, a mapping whose keys are all keys of the chart's values.yaml is
//      Helm values: the chart is rendered with them and the config of its ConfigMap is checked.
//   4. Anything else is not a podflow config (a Kubernetes object, a Prometheus or Grafana
//      config, a list of attribute keys) and is reported as skipped, with the reason.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import type { AnyFactory } from '../../src/contracts/component.ts';

export const ROOT = new URL('../../', import.meta.url).pathname;

const SECTIONS = ['receivers', 'processors', 'exporters', 'service'];

export type Mapping = Record<string, unknown>;

export interface DocBlock {
  /** `README.md:38` (the line of the fence), or the file's path. */
  source: string;
  file: string;
  text: string;
}

export type DocYaml =
  | { kind: 'config'; source: string; config: Mapping; completed: string[] }
  | { kind: 'helm-values'; source: string; values: Mapping }
  | { kind: 'skipped'; source: string; reason: string };

function gitFiles(patterns: string[]): string[] {
  return execFileSync('git', ['ls-files', '--', ...patterns], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean).sort();
}

/** Every ```yaml block of every tracked Markdown file, and every shipped YAML config file. */
export function docBlocks(): DocBlock[] {
  const blocks: DocBlock[] = [];
  for (const file of gitFiles(['*.md']).filter((f) => !f.startsWith('crates/') && !f.startsWith('test/harness/') && !f.includes('/testdata/'))) {
    const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const open = /^(\s*)```ya?ml\s*$/.exec(lines[i]!);
      if (!open) continue;
      const indent = open[1]!.length;
      const body: string[] = [];
      let j = i + 1;
      for (; j < lines.length && !/^\s*```\s*$/.test(lines[j]!); j++) body.push(lines[j]!.slice(indent));
      blocks.push({ source: `${file}:${i + 1}`, file, text: `${body.join('\n')}\n` });
      i = j;
    }
  }
  for (const file of gitFiles(['config.yaml', 'deploy/image-config.yaml', 'src/**/example.yaml', 'examples/**/*.yaml'])) {
    blocks.push({ source: file, file, text: readFileSync(join(ROOT, file), 'utf8') });
  }
  return blocks;
}

const isMapping = (v: unknown): v is Mapping => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What a block is, by the rule above; `factories` tell a component's keys. */
export function classify(block: DocBlock, factories: readonly AnyFactory[]): DocYaml[] {
  const docs = parseAllDocuments(block.text);
  if (!Array.isArray(docs)) return [{ kind: 'skipped', source: block.source, reason: 'empty' }];
  return docs.map((doc, n): DocYaml => {
    const source = docs.length > 1 ? `${block.source} (document ${n + 1})` : block.source;
    if (doc.errors.length > 0) return { kind: 'config', source, config: { __invalid_yaml__: doc.errors[0]!.message }, completed: [] };
    const value: unknown = doc.toJS();
    if (!isMapping(value)) return { kind: 'skipped', source, reason: 'not a mapping' };
    const keys = Object.keys(value);
    if (keys.length > 0 && keys.every((k) => SECTIONS.includes(k))) {
      const completed: string[] = [];
      return { kind: 'config', source, config: complete(value, completed), completed };
    }
    const component = /^src\/(receiver|processor|exporter)s\/([^/]+)\/README\.md$/.exec(block.file);
    if (component) {
      const factory = factories.find((f) => f.kind === component[1] && f.type === component[2]);
      const result = factory?.configSchema.safeParse(value);
      const unknownKeys = result && !result.success && result.error.issues.some((i) => i.code === 'unrecognized_keys' && i.path.length === 0);
      if (factory && !unknownKeys) {
        return { kind: 'config', source, config: wrap(factory.kind, factory.type, value), completed: [`wrapped as the ${factory.type} ${factory.kind}'s body`] };
      }
    }
    if (block.file === 'deploy/README.md') {
      const values = parseAllDocuments(readFileSync(join(ROOT, 'deploy/helm/podflow/values.yaml'), 'utf8'));
      const known = Object.keys(((Array.isArray(values) ? values[0] : values)?.toJS() ?? {}) as Mapping);
      if (keys.every((k) => known.includes(k))) return { kind: 'helm-values', source, values: value };
    }
    return { kind: 'skipped', source, reason: `not a podflow config (top-level keys: ${keys.slice(0, 4).join(', ')})` };
  });
}

function wrap(kind: AnyFactory['kind'], type: string, body: Mapping): Mapping {
  const config: Mapping = {
    receivers: kind === 'receiver' ? { [type]: body } : { conntrack: {} },
    ...(kind === 'processor' ? { processors: { [type]: body } } : {}),
    exporters: kind === 'exporter' ? { [type]: body } : { debug: {} },
  };
  return complete(config, []);
}

/** Adds what a partial config leaves out (rule 1), noting each addition in `completed`. */
function complete(value: Mapping, completed: string[]): Mapping {
  const config = structuredClone(value) as Mapping & { service?: Mapping & { pipelines?: Record<string, Record<string, string[]>> } };
  const declared = (section: string) => (config[section] ??= {}) as Mapping;
  if (!config.service?.pipelines) {
    if (Object.keys(declared('receivers')).length === 0) {
      declared('receivers').conntrack = {};
      completed.push('receiver conntrack');
    }
    if (Object.keys(declared('exporters')).length === 0) {
      declared('exporters').debug = {};
      completed.push('exporter debug');
    }
    const processors = Object.keys(declared('processors'));
    const pipeline = (p: string[]) => ({ receivers: Object.keys(declared('receivers')), processors: p, exporters: Object.keys(declared('exporters')) });
    const pipelines = processors.length === 0 ? { flows: pipeline([]) } : Object.fromEntries(processors.map((id, i) => [`flows/${i}`, pipeline([id])]));
    config.service = { ...(config.service ?? {}), pipelines };
    completed.push(`pipelines ${Object.keys(pipelines).join(', ')}`);
  }
  for (const pipeline of Object.values(config.service.pipelines!)) {
    for (const section of ['receivers', 'processors', 'exporters']) {
      for (const id of pipeline[section] ?? []) {
        if (!(id in declared(section)) && !id.includes('/')) {
          declared(section)[id] = {};
          completed.push(`${section.slice(0, -1)} ${id}`);
        }
      }
    }
  }
  for (const section of ['receivers', 'processors', 'exporters']) if (Object.keys(declared(section)).length === 0) delete config[section];
  return config;
}

/** `${env:NAME}` references without a default, with the values the tests give them. */
export function placeholderEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of text.matchAll(/\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
    env[m[1]!] = /NODE_NAME$/.test(m[1]!) ? 'node-a' : `placeholder-${m[1]!.toLowerCase()}`;
  }
  return env;
}

export const toYaml = (config: Mapping): string => stringify(config, { lineWidth: 0 });
