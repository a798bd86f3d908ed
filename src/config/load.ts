// config.yaml → a checked, typed configuration, or a ConfigError listing every problem at once,
// each with its key path and line:column.
import { readFile } from 'node:fs/promises';
import { isCollection, isPair, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import type { AnyFactory, ComponentKind } from '../contracts/component.ts';
import { substituteEnv } from './env.ts';
import { ConfigError, joinPath, type ConfigIssue } from './issues.ts';
import {
  SECTION_KINDS,
  serviceSchema,
  topLevelSchema,
  type PipelineSettings,
  type Section,
  type ServiceSettings,
} from './service-schema.ts';

export interface ComponentConfig {
  /** `type` or `type/name`. */
  id: string;
  factory: AnyFactory;
  /** The factory's schema output: every default filled in. */
  config: unknown;
}

export interface PodflowConfig {
  receivers: Map<string, ComponentConfig>;
  processors: Map<string, ComponentConfig>;
  exporters: Map<string, ComponentConfig>;
  service: ServiceSettings;
}

const COMPONENT_ID = /^([a-z][a-z0-9_]*)(?:\/([^/\s]+))?$/;

export async function loadConfigFile(
  file: string,
  factories: readonly AnyFactory[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<PodflowConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '', line: 0, column: 0, message: `cannot read the file: ${(err as Error).message}` }]);
  }
  return parseConfig(text, factories, { file, env });
}

export function parseConfig(
  text: string,
  factories: readonly AnyFactory[],
  { file = 'config.yaml', env = process.env }: { file?: string; env?: NodeJS.ProcessEnv } = {},
): PodflowConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const issues: ConfigIssue[] = [];
  const at = (offset: number) => lineCounter.linePos(offset);

  for (const e of doc.errors) {
    const { line, col } = at(e.pos[0]);
    const message = e.code === 'DUPLICATE_KEY' ? `duplicate key ${JSON.stringify(keyAt(text, e.pos[0]))} (component IDs and keys must be unique)` : e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    issues.push({ path: pathAtOffset(doc, e.pos[0]), line, column: col, message });
  }
  if (issues.length > 0) throw new ConfigError(file, issues);

  const unresolved = new Set<string>();
  for (const p of substituteEnv(doc, env)) {
    const { line, col } = at(p.offset);
    unresolved.add(joinPath(p.path));
    issues.push({ path: joinPath(p.path), line, column: col, message: p.message });
  }

  // A value whose variable is unset already has its error; its schema complaint would be noise.
  const place = (path: readonly PropertyKey[], message: string) => {
    if (!unresolved.has(joinPath(path))) issues.push(locate(doc, lineCounter, path, message));
  };
  const root: unknown = doc.toJS() ?? {};
  const top = topLevelSchema.safeParse(root);
  if (!top.success) {
    addZodIssues(place, [], top.error);
    throw new ConfigError(file, issues);
  }

  const byKind = new Map<string, AnyFactory>(factories.map((f) => [`${f.kind}:${f.type}`, f]));
  const sections = {} as Record<Section, Map<string, ComponentConfig>>;
  for (const section of Object.keys(SECTION_KINDS) as Section[]) {
    const kind: ComponentKind = SECTION_KINDS[section];
    const entries = new Map<string, ComponentConfig>();
    sections[section] = entries;
    for (const [id, body] of Object.entries(top.data[section] ?? {})) {
      const m = COMPONENT_ID.exec(id);
      if (!m) {
        place([section, id], `"${id}" is not a component ID (type or type/name, type in lower_snake_case)`);
        continue;
      }
      const factory = byKind.get(`${kind}:${m[1]}`);
      if (!factory) {
        const known = factories.filter((f) => f.kind === kind).map((f) => f.type).sort();
        place([section, id], `unknown ${kind} type "${m[1]}" (known: ${known.join(', ') || 'none'})`);
        continue;
      }
      const parsed = (factory.configSchema as z.ZodType).safeParse(body ?? {});
      if (!parsed.success) {
        addZodIssues(place, [section, id], parsed.error);
        continue;
      }
      entries.set(id, { id, factory, config: parsed.data });
    }
  }

  const service = serviceSchema.safeParse(top.data.service ?? undefined);
  if (top.data.service === undefined || top.data.service === null) {
    place([], 'service: is missing (it names the pipelines to run)');
  } else if (!service.success) {
    addZodIssues(place, ['service'], service.error);
    // Still check the pipelines' references when only another part of `service` is wrong.
    const pipelines = serviceSchema.shape.pipelines.safeParse((top.data.service as { pipelines?: unknown }).pipelines);
    if (pipelines.success) checkPipelines(pipelines.data, sections, top.data, place);
  } else {
    checkPipelines(service.data.pipelines, sections, top.data, place);
  }

  if (issues.length > 0) throw new ConfigError(file, issues);
  return { ...sections, service: service.data! };
}

type Place = (path: readonly PropertyKey[], message: string) => void;

function checkPipelines(
  pipelinesByName: ServiceSettings['pipelines'],
  sections: Record<Section, Map<string, ComponentConfig>>,
  declared: Partial<Record<Section, Record<string, unknown> | null | undefined>>,
  place: Place,
): void {
  const pipelines = Object.entries(pipelinesByName);
  if (pipelines.length === 0) place(['service', 'pipelines'], 'at least one pipeline is required');
  for (const [name, pipeline] of pipelines) {
    if (!/^[a-z][a-z0-9_]*(\/[^/\s]+)?$/.test(name)) {
      place(['service', 'pipelines', name], `"${name}" is not a pipeline name (name or name/suffix)`);
    }
    for (const section of ['receivers', 'processors', 'exporters'] as const) {
      const ids = pipeline[section] as PipelineSettings[typeof section];
      if (section !== 'processors' && ids.length === 0) {
        place(['service', 'pipelines', name, section], `a pipeline needs at least one ${SECTION_KINDS[section]}`);
      }
      ids.forEach((id, i) => {
        const path = ['service', 'pipelines', name, section, i];
        if (ids.indexOf(id) !== i) place(path, `"${id}" is listed twice`);
        // Declared but invalid components already have their own errors; only report true unknowns.
        else if (!sections[section].has(id) && !(declared[section] && id in declared[section]!)) {
          place(path, `"${id}" is not defined under ${section}:`);
        }
      });
    }
  }
}

function addZodIssues(place: Place, prefix: readonly PropertyKey[], error: z.ZodError): void {
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) place([...prefix, ...issue.path, key], `unknown key "${key}"`);
    } else {
      place([...prefix, ...issue.path], issue.message);
    }
  }
}

/** Place an issue at the deepest node of `path` that exists in the document. */
function locate(doc: Document, lines: LineCounter, path: readonly PropertyKey[], message: string): ConfigIssue {
  const segments = path.map((s) => (typeof s === 'symbol' ? String(s) : s));
  let offset = 0;
  let found = 0;
  let node: unknown = doc.contents;
  for (const seg of segments) {
    if (!isCollection(node)) break;
    const item = node.items.find((it, i) => (isPair(it) ? isScalar(it.key) && String(it.key.value) === String(seg) : i === seg));
    if (item === undefined) break;
    const keyNode = isPair(item) ? item.key : item;
    const range = (keyNode as { range?: [number, number, number] }).range;
    if (range) offset = range[0];
    node = isPair(item) ? item.value : item;
    found++;
  }
  const missing = found < segments.length && !message.startsWith('unknown key');
  const { line, col } = offset === 0 && found === 0 ? { line: 0, col: 0 } : lines.linePos(offset);
  const text = missing && /required|expected .*, received undefined/i.test(message) ? `${message} (key is missing)` : message;
  return { path: joinPath(segments), line, column: col, message: text };
}

/** The key path of whatever holds `offset` (for YAML syntax errors). */
function pathAtOffset(doc: Document, offset: number): string {
  const path: PropertyKey[] = [];
  let node: unknown = doc.contents;
  while (isCollection(node)) {
    const item = node.items.find((it) => {
      const r = (isPair(it) ? (it.value as { range?: number[] } | null)?.range ?? (it.key as { range?: number[] }).range : (it as { range?: number[] }).range) as number[] | undefined;
      const k = isPair(it) ? (it.key as { range?: number[] }).range : r;
      return k && r && offset >= k[0]! && offset <= r[2]!;
    });
    if (!item) break;
    path.push(isPair(item) && isScalar(item.key) ? String(item.key.value) : (node.items as unknown[]).indexOf(item));
    node = isPair(item) ? item.value : item;
  }
  return joinPath(path);
}

function keyAt(text: string, offset: number): string {
  return /^[^:\s]+/.exec(text.slice(offset))?.[0] ?? '?';
}

export type { ConfigIssue };
