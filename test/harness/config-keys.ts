// A component's config keys two ways, and where they disagree: the keys of its zod schema
// (nested objects as dotted paths, `sending_queue.queue_size`; an entry of a map of objects as
// `<name>`, `pipelines.<name>.receivers`) and the rows of the key tables of its docs (Markdown
// tables whose first column is `key`). test/component-readmes.test.ts runs it on every component.
import { isDeepStrictEqual } from 'node:util';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';

type Schema = z.core.$ZodType;

/** Wrappers that leave the keys under them as they are. */
const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional']);

const defOf = (s: Schema): z.core.$ZodTypeDef => s._zod.def;

/** The schema under optional/default/… wrappers, a `preprocess` (the schema it feeds) and a `.transform` (the schema it reads). */
function core(schema: Schema): Schema {
  let s = schema;
  for (;;) {
    const def = defOf(s);
    if (WRAPPERS.has(def.type)) s = (def as z.core.$ZodOptionalDef).innerType;
    else if (def.type === 'pipe') {
      const pipe = def as z.core.$ZodPipeDef;
      s = defOf(pipe.in).type === 'transform' ? pipe.out : pipe.in;
    } else if (def.type === 'lazy') s = (def as z.core.$ZodLazyDef).getter();
    else return s;
  }
}

/** The object shapes a schema stands for: one for an object, one per object option of a union. */
function shapes(schema: Schema): Record<string, Schema>[] {
  const s = core(schema);
  const def = defOf(s);
  if (def.type === 'object') return [(def as z.core.$ZodObjectDef).shape];
  if (def.type === 'union') return (def as z.core.$ZodUnionDef).options.flatMap(shapes);
  if (def.type === 'intersection') return [...shapes((def as z.core.$ZodIntersectionDef).left), ...shapes((def as z.core.$ZodIntersectionDef).right)];
  return [];
}

const hasKeys = (schema: Schema) => shapes(schema).some((shape) => Object.keys(shape).length > 0);

export interface SchemaKey {
  /** `sending_queue.queue_size`; a map's entry is `<name>`. */
  path: string;
  schema: Schema;
  /** Has keys of its own (documenting them documents it). */
  container: boolean;
}

/** Every key of a schema, parents before their children. A key that is only refused (`replacedBy`: `never`) is not a key. */
export function schemaKeys(schema: Schema, prefix = ''): SchemaKey[] {
  const keys = new Map<string, SchemaKey>();
  const visit = (s: Schema, at: string) => {
    for (const shape of shapes(s)) {
      for (const [name, child] of Object.entries(shape)) {
        const inner = core(child);
        if (defOf(inner).type === 'never') continue;
        const path = at ? `${at}.${name}` : name;
        const entries = defOf(inner).type === 'record' ? (defOf(inner) as z.core.$ZodRecordDef).valueType : undefined;
        const container = hasKeys(child) || (entries !== undefined && hasKeys(entries));
        if (!keys.has(path)) keys.set(path, { path, schema: child, container });
        if (entries !== undefined && hasKeys(entries)) visit(entries, `${path}.<name>`);
        else visit(child, path);
      }
    }
  };
  visit(schema, prefix);
  return [...keys.values()];
}

export type Default = { kind: 'value'; value: unknown } | { kind: 'optional' } | { kind: 'required' };

/** What the key is when the config leaves it out: its default (a literal, or what the schema makes of its prefault), nothing, or an error. */
export function defaultOf(key: SchemaKey): Default {
  const parsed = (key.schema as z.ZodType).safeParse(undefined);
  if (!parsed.success) return { kind: 'required' };
  return parsed.data === undefined ? { kind: 'optional' } : { kind: 'value', value: parsed.data };
}

/** A value as the docs write it (`5s`, `4MiB`, `[]`, `localhost:9470`), read by the key's own schema; an Error when it cannot read it. */
export function readDocValue(key: SchemaKey, text: string): unknown {
  const candidates: unknown[] = [text];
  try {
    const yaml: unknown = parseYaml(text);
    if (yaml !== text) candidates.unshift(yaml);
  } catch {
    // not YAML: the text as it is
  }
  let error = '';
  for (const candidate of candidates) {
    const parsed = (key.schema as z.ZodType).safeParse(candidate);
    if (parsed.success) return parsed.data;
    error = parsed.error.issues[0]?.message ?? 'invalid';
  }
  return new Error(error);
}

export interface KeyRow {
  /** `src/exporters/otlp/README.md:88` */
  source: string;
  /** The keys the row documents: `tls.cert_file`, `tls.key_file`; a cell's `.key_file` continues the key before it. */
  keys: string[];
  /** The default cell when the table has one; `literal` is its leading code span (`5s`), absent when it is prose (unset, required). */
  default?: { cell: string; literal?: string };
  /** The whole row, for links. */
  text: string;
}

/** The cells of a table row; a `|` inside a code span or escaped does not split. */
function cells(line: string): string[] {
  const out: string[] = [];
  let cell = '';
  let code = false;
  const body = line.trim().replace(/^\|/, '').replace(/\|$/, '');
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === '`') code = !code;
    if (c === '\\' && body[i + 1] === '|') {
      cell += '|';
      i++;
    } else if (c === '|' && !code) {
      out.push(cell.trim());
      cell = '';
    } else cell += c;
  }
  out.push(cell.trim());
  return out;
}

/**
 * A default too long for its cell, "see below": the YAML block after a line `Default `<key>`:`
 * (the reduce processor's `group_by`).
 */
function defaultBelow(markdown: string, cell: string, keys: string[]): string | undefined {
  if (!/^see below\b/i.test(cell) || keys.length !== 1) return undefined;
  const at = markdown.indexOf(`Default \`${keys[0]}\`:`);
  if (at < 0) return undefined;
  return /^[^\n]*\n\s*```ya?ml\n([\s\S]*?)```/.exec(markdown.slice(at))?.[1];
}

/** The rows of every table of a Markdown text whose first column is headed `key`. */
export function keyRows(markdown: string, file: string): KeyRow[] {
  const rows: KeyRow[] = [];
  const lines = markdown.split('\n');
  let fenced = false;
  for (let i = 0; i < lines.length; i++) {
    if (/^\s*```/.test(lines[i]!)) fenced = !fenced;
    if (fenced || !lines[i]!.trimStart().startsWith('|') || !/^\s*\|[\s:|-]+\|\s*$/.test(lines[i + 1] ?? '')) continue;
    const header = cells(lines[i]!).map((h) => h.toLowerCase());
    const isKeyTable = header[0] === 'key';
    const defaultColumn = header.indexOf('default');
    let j = i + 2;
    for (; j < lines.length && lines[j]!.trimStart().startsWith('|'); j++) {
      if (!isKeyTable) continue;
      const row = cells(lines[j]!);
      const keys: string[] = [];
      for (const [, span] of row[0]!.matchAll(/`([^`]+)`/g)) {
        const previous = keys.at(-1);
        keys.push(span!.startsWith('.') && previous ? `${previous.slice(0, previous.lastIndexOf('.'))}${span}` : span!);
      }
      const cell = defaultColumn >= 0 ? (row[defaultColumn] ?? '') : undefined;
      const literal = cell === undefined ? undefined : (/^`([^`]*)`/.exec(cell)?.[1] ?? defaultBelow(markdown, cell, keys));
      rows.push({ source: `${file}:${j + 1}`, keys, ...(cell === undefined ? {} : { default: literal === undefined ? { cell } : { cell, literal } }), text: lines[j]! });
    }
    i = j - 1;
  }
  return rows;
}

/** A block documented once, in a shared doc: a component's docs may link to it instead of listing its keys. */
export interface SharedBlock {
  /** The block's key: `retry_on_failure`. */
  key: string;
  /** The doc's file name, as a link to it ends: `exporter-helper.md`. */
  doc: string;
}

const show = (value: unknown) => JSON.stringify(value);

/**
 * Where a component's docs and its schema disagree, one line each, naming the component and the key:
 * a schema key the docs do not document (a parent is documented by its children; a shared block by a
 * row of its key that links to the shared doc), a documented key the schema does not have, and a
 * documented default that is not the schema's (both read by the key's schema, so `5s` equals 5000 ms
 * and `4MiB` 4194304 bytes).
 */
export function keyProblems(component: string, keys: SchemaKey[], rows: KeyRow[], shared: SharedBlock[] = []): string[] {
  const problems: string[] = [];
  const byPath = new Map(keys.map((k) => [k.path, k]));
  const documented = new Set(rows.flatMap((r) => r.keys));
  for (const row of rows) {
    for (const path of row.keys) {
      const key = byPath.get(path);
      if (!key) {
        problems.push(`${component}: ${row.source} documents \`${path}\`, which is not a key of its schema`);
        continue;
      }
      if (!row.default) continue;
      const schemaDefault = defaultOf(key);
      const literal = row.default.literal?.trim().replace(/\s*\n\s*/g, ' ');
      if (literal === undefined) {
        if (schemaDefault.kind === 'value' && !key.container) {
          problems.push(`${component}: \`${path}\` defaults to ${show(schemaDefault.value)} in the schema, ${row.source} gives no literal default ("${row.default.cell}")`);
        }
        continue;
      }
      if (schemaDefault.kind === 'required') {
        problems.push(`${component}: \`${path}\` is required in the schema, ${row.source} gives it the default \`${literal}\``);
      } else if (schemaDefault.kind === 'value') {
        const documentedValue = readDocValue(key, row.default.literal!);
        if (documentedValue instanceof Error) {
          problems.push(`${component}: \`${path}\` default \`${literal}\` at ${row.source} is not a valid value (${documentedValue.message}); the schema's is ${show(schemaDefault.value)}`);
        } else if (!isDeepStrictEqual(documentedValue, schemaDefault.value)) {
          problems.push(`${component}: \`${path}\` default differs: ${row.source} says \`${literal}\` (${show(documentedValue)}), the schema ${show(schemaDefault.value)}`);
        }
      }
    }
  }
  const linkedBlocks = shared.filter((block) => rows.some((r) => r.keys.includes(block.key) && new RegExp(`\\]\\([^)]*${block.doc.replace('.', '\\.')}`).test(r.text)));
  for (const key of keys) {
    if (key.container || documented.has(key.path)) continue;
    if (linkedBlocks.some((block) => key.path.startsWith(`${block.key}.`))) continue;
    problems.push(`${component}: schema key \`${key.path}\` is not documented`);
  }
  return problems;
}
