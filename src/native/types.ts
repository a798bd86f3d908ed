// The types of what crosses the native seam besides packed batches: each handle's options
// (a JS object the Rust core reads with `FromJs`) and status (a JS object built from the Rust
// struct declared with `js_object!`). The Rust side of each type is named in its comment;
// keys and meanings must match it (src/native/native.test.ts checks every status's keys).

/** `netns`: a network namespace file (e.g. /proc/1/ns/net, /run/netns/x); null: podflow's own. */
type Netns = string | null;

/** The kinds of batch producers (crate::records::SourceKind; header offset 12). */
export type SourceKind = 'netlink' | 'procfs' | 'cilium' | 'packet';

/** Cilium's CT value layouts (crate::bpf::ctmap::Layout; header offset 60). */
export type CtLayout = 'v1.15' | 'v1.16';

// ---------------------------------------------------------------------------------------------
// conntrack (crate::conntrack)

/** crate::conntrack::Options. */
export interface ConntrackOptions {
  netns: Netns;
  /** netlink: ctnetlink dump; procfs: /proc/net/nf_conntrack; auto: netlink, else procfs. */
  source: 'auto' | 'netlink' | 'procfs';
  /** Subscribe to destroy events (netlink only). */
  destroyEvents: boolean;
  /** baseline: what is in the table at the first tick is history; count: report it. */
  startup: 'baseline' | 'count';
  /** CIDRs (`10.0.0.0/8`): flows with an end in one are not reported. */
  excludeCidrs: readonly string[];
}

/** crate::conntrack::ConntrackStatus. */
export interface ConntrackStatus {
  /** The reader in use: netlink, or procfs (configured, or after a fallback). */
  source: 'netlink' | 'procfs';
  destroyEvents: boolean;
  /** Why `auto` fell back to procfs. */
  fallbackReason: string | null;
  tracked: number;
}

// ---------------------------------------------------------------------------------------------
// cilium (crate::bpf::source)

/** crate::bpf::source::Options. */
export interface CiliumOptions {
  /** Cilium's BPF filesystem root; map names resolve to <bpffs>/tc/globals/<name>. */
  bpffs: string;
  /** Map names or absolute paths; the family (key size) is read from the name. */
  maps: readonly string[];
  layout: 'auto' | CtLayout;
  clockSource: 'ktime' | 'jiffies';
  startup: 'baseline' | 'count';
  excludeCidrs: readonly string[];
  readMethod: 'auto' | 'batch' | 'key_by_key';
  /** Threads per map for batch reads, 0 to 64; 0 = auto. */
  readThreads: number;
}

/** crate::bpf::source::MapStatus. */
export interface CiliumMapStatus {
  path: string;
  present: boolean;
  /** Why the map is absent (tolerated while one map is there). */
  missing: string | null;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  entries: number;
  method: 'batch' | 'key_by_key' | null;
  /** Threads (bucket ranges) of the last batch read; 1 key by key, 0 before the first read. */
  threads: number;
}

/** crate::bpf::source::TickCounts: the last tick. */
export interface CiliumTickCounts {
  entries: number;
  service: number;
  related: number;
  inTwins: number;
  expired: number;
  noProtocol: number;
  batchGrows: number;
  vipMatched: number;
  /** Flow entries with any non-zero counter (0 under v1.16 without CT accounting). */
  withCounters: number;
}

/** crate::bpf::source::CiliumStatus. */
export interface CiliumStatus {
  maps: CiliumMapStatus[];
  layout: CtLayout | null;
  layoutDecidedBy: 'config' | 'observed' | 'undecided';
  /** crate::bpf::source::LayoutEvidence. */
  evidence: { 'v1.15': number; 'v1.16': number };
  tracked: number;
  last: CiliumTickCounts;
}

// ---------------------------------------------------------------------------------------------
// packet (crate::packet)

/** crate::packet::PacketOptions. The capture runs from open to close. */
export interface PacketOptions {
  netns: Netns;
  /** An interface name, or `any`. */
  interface: string;
  /** `tcp`, `udp`, `all`, or ports as `80,443`. */
  filter: string;
  ringBytes: number;
  maxConnections: number;
  idleTimeoutMs: number;
  excludeCidrs: readonly string[];
}

/** crate::packet::PacketStatus: totals since the capture started. */
export interface PacketStatus {
  packets: number;
  malformed: number;
  nonIp: number;
  filtered: number;
  fragments: number;
  tableFull: number;
  kernelDrops: number;
  /** Connections whose orientation is remembered now. */
  connections: number;
}

// ---------------------------------------------------------------------------------------------
// dns (crate::dns): a handle, not a source (asked for names, never ticked)

/** crate::dns::DnsOptions. DNS responses are captured from open to close. */
export interface DnsOptions {
  netns: Netns;
  interface: string;
  maxEntries: number;
  ttlFloorS: number;
  ringBytes: number;
}

/** crate::dns::DnsStatus: counts since the capture started. */
export interface DnsStatus {
  responses: number;
  names: number;
  badMessages: number;
  malformedFrames: number;
  tcpResyncs: number;
  /** Copies of a response already read (the same message captured on another interface). */
  duplicates: number;
  /** Addresses in the cache now (expired ones purged first). */
  entries: number;
  evictions: number;
  expired: number;
}

// ---------------------------------------------------------------------------------------------
// The registry (crate::napi::sections): each handle type's options and status.

/** The handle types that yield batches (crate::source::Source), by their export section. */
export interface Sources {
  conntrack: { options: ConntrackOptions; status: ConntrackStatus };
  cilium: { options: CiliumOptions; status: CiliumStatus };
  packet: { options: PacketOptions; status: PacketStatus };
}

/** Every handle type (crate::source::Handle). */
export interface Handles extends Sources {
  dns: { options: DnsOptions; status: DnsStatus };
}

export type SourceType = keyof Sources;
export type HandleType = keyof Handles;
