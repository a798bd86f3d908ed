// Where things are in a parsed YAML document: one walk over its nodes, key paths to offsets,
// offsets to key paths, duplicate keys and aliases. Every lookup after the walk is a map access
// or a binary search, so placing n issues in a document of n keys stays linear (a search per
// issue through each mapping's items made a 2 MB config take minutes).
import { isAlias, isMap, isNode, isPair, isScalar, isSeq, type Alias, type Document, type LineCounter, type Node } from 'yaml';
import { joinPath, type ConfigIssue } from './issues.ts';

export type PathSegment = string | number;

/** The path segment a mapping key stands for (what `toJS` would make of it). */
export function keySegment(key: unknown): string {
  return isScalar(key) ? String(key.value) : String(key);
}

/**
 * Calls `onNode` for every node under the document's root, depth first, with its key path (the
 * array is reused: copy it to keep it) and the node that names it (a mapping key, or the
 * sequence item itself). Aliases are visited as nodes, not followed.
 */
export function walkDocument(doc: Document, onNode: (node: Node, path: readonly PathSegment[], keyNode: Node | undefined) => void): void {
  const path: PathSegment[] = [];
  // An explicit stack: a deeply nested document must not overflow the call stack.
  type Frame = { node: Node; keyNode: Node | undefined; depth: number; segment?: PathSegment };
  const stack: Frame[] = isNode(doc.contents) ? [{ node: doc.contents, keyNode: undefined, depth: 0 }] : [];
  while (stack.length > 0) {
    const { node, keyNode, depth, segment } = stack.pop()!;
    path.length = depth;
    if (segment !== undefined) path[depth - 1] = segment;
    onNode(node, path, keyNode);
    if (isMap(node)) {
      for (let i = node.items.length - 1; i >= 0; i--) {
        const pair = node.items[i]!;
        if (isNode(pair.value)) stack.push({ node: pair.value, keyNode: isNode(pair.key) ? pair.key : undefined, depth: depth + 1, segment: keySegment(pair.key) });
      }
    } else if (isSeq(node)) {
      for (let i = node.items.length - 1; i >= 0; i--) {
        const item = node.items[i];
        if (isNode(item)) stack.push({ node: item, keyNode: item, depth: depth + 1, segment: i });
      }
    }
  }
}

export interface DuplicateKey {
  path: PathSegment[];
  offset: number;
  key: string;
}

/**
 * In one walk: keys that appear twice in one mapping (yaml's own check compares every pair of
 * keys, quadratic in a mapping's size) and every alias node, in document order.
 */
export function scanDocument(doc: Document): { duplicates: DuplicateKey[]; aliases: Alias[] } {
  const duplicates: DuplicateKey[] = [];
  const found: Alias[] = [];
  walkDocument(doc, (node, path) => {
    if (isAlias(node)) found.push(node);
    if (!isMap(node)) return;
    const seen = new Set<string>();
    for (const pair of node.items) {
      if (isAlias(pair.key)) found.push(pair.key);
      if (!isScalar(pair.key)) continue;
      const id = `${typeof pair.key.value}:${String(pair.key.value)}`;
      if (seen.has(id)) duplicates.push({ path: [...path, keySegment(pair.key)], offset: pair.key.range?.[0] ?? 0, key: String(pair.key.value) });
      seen.add(id);
    }
  });
  return { duplicates, aliases: found.sort((a, b) => (a.range?.[0] ?? 0) - (b.range?.[0] ?? 0)) };
}

/** Line:column of key paths in one document; built once, then each lookup is constant time. */
export class Positions {
  readonly #doc: Document;
  readonly #lines: LineCounter;
  #offsets: Map<string, number> | undefined;

  constructor(doc: Document, lines: LineCounter) {
    this.#doc = doc;
    this.#lines = lines;
  }

  /** 1-based line and column of an offset. */
  at(offset: number): { line: number; column: number } {
    const { line, col } = this.#lines.linePos(offset);
    return { line, column: col };
  }

  /** An issue placed at the deepest node of `path` that exists in the document. */
  issue(path: readonly PropertyKey[], message: string): ConfigIssue {
    const segments = path.map((s) => (typeof s === 'symbol' ? String(s) : s));
    const offsets = (this.#offsets ??= this.#index());
    let found = segments.length;
    let offset: number | undefined;
    for (; found > 0; found--) {
      offset = offsets.get(joinPath(segments.slice(0, found)));
      if (offset !== undefined) break;
    }
    const missing = found < segments.length && !message.startsWith('unknown key');
    const { line, column } = offset === undefined ? { line: 0, column: 0 } : this.at(offset);
    const text = missing && /required|expected .*, received undefined/i.test(message) ? `${message} (key is missing)` : message;
    return { path: joinPath(segments), line, column, message: text };
  }

  /** The key path of whatever holds `offset` (for YAML syntax errors). */
  pathAt(offset: number): string {
    const path: PathSegment[] = [];
    let node: unknown = this.#doc.contents;
    while (isMap(node) || isSeq(node)) {
      const items = node.items as unknown[];
      // Items are in document order: the last one starting at or before `offset` may hold it.
      let lo = 0;
      let hi = items.length - 1;
      let hit = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const start = startOf(items[mid]);
        if (start !== undefined && start <= offset) {
          hit = mid;
          lo = mid + 1;
        } else {
          hi = mid - 1;
        }
      }
      if (hit < 0) break;
      const item = items[hit];
      const end = endOf(item);
      if (end === undefined || offset > end) break;
      path.push(isPair(item) ? keySegment(item.key) : hit);
      node = isPair(item) ? item.value : item;
    }
    return joinPath(path);
  }

  #index(): Map<string, number> {
    const offsets = new Map<string, number>();
    walkDocument(this.#doc, (node, path) => {
      // Keys are indexed from their mapping: a key with no value (`debug:`) has a place too.
      if (!isMap(node) && !isSeq(node)) return;
      const prefix = joinPath(path);
      const child = (segment: PathSegment) => (typeof segment === 'number' ? `${prefix}[${segment}]` : prefix ? `${prefix}.${segment}` : segment);
      node.items.forEach((item: unknown, i: number) => {
        const start = isPair(item) ? (item.key as Node | null)?.range?.[0] : (item as Node | null)?.range?.[0];
        if (start !== undefined) offsets.set(child(isPair(item) ? keySegment(item.key) : i), start);
      });
    });
    return offsets;
  }
}

function startOf(item: unknown): number | undefined {
  if (isPair(item)) return (item.key as Node | null)?.range?.[0] ?? (item.value as Node | null)?.range?.[0];
  return (item as Node | null)?.range?.[0];
}

function endOf(item: unknown): number | undefined {
  if (isPair(item)) return (item.value as Node | null)?.range?.[2] ?? (item.key as Node | null)?.range?.[2];
  return (item as Node | null)?.range?.[2];
}
