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

// ---- The exporter's side: narrow rows (endpoint-ids.ts) into COPY text lines of parts. ----

const NULL = '\\N';

/** Narrow rows of one request as endpoint-ids.ts hands them over, field by field, still COPY text. */
export interface NarrowRows {
  /** `start_time\tend_time` of each row. */
  heads: string[];
  /** src_endpoint, dst_endpoint, node_code, transport_code, dst_service_code, cost_class_code, src_port, dst_port, inter_zone. */
  middles: ReadonlyArray<readonly string[]>;
  /** tx_bytes … connections, cost_usd, attributes, tab-separated (attributes `\N` when there were none). */
  tails: string[];
}

/** Where each array's values are in a narrow row: [0 middle | 1 tail, index], in ROW_ARRAYS order. */
const SOURCES: ReadonlyArray<readonly [from: 0 | 1, at: number]> = ROW_ARRAYS.map(([name]) => {
  const middle = ['src_endpoint', 'dst_endpoint', 'node_code', 'transport_code', 'dst_service_code', 'cost_class_code', 'src_port', 'dst_port', 'inter_zone'].indexOf(name);
  if (middle >= 0) return [0, middle] as const;
  const tail = ['tx_bytes', 'rx_bytes', 'tx_packets', 'rx_packets', 'connections', 'cost_usd', 'attributes'].indexOf(name);
  if (tail < 0) throw new Error(`flow-batches.ts: no narrow field for ${name}`);
  return [1, tail] as const;
});
const NODE_FIELD = 2;
const ATTRIBUTES = ROW_ARRAYS.findIndex(([name]) => name === 'attributes');

const COPY_UNESCAPES: Record<string, string> = { '\\': '\\', t: '\t', n: '\n', r: '\r' };
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/**
 * One COPY text field (jsonb text, COPY-escaped) as an element of an array literal, COPY-escaped
 * again: the array literal quotes it (`"`, with `"` and `\` backslashed), then COPY text escapes.
 */
function quotedElement(field: string): string {
  // No COPY escape in the field (JSON keeps control characters escaped): only its quotes change.
  if (!field.includes('\\')) return `"${field.replaceAll('"', '\\\\"')}"`;
  const value = field.replace(/\\(.)/g, (_, c: string) => COPY_UNESCAPES[c] ?? c);
  return `"${value.replace(/["\\]/g, '\\$&')}"`.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c]!);
}

/**
 * The COPY text (PART_COPY_COLUMNS) of the parts of `rows`: rows sharing start and end time and
 * node in one part, in the order they came. Returns the text and how many parts it holds.
 */
export function packParts(rows: NarrowRows): { text: string; parts: number } {
  const groups = new Map<string, number[]>();
  for (let r = 0; r < rows.heads.length; r++) {
    const key = `${rows.heads[r]}\t${rows.middles[r]![NODE_FIELD]}`;
    const group = groups.get(key);
    if (group) group.push(r);
    else groups.set(key, [r]);
  }
  let text = '';
  for (const [key, members] of groups) {
    const values: string[][] = SOURCES.map(() => new Array<string>(members.length));
    const anyValue: boolean[] = SOURCES.map(() => false);
    for (let m = 0; m < members.length; m++) {
      const r = members[m]!;
      const middle = rows.middles[r]!;
      const tail = rows.tails[r]!.split('\t');
      for (let a = 0; a < SOURCES.length; a++) {
        const [from, at] = SOURCES[a]!;
        const v = (from === 0 ? middle : tail)[at]!;
        if (v === NULL) values[a]![m] = 'NULL';
        else {
          anyValue[a] = true;
          values[a]![m] = a === ATTRIBUTES ? quotedElement(v) : v;
        }
      }
    }
    text += `${key}\t${members.length}`;
    for (let a = 0; a < SOURCES.length; a++) text += anyValue[a] ? `\t{${values[a]!.join(',')}}` : `\t${NULL}`;
    text += '\n';
  }
  return { text, parts: groups.size };
}
