// Narrow rows resolved by the exporter (issue 17's ingest rate). A queued request holds wide COPY
// lines (rows.ts COPY_COLUMNS, written by copy-encoder.ts: tab-separated, `\N` for NULL, `\\`,
// `\t`, `\n`, `\r` escaped); at send time each line is translated into a narrow `flows` line
// (NARROW_COPY_COLUMNS): its two ends become endpoint ids, node / transport / service / cost class
// become codes, every other field is copied byte for byte. The ids come from a cache of this
// exporter (end text → id, kind + value → code); the ends and codes a request has that the cache
// lacks are added and looked up in statements of their own, committed before the rows'
// transaction, so a rolled-back COPY never leaves the cache holding ids that do not exist.
//
// Concurrent writers: missing ends and codes are inserted in key order with ON CONFLICT DO
// NOTHING (two writers adding the same ones wait for each other instead of deadlocking), and the
// look-up after it is a new statement (a new snapshot) that sees the rows either writer added.
//
// Which database the ids belong to: `generation` names the endpoints and codes tables by oid and
// file node (a dropped and recreated schema, another database, a TRUNCATE all change it). The
// rows' transaction locks both tables (ACCESS SHARE: nothing can drop or truncate them until it
// ends) and reads the generation; ids resolved under another generation are thrown away with the
// whole cache and resolved again before a single row is written.
import pg from 'pg';
import { COPY_COLUMNS } from './rows.ts';
import { CODED_COLUMNS, ENDPOINT_COLUMNS, newEndpointsSql, wideEnd } from './narrow-rows.ts';
import { endpointKeySql } from './rollup-sql.ts';

const NULL = '\\N';

/** The narrow columns COPY writes into `flows`, in order (the ids first, then the kept fields). */
const KEPT_FIELDS = ['start_time', 'end_time', 'src_port', 'dst_port', 'inter_zone',
  'tx_bytes', 'rx_bytes', 'tx_packets', 'rx_packets', 'connections', 'cost_usd'] as const;
export const NARROW_COPY_COLUMNS: readonly string[] = [
  'src_endpoint', 'dst_endpoint', ...CODED_COLUMNS.map(([, narrow]) => narrow), ...KEPT_FIELDS, 'attributes',
];

const fieldOf = (column: string): number => {
  const at = COPY_COLUMNS.indexOf(column);
  if (at < 0) throw new Error(`no COPY column ${column}`);
  return at;
};
/** Wide field indexes of each end's attributes, in ENDPOINT_COLUMNS order (-1: a source's domain, NULL). */
const END_FIELDS = (['src', 'dst'] as const).map((end) => wideEnd(end).map((c) => (c === 'NULL::text' ? -1 : fieldOf(c))));
const CODE_FIELDS = CODED_COLUMNS.map(([wide]) => fieldOf(wide));
const KEPT_INDEXES = KEPT_FIELDS.map(fieldOf);
const ATTRIBUTES_FIELD = fieldOf('attributes');

const UNESCAPES: Record<string, string> = { '\\': '\\', t: '\t', n: '\n', r: '\r' };
/** A COPY text field's value (NULL for `\N`). */
function unescape(field: string): string | null {
  if (field === NULL) return null;
  return field.includes('\\') ? field.replace(/\\(.)/g, (_, c: string) => UNESCAPES[c] ?? c) : field;
}

/** The ids and codes known for one generation of a database's endpoints and codes tables. */
class IdCache {
  readonly ends = new Map<string, number>();
  readonly codes = new Map<string, number>();
  readonly generation: string | undefined;
  constructor(generation: string | undefined) {
    this.generation = generation;
  }
}

export class EndpointIds {
  readonly #schema: string;
  readonly #insertEnds: string;
  readonly #selectEnds: string;
  readonly #insertCodes: string;
  readonly #selectCodes: string;
  readonly generationSql: string;
  #cache = new IdCache(undefined);

  constructor(schema: string) {
    const s = pg.escapeIdentifier(schema);
    this.#schema = schema;
    const params = ENDPOINT_COLUMNS.map((c, i) => `$${i + 1}::text[]`).join(', ');
    const typed = ENDPOINT_COLUMNS.map((c) => (c === 'address' ? 'address::inet AS address' : c)).join(', ');
    const keyed = `SELECT ${endpointKeySql(ENDPOINT_COLUMNS)} AS key, u.* FROM (SELECT ${typed}, ord FROM unnest(${params}) WITH ORDINALITY AS u(${ENDPOINT_COLUMNS.join(', ')}, ord)) u`;
    this.#insertEnds = newEndpointsSql(s, `(SELECT DISTINCT ON (key) key, ${ENDPOINT_COLUMNS.join(', ')} FROM (${keyed}) k)`);
    this.#selectEnds = `SELECT k.ord::integer AS ord, e.id FROM (${keyed}) k JOIN ${s}.endpoints e ON e.key = k.key`;
    this.#insertCodes = `INSERT INTO ${s}.codes (kind, value)
      SELECT DISTINCT kind, value FROM unnest($1::text[], $2::text[]) AS n(kind, value)
      WHERE NOT EXISTS (SELECT 1 FROM ${s}.codes c WHERE c.kind = n.kind AND c.value = n.value)
      ORDER BY 1, 2 ON CONFLICT (kind, value) DO NOTHING`;
    this.#selectCodes = `SELECT n.ord::integer AS ord, c.code FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS n(kind, value, ord)
      JOIN ${s}.codes c ON c.kind = n.kind AND c.value = n.value`;
    const table = (t: string) => pg.escapeLiteral(`${s}.${t}`);
    this.generationSql = `LOCK TABLE ${s}.endpoints, ${s}.codes IN ACCESS SHARE MODE;
      SELECT concat_ws('/', (SELECT oid FROM pg_database WHERE datname = current_database()),
        ${table('endpoints')}::regclass::oid, pg_relation_filenode(${table('endpoints')}),
        ${table('codes')}::regclass::oid, pg_relation_filenode(${table('codes')})) AS generation`;
  }

  /** The generation the cache's ids belong to (undefined: not known yet). */
  get generation(): string | undefined {
    return this.#cache.generation;
  }

  /** The database is not the one the ids came from: forget them all. */
  reset(generation: string): void {
    if (this.#cache.generation !== generation) this.#cache = new IdCache(generation);
  }

  /**
   * The narrow COPY text of wide COPY `text`, resolving on `client` (outside any transaction)
   * the ends and codes the cache lacks. Returns the generation the ids belong to with it.
   */
  async narrow(client: pg.Client, text: string): Promise<{ lines: string; generation: string | undefined }> {
    const cache = this.#cache;
    const rows = text.split('\n');
    if (rows.at(-1) === '') rows.pop();
    const fields = rows.map((line) => line.split('\t'));
    for (const [i, f] of fields.entries()) {
      if (f.length !== COPY_COLUMNS.length) throw new Error(`COPY line ${i + 1} of a request has ${f.length} fields, not ${COPY_COLUMNS.length}`);
    }
    const endKeys = fields.map((f) => END_FIELDS.map((idx) => idx.map((at) => (at < 0 ? NULL : f[at]!)).join('\t')));
    const missingEnds = new Map<string, string[]>();
    for (const [r, keys] of endKeys.entries()) {
      for (const [e, key] of keys.entries()) {
        if (!cache.ends.has(key) && !missingEnds.has(key)) missingEnds.set(key, END_FIELDS[e]!.map((at) => (at < 0 ? NULL : fields[r]![at]!)));
      }
    }
    const missingCodes = new Map<string, [kind: string, value: string]>();
    for (const f of fields) {
      for (const [c, at] of CODE_FIELDS.entries()) {
        const v = f[at]!;
        if (v === NULL) continue;
        const key = `${c}\t${v}`;
        if (!cache.codes.has(key) && !missingCodes.has(key)) missingCodes.set(key, [CODED_COLUMNS[c]![0], unescape(v)!]);
      }
    }
    if (missingEnds.size > 0) await this.#resolveEnds(client, cache, missingEnds);
    if (missingCodes.size > 0) await this.#resolveCodes(client, cache, missingCodes);
    let lines = '';
    for (const [r, f] of fields.entries()) {
      const [src, dst] = endKeys[r]!;
      let line = `${cache.ends.get(src!)}\t${cache.ends.get(dst!)}`;
      for (const [c, at] of CODE_FIELDS.entries()) line += f[at] === NULL ? `\t${NULL}` : `\t${cache.codes.get(`${c}\t${f[at]}`)}`;
      for (const at of KEPT_INDEXES) line += `\t${f[at]}`;
      const attributes = f[ATTRIBUTES_FIELD]!;
      lines += `${line}\t${attributes === '{}' ? NULL : attributes}\n`;
    }
    return { lines, generation: cache.generation };
  }

  async #resolveEnds(client: pg.Client, cache: IdCache, missing: Map<string, string[]>): Promise<void> {
    const keys = [...missing.keys()];
    const columns = ENDPOINT_COLUMNS.map((_, i) => keys.map((k) => unescape(missing.get(k)![i]!)));
    await client.query(this.#insertEnds, columns);
    const found = await client.query<{ ord: number; id: number }>(this.#selectEnds, columns);
    for (const { ord, id } of found.rows) cache.ends.set(keys[ord - 1]!, id);
    if (found.rowCount !== keys.length) throw new Error(`${keys.length - (found.rowCount ?? 0)} endpoints of ${this.#schema}.endpoints not found after adding them (deleted meanwhile?)`);
  }

  async #resolveCodes(client: pg.Client, cache: IdCache, missing: Map<string, [string, string]>): Promise<void> {
    const keys = [...missing.keys()];
    const columns = [keys.map((k) => missing.get(k)![0]), keys.map((k) => missing.get(k)![1])];
    await client.query(this.#insertCodes, columns);
    const found = await client.query<{ ord: number; code: number }>(this.#selectCodes, columns);
    for (const { ord, code } of found.rows) cache.codes.set(keys[ord - 1]!, code);
    if (found.rowCount !== keys.length) throw new Error(`${keys.length - (found.rowCount ?? 0)} codes of ${this.#schema}.codes not found after adding them (deleted meanwhile?)`);
  }
}
