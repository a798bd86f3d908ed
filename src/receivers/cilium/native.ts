// The Rust core's cilium exports (crates/flowsource/src/napi.rs, section "cilium"; the code is
// crates/flowsource/src/bpf/), typed for this receiver.
import { type FlowsourceAddon, type NativeHandle, loadFlowsource } from '../../native/addon.ts';

export interface CiliumMapStatus {
  path: string;
  present: boolean;
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

export interface CiliumStatus {
  maps: CiliumMapStatus[];
  layout: 'v1.15' | 'v1.16' | null;
  layoutDecidedBy: 'config' | 'observed' | 'undecided';
  evidence: { 'v1.15': number; 'v1.16': number };
  tracked: number;
  last: {
    entries: number;
    service: number;
    related: number;
    inTwins: number;
    expired: number;
    noProtocol: number;
    batchGrows: number;
    vipMatched: number;
    withCounters: number;
  };
}

export interface CiliumAddon {
  ciliumOpen(
    bpffs: string,
    maps: string,
    layout: 'auto' | 'v1.15' | 'v1.16',
    clockSource: 'ktime' | 'jiffies',
    startup: 'baseline' | 'count',
    excludeCidrs: string,
    readMethod: 'auto' | 'batch' | 'key_by_key',
    /** Threads per map for batch reads; 0 = auto. */
    readThreads?: number,
  ): NativeHandle;
  /** One interval's packed batch (src/native/records.ts; header offset 60: layout 0/1/2). */
  ciliumTick(handle: NativeHandle): Promise<Buffer>;
  /** JSON, see CiliumStatus. */
  ciliumStatus(handle: NativeHandle): string;
  ciliumClose(handle: NativeHandle): void;
  /** Bench/test helper: a pinned LRU map of Cilium's shape with `count` synthetic OUT TCP entries. Resolves to the entries held. */
  ciliumCreateTestMap(path: string, keySize: number, maxEntries: number, count: number): Promise<string>;
}

export function loadCiliumAddon(): FlowsourceAddon & CiliumAddon {
  return loadFlowsource() as FlowsourceAddon & CiliumAddon;
}

/** Header offset 60 of a cilium batch: the layout the tick was decoded with. */
export const HEADER_LAYOUT_AT = 60;
export const LAYOUT_CODES: Record<number, 'v1.15' | 'v1.16' | null> = { 0: null, 1: 'v1.15', 2: 'v1.16' };
