// Flow → one line of COPY's text format for `<schema>.flows`.
//
// Text format (PostgreSQL docs, COPY "Text Format"): columns separated by a tab, rows ended by
// a newline, NULL written as \N, and in values the characters backslash, tab, newline and
// carriage return written as \\, \t, \n, \r. The server rejects NUL in text and jsonb, and
// jsonb rejects lone UTF-16 surrogates, so both become U+FFFD (visibly replaced, not silently lost).
//
// Attributes with a column of their own go there; every other attribute goes into the
// `attributes` jsonb. A value a column cannot hold (an address that is not an IP or a CIDR, a port out of
// range) stays in `attributes` and leaves the column NULL, so one odd flow never fails a COPY.
// The cost (netcost) goes to `cost_usd`, a numeric written as the exact decimal; NULL when the
// flow was not priced.
import { isIP } from 'node:net';
import { cidrError } from '../../model/cidr.ts';
import {
  DESTINATION,
  DESTINATION_DOMAIN,
  DESTINATION_K8S_SERVICE_NAME,
  K8S_NODE_NAME,
  NETWORK_FLOW_COST_CLASS,
  NETWORK_FLOW_INTER_ZONE,
  NETWORK_TRANSPORT,
  SOURCE,
  type AttributeValue,
  type Flow,
  usdText,
} from '../../model/index.ts';

export type Kind = 'text' | 'inet' | 'port' | 'bool';

/** Columns filled from an attribute, in COPY order after start_time, end_time, node. */
export const ATTRIBUTE_COLUMNS: ReadonlyArray<readonly [column: string, key: string, kind: Kind]> = [
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
  ['cost_class', NETWORK_FLOW_COST_CLASS, 'text'],
];

const COLUMN_INDEX = new Map(ATTRIBUTE_COLUMNS.map(([, key], i) => [key, i]));

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
  'cost_usd',
  'attributes',
];

/** A NULL field in COPY text. */
export const COPY_NULL = '\\N';
const NULL = COPY_NULL;
const NEEDS_ESCAPE = /[\\\t\n\r]/;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** A string PostgreSQL accepts in text and jsonb: NUL and lone surrogates replaced by U+FFFD. */
export function cleanString(s: string): string {
  const noNul = s.includes('\0') ? s.replaceAll('\0', '\uFFFD') : s;
  return noNul.isWellFormed() ? noNul : noNul.toWellFormed();
}

// Fast paths: most values are plain ASCII names with nothing to clean or escape (one scan).
// Without the `u` flag a class matches UTF-16 code units, so any surrogate takes the slow path.
const TEXT_SPECIAL = /[\0\\\t\n\r\uD800-\uDFFF]/;
const JSON_SPECIAL = /["\\\u0000-\u001f\uD800-\uDFFF]/;

export function copyEscape(s: string): string {
  return NEEDS_ESCAPE.test(s) ? s.replace(/[\\\t\n\r]/g, (c) => ESCAPES[c]!) : s;
}

const UNESCAPES: Record<string, string> = { '\\': '\\', t: '\t', n: '\n', r: '\r' };

/** The value of a COPY text field that is not `\N` (copyEscape undone). */
export function copyUnescape(field: string): string {
  return field.includes('\\') ? field.replace(/\\(.)/g, (_, c: string) => UNESCAPES[c] ?? c) : field;
}

/** The index of `column` in a COPY line (COPY_COLUMNS). */
export function copyField(column: string): number {
  const at = COPY_COLUMNS.indexOf(column);
  if (at < 0) throw new Error(`no COPY column ${column}`);
  return at;
}

/** Reused by every encodeFlow call (one at a time: the encoder never awaits). */
const COLUMN_SCRATCH: Array<string | undefined> = new Array(ATTRIBUTE_COLUMNS.length);

// Attribute keys repeat from flow to flow: their JSON form (`"key":`) is kept, up to a bound.
const JSON_KEYS = new Map<string, string>();
const JSON_KEYS_MAX = 4096;

export function jsonKey(key: string): string {
  let text = JSON_KEYS.get(key);
  if (text === undefined) {
    text = `${JSON.stringify(cleanString(key))}:`;
    if (JSON_KEYS.size < JSON_KEYS_MAX) JSON_KEYS.set(key, text);
  }
  return text;
}

export function jsonValue(v: AttributeValue): string {
  if (typeof v === 'string') return JSON_SPECIAL.test(v) ? JSON.stringify(cleanString(v)) : `"${v}"`;
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  return v ? 'true' : 'false';
}

export function textValue(v: AttributeValue): string {
  const s = String(v);
  return TEXT_SPECIAL.test(s) ? copyEscape(cleanString(s)) : s;
}

/** The column value, or undefined when the value does not fit the column's type. */
export function columnValue(v: AttributeValue, kind: Kind): string | undefined {
  switch (kind) {
    case 'text':
      return textValue(v);
    case 'inet':
      // An address, or a prefix (reduce's public_addresses: `104.16.3.0/24`), as inet holds both.
      return typeof v === 'string' && (isIP(v) !== 0 || (v.includes('/') && cidrError(v) === undefined)) ? v : undefined;
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

const NS_PER_S = 1_000_000_000n;
// Flows of one interval share their start and end times, so the last two formatted seconds are
// kept (the hot path: formatting a Date costs more than the rest of a row).
const cachedSeconds: [bigint, bigint] = [-1n, -1n];
const cachedTexts: [string, string] = ['', ''];
let cacheNext = 0;

function secondText(second: bigint): string {
  if (cachedSeconds[0] === second) return cachedTexts[0];
  if (cachedSeconds[1] === second) return cachedTexts[1];
  const text = new Date(Number(second) * 1000).toISOString().slice(0, 19);
  cachedSeconds[cacheNext] = second;
  cachedTexts[cacheNext] = text;
  cacheNext ^= 1;
  return text;
}

/** `2024-05-01T10:00:00.123456Z` (microseconds, PostgreSQL's precision). */
export function timestampText(unixNano: bigint): string {
  const second = unixNano / NS_PER_S;
  const us = Math.floor(Number(unixNano - second * NS_PER_S) / 1000);
  return `${secondText(second)}.${String(us).padStart(6, '0')}Z`;
}

export interface EncodedRow {
  /** One COPY text line, newline included. */
  line: string;
  /** UTC day of start_time (`YYYY-MM-DD`): the partition the row goes to. */
  day: string;
}

export type EncodeResult = EncodedRow | { invalid: string };

function notInteger(name: string, v: number): string {
  return `${name} is ${v}, not an integer`;
}

/** Why the flow cannot be a row (times outside what timestamptz holds, counters that are not integers), or undefined. */
export function whyNotStorable(flow: Flow): string | undefined {
  const { startTimeUnixNano: start, timeUnixNano: end } = flow;
  if (start < 0n || start > MAX_UNIX_NANO) return `start time ${start}ns is outside 1970..9999`;
  if (end < 0n || end > MAX_UNIX_NANO) return `end time ${end}ns is outside 1970..9999`;
  if (!Number.isSafeInteger(flow.txBytes)) return notInteger('tx_bytes', flow.txBytes);
  if (!Number.isSafeInteger(flow.rxBytes)) return notInteger('rx_bytes', flow.rxBytes);
  if (!Number.isSafeInteger(flow.txPackets)) return notInteger('tx_packets', flow.txPackets);
  if (!Number.isSafeInteger(flow.rxPackets)) return notInteger('rx_packets', flow.rxPackets);
  if (!Number.isSafeInteger(flow.connections)) return notInteger('connections', flow.connections);
  return undefined;
}

/**
 * Encodes one flow as a string; `reportingNode` fills `node` when the flow has no `k8s.node.name`.
 * The exporter writes through CopyEncoder (copy-encoder.ts), which must produce exactly these
 * bytes: this is its reference (tests compare the two) and the multi-row INSERT bench's encoder.
 */
export function encodeFlow(flow: Flow, reportingNode?: string): EncodeResult {
  const invalid = whyNotStorable(flow);
  if (invalid !== undefined) return { invalid };
  const { startTimeUnixNano: start, timeUnixNano: end } = flow;

  // One pass over the attributes: column values by index, everything else straight into the
  // jsonb text (JSON.stringify per key and value: far cheaper than building an object first).
  const attrs = flow.attributes;
  const columns = COLUMN_SCRATCH.fill(undefined);
  let json = '';
  for (const key in attrs) {
    if (key === K8S_NODE_NAME) continue;
    const v = attrs[key]!;
    const index = COLUMN_INDEX.get(key);
    if (index !== undefined) {
      const value = columnValue(v, ATTRIBUTE_COLUMNS[index]![2]);
      if (value !== undefined) {
        columns[index] = value;
        continue;
      }
    }
    json += `${json === '' ? '{' : ','}${jsonKey(key)}${jsonValue(v)}`;
  }
  const startText = timestampText(start);
  const node = attrs[K8S_NODE_NAME] ?? reportingNode;
  let line = `${startText}\t${timestampText(end)}\t${node === undefined ? NULL : textValue(node)}`;
  for (let i = 0; i < columns.length; i++) line += `\t${columns[i] ?? NULL}`;
  line += `\t${flow.txBytes}\t${flow.rxBytes}\t${flow.txPackets}\t${flow.rxPackets}\t${flow.connections}`;
  line += `\t${flow.costZeptoUsd === undefined ? NULL : usdText(flow.costZeptoUsd)}`;
  line += `\t${json === '' ? '{}' : copyEscape(`${json}}`)}\n`;
  return { line, day: startText.slice(0, 10) };
}
