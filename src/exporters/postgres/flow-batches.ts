// Packed raw flows (migration 7): one row of `flow_batches` per exporter batch part instead of
// one row per flow. A part is the rows of one request that share start_time, end_time and node
// (a reduce interval of one node: all of them); it stores those once, with the transaction that
// wrote it (ingest_xid) and its row count, and every other column as an array with one element
// per flow, compressed by TOAST (lz4). A row of `flows` cost ~126 bytes; a flow in a part 16–19.
//
// Readers keep the name and the columns of migration 6: `flows` is now a view that unnests the
// parts into the narrow rows (same columns, same order, plus `tableoid`, the part's partition).
// The part's start_time is a plain column of the view, so a time predicate on `flows` is a
// predicate on the parts (partition pruning, BRIN); so is ingest_xid (the rollup watermark).
//
// Why split rather than carry per-row times: a predicate on a time computed per row could not
// prune parts. Rows of a batch with different times (conntrack without reduce, late rows) go
// into parts of their own; exact in every case, compact when rows share their interval.
//
// Element order: element i of every array is flow i of the part (unnest zips them). An array
// whose every element is NULL is stored as NULL (unnest pads it with NULLs to the part's rows).

import { dropPartitionsBeforeSql, ensurePartitionsSql } from './partition-sql.ts';
import { renameFlowsAwaySql } from './narrow-rows.ts';
import { COPY_COLUMNS, COPY_NULL, copyEscape, copyField, copyUnescape } from './rows.ts';

/** The per-flow columns stored as arrays, with their element type, in the view's order. */
export const ROW_ARRAYS: ReadonlyArray<readonly [name: string, element: string]> = [
  ['tx_bytes', 'bigint'], ['rx_bytes', 'bigint'], ['tx_packets', 'bigint'], ['rx_packets', 'bigint'], ['connections', 'bigint'],
  ['src_endpoint', 'integer'], ['dst_endpoint', 'integer'],
  ['transport_code', 'integer'], ['dst_service_code', 'integer'], ['cost_class_code', 'integer'],
  ['src_port', 'integer'], ['dst_port', 'integer'], ['inter_zone', 'boolean'], ['cost_usd', 'numeric'], ['attributes', 'jsonb'],
];

/** The arrays of columns that are never NULL in a row: never NULL, nor any element. */
const REQUIRED = new Set(['tx_bytes', 'rx_bytes', 'tx_packets', 'rx_packets', 'connections', 'src_endpoint', 'dst_endpoint']);

/** What a part's flows share: the columns of `flow_batches` before the arrays (ingest_xid is its default). */
export const PART_COLUMNS = ['start_time', 'end_time', 'node_code', 'rows'] as const;

/** The columns the exporter COPYs into `flow_batches`, in order. */
export const PART_COPY_COLUMNS: readonly string[] = [...PART_COLUMNS, ...ROW_ARRAYS.map(([name]) => name)];

/** Flows in one part at most when parts are made set-based (the exporter's are one request's: batch.max_rows). */
export const MAX_PART_ROWS = 10_000;

/**
 * Packs narrow rows into parts, set-based: `rows` is a query with the narrow columns (`flows` of
 * migration 6 and `ingest_xid` when `keepXid`), inserted as parts into `flow_batches` of
 * `schema` (a quoted identifier). Within a group, every array_agg sees the rows in the same order,
 * so element i of each array is the same flow.
 */
export function packedInsertSql(schema: string, rows: string, keepXid: boolean): string {
  const key = ['start_time', 'end_time', 'node_code', ...(keepXid ? ['ingest_xid'] : [])];
  const arrays = ROW_ARRAYS.map(([c]) => `CASE WHEN count(${c}) = 0 THEN NULL ELSE array_agg(${c}) END`);
  return `INSERT INTO ${schema}.flow_batches (${key.join(', ')}, rows, ${ROW_ARRAYS.map(([c]) => c).join(', ')})
     SELECT ${key.join(', ')}, count(*)::integer, ${arrays.join(', ')}
     FROM (SELECT r.*, (row_number() OVER (PARTITION BY ${key.join(', ')}) - 1) / ${MAX_PART_ROWS} AS part_chunk FROM (${rows}) r) r
     GROUP BY ${key.join(', ')}, part_chunk`;
}

/**
 * Migration 7. The narrow table of migration 6 is renamed away with its partitions (flows_v6*),
 * `flow_batches` takes the partition names (flows_pYYYYMMDD, so retention drops and reports
 * the same names), and `flows` becomes the view over it. flow_details is made again over the
 * view (same definition); ensure_partitions and the retention functions now act on flow_batches.
 * The migration's `after` moves the version-6 rows into parts and drops the old table.
 */
export function packedMigrationSql(flowDetailsSql: string): string {
  return `
DROP VIEW :schema.flow_details;
${renameFlowsAwaySql('v6')}
-- One row per batch part: what its flows share, then one array per per-flow column (element i
-- of each is flow i). lz4: pglz packs these arrays ~10 % tighter at several times the CPU.
CREATE TABLE :schema.flow_batches (
  start_time  timestamptz NOT NULL,
  end_time    timestamptz NOT NULL,
  -- NULL: a row stored before migration 4, rolled up by it.
  ingest_xid  bigint DEFAULT pg_current_xact_id()::text::bigint,
  node_code   integer,
  rows        integer NOT NULL CHECK (rows > 0),
  ${ROW_ARRAYS.map(([c, t]) => `${c} ${t}[] COMPRESSION lz4${REQUIRED.has(c) ? ' NOT NULL' : ''}`).join(',\n  ')},
  -- unnest would pad a short array with NULLs: every array holds one element per flow, and the
  -- columns the rows had NOT NULL hold no NULL element.
  CONSTRAINT flow_batches_one_element_per_flow CHECK (
    ${ROW_ARRAYS.map(([c]) => `cardinality(${c}) = rows`).join(' AND ')}
    AND ${[...REQUIRED].map((c) => `array_position(${c}, NULL) IS NULL`).join(' AND ')})
) PARTITION BY RANGE (start_time);
CREATE INDEX flow_batches_start_time_brin ON :schema.flow_batches USING brin (start_time) WITH (autosummarize = on);
CREATE INDEX flow_batches_ingest_xid_brin ON :schema.flow_batches USING brin (ingest_xid) WITH (autosummarize = on);

-- The raw flows one row each, in the columns (and order) the narrow table of version 6 had;
-- tableoid: the partition of flow_batches that holds the flow's part.
CREATE VIEW :schema.flows AS
SELECT b.start_time, b.end_time, b.ingest_xid, ${ROW_ARRAYS.slice(0, 7).map(([c]) => `r.${c}`).join(', ')},
       b.node_code, ${ROW_ARRAYS.slice(7).map(([c]) => `r.${c}`).join(', ')}, b.tableoid
FROM :schema.flow_batches b
CROSS JOIN LATERAL unnest(${ROW_ARRAYS.map(([c]) => `b.${c}`).join(', ')}) AS r(${ROW_ARRAYS.map(([c]) => c).join(', ')});

${flowDetailsSql}

${ensurePartitionsSql('flow_batches', 'CREATE OR REPLACE')}
${dropPartitionsBeforeSql('flow_batches', 'CREATE OR REPLACE')}
${dropPartitionsBeforeSql('flow_batches', 'CREATE OR REPLACE', true)}`;
}

// ---- The exporter's side: wide COPY lines (rows.ts COPY_COLUMNS) into COPY text lines of parts. ----
//
// One pass over a request's wide text groups the rows into parts and cuts each tail field
// straight into its part's column: no narrow line is made and no tail is split twice. A part is
// keyed by the wide line's head and node field: the node's code is one per node text (and
// `\N` for none), so these are the parts the narrow rows would make, in the same order. The
// middles (endpoint-ids.ts) are translated afterwards, each looked up once.

const NULL = COPY_NULL;
/** A wide line: head (start_time, end_time), middle (node … cost_class), tail (tx_bytes … attributes). */
export const MIDDLE_FIRST = copyField('node');
export const TAIL_FIRST = copyField('tx_bytes');
if (MIDDLE_FIRST !== 2 || copyField('cost_class') !== TAIL_FIRST - 1 || copyField('attributes') !== COPY_COLUMNS.length - 1) {
  throw new Error('rows.ts COPY_COLUMNS: not the layout flow-batches.ts reads');
}

/** The narrow fields of a translated middle (endpoint-ids.ts), in this order. */
const NARROW_MIDDLE = ['src_endpoint', 'dst_endpoint', 'node_code', 'transport_code', 'dst_service_code', 'cost_class_code', 'src_port', 'dst_port', 'inter_zone'];
const NARROW_TAIL = ['tx_bytes', 'rx_bytes', 'tx_packets', 'rx_packets', 'connections', 'cost_usd', 'attributes'];
const NODE_FIELD = NARROW_MIDDLE.indexOf('node_code');
/** Where each array's values are: [0 narrow middle | 1 wide tail, index], in ROW_ARRAYS order. */
const SOURCES: ReadonlyArray<readonly [from: 0 | 1, at: number]> = ROW_ARRAYS.map(([name]) => {
  if (NARROW_MIDDLE.includes(name)) return [0, NARROW_MIDDLE.indexOf(name)] as const;
  if (NARROW_TAIL.includes(name)) return [1, NARROW_TAIL.indexOf(name)] as const;
  throw new Error(`flow-batches.ts: no narrow field for ${name}`);
});
const TAIL_FIELDS = NARROW_TAIL.length;
const ATTRIBUTES_TAIL = NARROW_TAIL.indexOf('attributes');
if (TAIL_FIRST + TAIL_FIELDS !== COPY_COLUMNS.length) throw new Error('rows.ts COPY_COLUMNS: tail is not the layout flow-batches.ts reads');

/**
 * One COPY text field (jsonb text, COPY-escaped) as an element of an array literal, COPY-escaped
 * again: the array literal quotes it (`"`, with `"` and `\` backslashed), then COPY text escapes.
 */
export function quotedElement(field: string): string {
  // No COPY escape in the field (JSON keeps control characters escaped): only its quotes change.
  if (!field.includes('\\')) return `"${field.replaceAll('"', '\\\\"')}"`;
  return copyEscape(`"${copyUnescape(field).replace(/["\\]/g, '\\$&')}"`);
}

/**
 * The attributes elements of a part (jsonb COPY text fields, or `NULL`) as the inside of an array
 * literal, COPY-escaped. `plain`: none is NULL or has a COPY escape, so they are quoted all at once:
 * joined by a tab (no field holds one, tabs separate fields), their quotes backslashed, each tab
 * the `","` between two elements.
 */
function quotedElements(elements: readonly string[], plain: boolean): string {
  if (plain) return `"${elements.join('\t').replaceAll('"', '\\\\"').replaceAll('\t', '","')}"`;
  return elements.map((v) => (v === 'NULL' ? v : quotedElement(v))).join(',');
}

/** The rows of one part: their wide middles, and each tail column's array elements so far. */
interface WidePart {
  /** The wide line's first three fields (start_time, end_time, node) with their tabs. */
  readonly key: string;
  readonly head: string;
  readonly middles: string[];
  /** Per tail field (NARROW_TAIL order): the array elements (`NULL`; attributes as they are, unquoted). */
  readonly tails: string[][];
  /** Per tail field: some element is not NULL. */
  readonly tailValued: boolean[];
  /** Some attributes element is NULL or has a COPY escape (then each is quoted on its own). */
  plainAttributes: boolean;
}

/** A request's wide rows grouped into parts (groupWideRows), waiting for their middles' translation. */
export interface WideParts {
  readonly parts: readonly WidePart[];
  readonly rows: number;
}

/**
 * Groups the wide COPY lines of `text` (tab-separated, `\N` for NULL, `\\`, `\t`, `\n`, `\r`
 * escaped) into parts: rows sharing start and end time and node, in the order they came.
 */
export function groupWideRows(text: string): WideParts {
  const byHead = new Map<string, Map<string, WidePart>>();
  const parts: WidePart[] = [];
  let rows = 0;
  let last: WidePart | undefined;
  for (let pos = 0; pos < text.length; ) {
    let eol = text.indexOf('\n', pos);
    if (eol < 0) eol = text.length;
    rows++;
    let tab = pos - 1;
    let middleAt = -1;
    let nodeEnd = -1;
    let tailAt = -1;
    for (let field = 1; field <= TAIL_FIRST; field++) {
      tab = text.indexOf('\t', tab + 1);
      if (tab < 0 || tab > eol) throw new Error(`COPY line ${rows} of a request has ${field} fields, not ${COPY_COLUMNS.length}`);
      if (field === MIDDLE_FIRST) middleAt = tab + 1;
      else if (field === MIDDLE_FIRST + 1) nodeEnd = tab;
    }
    tailAt = tab + 1;
    // Rows of a part mostly follow one another: the previous row's part is tried first, by
    // comparing in place (no slice, no hashing).
    let part = last !== undefined && nodeEnd + 1 - pos === last.key.length && text.startsWith(last.key, pos) ? last : undefined;
    if (part === undefined) {
      const head = text.slice(pos, middleAt - 1);
      const node = text.slice(middleAt, nodeEnd);
      let nodes = byHead.get(head);
      if (nodes === undefined) byHead.set(head, (nodes = new Map()));
      part = nodes.get(node);
      if (part === undefined) {
        part = { key: text.slice(pos, nodeEnd + 1), head, middles: [], tails: NARROW_TAIL.map(() => []), tailValued: NARROW_TAIL.map(() => false), plainAttributes: true };
        nodes.set(node, part);
        parts.push(part);
      }
      last = part;
    }
    part.middles.push(text.slice(middleAt, tailAt - 1));
    let from = tailAt;
    for (let t = 0; t < TAIL_FIELDS; t++) {
      let to: number;
      if (t < TAIL_FIELDS - 1) {
        to = text.indexOf('\t', from);
        if (to < 0 || to > eol) throw new Error(`COPY line ${rows} of a request has ${TAIL_FIRST + t + 1} fields, not ${COPY_COLUMNS.length}`);
      } else {
        to = eol;
        const extra = text.indexOf('\t', from);
        if (extra >= 0 && extra < eol) throw new Error(`COPY line ${rows} of a request has more than ${COPY_COLUMNS.length} fields`);
      }
      const v = text.slice(from, to);
      // No attribute beyond the columns (`{}`): NULL (flow_details shows '{}').
      if (v === NULL || (t === ATTRIBUTES_TAIL && v === '{}')) {
        part.tails[t]!.push('NULL');
        if (t === ATTRIBUTES_TAIL) part.plainAttributes = false;
      } else {
        part.tailValued[t] = true;
        part.tails[t]!.push(v);
        if (t === ATTRIBUTES_TAIL && part.plainAttributes && v.includes('\\')) part.plainAttributes = false;
      }
      from = to + 1;
    }
    pos = eol + 1;
  }
  return { parts, rows };
}

/**
 * The COPY text (PART_COPY_COLUMNS) of `wide`'s parts, `narrows[p][m]` the narrow fields
 * (NARROW_MIDDLE, COPY text) of part p's row m, its wide middle translated. Returns the text and
 * how many parts it holds.
 */
export function packParts(wide: WideParts, narrows: ReadonlyArray<ReadonlyArray<readonly string[]>>): { text: string; parts: number } {
  const lines: string[] = new Array(wide.parts.length);
  for (let p = 0; p < wide.parts.length; p++) {
    const { head, middles, tails, tailValued, plainAttributes } = wide.parts[p]!;
    const narrow = narrows[p]!;
    const fields: string[] = [head, narrow[0]![NODE_FIELD]!, String(middles.length)];
    for (const [from, at] of SOURCES) {
      if (from === 1) {
        if (!tailValued[at]) fields.push(NULL);
        else if (at !== ATTRIBUTES_TAIL) fields.push(`{${tails[at]!.join(',')}}`);
        else fields.push(`{${quotedElements(tails[at]!, plainAttributes)}}`);
        continue;
      }
      const values: string[] = new Array(narrow.length);
      let valued = false;
      for (let m = 0; m < narrow.length; m++) {
        const v = narrow[m]![at]!;
        if (v === NULL) values[m] = 'NULL';
        else {
          valued = true;
          values[m] = v;
        }
      }
      fields.push(valued ? `{${values.join(',')}}` : NULL);
    }
    lines[p] = fields.join('\t');
  }
  return { text: lines.length === 0 ? '' : `${lines.join('\n')}\n`, parts: lines.length };
}
