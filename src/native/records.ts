// Decodes the packed batch the Rust core returns each tick (crates/flowsource/src/records.rs)
// into Flow objects. One Flow per aggregated record, never per conntrack entry. The constants
// here are checked against the addon's own (its `contract` export) when it is loaded.
//
// All integers little-endian.
//   header (64 bytes)
//     0 u32 magic 0x31465350   4 u32 record count   8 u32 record stride
//    12 u32 source kind (1 netlink, 2 procfs, 3 cilium, 4 packet)
//    16 u64 entries read (table entries, CT map entries, packets)   24 u64 connections tracked
//    32 u32 read restarts      36 u32 destroy events   40 u32 overruns (destroy-event queue; packet: ring drops)
//    44 u32 skipped (undecodable)   48 u64 read ns   56 u32 flags (bit 0: read incomplete)
//    60 u32 CT layout (cilium: 0 undecided, 1 v1.15, 2 v1.16)
//   record (96 bytes)
//     0 u8 family (4|6)   1 u8 IP protocol   2 u8 flags (bit 0 DNAT)   3 u8 TCP flags seen (packet)
//     4 u16 dst port   6 u16 original dst port
//     8 [16] source   24 [16] destination (post-DNAT)   40 [16] original destination (VIP, when DNAT)
//    56 u64 tx bytes   64 u64 tx packets   72 u64 rx bytes   80 u64 rx packets   88 u32 new connections
import {
  DESTINATION_ADDRESS,
  DESTINATION_ORIGINAL_ADDRESS,
  DESTINATION_ORIGINAL_PORT,
  DESTINATION_PORT,
  NETWORK_TRANSPORT,
  NETWORK_TYPE,
  SOURCE_ADDRESS,
} from '../model/attributes.ts';
import type { Attributes, Flow } from '../model/flow.ts';
import type { CtLayout, SourceKind } from './types.ts';

export const BATCH_MAGIC = 0x31465350;
export const HEADER_BYTES = 64;
export const RECORD_BYTES = 96;
const FLAG_DNAT = 1;
const HEADER_FLAG_INCOMPLETE = 1;

/** Header offset 12: the code of each source kind (crate::records::SourceKind). */
export const SOURCE_KIND_CODES: Readonly<Record<SourceKind, number>> = { netlink: 1, procfs: 2, cilium: 3, packet: 4 };
/** Header offset 60: the code of each Cilium CT layout (crate::bpf::ctmap::Layout; 0 undecided). */
export const CT_LAYOUT_CODES: Readonly<Record<CtLayout, number>> = { 'v1.15': 1, 'v1.16': 2 };

const SOURCE_KINDS = new Map(Object.entries(SOURCE_KIND_CODES).map(([name, code]) => [code, name as SourceKind]));
const CT_LAYOUTS = new Map(Object.entries(CT_LAYOUT_CODES).map(([name, code]) => [code, name as CtLayout]));

/** The header of one batch. Per source kind, see crates/flowsource/src/records.rs. */
export interface TickStats {
  source: SourceKind;
  /** Entries read: conntrack table entries, CT map entries, packets. */
  entries: number;
  tracked: number;
  /** Read restarts: ctnetlink dump restarts (ENOBUFS, NLM_F_DUMP_INTR), CT map walk restarts. */
  restarts: number;
  destroyEvents: number;
  /** A kernel queue overflowed: destroy-event overruns (conntrack), packets dropped from a full ring (packet). */
  overruns: number;
  /** Undecodable messages or lines, CT entries without a protocol, malformed frames. */
  skipped: number;
  readSeconds: number;
  /** The read is incomplete (a dump still inconsistent after retries, a capped map walk). */
  incomplete: boolean;
  /** Cilium: the CT layout the tick was decoded with; null while undecided (and for other kinds). */
  ctLayout: CtLayout | null;
}

export interface DecodedBatch {
  stats: TickStats;
  flows: Flow[];
}

const TRANSPORTS: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 33: 'dccp', 47: 'gre', 58: 'ipv6-icmp', 132: 'sctp' };

export function transportName(protocol: number): string {
  return TRANSPORTS[protocol] ?? String(protocol);
}

function hasPorts(protocol: number): boolean {
  return protocol === 6 || protocol === 17 || protocol === 132 || protocol === 33;
}

/** Text form of an address at `offset` (IPv4 dotted, IPv6 per RFC 5952). */
export function formatAddress(buf: Buffer, offset: number, family: number): string {
  if (family === 4) return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(offset + i * 2));
  // Longest run (≥ 2) of zero groups becomes "::".
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  const mapped = bestStart === 0 && bestLen === 5 && groups[5] === 0xffff;
  if (mapped) return `::ffff:${buf[offset + 12]}.${buf[offset + 13]}.${buf[offset + 14]}.${buf[offset + 15]}`;
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

function u64(buf: Buffer, offset: number): number {
  // Counters per interval stay far below 2^53; two 32-bit reads, no BigInt.
  return buf.readUInt32LE(offset) + buf.readUInt32LE(offset + 4) * 4_294_967_296;
}

/**
 * IPv4 addresses as text, by their 32-bit value: a node sees the same few thousand addresses
 * every tick, so their strings are made once and not again per flow (nor collected per tick).
 * Cleared when it holds MAX_CACHED_ADDRESSES, so a scan of many addresses cannot grow it.
 */
const ipv4Text = new Map<number, string>();
const MAX_CACHED_ADDRESSES = 65_536;

function ipv4Address(buf: Buffer, offset: number): string {
  const key = buf.readUInt32BE(offset);
  let text = ipv4Text.get(key);
  if (text === undefined) {
    if (ipv4Text.size >= MAX_CACHED_ADDRESSES) ipv4Text.clear();
    text = formatAddress(buf, offset, 4);
    ipv4Text.set(key, text);
  }
  return text;
}

function address(buf: Buffer, offset: number, family: number): string {
  return family === 4 ? ipv4Address(buf, offset) : formatAddress(buf, offset, family);
}

/** Decodes one tick's batch; the flows cover [startTimeUnixNano, timeUnixNano). */
export function decodeBatch(buf: Buffer, startTimeUnixNano: bigint, timeUnixNano: bigint): DecodedBatch {
  if (buf.length < HEADER_BYTES || buf.readUInt32LE(0) !== BATCH_MAGIC) {
    throw new Error(`flowsource batch: bad header (${buf.length} bytes); the addon and src/native/records.ts disagree`);
  }
  const count = buf.readUInt32LE(4);
  const stride = buf.readUInt32LE(8);
  if (stride !== RECORD_BYTES || buf.length !== HEADER_BYTES + count * stride) {
    throw new Error(`flowsource batch: ${count} records of ${stride} bytes do not fill ${buf.length} bytes (expected stride ${RECORD_BYTES}); rebuild with \`make native\``);
  }
  const kind = buf.readUInt32LE(12);
  const source = SOURCE_KINDS.get(kind);
  if (source === undefined) throw new Error(`flowsource batch: unknown source kind ${kind}; rebuild with \`make native\``);
  const stats: TickStats = {
    source,
    entries: u64(buf, 16),
    tracked: u64(buf, 24),
    restarts: buf.readUInt32LE(32),
    destroyEvents: buf.readUInt32LE(36),
    overruns: buf.readUInt32LE(40),
    skipped: buf.readUInt32LE(44),
    readSeconds: u64(buf, 48) / 1e9,
    incomplete: (buf.readUInt32LE(56) & HEADER_FLAG_INCOMPLETE) !== 0,
    ctLayout: CT_LAYOUTS.get(buf.readUInt32LE(60)) ?? null,
  };
  const flows: Flow[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const at = HEADER_BYTES + i * RECORD_BYTES;
    const family = buf[at]!;
    const protocol = buf[at + 1]!;
    const attributes: Attributes = {
      [SOURCE_ADDRESS]: address(buf, at + 8, family),
      [DESTINATION_ADDRESS]: address(buf, at + 24, family),
      [NETWORK_TRANSPORT]: transportName(protocol),
      [NETWORK_TYPE]: family === 4 ? 'ipv4' : 'ipv6',
    };
    if (hasPorts(protocol)) attributes[DESTINATION_PORT] = buf.readUInt16LE(at + 4);
    if ((buf[at + 2]! & FLAG_DNAT) !== 0) {
      attributes[DESTINATION_ORIGINAL_ADDRESS] = address(buf, at + 40, family);
      if (hasPorts(protocol)) attributes[DESTINATION_ORIGINAL_PORT] = buf.readUInt16LE(at + 6);
    }
    flows[i] = {
      startTimeUnixNano,
      timeUnixNano,
      attributes,
      txBytes: u64(buf, at + 56),
      txPackets: u64(buf, at + 64),
      rxBytes: u64(buf, at + 72),
      rxPackets: u64(buf, at + 80),
      connections: buf.readUInt32LE(at + 88),
    };
  }
  return { stats, flows };
}
