// config.yaml → a checked, typed configuration, or a ConfigError listing every problem at once,
// each with its key path and line:column. `validate` and `run` both come through here, so every
// check that needs no machine (schemas, references, wiring) fails both the same way.
//
// Linear in the size of the file: duplicate keys, key positions and env substitution each take
// one walk over the document (see positions.ts); files over MAX_CONFIG_BYTES are refused unread.
import { readFile, stat } from 'node:fs/promises';
import { isAlias, isCollection, isPair, LineCounter, parseDocument, type Alias, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import type { AnyFactory, ComponentKind } from '../contracts/component.ts';
import { substituteEnv, type Substitution } from './env.ts';
import { ConfigError, joinPath, type ConfigIssue } from './issues.ts';
import { Positions, scanDocument, type PathSegment } from './positions.ts';
import { collectSecrets, Redactor, redactKeyPath } from './secrets.ts';
import {
  SECTION_KINDS,
  serviceSchema,
  topLevelSchema,
  type PipelineSettings,
  type Section,
  type ServiceSettings,
} from './service-schema.ts';
import { checkWiring } from './wiring.ts';

export interface ComponentConfig {
  /** `type` or `type/name`. */
  id: string;
  factory: AnyFactory;
  /** The factory's schema output: every default filled in. */
  config: unknown;
}

export interface PodflowConfig {
  /** The file it was read from (for messages). */
  file: string;
  receivers: Map<string, ComponentConfig>;
  processors: Map<string, ComponentConfig>;
  exporters: Map<string, ComponentConfig>;
  service: ServiceSettings;
  /** What does not stop podflow but is likely a mistake (an unused component): `validate` prints it, `run` logs it. */
  warnings: ConfigIssue[];
  /** Values never to be printed (passwords, URL user information, authentication headers). */
  secrets: string[];
}

/** Larger files are refused: a flow pipeline's config is a few kilobytes. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
/** YAML aliases a config may hold (each costs a search through the document's anchors). */
export const MAX_ALIASES = 1_000;
/** yaml's own bound: an anchor may be expanded this many times, counting the aliases inside it. */
const MAX_ALIAS_EXPANSIONS = 100;

const COMPONENT_ID = /^([a-z][a-z0-9_]*)(?:\/([^/\s]+))?$/;

export async function loadConfigFile(
  file: string,
  factories: readonly AnyFactory[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<PodflowConfig> {
  let text: string;
  try {
    const { size } = await stat(file);
    if (size > MAX_CONFIG_BYTES) throw new ConfigError(file, [tooLarge(size)]);
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(file, [{ path: '', line: 0, column: 0, message: `cannot read the file: ${(err as Error).message}` }]);
  }
  return parseConfig(text, factories, { file, env });
}

function tooLarge(bytes: number): ConfigIssue {
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return { path: '', line: 0, column: 0, message: `the file is ${mib(bytes)}; a config may be at most ${mib(MAX_CONFIG_BYTES)}` };
}

export function parseConfig(
  text: string,
  factories: readonly AnyFactory[],
  { file = 'config.yaml', env = process.env }: { file?: string; env?: NodeJS.ProcessEnv } = {},
): PodflowConfig {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_CONFIG_BYTES) throw new ConfigError(file, [tooLarge(bytes)]);

  const lineCounter = new LineCounter();
  let doc: Document;
  try {
    // uniqueKeys is checked below in linear time (yaml's check compares every pair of keys).
    doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  } catch (err) {
    throw new ConfigError(file, [{ path: '', line: 0, column: 0, message: `cannot parse the YAML: ${(err as Error).message}` }]);
  }
  const positions = new Positions(doc, lineCounter);
  const issues: ConfigIssue[] = [];

  for (const e of doc.errors) {
    const { line, column } = positions.at(e.pos[0]);
    issues.push({ path: positions.pathAt(e.pos[0]), line, column, message: e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '') });
  }
  const { duplicates, aliases: aliasNodes } = scanDocument(doc);
  for (const d of duplicates) {
    issues.push({ path: joinPath(d.path), ...positions.at(d.offset), message: `duplicate key ${JSON.stringify(d.key)} (component IDs and keys must be unique)` });
  }
  if (aliasNodes.length > MAX_ALIASES) {
    const extra = aliasNodes[MAX_ALIASES]!;
    issues.push({ path: positions.pathAt(extra.range?.[0] ?? 0), ...positions.at(extra.range?.[0] ?? 0), message: `more than ${MAX_ALIASES} YAML aliases: write the values out` });
  }
  if (issues.length > 0) {
    // yaml's messages quote the text around the problem: a password written in the file may be in it.
    let written: unknown;
    try {
      written = doc.toJS({ maxAliasCount: MAX_ALIAS_EXPANSIONS });
    } catch {
      written = undefined;
    }
    throw redactedError(file, issues, new Redactor(collectSecrets(written)));
  }

  const { problems, substitutions } = substituteEnv(doc, env);
  const unresolved = new Set<string>();
  for (const p of problems) {
    unresolved.add(joinPath(p.path));
    issues.push({ path: joinPath(p.path), ...positions.at(p.offset), message: p.message });
  }

  let root: unknown;
  try {
    root = doc.toJS({ maxAliasCount: MAX_ALIAS_EXPANSIONS }) ?? {};
  } catch (err) {
    const alias = aliasNodes.length > 0 ? excessiveAlias(doc, aliasNodes) : undefined;
    const offset = alias?.range?.[0] ?? 0;
    const message = alias
      ? `alias *${alias.source} expands its anchor too many times (more than ${MAX_ALIAS_EXPANSIONS} copies, counting the aliases inside it): a YAML alias bomb? write the values out`
      : `cannot read the YAML: ${(err as Error).message}`;
    throw new ConfigError(file, [{ path: alias ? positions.pathAt(offset) : '', ...(alias ? positions.at(offset) : { line: 0, column: 0 }), message }]);
  }

  // From here on, every message goes through the redactor: a schema message may quote a value.
  const secrets = collectSecrets(root);
  const redactor = new Redactor(secrets);
  const fail = (): never => {
    throw redactedError(file, issues, redactor);
  };

  // A value whose variable is unset already has its error; its schema complaint would be noise.
  const place = (path: readonly PropertyKey[], message: string) => {
    if (!unresolved.has(joinPath(path))) issues.push(positions.issue(path, message));
  };
  const typedAt = new Map(substitutions.filter((s) => s.typed).map((s) => [joinPath(s.path), s] as const));
  const check = <T>(schema: z.ZodType<T>, value: unknown, prefix: readonly PathSegment[]) => parseWithEnv(schema, value, prefix, typedAt);

  const top = check(topLevelSchema, root, []);
  if (!top.success) {
    addZodIssues(place, [], top.error);
    fail();
  }
  const topData = top.data!;

  const byKind = new Map<string, AnyFactory>(factories.map((f) => [`${f.kind}:${f.type}`, f]));
  const sections = {} as Record<Section, Map<string, ComponentConfig>>;
  for (const section of Object.keys(SECTION_KINDS) as Section[]) {
    const kind: ComponentKind = SECTION_KINDS[section];
    const entries = new Map<string, ComponentConfig>();
    sections[section] = entries;
    for (const [id, body] of Object.entries(topData[section] ?? {})) {
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
      const parsed = check(factory.configSchema as z.ZodType, body ?? {}, [section, id]);
      if (!parsed.success) {
        addZodIssues(place, [section, id], parsed.error);
        continue;
      }
      entries.set(id, { id, factory, config: parsed.data });
    }
  }

  const warnings: ConfigIssue[] = [];
  const service = check(serviceSchema, topData.service ?? undefined, ['service']);
  if (topData.service === undefined || topData.service === null) {
    place([], 'service: is missing (it names the pipelines to run)');
  } else if (!service.success) {
    addZodIssues(place, ['service'], service.error);
    // Still check the pipelines' references when only another part of `service` is wrong.
    const pipelines = serviceSchema.shape.pipelines.safeParse((topData.service as { pipelines?: unknown }).pipelines);
    if (pipelines.success) checkPipelines(pipelines.data, sections, topData, place);
  } else {
    checkPipelines(service.data.pipelines, sections, topData, place);
    checkWiring({ ...sections, service: service.data }, (path, message, severity) => {
      if (severity === 'warning') warnings.push(positions.issue(path, message));
      else place(path, message);
    });
  }

  if (issues.length > 0) fail();
  return {
    file,
    ...sections,
    service: service.data!,
    warnings: warnings.map((w) => ({ ...w, message: redactor.redact(w.message) })).sort((a, b) => a.line - b.line || a.column - b.column),
    secrets,
  };
}

function redactedError(file: string, issues: readonly ConfigIssue[], redactor: Redactor): ConfigError {
  return new ConfigError(file, issues.map((i) => ({ ...i, path: redactor.redact(redactKeyPath(i.path)), message: redactor.redact(i.message) })));
}

/**
 * `schema.safeParse(value)`, where a value that was exactly one `${env:...}` reference is the
 * variable's text, and only where the schema refuses that text, its YAML reading (a port or a
 * count from the environment). Mutates `value` (a fresh `toJS` tree) when it switches.
 */
function parseWithEnv<T>(
  schema: z.ZodType<T>,
  value: unknown,
  prefix: readonly PathSegment[],
  typedAt: ReadonlyMap<string, Substitution>,
): z.ZodSafeParseResult<T> {
  let current = value;
  const tried = new Set<string>();
  const failingAt = (result: z.ZodSafeParseResult<T>) =>
    new Map(result.success ? [] : result.error.issues.map((issue) => [joinPath([...prefix, ...(issue.path as PathSegment[])]), issue.path as PathSegment[]]));
  for (;;) {
    const result = schema.safeParse(current);
    if (result.success || typedAt.size === 0) return result;
    const switched = new Map<string, PathSegment[]>();
    for (const [key, path] of failingAt(result)) {
      const typed = typedAt.get(key)?.typed;
      if (!typed || tried.has(key)) continue;
      tried.add(key);
      switched.set(key, path);
      current = setAt(current, path, typed.value);
    }
    if (switched.size === 0) return result;
    const retried = schema.safeParse(current);
    if (retried.success) return retried;
    // Where the YAML reading fails as well, the string's own message says more.
    const stillFailing = failingAt(retried);
    for (const [key, path] of switched) if (stillFailing.has(key)) current = setAt(current, path, typedAt.get(key)!.value);
  }
}

function setAt(root: unknown, path: readonly PathSegment[], value: unknown): unknown {
  if (path.length === 0) return value;
  let node = root as Record<PathSegment, unknown>;
  for (const segment of path.slice(0, -1)) node = node[segment] as Record<PathSegment, unknown>;
  node[path[path.length - 1]!] = value;
  return root;
}

/**
 * The alias at which yaml gives up, found the way yaml counts: per anchor, the aliases resolved
 * so far times the expansions inside the anchored node.
 */
function excessiveAlias(doc: Document, aliasNodes: readonly Alias[]): Alias | undefined {
  const anchored = new Map<string, Node[]>();
  const collect = (node: unknown): void => {
    if (isPair(node)) {
      collect(node.key);
      collect(node.value);
      return;
    }
    const anchor = (node as Node | null)?.anchor;
    if (anchor) anchored.set(anchor, [...(anchored.get(anchor) ?? []), node as Node]);
    if (isCollection(node)) for (const item of node.items) collect(item);
  };
  collect(doc.contents);
  const anchorOf = (alias: Alias): Node | undefined => {
    const start = alias.range?.[0] ?? 0;
    return anchored.get(alias.source)?.filter((n) => (n.range?.[0] ?? 0) < start).at(-1);
  };
  const state = new Map<Node, { count: number; expansions: number }>();
  const expansions = (node: unknown): number => {
    if (isAlias(node)) {
      const target = anchorOf(node);
      const s = target && state.get(target);
      return s ? s.count * s.expansions : 0;
    }
    if (isPair(node)) return Math.max(expansions(node.key), expansions(node.value));
    if (isCollection(node)) return (node.items as unknown[]).reduce<number>((most, item) => Math.max(most, expansions(item)), 0);
    return 1;
  };
  for (const alias of aliasNodes) {
    const target = anchorOf(alias);
    if (!target) continue;
    const s = state.get(target) ?? { count: 0, expansions: 0 };
    state.set(target, s);
    s.count += 1;
    if (s.expansions === 0) s.expansions = expansions(target);
    if (s.count * s.expansions > MAX_ALIAS_EXPANSIONS) return alias;
  }
  return aliasNodes[0];
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
      const listed = new Set<string>();
      ids.forEach((id, i) => {
        const path = ['service', 'pipelines', name, section, i];
        if (listed.has(id)) place(path, `"${id}" is listed twice`);
        // Declared but invalid components already have their own errors; only report true unknowns.
        else if (!sections[section].has(id) && !(declared[section] && Object.hasOwn(declared[section]!, id))) {
          place(path, `"${id}" is not defined under ${section}:`);
        }
        listed.add(id);
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

export type { ConfigIssue };
