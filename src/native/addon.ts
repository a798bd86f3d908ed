// Loads crates/flowsource (the Rust core) as a Node-API addon, with a clear error when the
// platform is not Linux or the binary has not been built. The functions it exports are typed
// here, one section per receiver; the Rust side is crates/flowsource/src/napi.rs.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** An opaque native handle (a type-tagged Node-API external). */
export type NativeHandle = { readonly __native: unique symbol };

export interface FlowsourceAddon {
  // conntrack (src/receivers/conntrack)
  conntrackOpen(
    netns: string | null,
    source: 'auto' | 'netlink' | 'procfs',
    destroyEvents: boolean,
    startup: 'baseline' | 'count',
    excludeCidrs: string,
  ): NativeHandle;
  /** One interval's packed batch (layout: ./records.ts). */
  conntrackTick(handle: NativeHandle): Promise<Buffer>;
  /** JSON: {source, destroyEvents, fallbackReason, tracked}. */
  conntrackStatus(handle: NativeHandle): string;
  conntrackClose(handle: NativeHandle): void;
  /** Reads nf_conntrack_acct in `netns`; with `enable`, sets it when 0. Returns the value before. */
  conntrackAccounting(netns: string | null, enable: boolean): boolean;
  /** Bench/test helper: inserts `count` synthetic UDP entries. JSON {inserted, refused, firstError}. */
  conntrackInsertTestEntries(netns: string | null, count: number, batch: number): Promise<string>;

  // packet capture (src/receivers/packet): the capture thread runs from packetOpen to packetClose
  packetOpen(
    netns: string | null,
    iface: string,
    filter: string,
    ringBytes: number,
    maxConnections: number,
    idleTimeoutMs: number,
    excludeCidrs: string,
  ): NativeHandle;
  /** One interval's packed batch (layout: ./records.ts; byte 3 of a record: TCP flags seen). */
  packetTick(handle: NativeHandle): Promise<Buffer>;
  /** JSON totals: {packets, malformed, nonIp, filtered, fragments, tableFull, kernelDrops, connections}. */
  packetStatus(handle: NativeHandle): string;
  packetClose(handle: NativeHandle): void;

  // DNS names (src/processors/dnsnames): captures DNS responses from dnsOpen to dnsClose
  dnsOpen(netns: string | null, iface: string, maxEntries: number, ttlFloorS: number, ringBytes: number): NativeHandle;
  /** Names for addresses given one per line; one name per line, "" when unknown. */
  dnsLookup(handle: NativeHandle, addresses: string): string;
  /** JSON: {responses, names, badMessages, malformedFrames, tcpResyncs, entries, evictions, expired}. */
  dnsStatus(handle: NativeHandle): string;
  dnsClose(handle: NativeHandle): void;
}

const CRATE_DIR = fileURLToPath(new URL('../../crates/flowsource/', import.meta.url));

/** The napi-rs platform suffix of this process (`linux-x64-gnu`, `linux-arm64-musl`, ...). */
export function platformSuffix(): string {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  const libc = report?.header?.glibcVersionRuntime ? 'gnu' : 'musl';
  return `${process.platform}-${process.arch}-${libc}`;
}

/** Where the addon is looked for: PODFLOW_FLOWSOURCE (a file path) or the crate folder. */
export function addonPath(): string {
  return process.env.PODFLOW_FLOWSOURCE ?? `${CRATE_DIR}flowsource.${platformSuffix()}.node`;
}

const loaded = new Map<string, FlowsourceAddon>();

export function loadFlowsource(): FlowsourceAddon {
  if (process.platform !== 'linux') {
    throw new Error(
      `podflow's native core (conntrack, Cilium maps) needs Linux; this is ${process.platform}/${process.arch}`,
    );
  }
  const path = addonPath();
  const cached = loaded.get(path);
  if (cached) return cached;
  if (!existsSync(path)) {
    throw new Error(`podflow's native core is not built: ${path} is missing (run \`make native\`, which needs cargo)`);
  }
  let addon: FlowsourceAddon;
  try {
    addon = createRequire(import.meta.url)(path) as FlowsourceAddon;
  } catch (e) {
    throw new Error(`cannot load podflow's native core ${path}: ${(e as Error).message}`);
  }
  loaded.set(path, addon);
  return addon;
}
