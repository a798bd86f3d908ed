// Narrow rows resolved by the exporter (issue 17's ingest rate). A queued request holds wide COPY
// lines (rows.ts COPY_COLUMNS, written by copy-encoder.ts: tab-separated, `\N` for NULL, `\\`,
// `\t`, `\n`, `\r` escaped); at send time the lines are grouped into parts (flow-batches.ts) and
// each line's middle is translated into narrow fields: its two ends become endpoint ids, node /
// transport / service / cost class become codes, every other field is copied byte for byte. The
// ids come from a cache of this exporter (end text → id, kind + value → code); the ends and codes
// a request has that the cache lacks are added and looked up in statements of their own,
// committed before the rows' transaction, so a rolled-back COPY never leaves the cache holding
// ids that do not exist.
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
import { COPY_NULL, copyField, copyUnescape } from './rows.ts';
import { CODED_COLUMNS, ENDPOINT_COLUMNS, newEndpointsSql, wideEnd } from './narrow-rows.ts';
import { endpointKeySql } from './rollup-sql.ts';
import { groupWideRows, MIDDLE_FIRST, packParts, TAIL_FIRST } from './flow-batches.ts';

const NULL = COPY_NULL;

// A wide line is head (start_time, end_time), middle (node … cost_class: every column that
// becomes an id or a code, plus the ports and inter_zone) and tail (the counters, cost_usd,
// attributes; flow-batches.ts checks the layout). Only the middle is translated; flows of a node
// repeat the same middles interval after interval, so translated middles are cached whole and
// most rows cost one map look-up.
/** Index in the middle's fields of a wide column. */
const middleOf = (column: string): number => copyField(column) - MIDDLE_FIRST;
/** Middle field indexes of each end's attributes, in ENDPOINT_COLUMNS order (-1: a source's domain, NULL). */
const END_FIELDS = (['src', 'dst'] as const).map((end) => wideEnd(end).map((c) => (c === 'NULL::text' ? -1 : middleOf(c))));
const CODE_FIELDS = CODED_COLUMNS.map(([wide]) => middleOf(wide));
const KEPT_MIDDLE = ['src_port', 'dst_port', 'inter_zone'].map(middleOf);
const MIDDLE_FIELDS = TAIL_FIRST - MIDDLE_FIRST;
/** Translated middles kept, at most (then they are forgotten and translated again from the id caches). */
const MAX_CACHED_MIDDLES = 200_000;

/** A COPY text field's value (NULL for `\N`). */
function unescape(field: string): string | null {
  return field === NULL ? null : copyUnescape(field);
}

/** The ids and codes known for one generation of a database's endpoints and codes tables. */
class IdCache {
  readonly ends = new Map<string, number>();
  readonly codes = new Map<string, number>();
  /** Wide middle → its narrow fields (flow-batches.ts packParts' narrows). */
  readonly middles = new Map<string, readonly string[]>();
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
   * The COPY text of the parts (flow-batches.ts PART_COPY_COLUMNS) of wide COPY `text`,
   * resolving on `client` (outside any transaction) the ends and codes the cache lacks. Returns
   * the generation the ids belong to with them.
   */
  async pack(client: pg.Client, text: string): Promise<{ text: string; parts: number; generation: string | undefined }> {
    const cache = this.#cache;
    const wide = groupWideRows(text);
    // Each row's narrow fields, looked up once; the holes are the middles to translate.
    const narrows = wide.parts.map((part) => part.middles.map((middle) => cache.middles.get(middle)));
    // Another consumer's translation may clear the cached middles while this one waits: what is
    // translated here is kept aside too, and the holes are filled from it.
    const translated = new Map<string, readonly string[]>();
    for (;;) {
      const untranslated = new Set<string>();
      for (const [p, part] of wide.parts.entries()) {
        const narrow = narrows[p]!;
        for (let m = 0; m < narrow.length; m++) {
          if (narrow[m] !== undefined) continue;
          const middle = part.middles[m]!;
          narrow[m] = translated.get(middle) ?? cache.middles.get(middle);
          if (narrow[m] === undefined) untranslated.add(middle);
        }
      }
      if (untranslated.size === 0) break;
      for (const [middle, narrow] of await this.#translate(client, cache, untranslated)) translated.set(middle, narrow);
    }
    const packed = packParts(wide, narrows as (readonly string[])[][]);
    return { ...packed, generation: cache.generation };
  }

  /** Translates `middles` into `cache`, resolving the ends and codes it lacks first. */
  async #translate(client: pg.Client, cache: IdCache, middles: Set<string>): Promise<Map<string, readonly string[]>> {
    const parsed = [...middles].map((middle) => {
      const fields = middle.split('\t');
      if (fields.length !== MIDDLE_FIELDS) throw new Error(`a COPY line's middle has ${fields.length} fields, not ${MIDDLE_FIELDS}`);
      const endValues = END_FIELDS.map((idx) => idx.map((at) => (at < 0 ? NULL : fields[at]!)));
      return { middle, fields, endValues, ends: endValues.map((values) => values.join('\t')) };
    });
    const missingEnds = new Map<string, string[]>();
    const missingCodes = new Map<string, [kind: string, value: string]>();
    for (const { fields, endValues, ends } of parsed) {
      for (const [e, key] of ends.entries()) {
        if (!cache.ends.has(key) && !missingEnds.has(key)) missingEnds.set(key, endValues[e]!);
      }
      for (const [c, at] of CODE_FIELDS.entries()) {
        const v = fields[at]!;
        const key = `${c}\t${v}`;
        if (v !== NULL && !cache.codes.has(key) && !missingCodes.has(key)) missingCodes.set(key, [CODED_COLUMNS[c]![0], unescape(v)!]);
      }
    }
    if (missingEnds.size > 0) await this.#resolveEnds(client, cache, missingEnds);
    if (missingCodes.size > 0) await this.#resolveCodes(client, cache, missingCodes);
    if (cache.middles.size + parsed.length > MAX_CACHED_MIDDLES) cache.middles.clear();
    const translated = new Map<string, readonly string[]>();
    for (const { middle, fields, ends } of parsed) {
      const ids = ends.map((key) => cache.ends.get(key) ?? missingId('endpoint', key));
      const codes = CODE_FIELDS.map((at, c) => (fields[at] === NULL ? NULL : (cache.codes.get(`${c}\t${fields[at]}`) ?? missingId('code', fields[at]!))));
      const narrow = [...ids.map(String), ...codes.map(String), ...KEPT_MIDDLE.map((at) => fields[at]!)];
      cache.middles.set(middle, narrow);
      translated.set(middle, narrow);
    }
    return translated;
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

/** Resolution found every id it was asked for (else it threw), so this is a bug, said clearly. */
function missingId(what: string, key: string): never {
  throw new Error(`no ${what} id resolved for ${JSON.stringify(key)}`);
}
