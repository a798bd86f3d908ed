// Flow → one line of COPY's text format for `<schema>.flows`.
//
// Text format (PostgreSQL docs, COPY "Text Format"): columns separated by a tab, rows ended by
// a newline, NULL written as \N, and in values the characters backslash, tab, newline and
// carriage return written as \\, \t, \n, \r. The server rejects NUL in text and jsonb, and
// jsonb rejects lone UTF-16 surrogates, so both are cleaned out of strings first.
//
// Attributes with a column of their own go there; every other attribute goes into the
// `attributes` jsonb. A value a column cannot hold (an address that is not an IP, a port out of
// range) stays in `attributes` and leaves the column NULL, so one odd flow never fails a COPY.
import { isIP } from 'node:net';
import {
  DESTINATION,
  DESTINATION_DOMAIN,
  DESTINATION_K8S_SERVICE_NAME,
  K8S_NODE_NAME,
  NETWORK_FLOW_INTER_ZONE,
  NETWORK_TRANSPORT,
  SOURCE,
  type AttributeValue,
  type Attributes,
  type Flow,
} from '../../model/index.ts';

type Kind = 'text' | 'inet' | 'port' | 'bool';

/** Columns filled from an attribute, in COPY order after start_time, end_time, node. */
const ATTRIBUTE_COLUMNS: ReadonlyArray<readonly [column: string, key: string, kind: Kind]> = [
  ['src_address', SOURCE.address, 'inet'],
  ['src_port', SOURCE.port, 'port'],
  ['dst_address', DESTINATION.address, 'inet'],
  ['dst_port', DESTINATION.port, 'port'],
  ['transport', NETWORK_TRANSPORT, 'text'],
  ['src_namespace', SOURCE.namespace, 'text'],
  ['src_pod', SOURCE.podName, 'text'],
  ['src_workload', SOURCE.ownerName, 'text'],
  ['src_workload_kind', SOURCE.ownerType, 'text'],
  ['src_node', SOURCE.nodeName, 'text'],
  ['src_zone', SOURCE.zone, 'text'],
  ['src_address_type', SOURCE.addressType, 'text'],
  ['dst_namespace', DESTINATION.namespace, 'text'],
  ['dst_pod', DESTINATION.podName, 'text'],
  ['dst_workload', DESTINATION.ownerName, 'text'],
  ['dst_workload_kind', DESTINATION.ownerType, 'text'],
  ['dst_node', DESTINATION.nodeName, 'text'],
  ['dst_zone', DESTINATION.zone, 'text'],
  ['dst_address_type', DESTINATION.addressType, 'text'],
  ['dst_service', DESTINATION_K8S_SERVICE_NAME, 'text'],
  ['dst_domain', DESTINATION_DOMAIN, 'text'],
  ['inter_zone', NETWORK_FLOW_INTER_ZONE, 'bool'],
];

const COLUMN_KEYS = new Set(ATTRIBUTE_COLUMNS.map(([, key]) => key));

/** Every column COPY writes, in order. */
export const COPY_COLUMNS: readonly string[] = [
  'start_time',
  'end_time',
  'node',
  ...ATTRIBUTE_COLUMNS.map(([column]) => column),
  'tx_bytes',
  'rx_bytes',
  'tx_packets',
  'rx_packets',
  'connections',
  'attributes',
];

const NULL = '\\N';
const NEEDS_ESCAPE = /[\\\t\n\r]/;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** A string PostgreSQL accepts in text and jsonb: no NUL, no lone surrogate. */
export function cleanString(s: string): string {
  const noNul = s.includes('\0') ? s.replaceAll('\0', '') : s;
  return noNul.isWellFormed() ? noNul : noNul.toWellFormed();
}

export function copyEscape(s: string): string {
  return NEEDS_ESCAPE.test(s) ? s.replace(/[\\\t\n\r]/g, (c) => ESCAPES[c]!) : s;
}

function textValue(v: AttributeValue): string {
  return copyEscape(cleanString(String(v)));
}

/** The column value, or undefined when the value does not fit the column's type. */
function columnValue(v: AttributeValue, kind: Kind): string | undefined {
  switch (kind) {
    case 'text':
      return textValue(v);
    case 'inet':
      return typeof v === 'string' && isIP(v) !== 0 ? v : undefined;
    case 'port': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,5}$/.test(v) ? Number(v) : NaN;
      return Number.isInteger(n) && n >= 0 && n <= 65535 ? String(n) : undefined;
    }
    case 'bool':
      return v === true || v === 'true' ? 't' : v === false || v === 'false' ? 'f' : undefined;
  }
}

/** Latest instant PostgreSQL and this encoder both handle: 9999-12-31T23:59:59.999999Z. */
const MAX_UNIX_NANO = 253_402_300_800_000_000_000n - 1n;

/** `2024-05-01T10:00:00.123456Z` (microseconds, PostgreSQL's precision). */
export function timestampText(unixNano: bigint): string {
  const us = unixNano / 1000n;
  const iso = new Date(Number(us / 1000n)).toISOString();
  return `${iso.slice(0, 23)}${String(us % 1000n).padStart(3, '0')}Z`;
}

export interface EncodedRow {
  /** One COPY text line, newline included. */
  line: string;
  /** UTC day of start_time (`YYYY-MM-DD`): the partition the row goes to. */
  day: string;
}

export type EncodeResult = EncodedRow | { invalid: string };

function counter(name: string, v: number): string | { invalid: string } {
  return Number.isSafeInteger(v) ? String(v) : { invalid: `${name} is ${v}, not an integer` };
}

/** Encodes one flow; `reportingNode` fills `node` when the flow has no `k8s.node.name`. */
export function encodeFlow(flow: Flow, reportingNode?: string): EncodeResult {
  const { startTimeUnixNano: start, timeUnixNano: end } = flow;
  if (start < 0n || start > MAX_UNIX_NANO) return { invalid: `start time ${start}ns is outside 1970..9999` };
  if (end < 0n || end > MAX_UNIX_NANO) return { invalid: `end time ${end}ns is outside 1970..9999` };
  const counters: string[] = [];
  for (const [name, v] of [
    ['tx_bytes', flow.txBytes],
    ['rx_bytes', flow.rxBytes],
    ['tx_packets', flow.txPackets],
    ['rx_packets', flow.rxPackets],
    ['connections', flow.connections],
  ] as const) {
    const c = counter(name, v);
    if (typeof c !== 'string') return c;
    counters.push(c);
  }

  const attrs = flow.attributes;
  const rest: Attributes = {};
  let restCount = 0;
  for (const key in attrs) {
    if (key === K8S_NODE_NAME || COLUMN_KEYS.has(key)) continue;
    rest[cleanString(key)] = typeof attrs[key] === 'string' ? cleanString(attrs[key]) : attrs[key]!;
    restCount++;
  }
  const fields: string[] = [];
  const startText = timestampText(start);
  fields.push(startText, timestampText(end));
  const node = attrs[K8S_NODE_NAME] ?? reportingNode;
  fields.push(node === undefined ? NULL : textValue(node));
  for (const [, key, kind] of ATTRIBUTE_COLUMNS) {
    const v = attrs[key];
    if (v === undefined) {
      fields.push(NULL);
      continue;
    }
    const value = columnValue(v, kind);
    if (value === undefined) {
      rest[cleanString(key)] = typeof v === 'string' ? cleanString(v) : v;
      restCount++;
      fields.push(NULL);
    } else {
      fields.push(value);
    }
  }
  fields.push(...counters);
  fields.push(restCount === 0 ? '{}' : copyEscape(JSON.stringify(rest)));
  return { line: `${fields.join('\t')}\n`, day: startText.slice(0, 10) };
}
